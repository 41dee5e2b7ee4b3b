/**
 * Request encoders. The bridge is monitoring-only: this file is the only place that builds bytes
 * for a BMS, and it can only build READ requests from a closed whitelist. There is no parameter
 * through which a write command (legacy 0x21 set-SOC, 0xD9/0xDA MOSFETs, 0x00 reset) or a Modbus
 * function other than 0x03 could be expressed; test/unit/daly-requests.test.ts proves it.
 */
import { crc16modbus, sum8 } from "./checksum.js";
import {
  A5_DATA_LEN,
  A5_FRAME_LEN,
  isA5Host,
  A5_START,
  type A5HostAddress,
  MODBUS_D2,
  MODBUS_P81_REQUEST,
  p81BoardAddresses,
  MODBUS_READ,
} from "./constants.js";

/**
 * Legacy read commands (§2.3, §2.4). 0x90–0x98 measurements; 0x50–0x63 information and thresholds
 * (documented in PDF12/MGR/DSF3). Deliberately absent: 0x00, 0x21, 0xD8, 0xD9, 0xDA and anything
 * undocumented.
 */
export const A5_READ_COMMANDS = [
  0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
  0x50, 0x51, 0x52, 0x53, 0x54, 0x57, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63,
] as const;
export type A5ReadCommand = (typeof A5_READ_COMMANDS)[number];

/** Modbus register blocks we read (§3.1, §3.2, §3.3, §3.5, §3.6). Reads only, by name. */
export const MODBUS_BLOCKS = {
  d2: {
    status: { start: 0x00, count: 0x3e }, // 62 regs → 129-byte reply
    status80: { start: 0x00, count: 0x50 }, // 80 regs: adds balance masks, MOS/board temperature
    extra: { start: 0x3e, count: 0x09 }, // 0x3E×9: MOS temperature at 0x42 (AIO)
    settings: { start: 0x80, count: 0x29 },
    version: { start: 0xa9, count: 0x20 },
  },
  p81: {
    block1: { start: 0x00, count: 0x40 },
    block2: { start: 0x41, count: 0x3e },
    version: { start: 0x178, count: 0x4a },
  },
} as const;
export type D2Block = keyof (typeof MODBUS_BLOCKS)["d2"];
export type P81Block = keyof (typeof MODBUS_BLOCKS)["p81"];

export type ReadRequest =
  | { protocol: "a5"; command: A5ReadCommand; host: A5HostAddress }
  | { protocol: "d2"; block: D2Block }
  | { protocol: "p81"; block: P81Block; /** RS485 board (default 1: address 0x81). */ board?: number };

const A5_SET: ReadonlySet<number> = new Set(A5_READ_COMMANDS);

/** Builds the bytes of a whitelisted read request. Throws only on a programmer error. */
export function encodeRequest(req: ReadRequest): Uint8Array {
  switch (req.protocol) {
    case "a5": {
      // runtime guard too: a JS caller or a cast must not smuggle a write command through
      if (!A5_SET.has(req.command)) throw new Error(`not a whitelisted read command: 0x${hex(req.command)}`);
      if (!isA5Host(req.host)) throw new Error(`not a host address: 0x${hex(req.host)}`);
      const f = new Uint8Array(A5_FRAME_LEN);
      f[0] = A5_START;
      f[1] = req.host;
      f[2] = req.command;
      f[3] = A5_DATA_LEN;
      f[12] = sum8(f, 12);
      return f;
    }
    case "d2":
      return modbusRead(MODBUS_D2, blockOf("d2", req.block));
    case "p81":
      return modbusRead(req.board === undefined ? MODBUS_P81_REQUEST : p81BoardAddresses(req.board).request, blockOf("p81", req.block));
  }
}

function blockOf(p: "d2" | "p81", name: string): { start: number; count: number } {
  const table: Record<string, { start: number; count: number }> = MODBUS_BLOCKS[p];
  const b = Object.hasOwn(table, name) ? table[name] : undefined;
  if (!b) throw new Error(`not a whitelisted ${p} block: ${name}`);
  return b;
}

function modbusRead(address: number, b: { start: number; count: number }): Uint8Array {
  const f = new Uint8Array(8);
  f[0] = address;
  f[1] = MODBUS_READ;
  f[2] = b.start >> 8;
  f[3] = b.start & 0xff;
  f[4] = b.count >> 8;
  f[5] = b.count & 0xff;
  const crc = crc16modbus(f, 0, 6);
  f[6] = crc & 0xff;
  f[7] = crc >> 8;
  return f;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
