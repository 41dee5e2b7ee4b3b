/**
 * Legacy A5 reply layouts as data (daly-protocol.md §2.3). Offsets are into the 8 data bytes,
 * big-endian. Bytes not listed are reserved or stale (§2.7.1) and never read.
 */
import type { ScalarKey } from "./fields.js";

export type Raw = "u8" | "u16" | "u32";
export interface FieldRow {
  key: ScalarKey;
  at: number;
  type: Raw;
  /** raw ⇄ value in the unit of the key (decode for the bridge, encode for the simulator). */
  scale: Scale;
}
import { type Scale, current, flag, id, milli, temp, tenth } from "./scales.js";

export const A5_LAYOUTS: Readonly<Record<number, readonly FieldRow[]>> = {
  0x90: [
    { key: "voltage_V", at: 0, type: "u16", scale: tenth }, // cumulative total voltage; bytes 2–3 (gathered) always 0
    { key: "current_A", at: 4, type: "u16", scale: current },
    { key: "soc_pct", at: 6, type: "u16", scale: tenth },
  ],
  0x91: [
    { key: "max_cell_mV", at: 0, type: "u16", scale: id },
    { key: "max_cell_index", at: 2, type: "u8", scale: id },
    { key: "min_cell_mV", at: 3, type: "u16", scale: id },
    { key: "min_cell_index", at: 5, type: "u8", scale: id },
  ],
  0x92: [
    { key: "max_temp_C", at: 0, type: "u8", scale: temp },
    { key: "min_temp_C", at: 2, type: "u8", scale: temp },
  ],
  0x93: [
    { key: "state_code", at: 0, type: "u8", scale: id },
    { key: "charge_mosfet", at: 1, type: "u8", scale: flag },
    { key: "discharge_mosfet", at: 2, type: "u8", scale: flag },
    // byte 3 is a rolling "BMS life" heartbeat (§2.3): not a measurement
    { key: "remaining_Ah", at: 4, type: "u32", scale: milli }, // mAh
  ],
  0x94: [
    { key: "cell_count", at: 0, type: "u8", scale: id },
    { key: "temp_sensor_count", at: 1, type: "u8", scale: id },
    { key: "charger_connected", at: 2, type: "u8", scale: flag },
    { key: "load_connected", at: 3, type: "u8", scale: flag },
    // bytes 5–6: cycles per PDF10 and every implementation (PDF12 says reserved, §2.3 [C])
    { key: "cycles", at: 5, type: "u16", scale: id },
  ],
  0x50: [{ key: "rated_capacity_Ah", at: 0, type: "u32", scale: milli }], // mAh (DSF3: 30 Ah)
};

export function readRaw(data: Uint8Array, at: number, type: Raw): number {
  const b = (k: number): number => data[at + k] ?? 0;
  switch (type) {
    case "u8":
      return b(0);
    case "u16":
      return (b(0) << 8) | b(1);
    case "u32":
      return ((b(0) << 24) >>> 0) + (b(1) << 16) + (b(2) << 8) + b(3);
  }
}

/** Multi-frame replies: values per frame and how a frame number maps to item numbers (§2.3). */
export const A5_CELLS_PER_FRAME = 3;
export const A5_TEMPS_PER_FRAME = 7;
/** PDF12: up to 48 cells in 16 frames, up to 16 sensors in 3 frames. */
export const A5_MAX_CELL_FRAMES = 16;
export const A5_MAX_TEMP_FRAMES = 3;
/** Text replies (battery code 0x57, versions 0x62/0x63): frame number + 7 ASCII bytes. */
export const A5_TEXT_COMMANDS: Readonly<Record<number, "battery_code" | "firmware_version" | "hardware_version">> = {
  0x57: "battery_code",
  0x62: "firmware_version",
  0x63: "hardware_version",
};
