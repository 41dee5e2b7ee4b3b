/**
 * Availability rules (pure), judged from what MQTT showed and when faults were injected:
 *  - offline-after-window: a window of an always-failing fault long enough for offlineAfter failed
 *    polls must leave the BMS `offline` (published in the window, or already offline at its end);
 *  - asleep-after-window: a long sleeping window must be reported as status "sleeping";
 *  - sleeping-cause: status "sleeping" only while a fault silenced the BMS's replies;
 *  - justified-online: a fresh `online` must come with a fresh state of the same BMS;
 *  - stale-online: a BMS shown `online` must have published a fresh state within the stale bound;
 *  - hang: a BMS without an active fault must publish a fresh state within the hang bound.
 */
import type { FaultWindow, Outage } from "./types.js";

export interface AvailMsg {
  at: number;
  online: boolean;
}

export interface OfflineRuleInput {
  window: FaultWindow & { to: number };
  /** Minimum length of a window that must take the BMS offline (bounds.offlineWindowMs). */
  requiredMs: number;
  /** This BMS's availability messages, in arrival order. */
  availability: readonly AvailMsg[];
  outages: readonly Outage[];
  graceMs: number;
  now: number;
}

export type RuleResult = { ok: true } | { ok: false; reason: string } | { ok: "n/a" } | { ok: "pending" };

/** Was the BMS published offline after a long always-failing window? */
export function offlineAfterWindow(i: OfflineRuleInput): RuleResult {
  const w = i.window;
  if (w.effect !== "fails" || w.to - w.from < i.requiredMs) return { ok: "n/a" };
  let deadline = w.to + i.graceMs;
  // a message queued by the bridge's client during an outage arrives after the reconnect
  for (const o of i.outages) if (o.from <= deadline && o.to >= w.from) deadline = Math.max(deadline, o.to + 10_000);
  const offlineInWindow = i.availability.some((m) => !m.online && m.at >= w.from && m.at <= deadline);
  const last = [...i.availability].reverse().find((m) => m.at <= w.to);
  if (offlineInWindow || (last !== undefined && !last.online)) return { ok: true };
  if (i.now <= deadline) return { ok: "pending" };
  return { ok: false, reason: `${w.kind} for ${((w.to - w.from) / 1000).toFixed(1)} s (≥ ${(i.requiredMs / 1000).toFixed(1)} s needed for offline) and no offline published by ${((deadline - w.from) / 1000).toFixed(1)} s after it began` };
}

export interface AsleepRuleInput {
  window: FaultWindow & { to: number };
  requiredMs: number;
  /** Arrivals of this BMS's "sleeping" states, and of all its fresh or sleeping states. */
  sleeping: readonly number[];
  alive: readonly number[];
  /** The BMS must have been polled this recently before the window (not in backoff after a failure). */
  recentMs: number;
  /**
   * Latest time the bridge's next poll may come after failing faults that overlapped the window
   * (bounds.retryAfterFaultMs): the bridge cannot see the BMS is back, asleep, before it retries.
   */
  retryDueBy?: number;
  graceMs: number;
  now: number;
}

/**
 * A sleeping window long enough for two polls must show status "sleeping", if the BMS was being
 * polled when it began and was not in backoff (after an overlapping failing fault) until it ended.
 */
export function asleepAfterWindow(i: AsleepRuleInput): RuleResult {
  const w = i.window;
  if (w.kind !== "sleeping" || w.to - w.from < i.requiredMs) return { ok: "n/a" };
  // never polled (a failure, not asleep), or in backoff after failures (the next poll may be late)
  if (!i.alive.some((t) => t < w.from && t >= w.from - i.recentMs)) return { ok: "n/a" };
  // out of range (or hung) during the window: backoff; only a sleep that outlasts the retry counts
  if (i.retryDueBy !== undefined && w.to < i.retryDueBy) return { ok: "n/a" };
  if (i.sleeping.some((t) => t >= w.from && t <= w.to + i.graceMs)) return { ok: true };
  if (i.now <= w.to + i.graceMs) return { ok: "pending" };
  return { ok: false, reason: `sleeping for ${((w.to - w.from) / 1000).toFixed(1)} s and no status "sleeping" published` };
}

/**
 * Status "sleeping" at `at` needs a fault that silences replies during the poll ([at − pollBound,
 * at]); the causes found, a real silence (sleeping, ATT error, drops, link loss) first.
 */
export function sleepingCauses(at: number, pollBoundMs: number, faults: readonly FaultWindow[]): FaultWindow[] {
  const during = faults.filter((f) => (f.effect === "silent" || f.effect === "flaky") && f.from <= at && (f.to ?? at) >= at - pollBoundMs);
  return [...during.filter((f) => f.kind !== "garbage"), ...during.filter((f) => f.kind === "garbage")];
}

/** A fresh `online` must have a fresh state of the BMS within ±toleranceMs (the bridge publishes both after a poll). */
export function onlineJustified(onlineAt: number, freshStates: readonly number[], toleranceMs: number): boolean {
  return freshStates.some((t) => Math.abs(t - onlineAt) <= toleranceMs);
}

export interface LivenessInput {
  now: number;
  online: boolean | undefined;
  lastFresh: number | undefined;
  /** Last fresh or "sleeping" state: the bridge is polling the BMS. */
  lastAlive: number | undefined;
  /** When the checker started watching, and when the broker last came back. */
  since: number;
  faults: readonly FaultWindow[];
  staleMs: number;
  hangMs: number;
}

export type Liveness = { kind: "ok" } | { kind: "stale-online" | "hang"; quietMs: number };

/** Stale-online and hang, judged at `now`. */
export function liveness(i: LivenessInput): Liveness {
  const active = i.faults.some((f) => f.to === undefined || f.to > i.now);
  const alive = Math.max(i.lastAlive ?? 0, i.since);
  if (i.online === true && i.now - alive > i.staleMs) {
    // an online BMS whose polls keep failing must go offline within the stale bound
    return { kind: "stale-online", quietMs: i.now - alive };
  }
  if (active) return { kind: "ok" };
  const base = Math.max(i.lastFresh ?? 0, i.since);
  const lastFaultEnd = Math.max(0, ...i.faults.map((f) => f.to ?? i.now));
  const quiet = i.now - Math.max(base, lastFaultEnd);
  return quiet > i.hangMs ? { kind: "hang", quietMs: quiet } : { kind: "ok" };
}
