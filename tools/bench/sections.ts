/** Text output of the bench's multi-BMS sections (capacity, resources, messages, start-up). */
import { CPU_CATEGORY_LABEL } from "./profile.js";
import type { CapacityRun } from "./capacity-run.js";
import type { MessageFigures, PeerMessageFigures, ProfileFigures, ResourceFigures } from "./resources.js";
import type { StartupResult } from "./startup.js";
import { type BirthFigures, TOPIC_KINDS } from "./messages.js";

export interface CapacityCycle {
  variant: string;
  medianMs: number;
  p95Ms: number;
  perAdapter: number;
  perAdapterP95: number;
}

export interface CapacitySection {
  intervalMs: number;
  tolerance: number;
  cycles: CapacityCycle[];
  mix: { members: string[]; meanCycleMs: number; perAdapterMean: number; n: number; k: number; cyclesSumMs: number; cyclesSumOverloadMs: number };
  runs: CapacityRun[];
  /** N kept the rate and N + k did not. */
  verified: boolean | undefined;
  /** N per adapter on 1, 2 and 4 simulated adapters in one bridge (README "Scaling out"). */
  adapterRuns: CapacityRun[];
}

const f0 = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(0));
const f2 = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(2));
const s2 = (ms: number | undefined): string => (ms === undefined || !Number.isFinite(ms) ? "—" : (ms / 1000).toFixed(2));

export function capacityLines(c: CapacitySection): string[] {
  const out = [
    `Adapter capacity at a ${c.intervalMs / 1000} s poll interval, link released between polls (keepConnected false):`,
    `  measured cycle open → steady poll → close (the "bridge" figure; versions are read only on the first poll):`,
    ...c.cycles.map((x) => `    ${x.variant.padEnd(9)} median ${f0(x.medianMs).padStart(5)} ms  p95 ${f0(x.p95Ms).padStart(5)} ms  →  N = floor(${c.intervalMs} / cycle) = ${x.perAdapter} (p95: ${x.perAdapterP95})`),
    `  mix ${c.mix.members.join("/")} round-robin: mean cycle ${f0(c.mix.meanCycleMs)} ms → floor(${c.intervalMs} / mean) = ${c.mix.perAdapterMean}; exact composition:`,
    `    N = ${c.mix.n} (cycles sum to ${f0(c.mix.cyclesSumMs)} ms ≤ ${c.intervalMs}); overload check with N + ${c.mix.k} = ${c.mix.n + c.mix.k} (sum ${f0(c.mix.cyclesSumOverloadMs)} ms)`,
  ];
  if (c.runs.length > 0) {
    out.push(`  verification: the whole bridge (startRun, simulated radio with this timing, MQTT sink), runs side by side;`);
    out.push(`    a BMS keeps the rate when its median inter-state interval ≤ ${c.tolerance} × ${c.intervalMs / 1000} s = ${s2(c.intervalMs * c.tolerance)} s.`);
    for (const r of c.runs) {
      out.push(
        `    ${r.label.padEnd(30)} N=${String(r.n).padStart(2)}  worst median interval ${s2(r.worstMedianIntervalMs)} s  worst median wait ${s2(r.worstMedianWaitMs)} s  adapter busy ${(r.adapterBusy * 100).toFixed(0)} %  failures ${r.failures}  →  ${r.sustained ? "keeps the rate" : "does NOT keep the rate"}`,
      );
      const byVariant = new Map<string, CapacityRun["bms"]>();
      for (const b of r.bms) byVariant.set(b.variant, [...(byVariant.get(b.variant) ?? []), b]);
      for (const [v, list] of byVariant) {
        const meds = list.map((b) => s2(b.analysis.medianIntervalMs)).join(" ");
        out.push(`      ${v.padEnd(5)} expected period ${s2(list[0]?.predictedPeriodMs)} s, median intervals ${meds} s`);
      }
    }
    if (c.verified !== undefined) out.push(`  capacity verified (N keeps the rate, N + k does not): ${c.verified ? "yes" : "NO"}`);
  }
  if (c.adapterRuns.length > 0) {
    out.push(`  several adapters in one bridge: N = ${c.mix.n} BMS on each simulated adapter (own controller, own noble instance, own queue):`);
    for (const r of c.adapterRuns) {
      out.push(
        `    ${String(r.adapters)} adapter${r.adapters > 1 ? "s" : " "}  ${String(r.n * r.adapters).padStart(2)} BMS  worst median interval ${s2(r.worstMedianIntervalMs)} s  busiest adapter ${(r.adapterBusy * 100).toFixed(0)} %  failures ${r.failures}  →  ${r.sustained ? "keeps the rate" : "does NOT keep the rate"}`,
      );
      const byAdapter = Array.from({ length: r.adapters }, (_, a) => r.bms.filter((_b, i) => i % r.adapters === a).map((b) => s2(b.analysis.medianIntervalMs)).join(" "));
      out.push(`      median intervals by adapter: ${byAdapter.map((m, a) => `hci${a} ${m}`).join(" | ")} s`);
    }
    const all = c.adapterRuns.every((r) => r.sustained);
    out.push(`  BMS sustained at ${c.intervalMs / 1000} s grow linearly with adapters (${c.adapterRuns.map((r) => r.n * r.adapters).join(" / ")}): ${all ? "yes" : "NO"}`);
  }
  return out;
}

