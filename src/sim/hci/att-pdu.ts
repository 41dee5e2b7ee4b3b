/**
 * ATT protocol constants and PDU helpers (Core Vol 3 Part F §3.4), shared by the ATT server.
 */

export const ATT = {
  ERROR: 0x01,
  MTU_REQ: 0x02,
  MTU_RESP: 0x03,
  FIND_INFO_REQ: 0x04,
  FIND_INFO_RESP: 0x05,
  READ_BY_TYPE_REQ: 0x08,
  READ_BY_TYPE_RESP: 0x09,
  READ_REQ: 0x0a,
  READ_RESP: 0x0b,
  READ_BLOB_REQ: 0x0c,
  READ_BLOB_RESP: 0x0d,
  READ_BY_GROUP_REQ: 0x10,
  READ_BY_GROUP_RESP: 0x11,
  WRITE_REQ: 0x12,
  WRITE_RESP: 0x13,
  PREPARE_WRITE_REQ: 0x16,
  PREPARE_WRITE_RESP: 0x17,
  EXECUTE_WRITE_REQ: 0x18,
  EXECUTE_WRITE_RESP: 0x19,
  NOTIFY: 0x1b,
  WRITE_CMD: 0x52,
} as const;

export const ATT_ERR = {
  INVALID_HANDLE: 0x01,
  READ_NOT_PERMITTED: 0x02,
  WRITE_NOT_PERMITTED: 0x03,
  INVALID_PDU: 0x04,
  REQ_NOT_SUPPORTED: 0x06,
  INVALID_OFFSET: 0x07,
  ATTR_NOT_FOUND: 0x0a,
  INVALID_ATTR_VALUE_LEN: 0x0d,
  UNSUPPORTED_GROUP_TYPE: 0x10,
} as const;

export function errorPdu(reqOpcode: number, handle: number, code: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt8(ATT.ERROR, 0);
  b.writeUInt8(reqOpcode, 1);
  b.writeUInt16LE(handle, 2);
  b.writeUInt8(code, 4);
  return b;
}

/** A 16-bit UUID from a 2-byte field, or from a 16-byte Bluetooth-base UUID; undefined otherwise. */
export function readUuid16(b: Buffer): number | undefined {
  if (b.length === 2) return b.readUInt16LE(0);
  if (b.length === 16) {
    const base = Buffer.from("fb349b5f80000080001000000000", "hex"); // base UUID bytes 0..11, LE
    if (b.subarray(0, 12).equals(base.subarray(0, 12)) && b.readUInt16LE(14) === 0) return b.readUInt16LE(12);
  }
  return undefined;
}

