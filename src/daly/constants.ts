/**
 * Protocol constants, each with the source it rests on (daly-protocol.md section numbers).
 */

/** Legacy A5 frames are always 13 bytes: A5, address, command, 08, 8 data bytes, sum8 (§2.1). */
export const A5_START = 0xa5;
export const A5_FRAME_LEN = 13;
export const A5_DATA_LEN = 8;

/**
 * Host ("communication module") addresses we may send from (§2.2). Over BLE most modules answer
 * 0x80; some answer only 0x40 (batmon-ha#416), so the probe tries both.
 */
export const A5_HOST_ADDRESSES = [0x80, 0x40] as const;
/**
 * Where a legacy request may come from: 0x80, 0x40 (= board 1 on RS485), or 0x3F + n for board
 * n of several on one RS485 line (DSB; §2.1, §2.2). A number checked by `isA5Host`.
 */
export type A5HostAddress = number;

/** Reply address of BMS board n is n (board 1 = 0x01; DSB: board n at 0x3F+n ↔ reply n, §2.1). */
export const A5_MAX_BOARD = 0x10;

/** RS485 request address of board n (1…A5_MAX_BOARD): 0x3F + n (DSB, §2.1); its replies come from n. */
export function a5BoardHost(board: number): number {
  if (!Number.isInteger(board) || board < 1 || board > A5_MAX_BOARD) throw new RangeError(`board must be an integer 1…${A5_MAX_BOARD}, got ${board}`);
  return 0x3f + board;
}

/** A host address a read request may carry: 0x80, or 0x40…0x4F (board 1…16 on RS485). */
export function isA5Host(a: number): boolean {
  return a === 0x80 || (a >= 0x40 && a <= 0x3f + A5_MAX_BOARD);
}

/** Modbus: D2 requests and replies both start D2; 0x81 requests are answered from 0x51 (§3.1). */
export const MODBUS_D2 = 0xd2;
export const MODBUS_P81_REQUEST = 0x81;
export const MODBUS_P81_REPLY = 0x51;
/**
 * 0x81 on an RS485 line of several boards: board n is asked at 0x80 + n and answers from 0x50 + n
 * (patagonaa/esphome-daly-hkms-bms daly_hkms_bms.cpp: request address offset 0x80, response
 * offset 0x50; board 1 = the 0x81/0x51 everyone uses). Boards 1…A5_MAX_BOARD.
 */
export function p81BoardAddresses(board: number): { request: number; reply: number } {
  if (!Number.isInteger(board) || board < 1 || board > A5_MAX_BOARD) throw new RangeError(`board must be an integer 1…${A5_MAX_BOARD}, got ${board}`);
  return { request: 0x80 + board, reply: 0x50 + board };
}

/** A first byte that can start a 0x81 reply of board 1…16 (0x51…0x60). */
export function isP81Reply(a: number): boolean {
  return a >= 0x51 && a <= 0x50 + A5_MAX_BOARD;
}
/** The only function code our encoder knows: 0x03 read holding registers (§3.1). */
export const MODBUS_READ = 0x03;
/** Function codes we recognise when *parsing* a sniffed stream, so they are skipped cleanly. */
export const MODBUS_WRITE_SINGLE = 0x06;
export const MODBUS_WRITE_MULTIPLE = 0x10;

/** GATT layout (§4.2): notify fff1, write fff2 (write-without-response); fallback ff00/ff01/ff02. */
export const GATT_LAYOUTS = [
  { service: "fff0", notify: "fff1", write: "fff2" },
  { service: "ff00", notify: "ff01", write: "ff02" },
] as const;
