/**
 * One LE ACL link between the virtual controller and a simulated peripheral: connection-event
 * timing, ACL flow control towards the host, L2CAP reassembly/fragmentation, and the notification
 * fault pipeline (drop/garble/split/merge).
 *
 * Why connection events: noble only keeps `aclNum` packets in flight and waits for Number Of
 * Completed Packets (ble-noble.md §7.1), so the controller must hold host packets and release them
 * in batches, as a radio does. Events fall on a fixed grid (link start + k × connectionIntervalMs);
 * each one:
 *   1. snapshots what the peripheral had queued before this event,
 *   2. hands the host's buffered ACL packets to the peripheral and reports them as completed,
 *   3. delivers the snapshot to the host.
 * Responses produced in (2) leave at the next event. The timer is armed only for the next event
 * that has work (like a real controller, which wakes the host only when a packet arrives); an idle
 * link wakes every IDLE_EVENTS events to notice it went out of range (supervision timeout), so a
 * held-open link costs the process almost nothing. Timers are unref'd and cleared on close.
 */
import { performance } from "node:perf_hooks";
import { AttServer, type TxWriteVerdict } from "./att-server.js";
import { ACL_CONT, HCI_STATUS, l2capToAcl, numberOfCompletedPackets } from "./h4.js";
import type { PeripheralSim } from "./peripheral.js";
import type { PeripheralLink } from "./peripheral-link.js";
import type { SimFaults } from "./types.js";

const CID_ATT = 0x0004;
/** An idle link checks for loss every this many connection events (a short supervision timeout). */
const IDLE_EVENTS = 10;

export interface LinkHost {
  readonly aclBufferLength: number;
  toHost(packet: Buffer): void;
  linkLost(link: SimLink, reason: number): void;
  /** Hands a TX write to the responder (spec.onWrite). */
  deliverWrite(peripheral: PeripheralSim, data: Uint8Array): void;
}

type Outgoing = { kind: "pdu"; pdu: Buffer } | { kind: "notify"; value: Uint8Array };

