/**
 * The one mapper from what a Daly BMS reported (daly/fields.ts) to the public Snapshot.
 * Derived values (min/max/delta/avg from the cells, power from V × I) are computed here only from
 * reported values; nothing is invented.
 */
import type { DalyFields } from "../daly/fields.js";
import { round } from "../daly/scales.js";
import { P81_LAYOUT } from "../daly/modbus-layouts.js";
import { toHex } from "../util/hex.js";
import { faultWordNames, isUnnamedAlarm, legacyAlarmNames } from "./alarms.js";
import type { PackState, Protocol, Snapshot } from "./snapshot.js";

const STATES: readonly PackState[] = ["idle", "charging", "discharging"];

export function snapshotFromDaly(f: DalyFields, protocol: Protocol | undefined): Snapshot {
  const s = f.scalars;
  const out: Snapshot = {};
  if (protocol) out.protocol = protocol;
  if (s.voltage_V !== undefined) out.voltage_V = s.voltage_V;
  if (s.current_A !== undefined) out.current_A = s.current_A;
  if (s.voltage_V !== undefined && s.current_A !== undefined) {
    // D2/0x81 report power unsigned (§3.2); V × I carries the sign and agrees with the magnitude
    out.power_W = round(s.voltage_V * s.current_A, 1);
  }
  if (s.soc_pct !== undefined) out.soc_pct = s.soc_pct;
  if (s.remaining_Ah !== undefined) out.remaining_Ah = s.remaining_Ah;
  if (s.rated_capacity_Ah !== undefined) out.rated_capacity_Ah = s.rated_capacity_Ah;
  if (s.cycles !== undefined) out.cycles = s.cycles;

  // Cells: the BMS's count bounds the list ("all 16 frames" padding, stale extra values, §2.7.3)
  const cellCount = s.cell_count ?? maxKey(f.cells);
  const cells = listUpTo(f.cells, cellCount);
  if (cells) {
    out.cells_mV = cells;
    out.cell_count = cells.length;
    let maxI = 0;
    let minI = 0;
    cells.forEach((v, i) => {
      if (v > (cells[maxI] ?? 0)) maxI = i;
      if (v < (cells[minI] ?? Infinity)) minI = i;
    });
    out.max_cell_mV = cells[maxI];
    out.min_cell_mV = cells[minI];
    out.max_cell_index = maxI + 1;
    out.min_cell_index = minI + 1;
    out.delta_cell_mV = (out.max_cell_mV ?? 0) - (out.min_cell_mV ?? 0);
    out.avg_cell_mV = Math.round(cells.reduce((a, b) => a + b, 0) / cells.length);
  } else {
    if (s.cell_count !== undefined) out.cell_count = s.cell_count;
    copy(s.max_cell_mV, (v) => (out.max_cell_mV = v));
    copy(s.min_cell_mV, (v) => (out.min_cell_mV = v));
    copy(s.max_cell_index, (v) => (out.max_cell_index = v));
    copy(s.min_cell_index, (v) => (out.min_cell_index = v));
    copy(s.avg_cell_mV, (v) => (out.avg_cell_mV = v));
    if (s.delta_cell_mV !== undefined) out.delta_cell_mV = s.delta_cell_mV;
    else if (s.max_cell_mV !== undefined && s.min_cell_mV !== undefined) out.delta_cell_mV = s.max_cell_mV - s.min_cell_mV;
  }

  const temps = listUpTo(f.temps, s.temp_sensor_count ?? maxKey(f.temps));
  if (temps) {
    out.temperatures_C = temps;
    out.temp_sensor_count = temps.length;
    out.max_temp_C = Math.max(...temps);
    out.min_temp_C = Math.min(...temps);
  } else {
    if (s.temp_sensor_count !== undefined) out.temp_sensor_count = s.temp_sensor_count;
    copy(s.max_temp_C, (v) => (out.max_temp_C = v));
    copy(s.min_temp_C, (v) => (out.min_temp_C = v));
  }
  copy(s.mos_temp_C, (v) => (out.mos_temp_C = v));
  copy(s.board_temp_C, (v) => (out.board_temp_C = v));

  if (s.state_code !== undefined) out.state = STATES[s.state_code];
  bool(s.charge_mosfet, (v) => (out.charge_mosfet = v));
  bool(s.discharge_mosfet, (v) => (out.discharge_mosfet = v));
  bool(s.charger_connected, (v) => (out.charger_connected = v));
  bool(s.load_connected, (v) => (out.load_connected = v));

  if (f.balancingCells) {
    const limit = out.cell_count ?? Infinity;
    out.balancing = [...f.balancingCells].filter((c) => c <= limit).sort((a, b) => a - b);
  }
  if (s.balancing_active !== undefined || out.balancing) {
    out.balancing_active = s.balancing_active === 1 || (out.balancing?.length ?? 0) > 0;
  }
  if (f.alarmBytes) {
    out.alarms = protocol === "p81" ? faultWordNames(f.alarmBytes, P81_LAYOUT.faultWords ?? []) : legacyAlarmNames(f.alarmBytes);
    out.alarms_unnamed = out.alarms.filter(isUnnamedAlarm);
    out.alarm_raw = toHex(f.alarmBytes).replaceAll(" ", "");
  }
  if (s.fault_code !== undefined && s.fault_code !== 0) out.fault_code = s.fault_code;
  if (f.text.firmware_version) out.firmware_version = f.text.firmware_version;
  if (f.text.hardware_version) out.hardware_version = f.text.hardware_version;
  if (f.text.battery_code) out.battery_code = f.text.battery_code;
  return out;
}

/** Values for keys 1..n in order; undefined when any is missing (a partial list is never shown). */
function listUpTo(m: Map<number, number>, n: number): number[] | undefined {
  if (n <= 0 || m.size === 0) return undefined;
  const out: number[] = [];
  for (let i = 1; i <= n; i++) {
    const v = m.get(i);
    if (v === undefined) return undefined;
    out.push(v);
  }
  return out;
}

function maxKey(m: Map<number, number>): number {
  let n = 0;
  for (const k of m.keys()) if (k > n) n = k;
  return n;
}

function copy(v: number | undefined, set: (v: number) => void): void {
  if (v !== undefined) set(v);
}
function bool(v: number | undefined, set: (v: boolean) => void): void {
  if (v !== undefined) set(v !== 0);
}
