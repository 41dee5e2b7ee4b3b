/**
 * Pure retry timing. While a BMS has failed fewer times than the offline threshold, polls keep the
 * normal interval (so "offline after N polls" means N intervals); after that the delay doubles per
 * failure up to maxMs, with ±20 % jitter so several BMS on one adapter do not retry in lockstep.
 */
/**
 * Longest wait between attempts for an unreachable BMS, unless the poll interval is longer: a BMS
 * back in range (or released by the phone app) shows up within about a minute, and a missing BMS
 * costs its adapter at most one scan timeout (10 s by default) per minute.
 */
export const MAX_BACKOFF_MS = 60_000;

export function maxBackoffMs(pollIntervalMs: number): number {
  return Math.max(MAX_BACKOFF_MS, pollIntervalMs);
}

export interface BackoffPolicy {
  intervalMs: number;
  offlineAfter: number;
  maxMs: number;
}

export function nextDelayMs(failures: number, p: BackoffPolicy, random: () => number = Math.random): number {
  if (failures < p.offlineAfter) return p.intervalMs;
  const exp = Math.min(p.maxMs, p.intervalMs * 2 ** (failures - p.offlineAfter + 1));
  const base = Math.max(p.intervalMs, exp);
  return Math.round(base * (0.8 + 0.4 * random()));
}
