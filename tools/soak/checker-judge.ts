/**
 * The checker's periodic rules for one BMS (availability.ts applied to what the checker saw):
 * justified online, offline / asleep after long fault windows, stale online, and hangs.
 */
import { asleepAfterWindow, type AvailMsg, liveness, offlineAfterWindow, onlineJustified } from "./availability.js";
import { asleepWindowMs, offlineWindowMs, retryAfterFaultMs, staleOnlineMs } from "./bounds.js";
import type { ScenarioBms } from "../../src/sim/scenario.js";
import type { FaultLog, FaultWindow, SoakTiming } from "./types.js";

export interface BmsTally {
  address: string;
  fresh: number;
  /** States with status "sleeping" (the module connects, the BMS does not answer). */
  sleeping: number;
  republished: number;
  wrong: number;
  offline: number;
  maxAgeS: number;
  /** Highest `rejected_samples` the bridge reported: polls its plausibility gate dropped. */
  gateRejected: number;
}

export interface Problem {
  at: number;
  address: string;
  rule: string;
  detail: string;
}


/** What the checker knows about one BMS. */
export interface Track {
  bms: ScenarioBms;
  tally: BmsTally;
  lastFresh?: number;
  /** Last fresh or "sleeping" state: the bridge is polling the BMS. */
  lastAlive?: number;
  /** The last fresh state may have been queued across a broker outage: it arrived later than it was published. */
  lastFreshQueued?: boolean;
  sleepingAt: number[];
  /** The last state payload seen, of any status: a re-publish repeats exactly this. */
  lastPayload?: string;
  freshAt: number[];
  avail: AvailMsg[];
  pendingOnline: number[];
  episode?: "stale-online" | "hang";
  /** Arrival of the offline message for which asleep-but-offline was reported. */
  asleepOfflineReported?: number;
  judged: Set<FaultWindow>;
}

export interface JudgeContext {
  timing: SoakTiming;
  faults: FaultLog & { brokerUp(): boolean };
  startedAt: number;
  errors: Problem[];
  hangs: Problem[];
}

const ONLINE_TOLERANCE_MS = 3000;

export function judgeTrack(t: Track, now: number, final: boolean, c: JudgeContext): void {
  const a = t.bms.address;
  t.pendingOnline = t.pendingOnline.filter((at) => {
    if (now < at + ONLINE_TOLERANCE_MS && !final) return true;
    // a poll that reached the BMS: values, or status "sleeping" (asleep is available, README)
    if (!onlineJustified(at, [...t.freshAt, ...t.sleepingAt], ONLINE_TOLERANCE_MS)) c.errors.push({ at, address: a, rule: "justified-online", detail: "online published without a fresh or sleeping state around it" });
    return false;
  });
  const windows = c.faults.windows(a);
  for (const w of windows) {
    if (w.to === undefined || t.judged.has(w)) continue;
    const ended = { ...w, to: w.to };
    const off = offlineAfterWindow({ window: ended, requiredMs: offlineWindowMs(c.timing, w.kind), availability: t.avail, outages: c.faults.outages(), graceMs: 5000, now });
    // failing faults over the window (out of range, hung connects): the bridge is in backoff
    const retryDueBy = Math.max(
      0,
      ...windows.filter((f) => f.effect === "fails" && f.from <= ended.to && (f.to === undefined || f.to >= ended.from)).map((f) => (f.to === undefined ? Infinity : f.to + retryAfterFaultMs(c.timing, f.to - f.from))),
    );
    const asleep = asleepAfterWindow({ window: ended, requiredMs: asleepWindowMs(c.timing), sleeping: t.sleepingAt, alive: [...t.freshAt, ...t.sleepingAt], recentMs: staleOnlineMs(c.timing), ...(retryDueBy > 0 ? { retryDueBy } : {}), graceMs: 5000, now });
    if ((off.ok === "pending" || asleep.ok === "pending") && !final) continue;
    t.judged.add(w); // still pending at the end of the run: not judged
    if (off.ok === false) c.errors.push({ at: w.from, address: a, rule: "offline-after-window", detail: off.reason });
    if (asleep.ok === false) c.errors.push({ at: w.from, address: a, rule: "asleep-after-window", detail: asleep.reason });
  }
  if (!c.faults.brokerUp()) return;
  const since = Math.max(c.startedAt, ...c.faults.outages().map((o) => o.to));
  const last = t.avail[t.avail.length - 1];
  // after a long failing fault the bridge is in backoff: its next poll may legitimately be late
  const ended = windows.filter((w) => w.to !== undefined && w.effect !== "benign").at(-1);
  const hangMs = Math.max(c.timing.hangMs, ended?.to !== undefined ? retryAfterFaultMs(c.timing, ended.to - ended.from) : 0);
  const l = liveness({ now, online: last?.online, lastFresh: t.lastFresh, lastAlive: t.lastAlive, since, faults: windows, staleMs: staleOnlineMs(c.timing), hangMs });
  if (l.kind === "ok") {
    t.episode = undefined;
    return;
  }
  if (t.episode === l.kind) return;
  t.episode = l.kind;
  const p = { at: now, address: a, rule: l.kind, detail: `${l.kind === "hang" ? "no fault active and" : "shown online but"} no fresh state for ${(l.quietMs / 1000).toFixed(1)} s` };
  (l.kind === "hang" ? c.hangs : c.errors).push(p);
}
