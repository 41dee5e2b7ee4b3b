/**
 * HCI H4 framing for the virtual controller: packet-type indicators, the opcodes and event codes
 * that noble 1.9.2-26 `lib/hci-socket/hci.js` sends and parses, and small builders/parsers.
 *
 * Byte layouts follow the Bluetooth Core spec Vol 4 Part E §5.4 (H4 = one indicator byte in front
 * of the HCI packet). Only what noble's real code path needs is here (ble-noble.md §7.1).
 */

export const H4_COMMAND = 0x01;
export const H4_ACL = 0x02;
export const H4_EVENT = 0x04;

/** ACL packet-boundary flags (bits 12-13 of the handle field). */
export const ACL_START_NO_FLUSH = 0x00;
export const ACL_CONT = 0x01;
export const ACL_START = 0x02;

const op = (ogf: number, ocf: number): number => (ogf << 10) | ocf;

/** Command opcodes (OGF << 10 | OCF). */
export const OP = {
  DISCONNECT: op(0x01, 0x0006),
  SET_EVENT_MASK: op(0x03, 0x0001),
  RESET: op(0x03, 0x0003),
  READ_LE_HOST_SUPPORTED: op(0x03, 0x006c),
  WRITE_LE_HOST_SUPPORTED: op(0x03, 0x006d),
  READ_LOCAL_VERSION: op(0x04, 0x0001),
  READ_SUPPORTED_COMMANDS: op(0x04, 0x0002),
  READ_BUFFER_SIZE: op(0x04, 0x0005),
  READ_BD_ADDR: op(0x04, 0x0009),
  READ_RSSI: op(0x05, 0x0005),
  LE_SET_EVENT_MASK: op(0x08, 0x0001),
  LE_READ_BUFFER_SIZE: op(0x08, 0x0002),
  LE_READ_LOCAL_FEATURES: op(0x08, 0x0003),
  LE_SET_RANDOM_ADDRESS: op(0x08, 0x0005),
  LE_SET_SCAN_PARAMETERS: op(0x08, 0x000b),
  LE_SET_SCAN_ENABLE: op(0x08, 0x000c),
  LE_CREATE_CONN: op(0x08, 0x000d),
  LE_CREATE_CONN_CANCEL: op(0x08, 0x000e),
  LE_CONN_UPDATE: op(0x08, 0x0013),
  LE_START_ENCRYPTION: op(0x08, 0x0019),
  LE_SET_PHY: op(0x08, 0x0031),
} as const;

/** Event codes. */
export const EVT = {
  DISCONN_COMPLETE: 0x05,
  CMD_COMPLETE: 0x0e,
  CMD_STATUS: 0x0f,
  NUM_COMPLETED_PACKETS: 0x13,
  LE_META: 0x3e,
} as const;

/** LE meta sub-events. */
export const LE_EVT = {
  CONN_COMPLETE: 0x01,
  ADVERTISING_REPORT: 0x02,
  CONN_UPDATE_COMPLETE: 0x03,
} as const;

/** Advertising report event types (Core Vol 4 Part E §7.7.65.2). */
export const ADV_IND = 0x00;
export const SCAN_RSP = 0x04;

/** HCI status / reason codes used by the simulator (Core Vol 1 Part F). */
export const HCI_STATUS = {
  SUCCESS: 0x00,
  UNKNOWN_COMMAND: 0x01,
  UNKNOWN_CONN_ID: 0x02,
  CONN_TIMEOUT: 0x08,
  CONNECTION_ALREADY_EXISTS: 0x0b,
  COMMAND_DISALLOWED: 0x0c,
  REMOTE_USER_TERMINATED: 0x13,
  LOCAL_HOST_TERMINATED: 0x16,
} as const;

/** "C0:D6:3C:57:2A:01" → the 6 little-endian bytes HCI carries. */
export function addressToBytes(address: string): Buffer {
  const hex = address.replace(/:/g, "");
  if (!/^[0-9a-fA-F]{12}$/.test(hex)) throw new Error(`invalid Bluetooth address: ${address}`);
  return Buffer.from(hex, "hex").reverse();
}

/** Inverse of addressToBytes, upper case with colons (how specs are written). */
export function bytesToAddress(bytes: Uint8Array): string {
  return Array.from(bytes)
    .reverse()
    .map((b) => b.toString(16).padStart(2, "0"))
    .join(":")
    .toUpperCase();
}

export function normalizeAddress(address: string): string {
  return bytesToAddress(addressToBytes(address));
}

function event(code: number, params: Uint8Array): Buffer {
  if (params.length > 255) throw new Error(`HCI event 0x${code.toString(16)} too long`);
  return Buffer.concat([Buffer.from([H4_EVENT, code, params.length]), params]);
}

/** Command Complete: `returnParams` starts with the status byte, as noble reads it (data[6]). */
export function commandComplete(opcode: number, returnParams: Uint8Array): Buffer {
  const head = Buffer.alloc(3);
  head.writeUInt8(1, 0); // Num_HCI_Command_Packets: the host may send one more command
  head.writeUInt16LE(opcode, 1);
  return event(EVT.CMD_COMPLETE, Buffer.concat([head, returnParams]));
}

export function commandStatus(opcode: number, status: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt8(status, 0);
  p.writeUInt8(1, 1);
  p.writeUInt16LE(opcode, 2);
  return event(EVT.CMD_STATUS, p);
}

