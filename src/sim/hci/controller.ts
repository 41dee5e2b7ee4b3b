/**
 * The virtual LE controller behind the fake HCI socket: answers every command noble 1.9.2-26
 * `hci.js` sends (init sequence, scanning, connection management, RSSI, connection update), owns the
 * links, and counts traffic so tests can see orphan links and flow-control violations.
 *
 * Command behaviour follows the Core spec where noble depends on it (ble-noble.md §7.1):
 * - LE Create Connection / Cancel: see initiator.ts (H2/H2b).
 * - Disconnect → Command Status, then Disconnection Complete 0x16 at the link's next event;
 *   an unknown handle gets Command Status 0x02 (H7 sends handle 0).
 */
import { EventEmitter } from "node:events";
import { Scanner } from "./advertiser.js";
import { Initiator } from "./initiator.js";
import * as h4 from "./h4.js";
import { HCI_STATUS, OP } from "./h4.js";
import { SimLink, type LinkHost } from "./link.js";
import { DEFAULT_TIMING, PeripheralSim } from "./peripheral.js";
import type { HciCounters, PeripheralCounters, SimPeripheralSpec, VirtualHciOptions } from "./types.js";

export interface ControllerEvents {
  command: [opcode: number];
  scan: [enabled: boolean];
  /** one LE Advertising Report sent to the host (type 0x00 ADV_IND, 0x04 SCAN_RSP) */
  advertisingReport: [address: string, type: number];
  connectionPending: [address: string];
  connected: [address: string, handle: number];
  disconnected: [address: string, handle: number, reason: number];
  write: [address: string, data: Uint8Array];
  responderError: [error: unknown];
  bind: [mode: "raw" | "user", deviceId: number | undefined];
}

export class VirtualController extends EventEmitter<ControllerEvents> implements LinkHost {
  readonly address: string;
  readonly aclBufferLength: number;
  readonly aclBufferCount: number;
  readonly counters: HciCounters = {
    hostToController: 0,
    controllerToHost: 0,
    commands: 0,
    aclFromHost: 0,
    aclToHost: 0,
    aclOversize: 0,
    aclOverflow: 0,
    maxAclInFlight: 0,
    unknownCommands: 0,
  };
  /** Commands received, by opcode (count each): tests check what a host sent, e.g. only 0x1009. */
  readonly commandsSeen = new Map<number, number>();
  /** Whether bindRaw/bindUser succeed (false → ENODEV, "kernel Bluetooth but no adapter"). */
  adapterPresent = true;
  /** Every write fails with EPERM, as raw HCI without CAP_NET_RAW (ble-noble.md §4.2) → noble 'unauthorized'. */
  permissionDenied = false;
  private powered = true;
  private readonly sims = new Map<string, PeripheralSim>();
  private readonly links = new Map<number, SimLink>();
  private readonly scanner: Scanner;
  private readonly initiator: Initiator;
  private nextHandle = 0x0040;
  private nextSeed: number;
  private readonly sinks = new Set<(packet: Buffer) => void>();

  constructor(peripherals: SimPeripheralSpec[], private readonly opts: VirtualHciOptions = {}) {
    super();
    this.address = h4.normalizeAddress(opts.address ?? "00:11:22:33:44:55");
    this.aclBufferLength = opts.aclBufferLength ?? 27;
    this.aclBufferCount = opts.aclBufferCount ?? 4;
    this.nextSeed = opts.seed ?? 1;
    this.scanner = new Scanner({
      peripherals: () => this.sims.values(),
      toHost: (p) => this.toHost(p),
      reported: (sim, type) => this.emit("advertisingReport", sim.address, type),
    });
    this.initiator = new Initiator({
      find: (address) => this.sims.get(address),
      defaultAdvertisingIntervalMs: () => opts.timing?.advertisingIntervalMs ?? DEFAULT_TIMING.advertisingIntervalMs,
      toHost: (p) => this.toHost(p),
      establish: (sim, latency, timeout) => this.establish(sim, latency, timeout),
      pending: (address) => this.emit("connectionPending", address),
    });
    for (const spec of peripherals) this.addPeripheral(spec);
  }

  // ---- test/inspection API ------------------------------------------------------------------

  addPeripheral(spec: SimPeripheralSpec): void {
    const sim = new PeripheralSim(spec, this.opts.timing ?? {}, this.nextSeed++);
    if (this.sims.has(sim.address)) throw new Error(`duplicate simulated peripheral ${sim.address}`);
    this.sims.set(sim.address, sim);
    this.scanner.track(sim);
  }

  peripheralCounters(address: string): PeripheralCounters {
    const sim = this.sims.get(h4.normalizeAddress(address));
    if (!sim) throw new Error(`no simulated peripheral ${address}`);
    return sim.counters;
  }

