/**
 * `npm run bench [-- --json] [--quick] [--sequential] [--n 20] [--only SECTIONS/VARIANTS] [--ci 30] [--delay 40] [--adv 100]
 *   [--capacity-s 45] [--warmup-s 20] [--measure-s 60] [--reps 3]`
 *
 * Sections (--only poll,capacity,resources,messages,startup,proxy; variant ids alone = only those poll
 * figures, as before). Full run ≈ 4 min, --quick ≈ 1.5 min. `--json`: one JSON object, last stdout line.
 *
 * 1. poll — poll wall time on the simulator (noble's real HCI/GATT stack, NobleTransport, the real
 *    poller, the virtual controller's timing model) against the simulated physical minimum (below).
 * 2. capacity (capacity.ts, capacity-run.ts) — BMS per adapter at a 5 s interval with the link
 *    released: N = floor(5000 / measured "bridge" cycle) per protocol and for the A5/D2/0x81 mix,
 *    then verified with the whole bridge in-process (startRun): N keeps every BMS at a median
 *    inter-state interval ≤ 5.5 s, N + k does not (the supervisor's interval is a period). Then
 *    N per adapter on 1, 2 and 4 simulated adapters in one bridge (bms[].adapter: one virtual
 *    controller, noble instance and queue each), one run after the other: the goal is linear.
 * 3. resources (resources.ts) — RSS (/proc VmRSS, sampled) and CPU (utime + stime over wall time)
 *    of `daly-bms-bridge run` in a child, 8 BMS A5/D2/0x81 at --poll-interval 5, MQTT to a private
 *    Mosquitto, the simulated radio in its own process; link released and link kept open; where
 *    the CPU goes from a --cpu-prof of a third, instrumented child.
 * 4. messages — MQTT messages per BMS per poll in steady state on the broker (polls counted by the
 *    bridge's Prometheus counters), discovery messages at start separately; then one bridge's
 *    messages per poll alone on a broker and with two more bridges on it (must not change); and
 *    messages per Home Assistant birth with 16 BMS (messages.ts measureBirth, in-process MqttSink,
 *    after stage 1).
 * 5. startup (startup.ts) — spawn → first state message on the broker, one D2 BMS, protocol
 *    configured and auto-probe.
 * 6. proxy (proxy.ts) — open + poll + close and polls on a kept link through an ESPHome proxy (the
 *    bridge's ESPHome transport against the tests' fake proxy on loopback, plaintext and Noise,
 *    with the fake's air-time model of the same CI / reply delay / advertising interval) against
 *    minimum.ts's proxyCycleMinimum; the model is described in test/helpers/fake-proxy.ts.
 * Sections 3–4 run in child processes side by side with section 1 (another core; --sequential
 * runs them after it). The issue's targets are printed as PASS/MISS (targets.ts), never asserted.
 *
 * Figures per variant (protocol × MTU, see variants.ts), N samples each, median / p95 / best:
 *  (a) steady — pollOnce on an open link with a known profile, no probe, no version reads, polls
 *      back to back: A5 {a5, a5Host 0x80, wantVersion false}; D2 {d2, wantVersion false, mosBlock
 *      true} for a module with a MOS sensor and {…, mosBlock false} for one without; 0x81 likewise.
 *  (b) cycle — transport.open (scan + connect + GATT setup) → pollOnce → link.close, the bridge's
 *      default (link released), with the profile of a BMS's first poll (wantVersion true).
 *  (c) bridge — the same cycle with the steady profile: what the supervisor runs every interval
 *      after the first poll (it reads versions once), i.e. the adapter time one BMS costs per poll.
 *
 * HOW THE MINIMUM IS COMPUTED (minimum.ts; nothing of it is measured)
 * The controller (src/sim/hci/link.ts) runs one timer per link with period CI from LE Connection
 * Complete. At each event it (1) snapshots what the peripheral queued before the event, (2) hands the
 * host's buffered ACL packets to the peripheral, (3) delivers the snapshot — all of it: there is no
 * per-event PDU cap, so a reply split into ceil(len / (ATT_MTU − 3)) notifications still arrives at
 * one event (the formula keeps a per-event cap parameter, Infinity here). The BMS's notify() is
 * held replyDelayMs, then queued. Hence, for a request written just after an event:
 *   reaches the BMS at the next event (1 CI); its reply leaves at the first event strictly after
 *   replyDelayMs: k = floor(replyDelay / CI) + 1 events later (k = 1 with no delay: the reply is
 *   queued in step (2), after the snapshot). One exchange = (1 + k) · CI (+ 1 CI per extra event if
 *   a reply needed more PDUs than one event carries). With CI 30 and delay 40: k = 2, 90 ms.
 *   A poll of R exchanges = Σ (1 + k + extra) · CI. Every write in these figures is issued just after
 *   an event (the previous reply's, the CCCD write response's, or — back-to-back steady polls — the
 *   previous poll's last reply's), so the first write waits a full CI too: no phase term.
 * Cycle setup: scan 0 (advertiser.ts reports a scanned BMS at setTimeout 0; a real radio would add
 *   ~advInterval/2) + connect = advertisingIntervalMs (initiator.ts completes on its first
 *   setInterval tick) + 2 · CI per ATT transaction (request at the next event, response one event
 *   later): noble 1.9.2-26 runs 7 — Exchange MTU, Read By Group Type ×2 (both services, then
 *   Attribute Not Found), Read By Type 0x2803 per service ×2, Read By Type 0x2902 + CCCD Write
 *   Request — cross-checked with the controller's ATT opcode counter. Close: HCI Disconnect →
 *   Disconnection Complete at the link's next event = 1 CI.
 *   Cycle minimum = advInterval + 2·CI·7 + Σ exchanges + CI.
 * Ratio = median / minimum; target ≤ 1.15. Exit 0 whatever the ratios and targets (1 only if the
 * bench itself fails).
 */
