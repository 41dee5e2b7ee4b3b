/**
 * Integrity checks of the two frame families (daly-protocol.md §2.1, §3.1; every vector in §7 was
 * recomputed with these rules).
 */

/** Legacy A5: low byte of the sum of all bytes before the checksum. */
export function sum8(bytes: Uint8Array, end: number = bytes.length): number {
  let s = 0;
  for (let i = 0; i < end; i++) s += bytes[i] ?? 0;
  return s & 0xff;
}

const CRC_TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF); appended little-endian on the wire. */
export function crc16modbus(bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ (CRC_TABLE[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0);
  return crc;
}

/** True when the last two bytes of bytes[start, end) are the little-endian CRC of the rest. */
export function crcOk(bytes: Uint8Array, start: number, end: number): boolean {
  if (end - start < 3) return false;
  const crc = crc16modbus(bytes, start, end - 2);
  return (bytes[end - 2] ?? -1) === (crc & 0xff) && (bytes[end - 1] ?? -1) === crc >> 8;
}
