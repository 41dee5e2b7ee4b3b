/**
 * Advertisement data as the proxy forwards it (93: adv data and scan response concatenated as AD
 * structures; Bluetooth Core Supplement Part A §1): the name and service UUIDs, and whether it
 * looks like a Daly module (as the other transports decide: name DL-/JHB- or service fff0/ff00).
 */
import { GATT_LAYOUTS } from "../../daly/constants.js";

export interface ParsedAdvert {
  name?: string;
  serviceUuids: string[];
}

export function parseAdData(data: Uint8Array): ParsedAdvert {
  const out: ParsedAdvert = { serviceUuids: [] };
  let at = 0;
  while (at < data.length) {
    const len = data[at] ?? 0;
    if (len === 0 || at + 1 + len > data.length) break;
    const type = data[at + 1] ?? 0;
    const body = data.subarray(at + 2, at + 1 + len);
    if (type === 0x08 || type === 0x09) {
      // complete (0x09) wins over shortened (0x08)
      if (type === 0x09 || out.name === undefined) out.name = Buffer.from(body).toString("utf8");
    } else if (type === 0x02 || type === 0x03) {
      for (let i = 0; i + 1 < body.length; i += 2) out.serviceUuids.push((((body[i + 1] ?? 0) << 8) | (body[i] ?? 0)).toString(16).padStart(4, "0"));
    } else if (type === 0x06 || type === 0x07) {
      for (let i = 0; i + 15 < body.length; i += 16) {
        const hex = Buffer.from(body.subarray(i, i + 16)).reverse().toString("hex");
        out.serviceUuids.push(hex.endsWith("00001000800000805f9b34fb") && hex.startsWith("0000") ? hex.slice(4, 8) : hex);
      }
    }
    at += 1 + len;
  }
  return out;
}

export function looksDaly(a: ParsedAdvert): boolean {
  return /^(DL-|JHB-)/.test(a.name ?? "") || GATT_LAYOUTS.some((l) => a.serviceUuids.includes(l.service));
}

/** AD structures for a name and 16-bit service UUIDs (the test double's advertisements). */
export function buildAdData(name: string, uuids16: readonly number[]): Uint8Array {
  const n = Buffer.from(name, "utf8");
  const u = uuids16.flatMap((x) => [x & 0xff, (x >> 8) & 0xff]);
  return Uint8Array.from([0x02, 0x01, 0x06, 1 + u.length, 0x03, ...u, 1 + n.length, 0x09, ...n]);
}
