/**
 * Section "proxy": the bridge's real ESPHome transport (src/transport/esphome, native API client,
 * plaintext and Noise) and poller against the fake proxy of the tests (test/helpers/fake-proxy.ts)
 * on loopback, with the fake's air-time model on (ProxyTiming: the bench's CI, reply delay and
 * advertising interval). Figures per protocol and mode: cycle = transport.open → steady pollOnce →
 * link.close (the supervisor's cycle with the link released), steady = pollOnce on a kept link,
 * each against proxyCycleMinimum / pollMinimumMs of the same model (minimum.ts).
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { FakeProxy } from "../../test/helpers/fake-proxy.js";
import { EsphomeTransport } from "../../src/transport/esphome/transport.js";
import { pollOnce } from "../../src/runtime/poller.js";
import type { ScenarioBms } from "../../src/sim/scenario.js";
import { pdusPerExchange, pollMinimumMs, PROXY_DISCOVERY_TRANSACTIONS, proxyCycleMinimum, replyFrames, type ProxyCycleMinimum, type TimingModel } from "./minimum.js";
import { median, percentile, round1 } from "./stats.js";
import { TARGET_RATIO, type TimedFigure } from "./report.js";
import { CELL_COUNT, TEMP_COUNT, VARIANTS } from "./variants.js";

export const PROXY_VARIANTS = ["a5", "d2", "p81"] as const;
export type ProxyMode = "plaintext" | "noise";

export interface ProxyFigure extends TimedFigure {
  mode: ProxyMode;
  variant: string;
  figure: "cycle" | "steady";
  requests: number;
}

export interface ProxySection {
  discoveryTransactions: number;
  minimum: Record<string, ProxyCycleMinimum>;
  figures: ProxyFigure[];
}

const POLL = { requestTimeoutMs: 3000, retries: 2 };

function figure(mode: ProxyMode, variant: string, kind: ProxyFigure["figure"], samples: number[], minimumMs: number, requests: number): ProxyFigure {
  const med = median(samples);
  const ratio = Math.round((med / minimumMs) * 1000) / 1000;
  return { mode, variant, figure: kind, n: samples.length, medianMs: round1(med), p95Ms: round1(percentile(samples, 95)), bestMs: round1(Math.min(...samples)), minimumMs, ratio, pass: ratio <= TARGET_RATIO, requests };
}

export async function runProxySection(model: TimingModel, n: number, progress: (line: string) => void): Promise<ProxySection> {
  const variants = PROXY_VARIANTS.map((id) => {
    const v = VARIANTS.find((x) => x.id === id);
    if (!v) throw new Error(`unknown bench variant ${id}`);
    return v;
  });
  const timing = { connectionIntervalMs: model.connectionIntervalMs, replyDelayMs: model.replyDelayMs, advertisingIntervalMs: model.advertisingIntervalMs };
  const bms: ScenarioBms[] = variants.map((v) => ({ ...v.bms, mtu: v.serverMtu, timing: { ...timing } }));
  const minimum: Record<string, ProxyCycleMinimum> = {};
  const steadyMin: Record<string, number> = {};
  for (const v of variants) {
    const pdus = pdusPerExchange(replyFrames(v.steady, CELL_COUNT, TEMP_COUNT), 23);
    minimum[v.id] = proxyCycleMinimum(model, PROXY_DISCOVERY_TRANSACTIONS, pdus);
    steadyMin[v.id] = pollMinimumMs(model, pdus);
  }
  const figures: ProxyFigure[] = [];
  for (const mode of ["plaintext", "noise"] as const) {
    const key = mode === "noise" ? randomBytes(32).toString("base64") : undefined;
    const proxy = new FakeProxy({ bms, name: "bench-proxy", ...(key ? { key } : {}), timing: { ...timing, discoveryTransactions: PROXY_DISCOVERY_TRANSACTIONS } });
    await proxy.start();
    const t = new EsphomeTransport({ proxies: [{ host: "127.0.0.1", port: proxy.port, encryptionKey: key ?? "" }], scanTimeoutMs: 5000, connectTimeoutMs: 5000, gattTimeoutMs: 3000, setupTimeoutMs: 5000 });
    try {
      for (const v of variants) {
        progress(`proxy ${mode} ${v.id} (${n} cycles + ${n} polls on a kept link)…`);
        const cycleOnce = async (): Promise<{ ms: number; requests: number }> => {
          const t0 = performance.now();
          const link = await t.open({ address: v.bms.address });
          try {
            const r = await pollOnce(link, v.steady, POLL);
            await link.close();
            return { ms: performance.now() - t0, requests: r.stats.requests };
          } catch (e) {
            await link.close();
            throw e;
          }
        };
        await cycleOnce(); // warm-up: first advertisement, JIT
        const cycles: number[] = [];
        let req = 0;
        for (let i = 0; i < n; i++) {
          const c = await cycleOnce();
          cycles.push(c.ms);
          req = c.requests;
        }
        const min = minimum[v.id];
        if (min) figures.push(figure(mode, v.id, "cycle", cycles, min.totalMs, req));
        const link = await t.open({ address: v.bms.address });
        const steady: number[] = [];
        try {
          await pollOnce(link, v.steady, POLL); // warm-up
          for (let i = 0; i < n; i++) {
            const t0 = performance.now();
            const r = await pollOnce(link, v.steady, POLL);
            steady.push(performance.now() - t0);
            req = r.stats.requests;
          }
        } finally {
          await link.close();
        }
        figures.push(figure(mode, v.id, "steady", steady, steadyMin[v.id] ?? Number.NaN, req));
      }
    } finally {
      await t.shutdown();
      await proxy.stop();
    }
  }
  return { discoveryTransactions: PROXY_DISCOVERY_TRANSACTIONS, minimum, figures };
}

export function proxyLines(s: ProxySection, model: TimingModel): string[] {
  const ci = model.connectionIntervalMs;
  const out = [
    "Poll through an ESPHome proxy vs its simulated minimum (the bridge's ESPHome transport + poller, the tests' fake proxy on",
    `  loopback with its air-time model: CI ${ci} ms, reply delay ${model.replyDelayMs} ms, advertising interval ${model.advertisingIntervalMs} ms):`,
    `  cycle minimum = connect (adv ${model.advertisingIntervalMs} + Exchange MTU 2·CI) + services (${s.discoveryTransactions} ATT × 2·CI) + notify (CCCD write 2·CI) + poll + close (1 CI);`,
    "  steady minimum = the poll alone (each exchange: 1 CI to reach the BMS + the events until its reply); TCP and API time count as 0.",
  ];
  for (const [id, m] of Object.entries(s.minimum)) out.push(`    ${id.padEnd(4)} connect ${m.connectMs} + services ${m.servicesMs} + notify ${m.notifyMs} + poll ${m.pollMs} + close ${m.closeMs} = ${m.totalMs} ms`);
  out.push("  mode       variant figure  req    n  median     p95    best  minimum  ratio");
  for (const f of s.figures) {
    out.push(
      `  ${f.mode.padEnd(10)} ${f.variant.padEnd(7)} ${f.figure.padEnd(6)} ${String(f.requests).padStart(4)} ${String(f.n).padStart(4)} ${f.medianMs.toFixed(1).padStart(7)} ${f.p95Ms.toFixed(1).padStart(7)} ${f.bestMs.toFixed(1).padStart(7)} ${f.minimumMs.toFixed(0).padStart(8)}  ${f.ratio.toFixed(3)} ${f.pass ? "" : "(above target)"}`,
    );
  }
  return out;
}