  /** Live ACL handles; after a clean shutdown this must be empty (otherwise: orphan links). */
  connectedHandles(): number[] {
    return [...this.links.keys()];
  }

  handleOf(address: string): number | undefined {
    return this.sims.get(h4.normalizeAddress(address))?.link?.handle;
  }

  get pendingConnection(): string | undefined {
    return this.initiator.pendingAddress;
  }

  get scanning(): boolean {
    return this.scanner.scanning;
  }

  get isPowered(): boolean {
    return this.powered;
  }

  /** Adapter down/up (rfkill, unplug). Down drops links and scanning silently: no HCI events reach the host. */
  setPowered(on: boolean): void {
    if (!on) this.resetState();
    this.powered = on;
  }

  /** Peripheral-side termination (0x13) or, with reason 0x08, a supervision timeout. */
  disconnectPeripheral(address: string, reason: number = HCI_STATUS.REMOTE_USER_TERMINATED): boolean {
    const link = this.sims.get(h4.normalizeAddress(address))?.link;
    if (!link) return false;
    link.terminate(reason);
    return true;
  }

  /** Unsolicited notification from a peripheral (same path as the responder's notify). */
  notify(address: string, bytes: Uint8Array): void {
    const sim = this.sims.get(h4.normalizeAddress(address));
    if (!sim) throw new Error(`no simulated peripheral ${address}`);
    sim.notify(bytes);
  }

  /** Stops every timer; links vanish without events. The process can exit afterwards. */
  stop(): void {
    this.resetState();
    for (const sim of this.sims.values()) sim.stop();
    this.sinks.clear();
  }

  // ---- socket side ----------------------------------------------------------------------------

  attach(sink: (packet: Buffer) => void): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  noteBind(mode: "raw" | "user", deviceId: number | undefined): void {
    this.emit("bind", mode, deviceId);
  }

  receive(packet: Buffer): void {
    if (!this.powered) return;
    this.counters.hostToController++;
    const p = h4.parseHostPacket(packet);
    if (p.kind === "command") this.onCommand(p.opcode, p.params);
    else if (p.kind === "acl") this.onAcl(p.handle, p.boundary, p.data);
  }

  toHost(packet: Buffer): void {
    if (!this.powered) return;
    this.counters.controllerToHost++;
    if (packet[0] === h4.H4_ACL) this.counters.aclToHost++;
    for (const sink of this.sinks) sink(packet);
  }

  // ---- LinkHost --------------------------------------------------------------------------------

  linkLost(link: SimLink, reason: number): void {
    if (this.links.get(link.handle) !== link) return;
    this.links.delete(link.handle);
    link.close();
    link.peripheral.link = undefined;
    link.peripheral.counters.lastDisconnectReason = reason;
    this.toHost(h4.disconnectionComplete(link.handle, reason));
    this.emit("disconnected", link.peripheral.address, link.handle, reason);
  }

  deliverWrite(peripheral: PeripheralSim, data: Uint8Array): void {
    this.emit("write", peripheral.address, data);
    try {
      peripheral.spec.onWrite(data, peripheral.notify);
    } catch (error) {
      // surface responder bugs: to a listener if there is one, otherwise as an uncaught error
      if (this.listenerCount("responderError") === 0) throw error;
      this.emit("responderError", error);
    }
  }

  // ---- internals -------------------------------------------------------------------------------

  private resetState(): void {
    this.scanner.stop();
    this.initiator.reset();
    for (const link of this.links.values()) {
      link.close();
      link.peripheral.link = undefined;
    }
    this.links.clear();
  }

  private complete(opcode: number, params: number[] | Buffer): void {
    this.toHost(h4.commandComplete(opcode, Buffer.from(params)));
  }