export class SimLink implements PeripheralLink {
  readonly att: AttServer;
  private fromHost: { boundary: number; data: Buffer }[] = [];
  private outgoing: Outgoing[] = [];
  private rx: { length: number; cid: number; data: Buffer } | undefined;
  private writesToDeliver: Uint8Array[] = [];
  private endReason: number | undefined;
  private writes = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() of the armed event. */
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly anchor = performance.now();
  /** Grid time of the last event that ran: the next one is at least one interval later. */
  private lastEventAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly handle: number,
    readonly peripheral: PeripheralSim,
    private readonly host: LinkHost,
  ) {
    this.att = new AttServer(peripheral.layout, peripheral.spec.name, {
      serverMtu: () => peripheral.spec.mtu ?? 23,
      mtuInvalidPdu: () => peripheral.faults().mtuInvalidPdu === true,
      onTxWrite: (data, isRequest) => this.onTxWrite(data, isRequest),
      send: (pdu) => {
        this.outgoing.push({ kind: "pdu", pdu });
        this.schedule();
      },
    });
    peripheral.counters.attOpcodes = [];
    peripheral.counters.mtu = this.att.mtu;
    this.schedule();
  }

  /** Host ACL packets buffered in the controller, not yet completed. */
  get inFlight(): number {
    return this.fromHost.length;
  }

  get terminating(): boolean {
    return this.endReason !== undefined;
  }

  acceptFromHost(boundary: number, data: Buffer): void {
    this.fromHost.push({ boundary, data: Buffer.from(data) });
    this.schedule();
  }

  enqueueNotification(value: Uint8Array): void {
    this.outgoing.push({ kind: "notify", value });
    this.schedule();
  }

  /** Ends the link at its next connection event with this reason (0x16 local, 0x13 remote, 0x08 loss). */
  terminate(reason: number): void {
    if (this.endReason === undefined) this.endReason = reason;
    this.schedule();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Arms the timer for the next grid event with work, or the next idle check; never later than one already armed. */
  private schedule(): void {
    if (this.closed) return;
    const interval = Math.max(1, this.peripheral.timing().connectionIntervalMs);
    const now = performance.now();
    const busy = this.fromHost.length > 0 || this.outgoing.length > 0 || this.endReason !== undefined;
    const earliest = busy ? now : now + (IDLE_EVENTS - 1) * interval;
    // libuv's millisecond clock can fire a timer a fraction of a ms before performance.now() reaches
    // the grid point: without the floor at lastEventAt + interval, a packet arriving then would be
    // taken in the event that just ran (one event per ATT transaction instead of two; bench)
    const at = Math.max(this.anchor + (Math.floor((earliest - this.anchor) / interval) + 1) * interval, this.lastEventAt + interval);
    if (this.timer !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastEventAt = this.timerAt;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.connectionEvent();
      this.schedule();
    }, Math.max(0, at - now));
    this.timer.unref();
  }

  private connectionEvent(): void {
    if (this.closed) return;
    if (this.peripheral.faults().outOfRange) this.terminate(HCI_STATUS.CONN_TIMEOUT);
    if (this.endReason !== undefined) {
      this.host.linkLost(this, this.endReason);
      return;
    }
    const ready = this.outgoing.splice(0);
    const received = this.fromHost.splice(0);
    for (const p of received) this.reassemble(p.boundary, p.data);
    if (received.length > 0) this.host.toHost(numberOfCompletedPackets(this.handle, received.length));
    for (const pdu of this.render(ready)) {
      for (const acl of l2capToAcl(this.handle, CID_ATT, pdu, this.host.aclBufferLength)) this.host.toHost(acl);
    }
  }

  private reassemble(boundary: number, data: Buffer): void {
    if (boundary === ACL_CONT) {
      if (!this.rx) return; // continuation without a start: dropped, as a controller would
      this.rx.data = Buffer.concat([this.rx.data, data]);
    } else {
      if (data.length < 4) return;
      this.rx = { length: data.readUInt16LE(0), cid: data.readUInt16LE(2), data: data.subarray(4) };
    }
    if (this.rx.data.length < this.rx.length) return;
    const { cid, length } = this.rx;
    const frame = this.rx.data.subarray(0, length);
    this.rx = undefined;
    if (cid === CID_ATT && this.endReason === undefined) this.onAttPdu(frame);
    // CID 5 (LE signalling) and 6 (SMP) are ignored: noble only uses them on paths the bridge avoids.
  }

  private onAttPdu(pdu: Buffer): void {
    const opcode = pdu[0];
    if (opcode !== undefined) this.peripheral.counters.attOpcodes.push(opcode);
    this.att.handle(pdu);
    this.peripheral.counters.mtu = this.att.mtu;
    // the responder sees the write after the ATT response is queued, so a reply never overtakes it
    for (const data of this.writesToDeliver.splice(0)) this.host.deliverWrite(this.peripheral, data);
  }

  private onTxWrite(data: Uint8Array, isRequest: boolean): TxWriteVerdict {
    const p = this.peripheral;
    const f = p.faults();
    p.counters.writes++;
    this.writes++;
    const lossAt = f.linkLossAfterWrites;
    if (lossAt !== undefined && lossAt > 0 && this.writes >= lossAt) {
      this.terminate(HCI_STATUS.CONN_TIMEOUT); // H3: the write is lost with the link
      return { kind: "swallow" };
    }
    if (f.attErrorOnWrite !== undefined && f.attErrorOnWrite > 0) {
      return isRequest ? { kind: "error", code: f.attErrorOnWrite } : { kind: "swallow" };
    }
    if (!f.sleeping) {
      p.counters.writesDelivered++;
      this.writesToDeliver.push(data);
    }
    return { kind: "ack" };
  }

  /** Turns queued items into ATT PDUs, applying merge/split/drop/garble and the CCCD gate. */
  private render(ready: Outgoing[]): Buffer[] {
    const f = this.peripheral.faults();
    const c = this.peripheral.counters;
    const items: Outgoing[] = [];
    for (const item of ready) {
      const last = items[items.length - 1];
      if (item.kind === "notify" && f.mergeNotifications && last?.kind === "notify") {
        last.value = Buffer.concat([last.value, item.value]);
      } else {
        items.push(item.kind === "notify" ? { kind: "notify", value: item.value } : item);
      }
    }
    const out: Buffer[] = [];
    for (const item of items) {
      if (item.kind === "pdu") {
        out.push(item.pdu);
        continue;
      }
      if (!this.att.notificationsEnabled()) {
        c.notificationsSuppressed++;
        continue;
      }
      for (const pdu of this.att.notificationPdus(item.value, f.splitNotifications)) {
        if (this.shouldDrop(f)) {
          c.notificationsDropped++;
          continue;
        }
        if (f.garbleNotifications && pdu.length > 3) pdu[pdu.length - 1] = (pdu[pdu.length - 1] ?? 0) ^ 0xff;
        c.notificationsSent++;
        out.push(pdu);
      }
    }
    return out;
  }

  private shouldDrop(f: SimFaults): boolean {
    const d = f.dropNotifications;
    if (d === undefined || d <= 0) return false;
    if (d < 1) return this.peripheral.random() < d;
    f.dropNotifications = d - 1; // a count: consumed here so tests can watch it reach 0
    return true;
  }
}
