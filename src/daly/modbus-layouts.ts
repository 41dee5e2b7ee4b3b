/**
 * Modbus register maps as data: D2 (daly-protocol.md §3.2, §3.3, §3.5) and 0x81 (§3.6).
 * Any block a device returns is decoded register by register, so a 62- or 80-register status read,
 * the 0x3E×9 extra read and the 0x81 blocks all go through the same rows. A register reading 0xFFFF
 * is "not implemented on this model" (§3.1) and is skipped.
 */
import { type Scale, current, flag, id, temp, tenth } from "./scales.js";
import type { ScalarKey, TextKey } from "./fields.js";
import type { ModbusProtocol } from "./frame.js";

export interface RegRow {
  reg: number;
  key: ScalarKey;
  scale: Scale;
  /** Raw values meaning "sensor not fitted" (AIO/BBH: 0x0000 at the MOS temperature register). */
  absentRaw?: number;
}

export interface ModbusLayout {
  cells: { start: number; count: number };
  temps: { start: number; count: number };
  rows: readonly RegRow[];
  /** Registers whose 8 wire bytes map onto legacy 0x98 alarm bytes 0–7 (see alarmOrder note). */
  alarms?: { start: number; count: number };
  /** Fault words without a documented bit meaning: published raw and as fault_<reg>_bit_<n>. */
  faultWords?: readonly number[];
  balanceMask?: { start: number; count: number; order: "value-lsb" | "wire-lsb" };
  strings: ReadonlyArray<{ key: TextKey; start: number; count: number }>;
}


export const D2_LAYOUT: ModbusLayout = {
  cells: { start: 0x00, count: 32 },
  temps: { start: 0x20, count: 8 },
  rows: [
    { reg: 0x28, key: "voltage_V", scale: tenth },
    { reg: 0x29, key: "current_A", scale: current }, // negative while discharging in real captures (§6)
    { reg: 0x2a, key: "soc_pct", scale: tenth }, // XLSX says 0.001; every capture is 0.1 % (§3.2)
    { reg: 0x2b, key: "max_cell_mV", scale: id },
    { reg: 0x2c, key: "min_cell_mV", scale: id },
    { reg: 0x2d, key: "max_temp_C", scale: temp },
    { reg: 0x2e, key: "min_temp_C", scale: temp },
    { reg: 0x2f, key: "state_code", scale: id },
    { reg: 0x30, key: "remaining_Ah", scale: tenth },
    { reg: 0x31, key: "cell_count", scale: id },
    { reg: 0x32, key: "temp_sensor_count", scale: id },
    { reg: 0x33, key: "cycles", scale: id },
    { reg: 0x34, key: "balancing_active", scale: flag }, // 0 off, 1 passive, 2 active (SYS doc)
    { reg: 0x35, key: "charge_mosfet", scale: flag },
    { reg: 0x36, key: "discharge_mosfet", scale: flag },
    { reg: 0x37, key: "avg_cell_mV", scale: id },
    { reg: 0x38, key: "delta_cell_mV", scale: id },
    { reg: 0x39, key: "power_W_magnitude", scale: id }, // unsigned (syssi/esphome-daly-bms#31)
    { reg: 0x42, key: "mos_temp_C", scale: temp, absentRaw: 0 }, // AIO: 0x3E×9 offset 8 (§3.3)
    { reg: 0x43, key: "board_temp_C", scale: temp, absentRaw: 0 }, // SYS; 0 on units without it
    { reg: 0x80, key: "rated_capacity_Ah", scale: tenth }, // settings block (§3.5)
  ],
  alarms: { start: 0x3a, count: 4 },
  balanceMask: { start: 0x3e, count: 2, order: "value-lsb" }, // 0x3E cells 1–16, 0x3F 17–32 (SYS)
  strings: [
    { key: "firmware_version", start: 0xa9, count: 8 }, // 16 + 16 bytes fit every real frame (§3.5)
    { key: "hardware_version", start: 0xb1, count: 8 },
  ],
};

export const P81_LAYOUT: ModbusLayout = {
  cells: { start: 0x00, count: 48 },
  temps: { start: 0x30, count: 8 },
  rows: [
    { reg: 0x38, key: "voltage_V", scale: tenth },
    { reg: 0x39, key: "current_A", scale: current },
    { reg: 0x3a, key: "soc_pct", scale: tenth },
    // 0x3B changes on every poll (ESS capture 182 → 242): PAT's "SOH" reading is not plausible
    { reg: 0x3c, key: "cell_count", scale: id },
    { reg: 0x3d, key: "temp_sensor_count", scale: id },
    { reg: 0x3e, key: "max_cell_mV", scale: id },
    { reg: 0x3f, key: "max_cell_index", scale: id },
    { reg: 0x40, key: "min_cell_mV", scale: id },
    { reg: 0x41, key: "min_cell_index", scale: id },
    { reg: 0x42, key: "delta_cell_mV", scale: id },
    { reg: 0x43, key: "max_temp_C", scale: temp },
    { reg: 0x45, key: "min_temp_C", scale: temp },
    { reg: 0x48, key: "state_code", scale: id },
    { reg: 0x49, key: "charger_connected", scale: flag },
    { reg: 0x4a, key: "load_connected", scale: flag },
    { reg: 0x4b, key: "remaining_Ah", scale: tenth },
    { reg: 0x4c, key: "cycles", scale: id },
    { reg: 0x52, key: "charge_mosfet", scale: flag },
    { reg: 0x53, key: "discharge_mosfet", scale: flag },
    { reg: 0x57, key: "avg_cell_mV", scale: id },
    { reg: 0x58, key: "power_W_magnitude", scale: id },
    { reg: 0x5a, key: "mos_temp_C", scale: temp, absentRaw: 0 },
    { reg: 0x5b, key: "board_temp_C", scale: temp, absentRaw: 0 },
  ],
  // 0x4D "balancing" reads 7 in the ESS capture and 2 = yes per ANT: its coding is unknown, so
  // balancing comes from the cell masks instead (ANT: cell 1 = 0x0100, i.e. first wire byte bit 0)
  balanceMask: { start: 0x4f, count: 3, order: "wire-lsb" },
  faultWords: [0x66, 0x67, 0x68, 0x69, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73], // PAT
  strings: [{ key: "firmware_version", start: 0x178, count: 16 }],
};

export function layoutFor(p: ModbusProtocol): ModbusLayout {
  return p === "d2" ? D2_LAYOUT : P81_LAYOUT;
}

/**
 * A reply does not say which registers it holds; the preceding request does. Without one (a
 * sniffed fragment), the standard blocks are recognised by their data length (contract §3).
 */
export const BLOCK_BY_LENGTH: Readonly<Record<ModbusProtocol, Readonly<Record<number, number>>>> = {
  d2: { 124: 0x00, 160: 0x00, 18: 0x3e, 82: 0x80, 64: 0xa9 },
  p81: { 128: 0x00, 124: 0x41, 148: 0x178 },
};
