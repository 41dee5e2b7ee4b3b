/**
 * Legacy A5 reply decoder: one integrity-checked reply frame → a typed result. Pure; bad content
 * is a value ({ok:false, reason}), never an exception.
 */
import {
  A5_CELLS_PER_FRAME,
  A5_LAYOUTS,
  A5_MAX_CELL_FRAMES,
  A5_MAX_TEMP_FRAMES,
  A5_TEMPS_PER_FRAME,
  A5_TEXT_COMMANDS,
  readRaw,
} from "./a5-layouts.js";
import { CELL_MV_RANGE, inRange, type ScalarKey, TEMP_C_RANGE, type TextKey } from "./fields.js";

export type A5Reply =
  | { kind: "fields"; command: number; fields: Partial<Record<ScalarKey, number>> }
  | { kind: "cells"; frameNo: number; mV: number[] }
  | { kind: "temps"; frameNo: number; C: number[] }
  | { kind: "balance"; cells: number[]; active: boolean }
  | { kind: "alarms"; bytes: Uint8Array; faultCode: number }
  | { kind: "text"; key: TextKey; frameNo: number; text: string }
  | { kind: "other"; command: number };

export type A5DecodeFailure = "zero-frame" | "frame-number" | "range";
export type A5Result = { ok: true; reply: A5Reply } | { ok: false; reason: A5DecodeFailure; command: number };

/** Commands whose data can never be all zero on an awake BMS (0x90: raw current 0 = −3000 A). */
const ZERO_IS_SLEEP: ReadonlySet<number> = new Set([0x90, 0x91, 0x92, 0x93, 0x94]);

export function decodeA5Reply(command: number, data: Uint8Array): A5Result {
  const fail = (reason: A5DecodeFailure): A5Result => ({ ok: false, reason, command });
  if (ZERO_IS_SLEEP.has(command) && data.every((x) => x === 0)) return fail("zero-frame");

  const rows = A5_LAYOUTS[command];
  if (rows) {
    const fields: Partial<Record<ScalarKey, number>> = {};
    for (const row of rows) {
      const v = row.scale.decode(readRaw(data, row.at, row.type));
      if (!inRange(row.key, v)) return fail("range");
      fields[row.key] = v;
    }
    return { ok: true, reply: { kind: "fields", command, fields } };
  }
  const frameNo = data[0] ?? 0;
  switch (command) {
    case 0x95: {
      // frame numbers start at 1 on every capture (§2.7.2); 0 and >16 are not frames
      if (frameNo < 1 || frameNo > A5_MAX_CELL_FRAMES) return fail("frame-number");
      const mV: number[] = [];
      for (let k = 0; k < A5_CELLS_PER_FRAME; k++) {
        const v = readRaw(data, 1 + 2 * k, "u16");
        if (v !== 0 && (v < CELL_MV_RANGE[0] || v > CELL_MV_RANGE[1])) return fail("range");
        mV.push(v);
      }
      return { ok: true, reply: { kind: "cells", frameNo, mV } };
    }
    case 0x96: {
      if (frameNo < 1 || frameNo > A5_MAX_TEMP_FRAMES) return fail("frame-number");
      const C: number[] = [];
      for (let k = 0; k < A5_TEMPS_PER_FRAME; k++) {
        const raw = data[1 + k] ?? 0;
        // raw 0 (= −40 °C) is what unused slots hold; keep it as "absent" (NaN) for the collector
        C.push(raw === 0 ? Number.NaN : raw - 40);
      }
      if (C.some((t) => !Number.isNaN(t) && (t < TEMP_C_RANGE[0] || t > TEMP_C_RANGE[1]))) return fail("range");
      return { ok: true, reply: { kind: "temps", frameNo, C } };
    }
    case 0x97:
      return { ok: true, reply: decodeBalance(data) };
    case 0x98:
      return { ok: true, reply: { kind: "alarms", bytes: data.slice(0, 7), faultCode: data[7] ?? 0 } };
    default: {
      const key = A5_TEXT_COMMANDS[command];
      if (key !== undefined) {
        return { ok: true, reply: { kind: "text", key, frameNo, text: ascii(data.subarray(1, 8)) } };
      }
      return { ok: true, reply: { kind: "other", command } };
    }
  }
}

/**
 * 0x97 balancing, bytes 0–5 = cells 1–48. Bit order is disputed (§2.6); we read wire order,
 * LSB first (data byte 0 bit 0 = cell 1), as D2M and MGR do — the only two implementations that
 * read the bytes individually; DRE/GMA's big-endian u64 reading is marked "needs sample data" by its
 * author. `active` (any bit set) does not depend on the choice, and is what HA shows by default.
 */
function decodeBalance(data: Uint8Array): A5Reply {
  const cells: number[] = [];
  for (let byte = 0; byte < 6; byte++) {
    const v = data[byte] ?? 0;
    for (let bit = 0; bit < 8; bit++) if (v & (1 << bit)) cells.push(byte * 8 + bit + 1);
  }
  return { kind: "balance", cells, active: cells.length > 0 };
}

function ascii(bytes: Uint8Array): string {
  let s = "";
  for (const c of bytes) if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
  return s;
}