import { parseArgs, type Args, type Section } from "./args.js";
import { findMosquitto, startMosquitto } from "./broker.js";
import { meanCycle, mixCapacity, mixCycles, overloadExtra, perAdapter, POLL_INTERVAL_MS, RATE_TOLERANCE, sum } from "./capacity.js";
import { runCapacity, type CapacityRun } from "./capacity-run.js";
import { explain, figures, phaseLines, table, TARGET_RATIO, type Figure } from "./report.js";
import { type ResourceFigures, runResources, type ResourceResult } from "./resources.js";
import { runBridgeCycles, runVariant, type CycleSample } from "./run.js";
import { birthLines, capacityLines, messageLines, peerLines, resourceLines, startupLines, type CapacitySection } from "./sections.js";
import { type BirthFigures, measureBirth } from "./messages.js";
import { runStartup, type StartupResult } from "./startup.js";
import { proxyLines, runProxySection, type ProxySection } from "./proxy.js";
import { median, percentile, round1 } from "./stats.js";
import { judge, targetLine, type TargetResult } from "./targets.js";
import { MIX, VARIANTS } from "./variants.js";
import type { TimingModel } from "./minimum.js";

/** BMS of the resources/messages sections (the "8 BMS at 5 s"). */
const RESOURCE_BMS = 8;

const progress = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

async function pollSection(args: Args, model: TimingModel, notes: string[]): Promise<{ figs: Figure[]; bridge: Map<string, CycleSample[]> }> {
  const figs: Figure[] = [];
  const bridge = new Map<string, CycleSample[]>();
  for (const v of VARIANTS.filter((x) => !args.variants || args.variants.includes(x.id))) {
    progress(`${v.id} (${args.n} cycles + ${args.n} bridge cycles + ${args.n} steady polls)…`);
    const run = await runVariant(v, args.timing, args.n);
    if (run.aclOverflow > 0) notes.push(`${v.id}: host exceeded the controller's ACL buffers ${run.aclOverflow}×`);
    figs.push(...figures(v, run, model));
    bridge.set(v.id, run.bridge);
  }
  return { figs, bridge };
}

