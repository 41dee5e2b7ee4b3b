/**
 * The simulated BMS's protocol side: answers legacy A5, D2 and 0x81 read requests from a battery
 * state, using the codec's own layout tables in reverse (each row's Scale has encode and decode).
 * Writes, unknown registers of other families and requests for another protocol get no answer,
 * as on real hardware (ANT: a board ignores addresses it does not serve).
 */
import { FrameAssembler } from "../daly/assembler.js";
import { A5_LAYOUTS, A5_TEXT_COMMANDS, type Raw } from "../daly/a5-layouts.js";
import { crc16modbus, sum8 } from "../daly/checksum.js";
import { A5_FRAME_LEN, a5BoardHost, MODBUS_D2, MODBUS_P81_REPLY, MODBUS_P81_REQUEST, p81BoardAddresses } from "../daly/constants.js";
import type { ModbusProtocol } from "../daly/frame.js";
import { layoutFor } from "../daly/modbus-layouts.js";
import { ALARM_NAMES, p81FaultBit } from "../bms/alarms.js";
import type { BatteryState } from "./battery.js";
import type { Protocol } from "../bms/snapshot.js";

export interface ResponderOptions {
  protocol: Protocol;
  /** Legacy host addresses answered (default 0x80 and 0x40). */
  a5Hosts?: readonly number[];
  /** Send all 16 cell / 3 temperature frames (BLE module quirk). */
  a5AllFrames?: boolean;
  /**
   * RS485 board n of several: legacy A5 answered only from 0x3F + n and replied from n (overrides
   * a5Hosts); 0x81 answered only at 0x80 + n and replied from 0x50 + n. Without it 0x81 is 0x81/0x51.
   */
  board?: number;
}

/** Returns a function mapping written bytes to the reply frames, in order. */
export function createResponder(state: () => BatteryState, opts: ResponderOptions): (written: Uint8Array) => Uint8Array[] {
  const asm = new FrameAssembler(opts.board !== undefined && opts.protocol === "p81" ? { p81Boards: [opts.board] } : {});
  const board = opts.board;
  const p81 = board !== undefined ? p81BoardAddresses(board) : { request: MODBUS_P81_REQUEST, reply: MODBUS_P81_REPLY };
  const hosts = new Set(board !== undefined ? [a5BoardHost(board)] : (opts.a5Hosts ?? [0x80, 0x40]));
  return (written) => {
    const replies: Uint8Array[] = [];
    for (const it of asm.push(written)) {
      if (!it.ok) continue;
      const f = it.frame;
      if (f.family === "a5" && f.direction === "request" && opts.protocol === "a5" && hosts.has(f.address)) {
        const frames = a5Replies(f.command, state(), opts.a5AllFrames ?? false);
        // board n replies from address n (DSB: reply[1] + 0x3F = request address)
        if (board !== undefined) {
          for (const r of frames) {
            r[1] = board;
            r[12] = sum8(r, 12);
          }
        }
        replies.push(...frames);
      } else if (f.family === "modbus" && f.kind === "read-request" && f.protocol === opts.protocol && (f.protocol === "d2" || f.bytes[0] === p81.request)) {
        replies.push(modbusReply(f.protocol, f.register, f.count, state(), p81.reply));
      }
    }
    return replies;
  };
}

function a5Frame(command: number, data: Uint8Array): Uint8Array {
  const f = new Uint8Array(A5_FRAME_LEN);
  f.set([0xa5, 0x01, command, 0x08], 0);
  f.set(data.subarray(0, 8), 4);
  f[12] = sum8(f, 12);
  return f;
}

