/**
 * Framing of the native API stream (aioesphomeapi `_frame_helper`, esphome-proxy.md §1):
 * plaintext `0x00 | varint(len) | varint(type) | payload`; Noise `0x01 | len_hi | len_lo | body`.
 * Both decoders accept the stream split anywhere and return problems as values.
 */
import { readVarint, varint } from "./proto.js";

export interface ApiMessage {
  type: number;
  payload: Uint8Array;
}
export type FrameProblem = { problem: "wants-encryption" | "wants-plaintext" | "corrupt"; detail: string };
export type FrameItem = ({ ok: true } & ApiMessage) | ({ ok: false } & FrameProblem);

const MAX_FRAME = 65_535;

export function encodePlainFrame(type: number, payload: Uint8Array): Uint8Array {
  return Uint8Array.from([0x00, ...varint(payload.length), ...varint(type), ...payload]);
}

class Buffered {
  protected buf = new Uint8Array(0);
  protected failed = false;
  protected append(chunk: Uint8Array): void {
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf, 0);
    b.set(chunk, this.buf.length);
    this.buf = b;
  }
}

export class PlainDecoder extends Buffered {
  push(chunk: Uint8Array): FrameItem[] {
    if (this.failed) return [];
    this.append(chunk);
    const out: FrameItem[] = [];
    for (;;) {
      if (this.buf.length === 0) break;
      const first = this.buf[0];
      if (first !== 0x00) {
        this.failed = true;
        // an encrypted device answers a plaintext client with a 0x01-framed message (RequiresEncryptionAPIError)
        out.push(first === 0x01
          ? { ok: false, problem: "wants-encryption", detail: "the proxy requires encryption: set encryptionKey to its api: encryption: key" }
          : { ok: false, problem: "corrupt", detail: `bad frame indicator 0x${(first ?? 0).toString(16)}` });
        break;
      }
      const len = readVarint(this.buf, 1, 4);
      if (!len) {
        if (this.buf.length > 5) return this.fail(out, "length varint longer than 4 bytes");
        break;
      }
      const type = readVarint(this.buf, len.next, 4);
      if (!type) {
        if (this.buf.length > len.next + 4) return this.fail(out, "type varint longer than 4 bytes");
        break;
      }
      const n = Number(len.value);
      if (n > MAX_FRAME) return this.fail(out, `frame of ${n} bytes exceeds ${MAX_FRAME}`);
      if (this.buf.length < type.next + n) break;
      out.push({ ok: true, type: Number(type.value), payload: this.buf.slice(type.next, type.next + n) });
      this.buf = this.buf.subarray(type.next + n);
    }
    return out;
  }
  private fail(out: FrameItem[], detail: string): FrameItem[] {
    this.failed = true;
    out.push({ ok: false, problem: "corrupt", detail });
    return out;
  }
}

/** Noise transport frames (bodies only; encryption is the caller's). */
export function encodeNoiseFrame(body: Uint8Array): Uint8Array {
  const f = new Uint8Array(3 + body.length);
  f[0] = 0x01;
  f[1] = (body.length >> 8) & 0xff;
  f[2] = body.length & 0xff;
  f.set(body, 3);
  return f;
}

export type NoiseItem = { ok: true; body: Uint8Array } | ({ ok: false } & FrameProblem);

export class NoiseFrameDecoder extends Buffered {
  push(chunk: Uint8Array): NoiseItem[] {
    if (this.failed) return [];
    this.append(chunk);
    const out: NoiseItem[] = [];
    while (this.buf.length > 0) {
      const first = this.buf[0];
      if (first !== 0x01) {
        this.failed = true;
        // a plaintext device answers a Noise client with "\x00Bad indicator byte" (EncryptionPlaintextAPIError)
        out.push(first === 0x00
          ? { ok: false, problem: "wants-plaintext", detail: "the proxy speaks plaintext (no api: encryption:): set encryptionKey to \"\" or add a key to the proxy" }
          : { ok: false, problem: "corrupt", detail: `bad frame indicator 0x${(first ?? 0).toString(16)}` });
        break;
      }
      if (this.buf.length < 3) break;
      const n = ((this.buf[1] ?? 0) << 8) | (this.buf[2] ?? 0);
      if (this.buf.length < 3 + n) break;
      out.push({ ok: true, body: this.buf.slice(3, 3 + n) });
      this.buf = this.buf.subarray(3 + n);
    }
    return out;
  }
}

/** Inside an encrypted data frame: `type_hi type_lo len_hi len_lo | payload`. */
export function encodeNoisePlain(type: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(4 + payload.length);
  p.set([(type >> 8) & 0xff, type & 0xff, (payload.length >> 8) & 0xff, payload.length & 0xff], 0);
  p.set(payload, 4);
  return p;
}
export function decodeNoisePlain(p: Uint8Array): ApiMessage | undefined {
  if (p.length < 4) return undefined;
  // the inner length is ignored by aioesphomeapi; we take the bytes that are there
  return { type: ((p[0] ?? 0) << 8) | (p[1] ?? 0), payload: p.slice(4) };
}
