/**
 * Modbus (D2 / 0x81) read-reply decoder: the registers of one reply, given the block's start
 * register, → Daly fields via the layout rows. Pure; failures are values.
 */
import { CELL_MV_RANGE, type DalyFields, emptyFields, inRange, TEMP_C_RANGE } from "./fields.js";
import type { ModbusProtocol } from "./frame.js";
import { layoutFor, type ModbusLayout } from "./modbus-layouts.js";

export type ModbusDecodeFailure = "zero-frame" | "range" | "odd-length";
export type ModbusResult =
  | { ok: true; fields: DalyFields; registers: number }
  | { ok: false; reason: ModbusDecodeFailure };

const NOT_IMPLEMENTED = 0xffff;

export function decodeRegisters(protocol: ModbusProtocol, start: number, data: Uint8Array): ModbusResult {
  if (data.length % 2 !== 0) return { ok: false, reason: "odd-length" };
  const count = data.length / 2;
  const reg = (r: number): number | undefined => {
    const k = r - start;
    if (k < 0 || k >= count) return undefined;
    const v = ((data[2 * k] ?? 0) << 8) | (data[2 * k + 1] ?? 0);
    return v === NOT_IMPLEMENTED ? undefined : v;
  };
  const L = layoutFor(protocol);
  const f = emptyFields();

  for (const row of L.rows) {
    const raw = reg(row.reg);
    if (raw === undefined || raw === row.absentRaw) continue;
    const v = row.scale.decode(raw);
    if (!inRange(row.key, v)) {
      // a sleeping module answers with an all-zero status block: 0 V and raw current 0 (§6)
      if (row.key === "voltage_V" && raw === 0 && isZeroStatus(L, reg)) return { ok: false, reason: "zero-frame" };
      return { ok: false, reason: "range" };
    }
    f.scalars[row.key] = v;
  }
  for (let i = 0; i < L.cells.count; i++) {
    const v = reg(L.cells.start + i);
    if (v === undefined || v === 0) continue; // 0 = unused cell slot
    if (v < CELL_MV_RANGE[0] || v > CELL_MV_RANGE[1]) return { ok: false, reason: "range" };
    f.cells.set(i + 1, v);
  }
  for (let i = 0; i < L.temps.count; i++) {
    const v = reg(L.temps.start + i);
    if (v === undefined || v === 0) continue; // raw 0 = no sensor (AIO drops raw-0 temperatures)
    const t = v - 40;
    if (t < TEMP_C_RANGE[0] || t > TEMP_C_RANGE[1]) return { ok: false, reason: "range" };
    f.temps.set(i + 1, t);
  }
  decodeAlarms(L, reg, f);
  decodeBalanceMask(L, reg, f);
  for (const s of L.strings) {
    const bytes: number[] = [];
    let any = false;
    for (let i = 0; i < s.count; i++) {
      const k = s.start + i - start;
      if (k < 0 || k >= count) continue;
      any = true;
      bytes.push(data[2 * k] ?? 0, data[2 * k + 1] ?? 0);
    }
    const text = any ? asciiField(bytes) : "";
    if (text.length > 0) f.text[s.key] = text;
  }
  return { ok: true, fields: f, registers: count };
}

function isZeroStatus(L: ModbusLayout, reg: (r: number) => number | undefined): boolean {
  const current = L.rows.find((r) => r.key === "current_A");
  return current !== undefined && reg(current.reg) === 0;
}

/**
 * D2 0x3A–0x3D: the XLSX names "Byte 0" of 0x3A the cell/pack voltage alarms (= legacy 0x98
 * byte 0), "Byte 1" the temperature alarms, and so on. We read "Byte 0" as the first byte on the
 * wire (Modbus sends a register high byte first, and ANT's 0x81 map puts cell 1 in the first wire
 * byte, 0x0100). So the 8 wire bytes are legacy 0x98 bytes 0–7 and one alarm table serves both
 * protocols. SYS reads the low byte first from synthetic frames only; no real non-zero capture
 * exists (daly-protocol.md §3.4). alarm_raw keeps the bytes, so nothing is lost either way.
 */
function decodeAlarms(L: ModbusLayout, reg: (r: number) => number | undefined, f: DalyFields): void {
  if (L.alarms) {
    const bytes: number[] = [];
    for (let i = 0; i < L.alarms.count; i++) {
      const v = reg(L.alarms.start + i);
      if (v === undefined) return;
      bytes.push(v >> 8, v & 0xff);
    }
    f.alarmBytes = Uint8Array.from(bytes);
  }
  if (L.faultWords) {
    const bytes: number[] = [];
    for (const r of L.faultWords) {
      const v = reg(r);
      if (v === undefined) return;
      bytes.push(v >> 8, v & 0xff);
    }
    f.alarmBytes = Uint8Array.from(bytes);
  }
}

function decodeBalanceMask(L: ModbusLayout, reg: (r: number) => number | undefined, f: DalyFields): void {
  const m = L.balanceMask;
  if (!m) return;
  const cells = new Set<number>();
  for (let i = 0; i < m.count; i++) {
    const v = reg(m.start + i);
    if (v === undefined) return;
    for (let bit = 0; bit < 16; bit++) {
      if (!(v & (1 << bit))) continue;
      // value-lsb: bit n of the register = cell n+1; wire-lsb: first wire byte bit 0 = cell 1
      const n = m.order === "value-lsb" ? bit : bit >= 8 ? bit - 8 : bit + 8;
      cells.add(i * 16 + n + 1);
    }
  }
  f.balancingCells = cells;
}

function asciiField(bytes: number[]): string {
  let s = "";
  for (const c of bytes) {
    if (c === 0 || c === 0xff) break;
    if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
  }
  return s.trim();
}
