/**
 * Time bounds the checker's rules rest on, derived from the bridge's settings (pure). They are
 * upper bounds of what the bridge may take, never measurements of it, so a slow bridge shows up as
 * an error instead of moving the goal posts.
 */
import { maxBackoffMs } from "../../src/runtime/backoff.js";
import type { FaultKind, SoakTiming } from "./types.js";

/** Wait for the adapter queue per other BMS polled in between (a cycle on the fast simulator). */
const QUEUE_PER_OTHER_BMS_MS = 700;
const CANCEL_GRACE_MS = 300; // commands/setup.ts: cancelGraceMs of the simulated radio
const MAX_STEPS = 9; // A5 with version reads (daly/plan.ts)
const PROBE_CANDIDATES = 4;

function gattMs(t: SoakTiming): number {
  return Math.max(t.requestTimeoutMs, 2000); // commands/setup.ts: gattTimeoutMs
}

/** Longest time from a poll's start to its state being published (open + probe + every step retried). */
export function pollBoundMs(t: SoakTiming): number {
  const open = t.scanTimeoutMs + t.connectTimeoutMs + 2 * gattMs(t);
  const probe = PROBE_CANDIDATES * Math.min(t.requestTimeoutMs, 1500);
  return open + probe + MAX_STEPS * (1 + t.retries) * t.requestTimeoutMs + 500;
}

/** Longest duration of one failed poll under a fault of this kind. */
export function failBoundMs(t: SoakTiming, kind: FaultKind): number {
  const firstStep = Math.max((1 + t.retries) * t.requestTimeoutMs, PROBE_CANDIDATES * Math.min(t.requestTimeoutMs, 1500));
  switch (kind) {
    case "outOfRange":
      return t.scanTimeoutMs + 300;
    case "connectHang":
      return t.scanTimeoutMs + t.connectTimeoutMs + CANCEL_GRACE_MS + 300;
    case "mtuInvalid":
      return 2 * gattMs(t) + 500;
    default:
      return 1000 + firstStep; // connect + GATT on the fast simulator, then the first step's tries
  }
}

function queueSlackMs(t: SoakTiming): number {
  return Math.max(0, t.bmsCount - 1) * QUEUE_PER_OTHER_BMS_MS;
}

/** A window of an always-failing fault at least this long must take the BMS offline. */
export function offlineWindowMs(t: SoakTiming, kind: FaultKind): number {
  return t.offlineAfter * (t.pollIntervalMs + failBoundMs(t, kind) + queueSlackMs(t)) + 1000;
}

/** A sleeping window at least this long must be reported (status "sleeping"): two polls' worth. */
export function asleepWindowMs(t: SoakTiming): number {
  return 2 * (t.pollIntervalMs + failBoundMs(t, "sleeping") + queueSlackMs(t)) + 1000;
}

/** The window length at which a fault's rule applies (offline, or asleep); 0 = no rule. */
export function requiredWindowMs(t: SoakTiming, kind: FaultKind): number {
  if (kind === "sleeping") return asleepWindowMs(t);
  return offlineWindowMs(t, kind);
}

/** An `online` BMS must have published a fresh state within this time (else it should be offline). */
export function staleOnlineMs(t: SoakTiming): number {
  const worst = Math.max(...(["outOfRange", "connectHang", "mtuInvalid", "sleeping"] as const).map((k) => failBoundMs(t, k)));
  return t.offlineAfter * (t.pollIntervalMs + worst + queueSlackMs(t)) + 5000;
}


/**
 * Latest time after a failing fault of this length ends until the bridge polls again: failures
 * counted as fast as possible (instant failures, shortest jitter), the backoff reached by then
 * (runtime/backoff.ts: doubling after offlineAfter, ±20 %), its longest jittered value, then a poll.
 */
export function retryAfterFaultMs(t: SoakTiming, faultMs: number): number {
  let elapsed = 0;
  let failures = 0;
  let delay = t.pollIntervalMs;
  while (elapsed < faultMs) {
    failures += 1;
    delay = failures < t.offlineAfter ? t.pollIntervalMs : Math.min(maxBackoffMs(t.pollIntervalMs), t.pollIntervalMs * 2 ** (failures - t.offlineAfter + 1));
    elapsed += failures < t.offlineAfter ? delay : delay * 0.8;
  }
  return delay * 1.2 + queueSlackMs(t) + pollBoundMs(t);
}
