/**
 * A minimal protobuf (proto3) wire codec: only what the ESPHome native API messages we use need.
 * Wire types (protobuf encoding spec): 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
 * Decoding never throws: a malformed payload is `undefined`, and the caller treats it as noise.
 */

export interface Field {
  no: number;
  /** varint / fixed32 / fixed64 as an unsigned bigint; length-delimited as bytes. */
  value: bigint | Uint8Array;
}

export function varint(v: number | bigint): number[] {
  let n = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n !== 0n) b |= 0x80;
    out.push(b);
  } while (n !== 0n);
  return out;
}

/** Reads one varint at `at`; undefined when truncated or longer than 10 bytes. */
export function readVarint(buf: Uint8Array, at: number, maxBytes = 10): { value: bigint; next: number } | undefined {
  let v = 0n;
  for (let i = 0; i < maxBytes; i++) {
    const b = buf[at + i];
    if (b === undefined) return undefined;
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return { value: v, next: at + i + 1 };
  }
  return undefined;
}

export function decodeFields(buf: Uint8Array): Field[] | undefined {
  const out: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const key = readVarint(buf, at);
    if (!key) return undefined;
    at = key.next;
    const no = Number(key.value >> 3n);
    const wire = Number(key.value & 7n);
    if (no === 0) return undefined;
    if (wire === 0) {
      const v = readVarint(buf, at);
      if (!v) return undefined;
      out.push({ no, value: v.value });
      at = v.next;
    } else if (wire === 2) {
      const len = readVarint(buf, at);
      if (!len || len.next + Number(len.value) > buf.length) return undefined;
      out.push({ no, value: buf.subarray(len.next, len.next + Number(len.value)) });
      at = len.next + Number(len.value);
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (at + n > buf.length) return undefined;
      let v = 0n;
      for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[at + i] ?? 0);
      out.push({ no, value: v });
      at += n;
    } else {
      return undefined; // groups (3/4) and reserved wire types are not used by api.proto
    }
  }
  return out;
}

/** Typed reads over decoded fields; the last occurrence wins (proto3 rule for singular fields). */
export class Fields {
  constructor(private readonly fs: Field[]) {}
  private last(no: number): Field["value"] | undefined {
    for (let i = this.fs.length - 1; i >= 0; i--) if (this.fs[i]?.no === no) return this.fs[i]?.value;
    return undefined;
  }
  uint(no: number): number {
    const v = this.last(no);
    return typeof v === "bigint" ? Number(BigInt.asUintN(64, v)) : 0;
  }
  int32(no: number): number {
    const v = this.last(no);
    return typeof v === "bigint" ? Number(BigInt.asIntN(32, v)) : 0;
  }
  sint(no: number): number {
    const v = this.last(no);
    if (typeof v !== "bigint") return 0;
    return Number((v >> 1n) ^ -(v & 1n)); // zigzag
  }
  bool(no: number): boolean {
    return this.uint(no) !== 0;
  }
  bytes(no: number): Uint8Array {
    const v = this.last(no);
    return v instanceof Uint8Array ? v : new Uint8Array(0);
  }
  string(no: number): string {
    return Buffer.from(this.bytes(no)).toString("utf8");
  }
  /** Every length-delimited occurrence (repeated messages). */
  messages(no: number): Uint8Array[] {
    return this.fs.filter((f) => f.no === no && f.value instanceof Uint8Array).map((f) => f.value as Uint8Array);
  }
  /** A repeated varint field, packed or not. */
  uints(no: number): bigint[] {
    const out: bigint[] = [];
    for (const f of this.fs) {
      if (f.no !== no) continue;
      if (typeof f.value === "bigint") out.push(f.value);
      else {
        let at = 0;
        while (at < f.value.length) {
          const v = readVarint(f.value, at);
          if (!v) break;
          out.push(v.value);
          at = v.next;
        }
      }
    }
    return out;
  }
}

export function fields(buf: Uint8Array): Fields | undefined {
  const fs = decodeFields(buf);
  return fs ? new Fields(fs) : undefined;
}

/** Builds a message; proto3 default values (0, false, empty) are skipped as encoders do. */
export class ProtoWriter {
  private readonly out: number[] = [];
  private key(no: number, wire: number): void {
    this.out.push(...varint((no << 3) | wire));
  }
  uint(no: number, v: number | bigint): this {
    if (BigInt(v) !== 0n) {
      this.key(no, 0);
      this.out.push(...varint(v));
    }
    return this;
  }
  /** int32: negative values are sign-extended to 64 bits (10 bytes), per the encoding spec. */
  int32(no: number, v: number): this {
    return this.uint(no, BigInt.asUintN(64, BigInt(v)));
  }
  sint(no: number, v: number): this {
    return this.uint(no, v >= 0 ? BigInt(v) * 2n : BigInt(-v) * 2n - 1n);
  }
  bool(no: number, v: boolean): this {
    return this.uint(no, v ? 1 : 0);
  }
  bytes(no: number, v: Uint8Array, force = false): this {
    if (v.length === 0 && !force) return this;
    this.key(no, 2);
    this.out.push(...varint(v.length), ...v);
    return this;
  }
  string(no: number, v: string): this {
    return this.bytes(no, Buffer.from(v, "utf8"));
  }
  /** A packed repeated varint field (proto3 default for repeated scalars). */
  packed(no: number, vs: readonly (number | bigint)[]): this {
    if (vs.length === 0) return this;
    return this.bytes(no, Uint8Array.from(vs.flatMap((v) => varint(v))));
  }
  done(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}
