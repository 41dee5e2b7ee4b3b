/**
 * ATT server of one link (Core Vol 3 Part F). One instance per connection, so the CCCD starts at
 * 0 on every connection, as on a module without bonding.
 *
 * It answers every request noble 1.9.2-26 `gatt.js` sends on the bridge's path (Exchange MTU,
 * Read By Group Type, Read By Type for 0x2803/0x2902, Find Information, Read/Read Blob, Write
 * Request/Command, Prepare/Execute Write) and ends each discovery with Attribute Not Found, which
 * is what makes noble's discovery loops terminate (gatt.js discoverServices/discoverCharacteristics).
 */
import { ATT, ATT_ERR, errorPdu, readUuid16 } from "./att-pdu.js";
import { buildGattDb, UUID_CCCD, UUID_PRIMARY_SERVICE, type Attribute, type GattDb } from "./gatt-db.js";
import type { GattLayout } from "./types.js";

const DEFAULT_MTU = 23;

/** What the peripheral model decides about a write to the TX characteristic. */
export type TxWriteVerdict = { kind: "ack" } | { kind: "error"; code: number } | { kind: "swallow" };

export interface AttServerHooks {
  /** Server Rx MTU (spec.mtu), read when the client asks. */
  serverMtu(): number;
  /** H5: answer Exchange MTU with Invalid PDU. */
  mtuInvalidPdu(): boolean;
  onTxWrite(data: Uint8Array, isRequest: boolean): TxWriteVerdict;
  send(pdu: Buffer): void;
}

export class AttServer {
  /** Effective ATT_MTU of this link: max(23, min(client, server)). */
  mtu = DEFAULT_MTU;
  readonly db: GattDb;
  private prepared: { handle: number; offset: number; data: Buffer }[] = [];

  constructor(layout: GattLayout, deviceName: string, private readonly hooks: AttServerHooks) {
    this.db = buildGattDb(layout, deviceName);
  }

  notificationsEnabled(): boolean {
    const cccd = this.attr(this.db.cccdHandle);
    return cccd !== undefined && ((cccd.value[0] ?? 0) & 0x01) !== 0;
  }

  /** Splits a value into Handle Value Notification PDUs of at most min(chunk, ATT_MTU - 3) value bytes. */
  notificationPdus(value: Uint8Array, chunk?: number): Buffer[] {
    const rx = this.attr(this.db.rxValueHandle);
    if (rx) rx.value = Uint8Array.from(value); // a read of RX returns the last notified value
    const size = Math.max(1, Math.min(chunk ?? Number.POSITIVE_INFINITY, this.mtu - 3));
    const out: Buffer[] = [];
    let off = 0;
    do {
      const part = value.subarray(off, off + size);
      const pdu = Buffer.alloc(3 + part.length);
      pdu.writeUInt8(ATT.NOTIFY, 0);
      pdu.writeUInt16LE(this.db.rxValueHandle, 1);
      Buffer.from(part).copy(pdu, 3);
      out.push(pdu);
      off += size;
    } while (off < value.length);
    return out;
  }

  handle(pdu: Buffer): void {
    const opcode = pdu[0];
    if (opcode === undefined) return;
    const body = pdu.subarray(1);
    switch (opcode) {
      case ATT.MTU_REQ:
        return this.exchangeMtu(body);
      case ATT.READ_BY_GROUP_REQ:
        return this.readByGroupType(body);
      case ATT.READ_BY_TYPE_REQ:
        return this.readByType(body);
      case ATT.FIND_INFO_REQ:
        return this.findInformation(body);
      case ATT.READ_REQ:
      case ATT.READ_BLOB_REQ:
        return this.read(opcode, body);
      case ATT.WRITE_REQ:
      case ATT.WRITE_CMD:
        return this.write(opcode, body);
      case ATT.PREPARE_WRITE_REQ:
        return this.prepareWrite(body);
      case ATT.EXECUTE_WRITE_REQ:
        return this.executeWrite(body);
      default:
        // Commands (bit 6) and client responses/confirmations (odd opcodes) get no answer;
        // any other request is refused, as the spec requires.
        if ((opcode & 0x40) === 0 && opcode % 2 === 0) this.hooks.send(errorPdu(opcode, 0, ATT_ERR.REQ_NOT_SUPPORTED));
    }
  }

  private attr(handle: number): Attribute | undefined {
    return this.db.attributes[handle - 1];
  }