  private onCommand(opcode: number, p: Buffer): void {
    this.counters.commands++;
    this.commandsSeen.set(opcode, (this.commandsSeen.get(opcode) ?? 0) + 1);
    this.emit("command", opcode);
    const need = (n: number): boolean => {
      if (p.length >= n) return true;
      this.complete(opcode, [0x12]); // Invalid HCI Command Parameters
      return false;
    };
    switch (opcode) {
      case OP.RESET:
        this.resetState();
        return this.complete(opcode, [0]);
      case OP.SET_EVENT_MASK:
      case OP.LE_SET_EVENT_MASK:
      case OP.WRITE_LE_HOST_SUPPORTED:
      case OP.LE_SET_RANDOM_ADDRESS:
        return this.complete(opcode, [0]);
      case OP.READ_LE_HOST_SUPPORTED:
        return this.complete(opcode, [0, 1, 0]);
      case OP.READ_LOCAL_VERSION: {
        const v = this.opts.hciVersion ?? 9;
        return this.complete(opcode, [0, v, 0, 0, v, 0xf1, 0x05, 0, 0]);
      }
      case OP.READ_SUPPORTED_COMMANDS: // all zero: noble stays in legacy (non-extended) mode
        return this.complete(opcode, Buffer.alloc(65));
      case OP.READ_BUFFER_SIZE: {
        const b = Buffer.alloc(8);
        b.writeUInt16LE(this.aclBufferLength, 1);
        b.writeUInt16LE(this.aclBufferCount, 4);
        return this.complete(opcode, b);
      }
      case OP.READ_BD_ADDR:
        return this.complete(opcode, Buffer.concat([Buffer.from([0]), h4.addressToBytes(this.address)]));
      case OP.LE_READ_BUFFER_SIZE: {
        const b = Buffer.alloc(4);
        b.writeUInt16LE(this.aclBufferLength, 1);
        b.writeUInt8(this.aclBufferCount, 3);
        return this.complete(opcode, b);
      }
      case OP.LE_READ_LOCAL_FEATURES:
        return this.complete(opcode, [0, 0x01, 0, 0, 0, 0, 0, 0, 0]);
      case OP.LE_SET_SCAN_PARAMETERS:
        if (!need(7)) return;
        // the spec forbids changing parameters while scanning (noble always disables first)
        if (this.scanner.scanning) return this.complete(opcode, [HCI_STATUS.COMMAND_DISALLOWED]);
        this.scanner.active = p[0] === 0x01;
        return this.complete(opcode, [0]);
      case OP.LE_SET_SCAN_ENABLE:
        if (!need(2)) return;
        this.scanner.setEnabled(p[0] === 0x01, p[1] === 0x01);
        this.complete(opcode, [0]);
        this.emit("scan", this.scanner.scanning);
        return;
      case OP.LE_CREATE_CONN:
        if (need(25)) this.initiator.create(p);
        return;
      case OP.LE_CREATE_CONN_CANCEL:
        return this.initiator.cancel();
      case OP.DISCONNECT: {
        if (!need(3)) return;
        const link = this.links.get(p.readUInt16LE(0) & 0x0fff);
        this.toHost(h4.commandStatus(opcode, link ? 0 : HCI_STATUS.UNKNOWN_CONN_ID));
        link?.terminate(HCI_STATUS.LOCAL_HOST_TERMINATED);
        return;
      }
      case OP.READ_RSSI: {
        if (!need(2)) return;
        const handle = p.readUInt16LE(0) & 0x0fff;
        const link = this.links.get(handle);
        const b = Buffer.alloc(4);
        b.writeUInt8(link ? 0 : HCI_STATUS.UNKNOWN_CONN_ID, 0);
        b.writeUInt16LE(handle, 1);
        b.writeInt8(link ? link.peripheral.rssi : 0, 3);
        return this.complete(opcode, b);
      }
      case OP.LE_CONN_UPDATE: {
        if (!need(14)) return;
        const handle = p.readUInt16LE(0) & 0x0fff;
        const ok = this.links.has(handle);
        this.toHost(h4.commandStatus(opcode, ok ? 0 : HCI_STATUS.UNKNOWN_CONN_ID));
        if (ok) this.toHost(h4.leConnectionUpdateComplete(handle, p.readUInt16LE(4), p.readUInt16LE(6), p.readUInt16LE(8)));
        return;
      }
      case OP.LE_SET_PHY:
        return this.toHost(h4.commandStatus(opcode, 0));
      default:
        this.counters.unknownCommands++;
        return this.complete(opcode, [HCI_STATUS.UNKNOWN_COMMAND]);
    }
  }

  private onAcl(handle: number, boundary: number, data: Buffer): void {
    this.counters.aclFromHost++;
    if (data.length > this.aclBufferLength) this.counters.aclOversize++;
    const link = this.links.get(handle);
    if (!link) return;
    link.acceptFromHost(boundary, data);
    let inFlight = 0;
    for (const l of this.links.values()) inFlight += l.inFlight;
    if (inFlight > this.aclBufferCount) this.counters.aclOverflow++;
    this.counters.maxAclInFlight = Math.max(this.counters.maxAclInFlight, inFlight);
  }

  private establish(sim: PeripheralSim, latency: number, supervisionTimeout: number): void {
    const handle = this.nextHandle;
    this.nextHandle = this.nextHandle >= 0x0eff ? 0x0040 : this.nextHandle + 1;
    const link = new SimLink(handle, sim, this);
    sim.link = link;
    sim.counters.connections++;
    this.links.set(handle, link);
    const interval = Math.max(6, Math.round(sim.timing().connectionIntervalMs / 1.25));
    const c = { status: 0, handle, peerAddressType: sim.addressType, address: sim.address, interval, latency, supervisionTimeout };
    this.toHost(h4.leConnectionComplete(c));
    this.emit("connected", sim.address, handle);
  }
}