export function disconnectionComplete(handle: number, reason: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt8(HCI_STATUS.SUCCESS, 0);
  p.writeUInt16LE(handle, 1);
  p.writeUInt8(reason, 3);
  return event(EVT.DISCONN_COMPLETE, p);
}

export function numberOfCompletedPackets(handle: number, count: number): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt8(1, 0);
  p.writeUInt16LE(handle, 1);
  p.writeUInt16LE(count, 3);
  return event(EVT.NUM_COMPLETED_PACKETS, p);
}

function leMeta(subevent: number, params: Uint8Array): Buffer {
  return event(EVT.LE_META, Buffer.concat([Buffer.from([subevent]), params]));
}

export interface ConnCompleteParams {
  status: number;
  handle: number;
  peerAddressType: "public" | "random";
  address: string;
  /** connection interval in 1.25 ms units */
  interval: number;
  latency: number;
  /** supervision timeout in 10 ms units */
  supervisionTimeout: number;
}

/** LE Connection Complete (role always 0x00 = central, i.e. we are the initiator). */
export function leConnectionComplete(c: ConnCompleteParams): Buffer {
  const p = Buffer.alloc(18);
  p.writeUInt8(c.status, 0);
  p.writeUInt16LE(c.handle, 1);
  p.writeUInt8(0x00, 3);
  p.writeUInt8(c.peerAddressType === "random" ? 0x01 : 0x00, 4);
  addressToBytes(c.address).copy(p, 5);
  p.writeUInt16LE(c.interval, 11);
  p.writeUInt16LE(c.latency, 13);
  p.writeUInt16LE(c.supervisionTimeout, 15);
  p.writeUInt8(0x00, 17); // central clock accuracy
  return leMeta(LE_EVT.CONN_COMPLETE, p);
}

export function leConnectionUpdateComplete(handle: number, interval: number, latency: number, timeout: number): Buffer {
  const p = Buffer.alloc(9);
  p.writeUInt8(HCI_STATUS.SUCCESS, 0);
  p.writeUInt16LE(handle, 1);
  p.writeUInt16LE(interval, 3);
  p.writeUInt16LE(latency, 5);
  p.writeUInt16LE(timeout, 7);
  return leMeta(LE_EVT.CONN_UPDATE_COMPLETE, p);
}

/** One LE Advertising Report carrying one report (noble handles several, real controllers send one). */
export function leAdvertisingReport(
  eventType: number,
  addressType: "public" | "random",
  address: string,
  data: Uint8Array,
  rssi: number,
): Buffer {
  if (data.length > 31) throw new Error("advertising data longer than 31 bytes");
  const p = Buffer.alloc(10 + data.length + 1);
  p.writeUInt8(1, 0); // num reports
  p.writeUInt8(eventType, 1);
  p.writeUInt8(addressType === "random" ? 0x01 : 0x00, 2);
  addressToBytes(address).copy(p, 3);
  p.writeUInt8(data.length, 9);
  Buffer.from(data).copy(p, 10);
  p.writeInt8(rssi, 10 + data.length);
  return leMeta(LE_EVT.ADVERTISING_REPORT, p);
}

/** One AD structure: length, type, data (Core Supplement Part A). */
export function adStructure(type: number, data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([data.length + 1, type]), data]);
}

export function aclPacket(handle: number, boundary: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(H4_ACL, 0);
  head.writeUInt16LE((handle & 0x0fff) | (boundary << 12), 1);
  head.writeUInt16LE(payload.length, 3);
  return Buffer.concat([head, payload]);
}

/**
 * Wraps one L2CAP payload (basic header: length + CID) and fragments it into ACL packets of at
 * most `maxAclPayload` bytes: first ACL_START, then ACL_CONT — what noble's reassembly expects.
 */
export function l2capToAcl(handle: number, cid: number, payload: Uint8Array, maxAclPayload: number): Buffer[] {
  const frame = Buffer.alloc(4 + payload.length);
  frame.writeUInt16LE(payload.length, 0);
  frame.writeUInt16LE(cid, 2);
  Buffer.from(payload).copy(frame, 4);
  const out: Buffer[] = [];
  for (let off = 0; off < frame.length; off += maxAclPayload) {
    out.push(aclPacket(handle, off === 0 ? ACL_START : ACL_CONT, frame.subarray(off, off + maxAclPayload)));
  }
  return out;
}

export type HostPacket =
  | { kind: "command"; opcode: number; params: Buffer }
  | { kind: "acl"; handle: number; boundary: number; data: Buffer }
  | { kind: "invalid"; reason: string };

/** Parses one H4 packet as written by noble (each socket.write is exactly one packet). */
export function parseHostPacket(buf: Buffer): HostPacket {
  const type = buf[0];
  if (type === H4_COMMAND) {
    if (buf.length < 4) return { kind: "invalid", reason: "short command" };
    const len = buf.readUInt8(3);
    if (buf.length !== 4 + len) return { kind: "invalid", reason: "command length mismatch" };
    return { kind: "command", opcode: buf.readUInt16LE(1), params: buf.subarray(4) };
  }
  if (type === H4_ACL) {
    if (buf.length < 5) return { kind: "invalid", reason: "short ACL" };
    const field = buf.readUInt16LE(1);
    const len = buf.readUInt16LE(3);
    if (buf.length !== 5 + len) return { kind: "invalid", reason: "ACL length mismatch" };
    return { kind: "acl", handle: field & 0x0fff, boundary: (field >> 12) & 0x03, data: buf.subarray(5) };
  }
  return { kind: "invalid", reason: `unknown H4 type ${String(type)}` };
}
