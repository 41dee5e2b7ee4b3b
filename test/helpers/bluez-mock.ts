/**
 * A mock bluetoothd on a private dbus-daemon: org.bluez with ObjectManager at /, an adapter, and one
 * Device1 per scenario BMS whose fff2/ff02 writes feed the Daly responder (src/sim) and whose
 * replies come back as fff1/ff01 Value changes in MTU-sized chunks. Devices appear on
 * StartDiscovery; GATT objects exist only while connected, as in BlueZ. Fault hooks: connect hangs,
 * device never appears, device vanishes after n writes.
 */
import { EventEmitter } from "node:events";
import dbus, { type Message, type MessageBus } from "dbus-next";
import { GATT_LAYOUTS } from "../../src/daly/constants.js";
import { batteryAt } from "../../src/sim/battery.js";
import { createResponder } from "../../src/sim/responder.js";
import type { Scenario, ScenarioBms } from "../../src/sim/scenario.js";
import { startPrivateBus, type PrivateBus } from "./dbus-daemon.js";
import { Adapter1, Device1, GattCharacteristic1, GattService1, type ManagedObjects, type MockIface, ObjectManager } from "./bluez-mock-objects.js";

export interface MockFaults {
  /** Connect never answers (until Disconnect cancels it, as BlueZ allows). */
  connectHangs?: boolean;
  /** Discovery never reports the device. */
  neverAppears?: boolean;
  /** After this many writes the device drops off (Connected=false, InterfacesRemoved); one-shot. */
  vanishAfterWrites?: number;
  /** The write characteristic lacks write-without-response (client must use "request"). */
  noWriteWithoutResponse?: boolean;
  /** Another client holds the notify characteristic with AcquireNotify: StartNotify → NotPermitted "Notify acquired". */
  notifyAcquired?: boolean;
}

export interface MockDevice {
  readonly bms: ScenarioBms;
  readonly path: string;
  readonly iface: Device1;
  faults: MockFaults;
  counters: { connects: number; disconnects: number; writes: number; startNotify: number; stopNotify: number; writeTypes: string[] };
  present: boolean;
  /** Unique bus names with a notify session on the notify characteristic (BlueZ keeps one per client). */
  notifySessions: Set<string>;
  /** Unique bus names that called Connect / Disconnect, in order. */
  connectedBy: string[];
  disconnectedBy: string[];
}

export interface BluezMockOptions {
  scenario: Scenario;
  adapter?: string;
  /** Devices BlueZ already knows at start (exported without discovery). */
  known?: string[];
  /** Devices already connected at start (by another client, or a link left by an earlier run). */
  connected?: string[];
  /** Adapter1.Address (default 00:1A:7D:DA:71:13). */
  adapterAddress?: string;
  now?: () => number;
}

const uuid = (s: string): string => `0000${s}-0000-1000-8000-00805f9b34fb`;

export class BluezMock extends EventEmitter {
  readonly devices = new Map<string, MockDevice>();
  readonly discovery = { starts: 0, stops: 0, active: false, filters: [] as Array<Record<string, unknown>> };
  private readonly objects = new Map<string, MockIface[]>();
  private readonly om = new ObjectManager(() => this.managed());
  readonly adapterPath: string;
  readonly adapter: Adapter1;
  /** Unique name of the client whose method call is being handled (set before each call). */
  private caller = "";
  private bus: MessageBus;