function writeRaw(d: Uint8Array, at: number, type: Raw, v: number): void {
  const n = Math.max(0, Math.round(v));
  if (type === "u8") d[at] = n & 0xff;
  else if (type === "u16") d.set([(n >> 8) & 0xff, n & 0xff], at);
  else d.set([(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff], at);
}

function a5Replies(cmd: number, s: BatteryState, allFrames: boolean): Uint8Array[] {
  const rows = A5_LAYOUTS[cmd];
  if (rows) {
    const d = new Uint8Array(8);
    for (const row of rows) {
      const v = s.scalars[row.key];
      if (v !== undefined) writeRaw(d, row.at, row.type, row.scale.encode(v));
    }
    if (cmd === 0x93) d[3] = 0x10; // "BMS life" heartbeat byte: any value, never decoded
    return [a5Frame(cmd, d)];
  }
  switch (cmd) {
    case 0x95:
      return multiFrame(cmd, s.cells_mV, 3, allFrames ? 16 : Math.ceil(s.cells_mV.length / 3), (d, k, v) => writeRaw(d, 1 + 2 * k, "u16", v));
    case 0x96:
      return multiFrame(cmd, s.temperatures_C, 7, allFrames ? 3 : Math.max(1, Math.ceil(s.temperatures_C.length / 7)), (d, k, v) => {
        d[1 + k] = v + 40;
      });
    case 0x97: {
      const d = new Uint8Array(8);
      for (const c of s.balancing) if (c >= 1 && c <= 48) d[(c - 1) >> 3] = (d[(c - 1) >> 3] ?? 0) | (1 << ((c - 1) & 7));
      return [a5Frame(cmd, d)];
    }
    case 0x98:
      return [a5Frame(cmd, alarmBytes(s.alarms, 8))];
    default: {
      const key = A5_TEXT_COMMANDS[cmd];
      if (key === "firmware_version" || key === "hardware_version") return textFrames(cmd, s[key] ?? "");
      return [a5Frame(cmd, new Uint8Array(8))];
    }
  }
}

function multiFrame(cmd: number, values: number[], per: number, frames: number, put: (d: Uint8Array, k: number, v: number) => void): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let n = 1; n <= frames; n++) {
    const d = new Uint8Array(8);
    d[0] = n;
    for (let k = 0; k < per; k++) {
      const v = values[(n - 1) * per + k];
      if (v !== undefined) put(d, k, v);
    }
    out.push(a5Frame(cmd, d));
  }
  return out;
}

function textFrames(cmd: number, text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let n = 1; n <= 2; n++) {
    const d = new Uint8Array(8);
    d[0] = n;
    for (let k = 0; k < 7; k++) d[1 + k] = text.charCodeAt((n - 1) * 7 + k) || 0x20;
    out.push(a5Frame(cmd, d));
  }
  return out;
}

function alarmBytes(names: readonly string[], length: number): Uint8Array {
  const d = new Uint8Array(length);
  ALARM_NAMES.forEach((row, b) =>
    row.forEach((name, bit) => {
      if (name && names.includes(name)) d[b] = (d[b] ?? 0) | (1 << bit);
    }),
  );
  return d;
}

function modbusReply(p: ModbusProtocol, start: number, count: number, s: BatteryState, p81Reply: number): Uint8Array {
  const L = layoutFor(p);
  const regs = new Map<number, number>();
  for (const row of L.rows) {
    const v = s.scalars[row.key];
    if (v !== undefined) regs.set(row.reg, row.scale.encode(v) & 0xffff);
  }
  s.cells_mV.slice(0, L.cells.count).forEach((v, i) => regs.set(L.cells.start + i, v));
  s.temperatures_C.slice(0, L.temps.count).forEach((v, i) => regs.set(L.temps.start + i, v + 40));
  if (L.alarms) {
    const b = alarmBytes(s.alarms, 2 * L.alarms.count);
    for (let i = 0; i < L.alarms.count; i++) regs.set(L.alarms.start + i, ((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  }
  if (L.faultWords) {
    // 0x81: named alarms at their documented bits, `fault_<reg>_bit_<n>` at theirs (bms/alarms.ts)
    for (const r of L.faultWords) regs.set(r, 0);
    for (const name of s.alarms) {
      const at = p81FaultBit(name);
      if (at && L.faultWords.includes(at.reg)) regs.set(at.reg, (regs.get(at.reg) ?? 0) | (1 << at.bit));
    }
  }
  const m = L.balanceMask;
  if (m) {
    for (let i = 0; i < m.count; i++) regs.set(m.start + i, 0);
    for (const c of s.balancing) {
      const i = Math.floor((c - 1) / 16);
      const n = (c - 1) % 16;
      if (i >= m.count) continue;
      const bit = m.order === "value-lsb" ? n : n >= 8 ? n - 8 : n + 8;
      regs.set(m.start + i, (regs.get(m.start + i) ?? 0) | (1 << bit));
    }
  }
  for (const str of L.strings) {
    const text = str.key === "firmware_version" ? s.firmware_version : str.key === "hardware_version" ? s.hardware_version : undefined;
    for (let i = 0; i < str.count; i++) {
      const a = text?.charCodeAt(2 * i) || 0;
      const b = text?.charCodeAt(2 * i + 1) || 0;
      regs.set(str.start + i, (a << 8) | b);
    }
  }
  const f = new Uint8Array(5 + 2 * count);
  f[0] = p === "d2" ? MODBUS_D2 : p81Reply;
  f[1] = 0x03;
  f[2] = (2 * count) & 0xff;
  for (let i = 0; i < count; i++) {
    const v = regs.get(start + i) ?? 0;
    f[3 + 2 * i] = v >> 8;
    f[4 + 2 * i] = v & 0xff;
  }
  const crc = crc16modbus(f, 0, 3 + 2 * count);
  f[3 + 2 * count] = crc & 0xff;
  f[4 + 2 * count] = crc >> 8;
  return f;
}