  /** Parses start/end handles; sends the error and returns undefined when the range is invalid. */
  private range(opcode: number, body: Buffer, minLen: number): [number, number] | undefined {
    if (body.length < minLen) {
      this.hooks.send(errorPdu(opcode, 0, ATT_ERR.INVALID_PDU));
      return undefined;
    }
    const start = body.readUInt16LE(0);
    const end = body.readUInt16LE(2);
    if (start === 0 || start > end) {
      this.hooks.send(errorPdu(opcode, start, ATT_ERR.INVALID_HANDLE));
      return undefined;
    }
    return [start, end];
  }

  private inRange(start: number, end: number): Attribute[] {
    return this.db.attributes.filter((a) => a.handle >= start && a.handle <= end);
  }

  private exchangeMtu(body: Buffer): void {
    if (this.hooks.mtuInvalidPdu() || body.length !== 2) {
      this.hooks.send(errorPdu(ATT.MTU_REQ, 0, ATT_ERR.INVALID_PDU));
      return;
    }
    const server = Math.max(DEFAULT_MTU, this.hooks.serverMtu());
    this.mtu = Math.max(DEFAULT_MTU, Math.min(body.readUInt16LE(0), server));
    const rsp = Buffer.alloc(3);
    rsp.writeUInt8(ATT.MTU_RESP, 0);
    rsp.writeUInt16LE(server, 1);
    this.hooks.send(rsp);
  }

  private readByGroupType(body: Buffer): void {
    const r = this.range(ATT.READ_BY_GROUP_REQ, body, 6);
    if (!r) return;
    const type = readUuid16(body.subarray(4));
    if (type !== UUID_PRIMARY_SERVICE) {
      const code = type === 0x2801 ? ATT_ERR.ATTR_NOT_FOUND : ATT_ERR.UNSUPPORTED_GROUP_TYPE;
      this.hooks.send(errorPdu(ATT.READ_BY_GROUP_REQ, r[0], code));
      return;
    }
    const groups = this.inRange(r[0], r[1]).filter((a) => a.type === UUID_PRIMARY_SERVICE);
    const fit = Math.floor((this.mtu - 2) / 6);
    const entries = groups.slice(0, fit).map((g) => {
      const e = Buffer.alloc(6);
      e.writeUInt16LE(g.handle, 0);
      e.writeUInt16LE(g.groupEnd ?? g.handle, 2);
      Buffer.from(g.value).copy(e, 4);
      return e;
    });
    if (entries.length === 0) {
      this.hooks.send(errorPdu(ATT.READ_BY_GROUP_REQ, r[0], ATT_ERR.ATTR_NOT_FOUND));
      return;
    }
    this.hooks.send(Buffer.concat([Buffer.from([ATT.READ_BY_GROUP_RESP, 6]), ...entries]));
  }

  private readByType(body: Buffer): void {
    const r = this.range(ATT.READ_BY_TYPE_REQ, body, 6);
    if (!r) return;
    const type = readUuid16(body.subarray(4));
    const matches = this.inRange(r[0], r[1]).filter((a) => a.type === type);
    const first = matches[0];
    if (!first) {
      this.hooks.send(errorPdu(ATT.READ_BY_TYPE_REQ, r[0], ATT_ERR.ATTR_NOT_FOUND));
      return;
    }
    if (!first.readable) {
      this.hooks.send(errorPdu(ATT.READ_BY_TYPE_REQ, first.handle, ATT_ERR.READ_NOT_PERMITTED));
      return;
    }
    // all entries of one response must have the same length; values are cut to fit one PDU
    const valueLen = Math.min(first.value.length, this.mtu - 4, 253);
    const entries: Buffer[] = [];
    let used = 2;
    for (const a of matches) {
      if (!a.readable || Math.min(a.value.length, this.mtu - 4, 253) !== valueLen) break;
      if (used + 2 + valueLen > this.mtu) break;
      const e = Buffer.alloc(2 + valueLen);
      e.writeUInt16LE(a.handle, 0);
      Buffer.from(a.value.subarray(0, valueLen)).copy(e, 2);
      entries.push(e);
      used += e.length;
    }
    this.hooks.send(Buffer.concat([Buffer.from([ATT.READ_BY_TYPE_RESP, 2 + valueLen]), ...entries]));
  }

