/** The soak's result: one object (the `--json` line) and its human-readable rendering. */
import type { BmsTally, Problem, RetainedCheck } from "./checker-core.js";
import type { Growth, Sample } from "./probes.js";
import type { RecoveryResult } from "./recovery.js";
import type { WrongValue } from "./truth.js";
import type { FaultKind, FaultWindow, Outage } from "./types.js";

export interface SoakReport {
  soak: "fault-soak-with-truth-checking";
  ok: boolean;
  exitCode: 0 | 1;
  failures: string[];
  seed: number;
  minutes: number;
  durationS: number;
  faultRate: number;
  bms: Array<{ address: string; protocol: string; name?: string }>;
  polls: { fresh: number; sleeping: number; republished: number; bridgeCounted: number; perBms: BmsTally[] };
  faults: { total: number; byKind: Record<FaultKind, number>; brokerRestarts: number; haRestarts: number; nobleRestarts: number };
  values: { checked: number; wrong: number; wrongStates: number; first: Array<WrongValue & { address: string; at: number; payload: string }> };
  availability: { errors: number; first: Problem[]; offlineTransitions: number; notes: Problem[]; noteCounts: Record<string, number> };
  hangs: Problem[];
  recovery: { events: RecoveryResult[]; maxBrokerMs: number | null; maxHaMs: number | null };
  /** After each restart: did the broker's retained configs equal the announced ones (exact set)? */
  retained: { checks: number; matched: number; failed: number; unjudged: number; maxMatchMs: number | null; reads: number; first: RetainedCheck[] };
  resources: Growth & { samples: Sample[]; warnings: string[]; stalls: Array<{ tS: number; ms: number }>; warmupS: number };
  mqtt: { total: number; state: number; availability: number; discovery: number; other: number };
  /** Every injected fault and broker outage, in ms from the start (for a replay or a bug report). */
  faultLog: FaultWindow[];
  outages: Outage[];
  startedAt: number;
}

export function verdict(r: Omit<SoakReport, "ok" | "exitCode" | "failures">): Pick<SoakReport, "ok" | "exitCode" | "failures"> {
  const failures: string[] = [];
  if (r.values.wrong > 0) failures.push(`${r.values.wrong} wrong value(s)`);
  if (r.availability.errors > 0) failures.push(`${r.availability.errors} availability error(s)`);
  if (r.hangs.length > 0) failures.push(`${r.hangs.length} hang(s)`);
  if (r.polls.fresh === 0) failures.push("no state was published at all");
  return { ok: failures.length === 0, exitCode: failures.length === 0 ? 0 : 1, failures };
}

export function retainedSummary(checks: readonly RetainedCheck[]): SoakReport["retained"] {
  const matched = checks.filter((c) => c.matchedMs !== undefined);
  return {
    checks: checks.length,
    matched: matched.length,
    failed: checks.filter((c) => c.failed).length,
    unjudged: checks.filter((c) => c.matchedMs === undefined && !c.failed).length,
    maxMatchMs: matched.length > 0 ? Math.max(...matched.map((c) => c.matchedMs ?? 0)) : null,
    reads: checks.reduce((a, c) => a + c.reads, 0),
    first: checks.filter((c) => c.failed).slice(0, 5),
  };
}

export function maxRecovery(events: readonly RecoveryResult[], kind: string): number | null {
  const v = events.filter((e) => e.kind === kind && e.recoveredMs !== undefined).map((e) => e.recoveredMs ?? 0);
  return v.length > 0 ? Math.max(...v) : null;
}

const n = (x: number): string => x.toLocaleString("en-US");
const s1 = (ms: number | null | undefined): string => (ms === null || ms === undefined ? "–" : `${(ms / 1000).toFixed(1)} s`);
const iso = (t: number): string => new Date(t).toISOString().slice(11, 23);

function problemLine(p: Problem): string {
  return `    ${iso(p.at)} ${p.address} [${p.rule}] ${p.detail}`;
}

