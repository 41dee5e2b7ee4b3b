/**
 * The soak's truth check (pure). A published state is compared with what the simulated battery
 * served — `batteryAt(scenarioBms, t)`, the simulator's own truth — at every whole second of the
 * window in which its poll can have run; each value must equal the truth at SOME second of it
 * (one poll's requests can straddle seconds). Nothing of the bridge's decoder or mapper is used.
 */
import { batteryAt, type BatteryState } from "../../src/sim/battery.js";
import type { ScenarioBms } from "../../src/sim/scenario.js";

export interface Window {
  fromMs: number;
  toMs: number;
}

export interface WindowInput {
  arrivalMs: number;
  /** Arrival of this BMS's previous fresh state: its next poll started after it. */
  prevFreshMs: number | undefined;
  pollBoundMs: number;
  /**
   * Set when the message may have been published late: queued by the bridge's client across a
   * broker outage (the outage's start), or delivered as a retained copy (its last outage or the start).
   */
  queuedSince: number | undefined;
  /** End of the BMS's last out-of-range window: a poll that succeeded cannot have sampled during or before it. */
  notBeforeMs?: number;
}

/** Clock slack around the previous state's arrival (its poll's end and our receipt differ by ms). */
const PREV_SLACK_MS = 250;

/** The interval in which the poll behind a state arriving at `arrivalMs` sampled its values. */
export function pollWindow(i: WindowInput): Window {
  let from = i.arrivalMs - i.pollBoundMs;
  // published late: its poll may be older than the arrival suggests, and so may the previous one's
  if (i.queuedSince !== undefined) from = Math.min(from, i.queuedSince - i.pollBoundMs);
  else {
    if (i.prevFreshMs !== undefined) from = Math.max(from, i.prevFreshMs - PREV_SLACK_MS);
    if (i.notBeforeMs !== undefined) from = Math.max(from, i.notBeforeMs - PREV_SLACK_MS);
  }
  return { fromMs: Math.min(from, i.arrivalMs), toMs: i.arrivalMs };
}

export type Value = number | boolean | string | number[];

/** Snapshot keys (contract §2) as the truth says they must be; absent = not served. */
export function expectedValues(b: ScenarioBms, s: BatteryState): Record<string, Value | undefined> {
  const v = s.scalars;
  const flag = (x: number | undefined): boolean | undefined => (x === undefined ? undefined : x !== 0);
  return {
    protocol: b.protocol,
    voltage_V: v.voltage_V,
    current_A: v.current_A,
    soc_pct: v.soc_pct,
    remaining_Ah: v.remaining_Ah,
    cycles: v.cycles,
    cells_mV: s.cells_mV,
    temperatures_C: s.temperatures_C,
    cell_count: s.cells_mV.length,
    temp_sensor_count: s.temperatures_C.length,
    max_cell_mV: v.max_cell_mV,
    min_cell_mV: v.min_cell_mV,
    max_cell_index: v.max_cell_index,
    min_cell_index: v.min_cell_index,
    delta_cell_mV: v.delta_cell_mV,
    avg_cell_mV: v.avg_cell_mV,
    max_temp_C: v.max_temp_C,
    min_temp_C: v.min_temp_C,
    mos_temp_C: v.mos_temp_C,
    rated_capacity_Ah: v.rated_capacity_Ah,
    state: v.state_code === undefined ? undefined : (["idle", "charging", "discharging"][v.state_code] ?? "?"),
    charge_mosfet: flag(v.charge_mosfet),
    discharge_mosfet: flag(v.discharge_mosfet),
    charger_connected: flag(v.charger_connected),
    load_connected: flag(v.load_connected),
  };
}

/** Every state must carry these; the others are checked when present. */
export const REQUIRED_KEYS = ["protocol", "voltage_V", "current_A", "soc_pct", "remaining_Ah", "cycles", "cells_mV", "temperatures_C", "charge_mosfet", "discharge_mosfet"] as const;

/** The rule: voltage within ±0.1 V of the truth (the sum of the cells, rounded). */
const TOLERANCE: Record<string, number> = { voltage_V: 0.1 };

export function sameValue(key: string, got: unknown, want: Value | undefined): boolean {
  if (want === undefined) return false;
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => got[i] === w);
  if (typeof want === "number") return typeof got === "number" && Math.abs(got - want) <= (TOLERANCE[key] ?? 0) + 1e-9;
  return got === want;
}

export interface WrongValue {
  key: string;
  got: unknown;
  /** Distinct truths of the window (at most 4), or "(not served)" / "(missing)". */
  expected: string[];
  window: Window;
}

export interface StateVerdict {
  checked: number;
  wrong: WrongValue[];
  /** Seconds from the newest matching truth second to the arrival, worst value (how stale the state is). */
  maxAgeS: number;
}

/** Compares one state payload with the truth over the window. */
export function checkState(b: ScenarioBms, state: Record<string, unknown>, w: Window, truth = batteryAt): StateVerdict {
  const seconds: number[] = [];
  for (let s = Math.floor(w.fromMs / 1000); s <= Math.floor(w.toMs / 1000); s++) seconds.push(s);
  const truths = seconds.map((s) => expectedValues(b, truth(b, s * 1000)));
  const out: StateVerdict = { checked: 0, wrong: [], maxAgeS: 0 };
  const keys = new Set<string>([...REQUIRED_KEYS, ...Object.keys(state).filter((k) => k in (truths[0] ?? {}))]);
  for (const key of keys) {
    const got = state[key];
    out.checked += 1;
    if (got === undefined) {
      if ((REQUIRED_KEYS as readonly string[]).includes(key)) out.wrong.push({ key, got, expected: ["(missing)"], window: w });
      continue;
    }
    let newest = -1;
    truths.forEach((t, i) => {
      if (sameValue(key, got, t[key])) newest = i;
    });
    if (newest >= 0) {
      out.maxAgeS = Math.max(out.maxAgeS, Math.floor(w.toMs / 1000) - (seconds[newest] ?? 0));
      continue;
    }
    const distinct = [...new Set(truths.map((t) => (t[key] === undefined ? "(not served)" : JSON.stringify(t[key]))))].slice(0, 4);
    out.wrong.push({ key, got, expected: distinct, window: w });
  }
  const power = state.power_W;
  const volts = state.voltage_V;
  const amps = state.current_A;
  if (typeof power === "number" && typeof volts === "number" && typeof amps === "number") {
    out.checked += 1;
    // consistency of the message with itself: power is V × I rounded to 0.1 W
    if (Math.abs(power - volts * amps) > 0.05 + 1e-6) out.wrong.push({ key: "power_W", got: power, expected: [`${volts} × ${amps}`], window: w });
  }
  return out;
}
