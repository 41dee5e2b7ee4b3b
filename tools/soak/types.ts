/**
 * Types shared by the soak's parts: the fault kinds it injects, the windows it records, broker
 * outages, and the timing parameters the checker's rules are computed from.
 */

export const FAULT_KINDS = ["drop", "garbage", "split", "merge", "linkLoss", "connectHang", "attError", "mtuInvalid", "outOfRange", "sleeping"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One fault on one BMS, from `from` until `to` (undefined while still active). Times are epoch ms. */
export interface FaultWindow {
  address: string;
  kind: FaultKind;
  from: number;
  to?: number;
  effect: FaultEffect;
}

/**
 * What a fault does to a poll: `fails` every poll fails (may take the BMS offline); `silent` the
 * module connects but no valid reply comes (the bridge reports the BMS asleep); `flaky` some polls
 * fail or come back silent; `benign` must not change anything (split/merged notifications).
 * (An ATT error is silent: the bridge writes without response, so the error never reaches it.)
 */
export type FaultEffect = "fails" | "silent" | "flaky" | "benign";

/** The broker was down from `from` to `to` (epoch ms). */
export interface Outage {
  from: number;
  to: number;
}

/** What the injector tells the checker (the checker's only knowledge besides MQTT and the truth). */
export interface FaultLog {
  windows(address: string): readonly FaultWindow[];
  outages(): readonly Outage[];
}

/** The bridge settings the rules are derived from, all in ms. */
export interface SoakTiming {
  pollIntervalMs: number;
  offlineAfter: number;
  scanTimeoutMs: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  retries: number;
  /** Number of BMS sharing the adapter queue. */
  bmsCount: number;
  /** A BMS with no fault and no fresh state for this long is hung. */
  hangMs: number;
}
