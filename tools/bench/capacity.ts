/**
 * Adapter capacity (pure): how many BMS one adapter serves at a poll interval, from measured cycle
 * times, and the analysis of a real bridge run's state timeline.
 *
 * All BMS share one adapter queue (runtime/adapter-queue.ts): cycles (open → poll → close) run one
 * at a time, so in a budget of one poll interval the adapter fits the BMS whose cycles sum to at
 * most the interval: N = floor(interval / cycle) for one protocol, and for a mix the largest N
 * whose cycles (BMS i of protocol mix[i % mix.length]) sum to at most the interval.
 *
 * The supervisor's schedule (runtime/supervisor.ts loop): poll (after waiting its turn in the
 * queue), then sleep pollInterval, so one BMS's period is gap + wait + cycle, not the interval.
 * An unsaturated adapter (Σ cycles ≤ gap + own cycle) lets the BMS stagger themselves (no waiting):
 * period = gap_i + c_i. A saturated one serves every BMS once per round: period = Σ cycles.
 * Each supervisor has at most one poll queued, so the queue never grows beyond N − 1: overload
 * shows as stretched intervals (waiting), not as an ever-growing queue.
 */
import { median } from "./stats.js";

/** The poll interval of the capacity question (the "5 s"). */
export const POLL_INTERVAL_MS = 5000;
/** A BMS keeps its nominal rate when its median inter-state interval is ≤ this × the interval (5.5 s). */
export const RATE_TOLERANCE = 1.1;
/** N + k must overload clearly: its predicted saturated period ≥ this × the tolerated interval. */
export const OVERLOAD_MARGIN = 1.05;

/** BMS one adapter serves per interval with every cycle taking cycleMs. */
export function perAdapter(budgetMs: number, cycleMs: number): number {
  if (!(cycleMs > 0)) throw new Error("cycle time must be positive");
  return Math.floor(budgetMs / cycleMs);
}

/** The protocol (variant id) of BMS i in a round-robin mix. */
export function mixMember<T>(mix: readonly T[], i: number): T {
  const m = mix[i % mix.length];
  if (m === undefined) throw new Error("empty mix");
  return m;
}

/** Cycle time of each of the first n BMS of the mix. */
export function mixCycles(mix: readonly string[], cycleMs: Readonly<Record<string, number>>, n: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const id = mixMember(mix, i);
    const c = cycleMs[id];
    if (c === undefined || !(c > 0)) throw new Error(`no cycle time for ${id}`);
    return c;
  });
}

export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Mean cycle over one round of the mix; floor(budget / mean) is the mix's per-adapter figure. */
export function meanCycle(mix: readonly string[], cycleMs: Readonly<Record<string, number>>): number {
  return sum(mixCycles(mix, cycleMs, mix.length)) / mix.length;
}

/** Largest n whose round-robin cycles fit in the budget (the exact composition the verification runs). */
export function mixCapacity(budgetMs: number, mix: readonly string[], cycleMs: Readonly<Record<string, number>>): number {
  const round = mixCycles(mix, cycleMs, mix.length); // validates: every member has a positive cycle
  let n = 0;
  let total = 0;
  for (;;) {
    const next = round[n % round.length] as number;
    if (total + next > budgetMs) return n;
    total += next;
    n += 1;
  }
}

/**
 * Smallest k ≥ 1 for which n + k BMS of the mix clearly cannot keep the rate: their cycles sum to
 * at least margin × tolerance × budget (the saturated period), so the check is not decided by noise.
 */
export function overloadExtra(budgetMs: number, mix: readonly string[], cycleMs: Readonly<Record<string, number>>, n: number, tolerance = RATE_TOLERANCE, margin = OVERLOAD_MARGIN): number {
  const limit = budgetMs * tolerance * margin;
  for (let k = 1; k < 1000; k++) if (sum(mixCycles(mix, cycleMs, n + k)) >= limit) return k;
  throw new Error("no overload within 1000 extra BMS");
}

/** Predicted steady-state period of each BMS under the supervisor's poll-then-sleep loop. */
/**
 * Expected period of each BMS with the supervisor's period-based schedule (a poll is due one
 * interval after the previous one was due): the interval, unless one round of every BMS's cycle on
 * the shared adapter takes longer.
 */
export function predictedPeriods(intervalMs: number, cyclesMs: readonly number[]): number[] {
  const round = sum(cyclesMs);
  return cyclesMs.map(() => Math.max(intervalMs, round));
}

export interface StateEvent {
  /** When the supervisor emitted the snapshot (ms, any origin). */
  atMs: number;
  /** Its cycle: open → poll → close (stats.durationMs). */
  durationMs: number;
}

export interface BmsRunAnalysis {
  states: number;
  /** Between consecutive states, from the first state on (the first poll's start-up burst excluded). */
  intervals: number[];
  medianIntervalMs: number | undefined;
  maxIntervalMs: number | undefined;
  /** Time spent waiting for the adapter before a poll: interval − sleep − that poll's cycle. */
  medianWaitMs: number | undefined;
  maxWaitMs: number | undefined;
  medianCycleMs: number | undefined;
}

export function analyseStates(events: readonly StateEvent[], gapMs: number): BmsRunAnalysis {
  const sorted = [...events].sort((a, b) => a.atMs - b.atMs);
  const intervals: number[] = [];
  const waits: number[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as StateEvent;
    const cur = sorted[i] as StateEvent;
    const iv = cur.atMs - prev.atMs;
    intervals.push(iv);
    waits.push(Math.max(0, iv - gapMs - cur.durationMs));
  }
  const cycles = sorted.slice(1).map((e) => e.durationMs);
  return {
    states: sorted.length,
    intervals,
    medianIntervalMs: intervals.length ? median(intervals) : undefined,
    maxIntervalMs: intervals.length ? Math.max(...intervals) : undefined,
    medianWaitMs: waits.length ? median(waits) : undefined,
    maxWaitMs: waits.length ? Math.max(...waits) : undefined,
    medianCycleMs: cycles.length ? median(cycles) : undefined,
  };
}

/** The BMS got a state at its nominal rate: ≥ 2 intervals and median interval ≤ tolerance × nominal. */
export function keepsRate(a: BmsRunAnalysis, nominalMs = POLL_INTERVAL_MS, tolerance = RATE_TOLERANCE): boolean {
  return a.intervals.length >= 2 && a.medianIntervalMs !== undefined && a.medianIntervalMs <= nominalMs * tolerance;
}

/** Fraction of the window the adapter was busy with cycles (Σ cycle durations of states in it / window). */
export function adapterBusy(events: readonly StateEvent[], fromMs: number, toMs: number): number {
  if (!(toMs > fromMs)) return 0;
  const busy = sum(events.filter((e) => e.atMs >= fromMs && e.atMs <= toMs).map((e) => e.durationMs));
  return busy / (toMs - fromMs);
}
