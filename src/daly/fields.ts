/**
 * What a BMS reported, collected over one poll (or one decode input), in Daly's own terms but with
 * units in the names. bms/from-daly.ts is the one mapper from this to the public Snapshot.
 */

/** Numeric fields. Flags are 0/1; `state_code` is 0 idle, 1 charging, 2 discharging (§2.3, §3.2). */
export type ScalarKey =
  | "voltage_V"
  | "current_A"
  | "soc_pct"
  | "remaining_Ah"
  | "rated_capacity_Ah"
  | "cycles"
  | "max_cell_mV"
  | "max_cell_index"
  | "min_cell_mV"
  | "min_cell_index"
  | "avg_cell_mV"
  | "delta_cell_mV"
  | "max_temp_C"
  | "min_temp_C"
  | "state_code"
  | "charge_mosfet"
  | "discharge_mosfet"
  | "charger_connected"
  | "load_connected"
  | "cell_count"
  | "temp_sensor_count"
  | "power_W_magnitude"
  | "mos_temp_C"
  | "board_temp_C"
  | "balancing_active"
  | "fault_code";

export type TextKey = "firmware_version" | "hardware_version" | "battery_code";

export interface DalyFields {
  scalars: Partial<Record<ScalarKey, number>>;
  /** Cell voltages by 1-based cell number. */
  cells: Map<number, number>;
  /** Temperatures by 1-based sensor number. */
  temps: Map<number, number>;
  /** 1-based cells the BMS says it is balancing, when it says which. */
  balancingCells?: Set<number>;
  /** Alarm bytes in legacy 0x98 order (bytes 0–6); D2 registers 0x3A–0x3C map onto the same. */
  alarmBytes?: Uint8Array;
  text: Partial<Record<TextKey, string>>;
}

export function emptyFields(): DalyFields {
  return { scalars: {}, cells: new Map(), temps: new Map(), text: {} };
}

/** Physical ranges (inclusive). A decoded value outside its range marks the frame as corrupt. */
export const LIMITS: Partial<Record<ScalarKey, readonly [number, number]>> = {
  voltage_V: [0.1, 250], // up to 48 cells × 4.2 V (Daly's largest boards); 0 V is the sleeping frame
  current_A: [-1000, 1000], // DSB rejects |I| ≥ 1000 A; raw 0 (−3000 A) is the sleeping frame (D2M)
  soc_pct: [0, 100],
  remaining_Ah: [0, 10000],
  rated_capacity_Ah: [0.1, 10000],
  max_cell_mV: [1, 5000],
  min_cell_mV: [1, 5000],
  avg_cell_mV: [1, 5000],
  delta_cell_mV: [0, 5000],
  max_cell_index: [1, 48],
  min_cell_index: [1, 48],
  max_temp_C: [-40, 150],
  min_temp_C: [-40, 150],
  mos_temp_C: [-40, 150],
  board_temp_C: [-40, 150],
  state_code: [0, 2],
  cell_count: [1, 48],
  temp_sensor_count: [0, 16],
  power_W_magnitude: [0, 250000],
};
export const CELL_MV_RANGE = [1, 5000] as const;
export const TEMP_C_RANGE = [-40, 150] as const;

export function inRange(key: ScalarKey, v: number): boolean {
  const r = LIMITS[key];
  return r === undefined || (Number.isFinite(v) && v >= r[0] && v <= r[1]);
}