  private constructor(
    private readonly daemon: PrivateBus,
    bus: MessageBus,
    opts: BluezMockOptions,
  ) {
    super();
    this.bus = bus;
    this.adapterPath = `/org/bluez/${opts.adapter ?? "hci0"}`;
    this.adapter = new Adapter1({
      startDiscovery: () => this.startDiscovery(),
      stopDiscovery: () => this.stopDiscovery(),
      setFilter: (f) => this.discovery.filters.push(Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v instanceof dbus.Variant ? (v.value as unknown) : v]))),
    });
    if (opts.adapterAddress) this.adapter.Address = opts.adapterAddress;
    this.attach(bus);
    this.add(this.adapterPath, [this.adapter]);
    for (const b of opts.scenario.bms) this.createDevice(b, opts.now ?? Date.now);
    for (const a of [...(opts.known ?? []), ...(opts.connected ?? [])]) this.appear(this.device(a));
    for (const a of opts.connected ?? []) this.linkUp(this.device(a));
  }

  private attach(bus: MessageBus): void {
    bus.addMethodHandler((m: Message) => {
      if (bus !== this.bus) return true; // a killed bluetoothd answers nothing (calls still buffered)
      this.caller = m.sender ?? "";
      return false; // only noted: the exported objects answer
    });
    bus.export("/", this.om);
  }

  /** Starts a private bus and the mock on it; `address` is what the client connects to. */
  static async start(opts: BluezMockOptions): Promise<BluezMock> {
    const daemon = await startPrivateBus();
    const bus = dbus.sessionBus({ busAddress: daemon.address });
    try {
      const mock = new BluezMock(daemon, bus, opts);
      await bus.requestName("org.bluez", dbus.NameFlag.DO_NOT_QUEUE);
      return mock;
    } catch (e) {
      bus.disconnect();
      await daemon.stop();
      throw e;
    }
  }

  /**
   * bluetoothd dies: its bus connection closes (the daemon sends NameOwnerChanged org.bluez → ""),
   * every link and every object with it, no signals (a dead process sends none).
   */
  kill(): void {
    for (const d of this.devices.values()) {
      d.iface.Connected = false;
      d.iface.ServicesResolved = false;
      d.present = false;
      d.notifySessions.clear();
    }
    this.discovery.active = false;
    for (const [path, ifaces] of this.objects) for (const i of ifaces) this.bus.unexport(path, i);
    this.bus.unexport("/", this.om);
    this.objects.clear();
    const dead = this.bus;
    this.bus = dbus.sessionBus({ busAddress: this.daemon.address }); // not yet the owner of org.bluez
    dead.disconnect();
    this.emit("killed");
  }

  /** bluetoothd starts again: takes org.bluez, then exports its adapter (InterfacesAdded). */
  async restart(): Promise<void> {
    const bus = this.bus;
    this.attach(bus);
    await bus.requestName("org.bluez", dbus.NameFlag.DO_NOT_QUEUE);
    this.add(this.adapterPath, [this.adapter]);
  }

  /** The adapter is unplugged: its devices, then the adapter object are removed (InterfacesRemoved). */
  removeAdapter(): void {
    for (const d of this.devices.values()) {
      if (!d.present) continue;
      this.linkDown(d);
      this.remove(d.path);
      d.present = false;
    }
    this.discovery.active = false;
    this.remove(this.adapterPath);
  }

  /** The adapter is plugged back in. */
  addAdapter(): void {
    this.adapter.Powered = true;
    this.add(this.adapterPath, [this.adapter]);
  }

  /** Adapter powered off/on (links drop when it goes off, as the controller resets). */
  setPowered(on: boolean): void {
    if (!on) for (const d of this.devices.values()) if (d.present) this.linkDown(d);
    if (!on) this.discovery.active = false;
    this.adapter.set({ Powered: on });
  }

  get address(): string {
    return this.daemon.address;
  }

  device(address: string): MockDevice {
    const d = this.devices.get(address.toUpperCase());
    if (!d) throw new Error(`no mock device ${address}`);
    return d;
  }

  private managed(): ManagedObjects {
    const out: ManagedObjects = {};
    for (const [path, ifaces] of this.objects) out[path] = Object.fromEntries(ifaces.map((i) => [ifaceName(i), i.variants()]));
    return out;
  }

  private add(path: string, ifaces: MockIface[]): void {
    for (const i of ifaces) this.bus.export(path, i);
    this.objects.set(path, ifaces);
    this.om.InterfacesAdded(path, Object.fromEntries(ifaces.map((i) => [ifaceName(i), i.variants()])));
  }

  private remove(path: string): void {
    const ifaces = this.objects.get(path);
    if (!ifaces) return;
    this.objects.delete(path);
    for (const i of ifaces) this.bus.unexport(path, i);
    this.om.InterfacesRemoved(path, ifaces.map(ifaceName));
  }

  private createDevice(b: ScenarioBms, now: () => number): void {
    const path = `${this.adapterPath}/dev_${b.address.replaceAll(":", "_")}`;
    const layout = GATT_LAYOUTS.find((l) => l.service === (b.gatt_layout ?? "fff0")) ?? GATT_LAYOUTS[0];
    const respond = createResponder(() => batteryAt(b, now()), { protocol: b.protocol, ...(b.a5_hosts ? { a5Hosts: b.a5_hosts } : {}), ...(b.a5_all_frames ? { a5AllFrames: true } : {}) });
    let pendingConnect: ((e?: Error) => void) | undefined;
    const iface: Device1 = new Device1(b.address, `DL-${b.address.replaceAll(":", "")}`, this.adapterPath, [uuid(layout.service)], {
      connect: () => {
        d.counters.connects += 1;
        d.connectedBy.push(this.caller);
        this.emit("connect", b.address);
        if (d.faults.connectHangs) return new Promise<void>((resolve, reject) => (pendingConnect = (e) => (e ? reject(e) : resolve())));
        if (!iface.Connected) this.linkUp(d);
      },
      disconnect: () => {
        d.counters.disconnects += 1;
        d.disconnectedBy.push(this.caller);
        pendingConnect?.(new dbus.DBusError("org.bluez.Error.Failed", "Operation was cancelled"));
        pendingConnect = undefined;
        if (!iface.Connected) throw new dbus.DBusError("org.bluez.Error.NotConnected", "Not Connected");
        this.linkDown(d);
        this.emit("disconnect", b.address);
      },
    });
    const d: MockDevice = {
      bms: b, path, iface, faults: {}, present: false, notifySessions: new Set(), connectedBy: [], disconnectedBy: [],
      counters: { connects: 0, disconnects: 0, writes: 0, startNotify: 0, stopNotify: 0, writeTypes: [] },
    };
    const svc = `${path}/service000c`;
    const chunk = Math.max(1, (b.mtu ?? 23) - 3);
    const gatt = (): Array<[string, MockIface[]]> => {
      const notify = new GattCharacteristic1(uuid(layout.notify), svc, ["notify"], {
        // BlueZ keeps one notify session per D-Bus client; Notifying stays true while any is left
        startNotify: (c) => {
          if (d.faults.notifyAcquired) throw new dbus.DBusError("org.bluez.Error.NotPermitted", "Notify acquired");
          d.counters.startNotify += 1;
          d.notifySessions.add(this.caller);
          if (!c.Notifying) c.set({ Notifying: true });
        },
        stopNotify: (c) => {
          d.counters.stopNotify += 1;
          if (!d.notifySessions.delete(this.caller)) throw new dbus.DBusError("org.bluez.Error.Failed", "No notify session started");
          if (d.notifySessions.size === 0) c.set({ Notifying: false });
        },
        write: () => undefined,
      });
      const flags = d.faults.noWriteWithoutResponse ? ["write"] : ["write", "write-without-response"];
      const write = new GattCharacteristic1(uuid(layout.write), svc, flags, {
        startNotify: () => undefined,
        stopNotify: () => undefined,
        write: (_c, value, options) => {
          if (!iface.Connected) throw new dbus.DBusError("org.bluez.Error.Failed", "Not connected");
          d.counters.writes += 1;
          const type = options.type;
          d.counters.writeTypes.push(type instanceof dbus.Variant && typeof type.value === "string" ? type.value : "");
          this.emit("write", b.address, d.counters.writes);
          if (d.faults.vanishAfterWrites !== undefined && d.counters.writes >= d.faults.vanishAfterWrites) {
            delete d.faults.vanishAfterWrites;
            setImmediate(() => this.vanish(b.address));
            return;
          }
          for (const reply of respond(new Uint8Array(value))) {
            for (let i = 0; i < reply.length; i += chunk) if (notify.Notifying) notify.set({ Value: Buffer.from(reply.subarray(i, i + chunk)) });
          }
        },
      });
      return [
        [svc, [new GattService1(uuid(layout.service), path)]],
        [`${svc}/char000d`, [notify]],
        [`${svc}/char0010`, [write]],
      ];
    };
    this.gattFor.set(d, gatt);
    this.devices.set(b.address, d);
  }

  private readonly gattFor = new Map<MockDevice, () => Array<[string, MockIface[]]>>();

  private appear(d: MockDevice): void {
    if (d.present) return;
    d.present = true;
    this.add(d.path, [d.iface]);
  }

  /** Connected, then (after the Connect reply) GATT objects and ServicesResolved, as BlueZ does. */
  private linkUp(d: MockDevice): void {
    d.iface.set({ Connected: true });
    setImmediate(() => {
      if (!d.iface.Connected || !d.present) return;
      for (const [p, i] of this.gattFor.get(d)?.() ?? []) this.add(p, i);
      d.iface.set({ ServicesResolved: true });
      this.emit("resolved", d.bms.address);
    });
  }

  private linkDown(d: MockDevice): void {
    d.notifySessions.clear();
    for (const p of [...this.objects.keys()]) if (p.startsWith(d.path + "/")) this.remove(p);
    if (d.iface.ServicesResolved) d.iface.set({ ServicesResolved: false });
    if (d.iface.Connected) d.iface.set({ Connected: false });
  }

  /** The device drops off the air: link down, then its object is removed. */
  vanish(address: string): void {
    const d = this.device(address);
    this.linkDown(d);
    if (d.present) this.remove(d.path);
    d.present = false;
    this.emit("vanish", d.bms.address);
  }

  private startDiscovery(): void {
    this.discovery.starts += 1;
    this.discovery.active = true;
    setImmediate(() => {
      if (!this.discovery.active) return;
      for (const d of this.devices.values()) if (!d.faults.neverAppears && !d.bms.out_of_range) this.appear(d);
    });
  }

  private stopDiscovery(): void {
    if (!this.discovery.active) throw new dbus.DBusError("org.bluez.Error.Failed", "No discovery started");
    this.discovery.stops += 1;
    this.discovery.active = false;
  }

  /** Paths of a device's Daly characteristics (while connected). */
  chars(address: string): { notify: string; write: string } {
    const d = this.device(address);
    return { notify: `${d.path}/service000c/char000d`, write: `${d.path}/service000c/char0010` };
  }

  /** Disconnects the mock's bus and kills the daemon. */
  async stop(): Promise<void> {
    this.bus.disconnect();
    await this.daemon.stop();
  }
}

function ifaceName(i: MockIface): string {
  return (i as unknown as { $name: string }).$name;
}