export function resourceLines(runs: readonly ResourceFigures[], profile: ProfileFigures | undefined): string[] {
  const out: string[] = [];
  const first = runs[0];
  if (first) {
    out.push(
      `Resources, ${first.bms} BMS (A5/D2/0x81) at --poll-interval ${first.pollIntervalS}, MQTT to Mosquitto; the bridge in a child process as`,
      `  users run it, the simulated radio in another process (a real controller is outside the host too):`,
    );
  }
  for (const r of runs) {
    out.push(
      `  link ${r.link === "kept" ? "kept open (keepConnected)" : "released between polls (default)"}: warm-up ${r.warmupS} s (all first states after ${r.allFirstStateS} s), window ${r.measureS} s`,
      `    RSS (VmRSS) median ${f2(r.rssMB.median)} MB, max ${f2(r.rssMB.max)} MB (first ${f2(r.rssMB.first)}, last ${f2(r.rssMB.last)}; ${r.rssMB.samples} samples)`,
      `      = RssAnon ${f2(r.rssMB.anonMedian)} MB (the process's own) + RssFile ${f2(r.rssMB.fileMedian)} MB (mapped files: mostly the node binary, shared)`,
      `    CPU ${f2(r.cpu.percent)} % of one core (user ${f2(r.cpu.userPercent)} %, system ${f2(r.cpu.systemPercent)} %; main thread ${f2(r.cpu.mainThreadPercent)} %, ${r.cpu.threads} threads)`,
      `    polls: ${r.polls.states} states = ${f2(r.polls.perSecond)}/s (nominal ${f2(r.polls.nominalPerSecond)}/s; median period ${f2(r.polls.medianPeriodS)} s per BMS)`,
      `      → ${f2(r.polls.cpuMsPerPoll)} ms CPU per poll; at the nominal rate ≈ ${f2(r.polls.projectedPercentAtNominal)} % of a core`,
      `    (the simulator process: ${f2(r.simulatorCpuPercent)} % of a core, not counted; one wake-up of an idle node process costs ${f0(r.wakeupUs)} µs here)`,
    );
  }
  if (profile) {
    out.push(
      `  Where the bridge's time goes (--cpu-prof of a third child, link released, same window: JS-thread samples that are`,
      `    not idle, ${f2(profile.profiledBusyPercent)} % of the window; includes time blocked in synchronous syscalls, e.g. socket writes):`,
      ...profile.byCategory.map((c) => `    ${(c.share * 100).toFixed(1).padStart(5)} %  ${f0(c.ms).padStart(5)} ms  ${CPU_CATEGORY_LABEL[c.category]}`),
      `    simulator code in the bridge process: ${(profile.simulatorShare * 100).toFixed(1)} % (the H4 socket client only).`,
    );
  }
  return out;
}

