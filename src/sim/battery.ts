/**
 * The simulated battery: the truth a simulated BMS serves at a given time. Values are exactly the
 * scenario's unless it asks for drift; drift is a sine of the given amplitude and period, evaluated
 * at whole seconds so a poll that spans several requests normally sees one consistent state.
 */
import type { ScalarKey } from "../daly/fields.js";
import type { ScenarioBms } from "./scenario.js";

export interface BatteryState {
  cells_mV: number[];
  temperatures_C: number[];
  scalars: Partial<Record<ScalarKey, number>>;
  balancing: number[];
  alarms: string[];
  firmware_version?: string;
  hardware_version?: string;
}

export function batteryAt(b: ScenarioBms, tMs: number): BatteryState {
  const t = Math.floor(tMs / 1000);
  const wave = (k: keyof NonNullable<ScenarioBms["drift"]>): number => {
    const d = b.drift?.[k];
    return d ? d.amplitude * Math.sin((2 * Math.PI * t) / d.period_s) : 0;
  };
  const cells = b.cells_mV.map((c) => clamp(Math.round(c + wave("cells_mV")), 1, 5000));
  const temps = b.temperatures_C.map((x) => clamp(Math.round(x + wave("temperatures_C")), -40, 150));
  const current = Math.round((b.current_A + wave("current_A")) * 10) / 10;
  const soc = clamp(Math.round((b.soc_pct + wave("soc_pct")) * 10) / 10, 0, 100);
  const voltage = b.voltage_V ?? Math.round(cells.reduce((a, c) => a + c, 0) / 100) / 10;
  let maxI = 0;
  let minI = 0;
  cells.forEach((v, i) => {
    if (v > (cells[maxI] ?? 0)) maxI = i;
    if (v < (cells[minI] ?? Infinity)) minI = i;
  });
  const s: Partial<Record<ScalarKey, number>> = {
    voltage_V: voltage,
    current_A: current,
    soc_pct: soc,
    remaining_Ah: b.remaining_Ah,
    cycles: b.cycles,
    cell_count: cells.length,
    temp_sensor_count: temps.length,
    max_cell_mV: cells[maxI],
    max_cell_index: maxI + 1,
    min_cell_mV: cells[minI],
    min_cell_index: minI + 1,
    avg_cell_mV: Math.round(cells.reduce((a, c) => a + c, 0) / cells.length),
    delta_cell_mV: (cells[maxI] ?? 0) - (cells[minI] ?? 0),
    state_code: current > 0 ? 1 : current < 0 ? 2 : 0,
    charge_mosfet: b.charge_mosfet ? 1 : 0,
    discharge_mosfet: b.discharge_mosfet ? 1 : 0,
    charger_connected: (b.charger_connected ?? current > 0) ? 1 : 0,
    load_connected: (b.load_connected ?? current < 0) ? 1 : 0,
    power_W_magnitude: Math.round(Math.abs(voltage * current)),
    balancing_active: (b.balancing?.length ?? 0) > 0 ? 1 : 0,
  };
  if (temps.length > 0) {
    s.max_temp_C = Math.max(...temps);
    s.min_temp_C = Math.min(...temps);
  }
  if (b.mos_temp_C !== undefined) s.mos_temp_C = b.mos_temp_C;
  if (b.rated_capacity_Ah !== undefined) s.rated_capacity_Ah = b.rated_capacity_Ah;
  const out: BatteryState = { cells_mV: cells, temperatures_C: temps, scalars: s, balancing: b.balancing ?? [], alarms: b.alarms ?? [] };
  if (b.firmware_version) out.firmware_version = b.firmware_version;
  if (b.hardware_version) out.hardware_version = b.hardware_version;
  return out;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
