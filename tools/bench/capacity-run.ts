/**
 * Verifies the adapter capacity with the whole bridge in-process (startRun: simulated radio with
 * the bench's timing under noble's real HCI stack, the real supervisors sharing one adapter queue,
 * the real MQTT sink to the bench's Mosquitto): records when each supervisor emits a snapshot and
 * how long its cycle took, for `durationMs`.
 *
 * With `adapters` > 1 the same per-adapter load runs on each of that many simulated adapters
 * (one virtual controller and one noble instance each, bms[].adapter): n BMS per adapter,
 * n × adapters in all, in one bridge.
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { startRun } from "../../src/commands/run.js";
import type { SimTiming } from "../../src/sim/hci/types.js";
import { adapterBusy, analyseStates, type BmsRunAnalysis, keepsRate, mixCycles, mixMember, POLL_INTERVAL_MS, predictedPeriods, type StateEvent } from "./capacity.js";
import { benchEnv, removeDir, runDir, writeScenarioFile } from "./child.js";
import { scenarioBms, VARIANTS } from "./variants.js";

export interface CapacityRunSpec {
  label: string;
  n: number;
  /** Distinct per concurrent run (addresses, topics). */
  group: number;
  /** Simulated adapters, each with the same n BMS (default 1). */
  adapters?: number;
}

export interface CapacityBms {
  address: string;
  variant: string;
  predictedPeriodMs: number;
  analysis: BmsRunAnalysis;
  keepsRate: boolean;
}

export interface CapacityRun {
  label: string;
  /** BMS per adapter. */
  n: number;
  adapters: number;
  durationMs: number;
  bms: CapacityBms[];
  /** Every BMS kept the nominal rate (median interval ≤ tolerance × 5 s). */
  sustained: boolean;
  failures: number;
  /** Fraction of the run the busiest adapter spent in cycles. */
  adapterBusy: number;
  worstMedianIntervalMs: number | undefined;
  worstMedianWaitMs: number | undefined;
}

export async function runCapacity(spec: CapacityRunSpec, mix: readonly string[], cycleMs: Readonly<Record<string, number>>, timing: Required<SimTiming>, brokerUrl: string, durationMs: number): Promise<CapacityRun> {
  const dir = runDir(`cap${spec.group}`);
  const adapters = spec.adapters ?? 1;
  // BMS i: the (i / adapters)-th member of the mix on adapter i % adapters: each adapter carries
  // exactly the composition of a one-adapter run with n BMS
  const adapterOf = (i: number): string => `hci${i % adapters}`;
  const variants = Array.from({ length: spec.n * adapters }, (_, i) => mixMember(mix, Math.floor(i / adapters)));
  const bms = variants.map((v, i) => ({ ...scenarioBms(v, spec.group, i, timing), ...(adapters > 1 ? { adapter: adapterOf(i) } : {}) }));
  const file = writeScenarioFile(dir, bms);
  const cycles = mixCycles(mix, cycleMs, spec.n);
  const protocolOf = (id: string): string => VARIANTS.find((v) => v.id === id)?.bms.protocol ?? id;
  const list = bms.map((b, i) => ({ address: b.address, name: b.name, protocol: protocolOf(variants[i] ?? ""), ...(adapters > 1 ? { adapter: adapterOf(i) } : {}) }));
  const h = await startRun(
    ["--sim-scenario", file, "--mqtt-url", brokerUrl, "--poll-interval", String(POLL_INTERVAL_MS / 1000), "--log-level", "error", "--address", JSON.stringify(list)],
    benchEnv(dir, { DALY_MQTT_BASE_TOPIC: `bench_cap_${spec.group}`, DALY_MQTT_DISCOVERY_PREFIX: `bench_ha_${spec.group}`, DALY_HEALTH_FILE: join(dir, "health.json") }),
  );
  if (!("bridge" in h)) throw new Error(`capacity run ${spec.label}: the bridge did not start: ${h.message}`);
  const t0 = performance.now();
  const events = new Map<string, StateEvent[]>();
  let failures = 0;
  for (const s of h.bridge.supervisors) {
    const list: StateEvent[] = [];
    events.set(s.target.address, list);
    s.on("snapshot", (_snap, stats) => list.push({ atMs: performance.now() - t0, durationMs: stats.durationMs }));
    s.on("failure", () => void (failures += 1));
  }
  try {
    await sleep(durationMs);
  } finally {
    await h.stop();
    removeDir(dir);
  }
  const predicted = predictedPeriods(POLL_INTERVAL_MS, cycles);
  const out: CapacityBms[] = h.bridge.supervisors.map((s, i) => {
    const analysis = analyseStates(events.get(s.target.address) ?? [], s.target.pollIntervalMs);
    return { address: s.target.address, variant: variants[i] ?? "?", predictedPeriodMs: predicted[Math.floor(i / adapters)] ?? Number.NaN, analysis, keepsRate: keepsRate(analysis) };
  });
  const from = Math.max(...out.map((b) => events.get(b.address)?.[0]?.atMs ?? 0));
  const busy = Array.from({ length: adapters }, (_, a) => adapterBusy(out.filter((_b, i) => i % adapters === a).flatMap((b) => events.get(b.address) ?? []), from, durationMs));
  const medians = out.map((b) => b.analysis.medianIntervalMs).filter((v): v is number => v !== undefined);
  const waits = out.map((b) => b.analysis.medianWaitMs).filter((v): v is number => v !== undefined);
  return {
    label: spec.label,
    n: spec.n,
    adapters,
    durationMs,
    bms: out,
    sustained: out.every((b) => b.keepsRate),
    failures,
    // from the end of the start-up burst (first state of the last BMS) to the end
    adapterBusy: Math.max(...busy),
    worstMedianIntervalMs: medians.length ? Math.max(...medians) : undefined,
    worstMedianWaitMs: waits.length ? Math.max(...waits) : undefined,
  };
}