  private findInformation(body: Buffer): void {
    const r = this.range(ATT.FIND_INFO_REQ, body, 4);
    if (!r) return;
    const fit = Math.floor((this.mtu - 2) / 4);
    const entries = this.inRange(r[0], r[1])
      .slice(0, fit)
      .map((a) => {
        const e = Buffer.alloc(4);
        e.writeUInt16LE(a.handle, 0);
        e.writeUInt16LE(a.type, 2);
        return e;
      });
    if (entries.length === 0) {
      this.hooks.send(errorPdu(ATT.FIND_INFO_REQ, r[0], ATT_ERR.ATTR_NOT_FOUND));
      return;
    }
    this.hooks.send(Buffer.concat([Buffer.from([ATT.FIND_INFO_RESP, 0x01]), ...entries]));
  }

  private read(opcode: number, body: Buffer): void {
    const blob = opcode === ATT.READ_BLOB_REQ;
    if (body.length !== (blob ? 4 : 2)) {
      this.hooks.send(errorPdu(opcode, 0, ATT_ERR.INVALID_PDU));
      return;
    }
    const handle = body.readUInt16LE(0);
    const offset = blob ? body.readUInt16LE(2) : 0;
    const a = this.attr(handle);
    if (!a) return this.hooks.send(errorPdu(opcode, handle, ATT_ERR.INVALID_HANDLE));
    if (!a.readable) return this.hooks.send(errorPdu(opcode, handle, ATT_ERR.READ_NOT_PERMITTED));
    if (offset > a.value.length) return this.hooks.send(errorPdu(opcode, handle, ATT_ERR.INVALID_OFFSET));
    const part = a.value.subarray(offset, offset + this.mtu - 1);
    this.hooks.send(Buffer.concat([Buffer.from([blob ? ATT.READ_BLOB_RESP : ATT.READ_RESP]), part]));
  }

  /** Applies a write; returns the error code to report, 0 for success, or -1 when the request is swallowed. */
  private apply(handle: number, value: Buffer, isRequest: boolean): number {
    const a = this.attr(handle);
    if (!a) return ATT_ERR.INVALID_HANDLE;
    if (!a.writable) return ATT_ERR.WRITE_NOT_PERMITTED;
    if (a.type === UUID_CCCD) {
      if (value.length !== 2) return ATT_ERR.INVALID_ATTR_VALUE_LEN;
      a.value = Uint8Array.from(value);
      return 0;
    }
    if (handle !== this.db.txValueHandle) return ATT_ERR.WRITE_NOT_PERMITTED;
    const verdict = this.hooks.onTxWrite(Uint8Array.from(value), isRequest);
    if (verdict.kind === "swallow") return -1;
    if (verdict.kind === "error") return verdict.code;
    a.value = Uint8Array.from(value);
    return 0;
  }

  private write(opcode: number, body: Buffer): void {
    const isRequest = opcode === ATT.WRITE_REQ;
    if (body.length < 2) {
      if (isRequest) this.hooks.send(errorPdu(opcode, 0, ATT_ERR.INVALID_PDU));
      return;
    }
    const handle = body.readUInt16LE(0);
    const result = this.apply(handle, body.subarray(2), isRequest);
    if (!isRequest || result < 0) return;
    this.hooks.send(result === 0 ? Buffer.from([ATT.WRITE_RESP]) : errorPdu(opcode, handle, result));
  }

  private prepareWrite(body: Buffer): void {
    if (body.length < 4) return this.hooks.send(errorPdu(ATT.PREPARE_WRITE_REQ, 0, ATT_ERR.INVALID_PDU));
    const handle = body.readUInt16LE(0);
    const a = this.attr(handle);
    if (!a) return this.hooks.send(errorPdu(ATT.PREPARE_WRITE_REQ, handle, ATT_ERR.INVALID_HANDLE));
    if (!a.writable) return this.hooks.send(errorPdu(ATT.PREPARE_WRITE_REQ, handle, ATT_ERR.WRITE_NOT_PERMITTED));
    this.prepared.push({ handle, offset: body.readUInt16LE(2), data: Buffer.from(body.subarray(4)) });
    this.hooks.send(Buffer.concat([Buffer.from([ATT.PREPARE_WRITE_RESP]), body]));
  }

  private executeWrite(body: Buffer): void {
    const queue = this.prepared;
    this.prepared = [];
    if (body[0] === 0x01) {
      const handles = [...new Set(queue.map((q) => q.handle))];
      for (const h of handles) {
        const parts = queue.filter((q) => q.handle === h).sort((x, y) => x.offset - y.offset);
        const result = this.apply(h, Buffer.concat(parts.map((p) => p.data)), true);
        if (result < 0) return;
        if (result > 0) return this.hooks.send(errorPdu(ATT.EXECUTE_WRITE_REQ, h, result));
      }
    }
    this.hooks.send(Buffer.from([ATT.EXECUTE_WRITE_RESP]));
  }
}
