/**
 * Stream assembler: fed with arbitrary chunks (BLE notifications, serial reads, a sniffer dump),
 * yields integrity-checked frames and rejects as values. It reassembles frames split across
 * notifications, separates merged ones (daly-protocol.md §2.7.4, §4.2 "multiple replies per
 * notification"), and resynchronises one byte after any failed candidate (§2.7.5: never skip a
 * whole frame length, the next real frame may start inside the bad one).
 *
 * Decisions are made only on complete data, so the output does not depend on where the stream was
 * split; a candidate that is still incomplete waits for more bytes, and `end()` resolves what is
 * left (a transport calls it when a request times out, the decode CLI at end of input).
 */
import { sum8, crcOk } from "./checksum.js";
import {
  A5_DATA_LEN,
  A5_FRAME_LEN,
  A5_MAX_BOARD,
  A5_START,
  MODBUS_D2,
  MODBUS_P81_REPLY,
  MODBUS_P81_REQUEST,
  p81BoardAddresses,
  MODBUS_READ,
  MODBUS_WRITE_MULTIPLE,
  MODBUS_WRITE_SINGLE,
} from "./constants.js";
import type { AssemblerItem, ModbusProtocol, RawFrame, RejectReason } from "./frame.js";

export type Family = "a5" | "modbus";

export interface AssemblerOptions {
  /** Frame families to look for; bytes that start another family are garbage. Default both. */
  families?: readonly Family[];
  /**
   * 0x81 boards of an RS485 line to recognise besides board 1 (0x81/0x51): board n's requests
   * start 0x80 + n, its replies 0x50 + n. Off by default: every extra start byte is one more way
   * for line noise to look like a frame start.
   */
  p81Boards?: readonly number[];
}

/** First bytes of 0x81 requests and replies an assembler accepts. */
interface P81Addresses {
  request: ReadonlySet<number>;
  reply: ReadonlySet<number>;
}

/** Result of trying to read one frame at a position. */
type Attempt =
  | { status: "frame"; frame: RawFrame; length: number }
  | { status: "invalid"; reason: RejectReason }
  | { status: "incomplete" };

const MAX_BUFFER = 4096;

export class FrameAssembler {
  private buf: Uint8Array = new Uint8Array(0);
  /** Bytes dropped since the last emitted item, and why the first of them was dropped. */
  private pendingDrop = 0;
  private pendingReason: RejectReason = "garbage";
  private readonly a5: boolean;
  private readonly modbus: boolean;
  private readonly p81: P81Addresses;

  constructor(opts: AssemblerOptions = {}) {
    const fam = opts.families ?? ["a5", "modbus"];
    this.a5 = fam.includes("a5");
    this.modbus = fam.includes("modbus");
    const boards = (opts.p81Boards ?? []).map(p81BoardAddresses);
    this.p81 = { request: new Set([MODBUS_P81_REQUEST, ...boards.map((a) => a.request)]), reply: new Set([MODBUS_P81_REPLY, ...boards.map((a) => a.reply)]) };
  }

  /** Adds a chunk and returns every item that is now decidable. */
  push(chunk: Uint8Array): AssemblerItem[] {
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf, 0);
    joined.set(chunk, this.buf.length);
    this.buf = joined;
    return this.drain(false);
  }

  /** End of stream (or of patience): resolves incomplete candidates and flushes the buffer. */
  end(): AssemblerItem[] {
    return this.drain(true);
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.buf.length;
  }

  private drain(final: boolean): AssemblerItem[] {
    const out: AssemblerItem[] = [];
    let i = 0;
    const b = this.buf;
    while (i < b.length) {
      const at = this.attempt(b, i);
      if (at.status === "frame") {
        this.flushDrop(out);
        out.push({ ok: true, frame: at.frame });
        i += at.length;
        continue;
      }
      if (at.status === "incomplete" && !final && b.length - i <= MAX_BUFFER) break;
      // invalid, or incomplete at the end of the stream: drop one byte and rescan
      const reason: RejectReason = at.status === "invalid" ? at.reason : "truncated";
      this.drop(out, reason);
      i += 1;
    }
    this.buf = b.slice(i);
    if (final) this.flushDrop(out);
    return out;
  }

  private drop(out: AssemblerItem[], reason: RejectReason): void {
    // a failed candidate starts a new reject record; plain garbage extends the current one
    if (reason !== "garbage" && this.pendingDrop > 0) this.flushDrop(out);
    if (this.pendingDrop === 0) this.pendingReason = reason;
    this.pendingDrop += 1;
  }

  private flushDrop(out: AssemblerItem[]): void {
    if (this.pendingDrop === 0) return;
    out.push({ ok: false, reject: { reason: this.pendingReason, bytes: this.pendingDrop } });
    this.pendingDrop = 0;
  }

  private attempt(b: Uint8Array, i: number): Attempt {
    const first = b[i];
    if (first === A5_START && this.a5) return attemptA5(b, i);
    if (this.modbus && first !== undefined && (first === MODBUS_D2 || this.p81.request.has(first) || this.p81.reply.has(first))) {
      return attemptModbus(b, i, this.p81);
    }
    return { status: "invalid", reason: "garbage" };
  }
}

