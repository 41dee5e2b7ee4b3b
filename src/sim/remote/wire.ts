/**
 * Framing between a simulator process (the virtual controller, server.ts) and a bridge using it
 * (client.ts) over a Unix stream socket (pure). One frame:
 *
 *   u32 LE length of what follows | u16 LE socket id | u8 type | payload
 *
 * Several HCI sockets (one per noble instance) share one connection, told apart by the id.
 */
export const MSG = {
  /** server → client, socket 0, once on connect: u8 adapterPresent, u8 powered. */
  hello: 0x01,
  /** client → server: u8 mode (0 raw, 1 user), i16 LE deviceId (−1 = none). */
  bind: 0x02,
  start: 0x03,
  stop: 0x04,
  /** client → server: the socket is closed for good. */
  close: 0x05,
  /** client → server: the HCI filter (kept for inspection by the server's socket). */
  filter: 0x06,
  /** client → server: one H4 packet from the host. */
  write: 0x07,
  /** server → client: one H4 packet to the host. */
  data: 0x08,
  /** server → client: an error event, UTF-8 "CODE text". */
  error: 0x09,
} as const;

export interface Frame {
  socket: number;
  type: number;
  payload: Buffer;
}

const HEADER = 4;
const MAX_FRAME = 1 << 20;

export function encodeFrame(socket: number, type: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(HEADER + 3 + payload.length);
  out.writeUInt32LE(3 + payload.length, 0);
  out.writeUInt16LE(socket, 4);
  out.writeUInt8(type, 6);
  out.set(payload, 7);
  return out;
}

/** Splits a byte stream into frames, whatever the chunking. A length over 1 MiB is a broken peer. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] | { error: string } {
    // payloads are views into the received chunk (never reused by net): no copy per packet
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    let at = 0;
    while (this.buf.length - at >= HEADER) {
      const len = this.buf.readUInt32LE(at);
      if (len < 3 || len > MAX_FRAME) return { error: `bad frame length ${len}` };
      if (this.buf.length - at < HEADER + len) break;
      frames.push({ socket: this.buf.readUInt16LE(at + 4), type: this.buf.readUInt8(at + 6), payload: this.buf.subarray(at + 7, at + HEADER + len) });
      at += HEADER + len;
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
    return frames;
  }
}