async function capacitySection(args: Args, bridge: Map<string, CycleSample[]>, mosquitto: string | undefined, notes: string[]): Promise<CapacitySection> {
  for (const id of MIX) {
    if (bridge.has(id)) continue;
    const v = VARIANTS.find((x) => x.id === id);
    if (!v) continue;
    progress(`capacity: ${id} bridge cycles (${args.n})…`);
    bridge.set(id, await runBridgeCycles(v, args.timing, args.n));
  }
  const cycles = [...bridge].map(([variant, samples]) => {
    const t = samples.map((s) => s.totalMs);
    const medianMs = median(t);
    const p95Ms = percentile(t, 95);
    return { variant, medianMs: round1(medianMs), p95Ms: round1(p95Ms), perAdapter: perAdapter(POLL_INTERVAL_MS, medianMs), perAdapterP95: perAdapter(POLL_INTERVAL_MS, p95Ms) };
  });
  const cycleMs = Object.fromEntries(cycles.map((c) => [c.variant, c.medianMs]));
  const members = [...MIX];
  const mean = meanCycle(members, cycleMs);
  const n = mixCapacity(POLL_INTERVAL_MS, members, cycleMs);
  const k = overloadExtra(POLL_INTERVAL_MS, members, cycleMs, n);
  const section: CapacitySection = {
    intervalMs: POLL_INTERVAL_MS,
    tolerance: RATE_TOLERANCE,
    cycles,
    mix: { members, meanCycleMs: round1(mean), perAdapterMean: perAdapter(POLL_INTERVAL_MS, mean), n, k, cyclesSumMs: round1(sum(mixCycles(members, cycleMs, n))), cyclesSumOverloadMs: round1(sum(mixCycles(members, cycleMs, n + k))) },
    runs: [],
    verified: undefined,
    adapterRuns: [],
  };
  if (!mosquitto) {
    notes.push("capacity: mosquitto not found: the verification runs (whole bridge, MQTT sink) were skipped");
    return section;
  }
  if (n < 1) {
    notes.push("capacity: not even one BMS fits the interval: nothing to verify");
    return section;
  }
  progress(`capacity: verifying N = ${n} and N + ${k} with the whole bridge, ${args.capacityS} s (runs side by side)…`);
  const broker = await startMosquitto(mosquitto);
  try {
    const ms = args.capacityS * 1000;
    const runs: CapacityRun[] = await Promise.all([
      runCapacity({ label: "--poll-interval 5, N", n, group: 1 }, members, cycleMs, args.timing, broker.url, ms),
      runCapacity({ label: `--poll-interval 5, N+${k}`, n: n + k, group: 2 }, members, cycleMs, args.timing, broker.url, ms),
    ]);
    section.runs = runs;
    const [atN, overN] = runs;
    section.verified = atN !== undefined && overN !== undefined ? atN.sustained && !overN.sustained : undefined;
    // one after the other: each run is one bridge process's worth of CPU
    for (const adapters of [1, 2, 4]) {
      progress(`capacity: N = ${n} on each of ${adapters} simulated adapter(s), ${args.capacityS} s…`);
      section.adapterRuns.push(await runCapacity({ label: `${adapters} adapters`, n, group: 10 + adapters, adapters }, members, cycleMs, args.timing, broker.url, ms));
    }
  } finally {
    await broker.stop();
  }
  return section;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), VARIANTS.map((v) => v.id));
  const t0 = Date.now();
  const model: TimingModel = { ...args.timing, pdusPerEvent: Number.POSITIVE_INFINITY };
  const notes: string[] = [];
  const has = (s: Section): boolean => args.sections.has(s);
  const mosquitto = has("capacity") || has("resources") || has("messages") || has("startup") ? findMosquitto() : undefined;
  const wantChildren = has("resources") || has("messages");
  if (wantChildren && !mosquitto) notes.push("resources/messages: mosquitto not found (apt-get install mosquitto): skipped");
  if (has("startup") && !mosquitto) notes.push("startup: mosquitto not found: skipped");

  // stage 1: poll figures in-process; the child-process sections side by side (another core)
  const startChildren = (): Promise<ResourceResult> => {
    progress(`resources/messages: 2 + 1 child bridges (each with a simulator process), ${RESOURCE_BMS} BMS at 5 s, warm-up ${args.warmupS} s + ${args.measureS} s…`);
    return runResources({
      bms: RESOURCE_BMS,
      mix: MIX,
      timing: args.timing,
      warmMs: args.warmupS * 1000,
      measureMs: args.measureS * 1000,
      mosquitto: mosquitto ?? "",
      measured: has("resources"),
      instrumented: true,
    });
  };
  let children: Promise<ResourceResult> | undefined = wantChildren && mosquitto && !args.sequential ? startChildren() : undefined;
  let figs: Figure[] = [];
  let bridge = new Map<string, CycleSample[]>();
  if (has("poll")) ({ figs, bridge } = await pollSection(args, model, notes));
  if (wantChildren && mosquitto && args.sequential) children = startChildren();
  const res = children ? await children : undefined;
  for (const e of res?.errors ?? []) notes.push(e);

  // stage 2: capacity (needs the bridge cycles), stage 3: start-up (alone: latency)
  let capacity: CapacitySection | undefined;
  if (has("capacity")) {
    try {
      capacity = await capacitySection(args, bridge, mosquitto, notes);
    } catch (e) {
      notes.push(`capacity failed: ${errText(e)}`);
    }
  }
  let birth: BirthFigures | undefined;
  if (has("messages") && mosquitto) {
    progress("messages: HA birth with 16 BMS…");
    try {
      birth = await measureBirth(mosquitto, 16);
    } catch (e) {
      notes.push(`messages per HA birth failed: ${errText(e)}`);
    }
  }
  let startup: StartupResult | undefined;
  if (has("startup") && mosquitto) {
    progress(`startup: ${args.reps} run(s) per mode…`);
    try {
      startup = await runStartup(args.timing, mosquitto, args.reps);
    } catch (e) {
      notes.push(`startup failed: ${errText(e)}`);
    }
  }

  let proxy: ProxySection | undefined;
  if (has("proxy")) {
    try {
      proxy = await runProxySection(model, args.n, progress);
    } catch (e) {
      notes.push(`proxy failed: ${errText(e)}`);
    }
  }

  if (model.replyDelayMs > 0 && model.replyDelayMs % model.connectionIntervalMs === 0) {
    notes.push("reply delay is a multiple of CI: replies tie with an event; the model counts the tie as missed");
  }
  for (const f of figs) if (f.phases && f.phases.setupAtt !== 7) notes.push(`${f.variant} ${f.figure}: ${f.phases.setupAtt} setup ATT transactions counted (noble reading: 7); the minimum uses the count`);
  const ok = figs.every((f) => f.pass);
  const startFig = (mode: string): number | undefined => startup?.figures.find((f) => f.mode === mode)?.medianMs;
  const targets: TargetResult[] = [
    judge("pollRatio", figs.length ? Math.max(...figs.map((f) => f.ratio)) : undefined),
    judge("proxyRatio", proxy?.figures.length ? Math.max(...proxy.figures.map((f) => f.ratio)) : undefined),
    judge("rss", res?.resourcesKept?.rssMB.median),
    judge("cpu", res?.resourcesKept?.cpu.percent),
    judge("rssReleased", res?.resources?.rssMB.median),
    judge("cpuReleased", res?.resources?.cpu.percent),
    judge("firstState", startFig("configured")),
    judge("firstStateAuto", startFig("auto")),
  ];
  const elapsedS = Math.round((Date.now() - t0) / 1000);
  if (args.json) {
    const out = {
      bench: "poll-time-vs-simulated-minimum",
      target: TARGET_RATIO,
      n: args.n,
      model: { ...args.timing, pdusPerEvent: "unlimited" },
      ok,
      figures: figs,
      notes,
      sections: [...args.sections],
      quick: args.quick,
      elapsedS,
      capacity: capacity ?? null,
      resources: res?.resources ?? null,
      resourcesKept: res?.resourcesKept ?? null,
      profile: res?.profile ?? null,
      messages: res?.messages ?? null,
      peers: res?.peers ?? null,
      birth: birth ?? null,
      startup: startup ?? null,
      proxy: proxy ?? null,
      targets,
      targetsMet: targets.every((t) => t.verdict !== "MISS"),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const lines: string[] = ["daly-bms-bridge bench"];
  if (has("poll")) {
    lines.push(
      "",
      "Poll wall time vs the simulated physical minimum",
      ...explain(model),
      "",
      ...VARIANTS.filter((v) => !args.variants || args.variants.includes(v.id)).map((v) => `  ${v.id.padEnd(9)} ${v.label}`),
      "",
      ...table(figs),
      "",
      ...phaseLines(figs),
      "",
      "req = requests per poll, rej = rejected frames and retry = retries over all samples.",
      ok ? `All figures within ${TARGET_RATIO}× the minimum.` : `Some figures are above ${TARGET_RATIO}× the minimum.`,
    );
  }
  if (capacity) lines.push("", ...capacityLines(capacity));
  const runs = [res?.resourcesKept, res?.resources].filter((r): r is ResourceFigures => r !== undefined);
  if (runs.length > 0 || res?.profile) lines.push("", ...resourceLines(runs, res?.profile));
  if (res?.messages && has("messages")) lines.push("", ...messageLines(res.messages));
  if (res?.peers && has("messages")) lines.push("", ...peerLines(res.peers));
  if (birth) lines.push("", ...birthLines(birth));
  if (startup) lines.push("", ...startupLines(startup));
  if (proxy) lines.push("", ...proxyLines(proxy, model));
  lines.push("", `Targets (from the issue; reported, not asserted):`, ...targets.map(targetLine));
  lines.push(...notes.map((n) => `note: ${n}`), `(bench took ${elapsedS} s)`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