export function messageLines(m: MessageFigures): string[] {
  const w = m.window;
  const kinds = TOPIC_KINDS.filter((k) => (w.perKindPerPoll[k] ?? 0) > 0 || k === "state")
    .map((k) => `${k} ${f2(w.perKindPerPoll[k])}`)
    .join(", ");
  const start = TOPIC_KINDS.filter((k) => m.startup[k] > 0).map((k) => `${k} ${m.startup[k]}`).join(", ");
  return [
    `MQTT messages (instrumented child, ${m.bms} BMS; polls counted by the bridge's own Prometheus counters):`,
    `  at start: discovery ${m.discovery.messages} messages (${f2(m.discovery.perBms)} per BMS, ${(m.discovery.bytes / 1024).toFixed(1)} KiB); all start-up messages: ${start}`,
    `  steady state (${w.measureS} s): ${w.messages} messages for ${w.polls} polls = ${f2(w.perPoll)} per poll (${kinds});`,
    `    per BMS per poll ${f2(w.perBmsPerPoll.min)}–${f2(w.perBmsPerPoll.max)}; state payload ${w.stateBytesAvg} bytes on average`,
  ];
}

export function peerLines(p: PeerMessageFigures): string[] {
  const w = (x: PeerMessageFigures["alone"]): string => `${f2(x.perPoll)} per poll (${x.polls} polls in ${x.measureS} s)`;
  return [
    `MQTT messages of one bridge (${p.bms} BMS) per poll, alone on the broker and with ${p.peers} more bridges (own ids, own ${p.bms} BMS each) on it:`,
    `  alone ${w(p.alone)};  with ${p.peers} peers ${w(p.withPeers)} (the peers published ${p.withPeers.othersMessages} messages meanwhile)`,
    `  unchanged by the number of bridges: ${p.alone.perPoll === p.withPeers.perPoll ? "yes" : Math.abs(p.alone.perPoll - p.withPeers.perPoll) < 0.05 ? "yes (within 0.05)" : "NO"}`,
  ];
}

export function birthLines(b: BirthFigures): string[] {
  const kinds = Object.entries(b.birth.byKind).map(([k, c]) => `${k} ${c}`).join(", ");
  return [
    `MQTT messages per Home Assistant birth (the real MqttSink, ${b.bms} BMS with ${b.announcedConfigs} discovery configs announced, private Mosquitto):`,
    `  birth, broker holding every config: ${b.birth.messages} messages published (${kinds}); the bridge reads ${b.birth.retainedRead} retained messages to compare`,
    `    (re-sending every config, as before, was ${b.announcedConfigs + 2 * b.bms + 2} messages: every config, availability and state per BMS, the bridge's availability and info)`,
    `  birth after one config was deleted on the broker: ${b.birthOneLost.messages} messages (${b.birthOneLost.discovery} discovery)`,
    `  reconnect to a broker restarted without persistence: ${b.brokerLost.messages} messages (${Object.entries(b.brokerLost.byKind).map(([k, c]) => `${k} ${c}`).join(", ")})`,
  ];
}

export function startupLines(s: StartupResult): string[] {
  const out = [`Start → first state on the broker (one D2 BMS, fresh broker, subscriber first; node -e 0 alone takes ${f0(s.nodeBootMs)} ms):`];
  for (const f of s.figures) {
    const p = f.phasesMedianMs;
    out.push(
      `  ${f.mode === "configured" ? "protocol configured" : "auto-probe         "}  median ${f0(f.medianMs)} ms (best ${f0(f.bestMs)}, ${f.runs} runs): "starting" log ${f0(p.starting)} ms, MQTT connected ${f0(p.mqttConnected)} ms,`,
      `    first poll done ${f0(p.firstPoll)} ms (poll itself ${f0(p.firstPollDuration)} ms)`,
    );
    for (const x of f.samples) if (x.error) out.push(`    error: ${x.error}`);
  }
  return out;
}