function attemptA5(b: Uint8Array, i: number): Attempt {
  if (b.length - i < 4) return { status: "incomplete" };
  if (b[i + 3] !== A5_DATA_LEN) return { status: "invalid", reason: "length" };
  const address = b[i + 1] ?? 0;
  const isReply = address >= 0x01 && address <= A5_MAX_BOARD;
  // hosts: 0x20/0x40/0x80 (PDF10/PDF12 §2.2) and RS485 board addresses 0x40+n
  const isRequest = address === 0x20 || address === 0x80 || (address >= 0x40 && address < 0x40 + A5_MAX_BOARD);
  if (!isReply && !isRequest) return { status: "invalid", reason: "address" };
  if (b.length - i < A5_FRAME_LEN) return { status: "incomplete" };
  if (sum8(b.subarray(i, i + 12)) !== b[i + 12]) return { status: "invalid", reason: "checksum" };
  const bytes = b.slice(i, i + A5_FRAME_LEN);
  return {
    status: "frame",
    length: A5_FRAME_LEN,
    frame: {
      family: "a5",
      direction: isReply ? "reply" : "request",
      address,
      command: bytes[2] ?? 0,
      data: bytes.slice(4, 12),
      bytes,
    },
  };
}

/**
 * Modbus candidates. The same first bytes can start a read request (8 bytes) or a read reply
 * (5 + LEN bytes) on D2, so each interpretation is checked against its CRC; one that cannot be
 * decided yet keeps the candidate waiting. Replies come first: a valid reply CRC over LEN+3 bytes
 * is what a BMS sends; our own request has LEN = 0 (register high byte) and is never a reply.
 */
function attemptModbus(b: Uint8Array, i: number, p81: P81Addresses): Attempt {
  if (b.length - i < 3) return { status: "incomplete" };
  const addr = b[i] ?? 0;
  const fn = b[i + 1] ?? 0;
  const protocol: ModbusProtocol = addr === MODBUS_D2 ? "d2" : "p81";
  const canReply = !p81.request.has(addr);
  const canRequest = !p81.reply.has(addr);
  const avail = b.length - i;
  const shapes: Array<{ len: number; make: () => RawFrame }> = [];

  if (fn === MODBUS_READ) {
    const len = b[i + 2] ?? 0;
    if (canReply && len > 0 && len % 2 === 0) {
      shapes.push({ len: len + 5, make: () => ({ family: "modbus", protocol, kind: "read-reply", data: b.slice(i + 3, i + 3 + len), bytes: b.slice(i, i + len + 5) }) });
    }
    if (canRequest) {
      shapes.push({
        len: 8,
        make: () => ({ family: "modbus", protocol, kind: "read-request", register: u16(b, i + 2), count: u16(b, i + 4), bytes: b.slice(i, i + 8) }),
      });
    }
  } else if (fn === MODBUS_WRITE_SINGLE) {
    shapes.push({ len: 8, make: () => writeFrame(b, i, 8, protocol, fn) });
  } else if (fn === MODBUS_WRITE_MULTIPLE) {
    // Daly's multi-write has no byte-count field (§3.1): request 8 + 2×count, reply 8
    if (avail >= 6) {
      const count = u16(b, i + 4);
      if (canRequest && count > 0 && count <= 123) shapes.push({ len: 8 + 2 * count, make: () => writeFrame(b, i, 8 + 2 * count, protocol, fn) });
    }
    shapes.push({ len: 8, make: () => writeFrame(b, i, 8, protocol, fn) });
  } else if ((fn & 0x80) !== 0 && canReply) {
    shapes.push({
      len: 5,
      make: () => ({ family: "modbus", protocol, kind: "exception", functionCode: fn & 0x7f, code: b[i + 2] ?? 0, bytes: b.slice(i, i + 5) }),
    });
  } else {
    return { status: "invalid", reason: "garbage" };
  }
  if (fn === MODBUS_WRITE_MULTIPLE && avail < 6) return { status: "incomplete" };

  let waiting = false;
  for (const s of shapes) {
    if (avail < s.len) {
      waiting = true;
      continue;
    }
    if (crcOk(b, i, i + s.len)) {
      // a longer shape that is still incomplete could be the real frame: decide only when no
      // earlier-listed shape is pending
      if (waiting) return { status: "incomplete" };
      return { status: "frame", frame: s.make(), length: s.len };
    }
  }
  if (waiting) return { status: "incomplete" };
  return { status: "invalid", reason: shapes.length > 0 ? "crc" : "length" };
}

function writeFrame(b: Uint8Array, i: number, len: number, protocol: ModbusProtocol, fn: number): RawFrame {
  return { family: "modbus", protocol, kind: "write", functionCode: fn, register: u16(b, i + 2), bytes: b.slice(i, i + len) };
}

function u16(b: Uint8Array, i: number): number {
  return ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
}