export function humanReport(r: SoakReport): string {
  const g = r.resources;
  const protocols = r.bms.map((b) => b.protocol).join(", ");
  const byKind = Object.entries(r.faults.byKind).filter(([, c]) => c > 0).map(([k, c]) => `${k} ${c}`).join(", ");
  const trio = (f: (x: Sample) => number | string): string => [g.start, g.warm, g.end].map((x) => (x ? String(f(x)) : "–")).join(" → ");
  const rec = (kind: string): string => {
    const ev = r.recovery.events.filter((e) => e.kind === kind);
    if (ev.length === 0) return `${kind}: none`;
    return `${kind}: ${ev.map((e) => (e.recoveredMs !== undefined ? s1(e.recoveredMs) : e.timedOut ? "NOT RECOVERED" : "pending at end")).join(", ")}`;
  };
  const lines = [
    `daly-bms-bridge soak: ${r.durationS.toFixed(0)} s, ${r.bms.length} BMS (${protocols}), fault rate ${r.faultRate} per BMS per poll window, seed ${r.seed}`,
    `Polls        ${n(r.polls.fresh)} fresh states checked, ${n(r.polls.sleeping)} "sleeping", ${n(r.polls.republished)} re-published; the bridge counted ${n(r.polls.bridgeCounted)} polls with replies`,
    ...r.polls.perBms.map((t) => `    ${t.address}: ${t.fresh} states, ${t.sleeping} sleeping, ${t.wrong} wrong, ${t.offline} offline transitions, ${t.gateRejected} dropped by the gate, oldest matching truth ${t.maxAgeS} s before arrival`),
    `Faults       ${r.faults.total} injected (${byKind || "none"}); broker restarts ${r.faults.brokerRestarts}, HA restarts ${r.faults.haRestarts}; noble watchdog restarts ${r.faults.nobleRestarts}`,
    `Values       ${n(r.values.checked)} checked, ${r.values.wrong} wrong (in ${r.values.wrongStates} states)`,
    ...r.values.first.map((w) => `    ${iso(w.at)} ${w.address} ${w.key} = ${JSON.stringify(w.got)}; truth in ${iso(w.window.fromMs)}–${iso(w.window.toMs)}: ${w.expected.join(" | ")}`),
    `Availability ${r.availability.errors} errors, ${r.availability.offlineTransitions} offline transitions`,
    ...r.availability.first.map(problemLine),
    ...Object.entries(r.availability.noteCounts).map(([rule, count]) => {
      const first = r.availability.notes.find((p) => p.rule === rule);
      return `    note ×${count}: ${first ? problemLine(first).trim() : rule}`;
    }),
    `Hangs        ${r.hangs.length}`,
    ...r.hangs.map(problemLine),
    `Recovery     ${rec("broker restart")}; ${rec("HA restart")} (max ${s1(r.recovery.maxBrokerMs)} / ${s1(r.recovery.maxHaMs)})`,
    `Discovery    after each restart the broker's retained configs = the announced ones (registry): ${r.retained.matched} of ${r.retained.checks} events${r.retained.failed ? `, ${r.retained.failed} FAILED` : ""}${r.retained.unjudged ? `, ${r.retained.unjudged} not judged (end of run)` : ""}; max ${s1(r.retained.maxMatchMs)} after the event, ${r.retained.reads} reads`,
    `Memory       RSS ${trio((x) => x.rssMB)} MB (start → after ${g.warmupS} s warm-up → end: ${signed(g.rssGrowthMB)} MB after warm-up); heap ${trio((x) => x.heapMB)} MB (${signed(g.heapGrowthMB)} MB)`,
    `             private (RssAnon) ${trio((x) => x.anonMB)} MB (${signed(g.anonGrowthMB)}); V8 committed ${trio((x) => x.heapTotalMB)} MB (${signed(g.heapTotalGrowthMB)}); external/Buffers ${trio((x) => x.externalMB)} MB (${signed(g.externalGrowthMB)})`,
    `Event loop   delay p99 ${trio((x) => x.eldP99Ms)} ms, worst p99 ${g.eldP99MaxMs} ms, worst max ${g.eldMaxMs} ms; ${g.stalls.length} stalls > 100 ms${g.stalls.length ? ` (longest ${Math.max(...g.stalls.map((x) => x.ms))} ms)` : ""}`,
    `Listeners    noble ${trio((x) => x.nobleListeners)}, peripherals ${trio((x) => x.peripheralListeners)}, process ${trio((x) => x.processListeners)}, open links ${trio((x) => x.openLinks)}, active resources ${trio((x) => x.activeResources)} (growth after warm-up ${signed(g.listenerGrowth)})`,
    ...g.warnings.map((w) => `    warning: ${w}`),
    `MQTT         ${n(r.mqtt.total)} messages (states ${n(r.mqtt.state)}, availability ${n(r.mqtt.availability)}, discovery ${n(r.mqtt.discovery)} = ${r.mqtt.total > 0 ? Math.round((100 * r.mqtt.discovery) / r.mqtt.total) : 0} %, other ${n(r.mqtt.other)})`,
    r.ok ? "Result       PASS" : `Result       FAIL: ${r.failures.join(", ")}`,
  ];
  return lines.join("\n");
}

function signed(x: number): string {
  return x >= 0 ? `+${x}` : String(x);
}
