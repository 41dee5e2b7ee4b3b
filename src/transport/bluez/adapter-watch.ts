/**
 * The adapter's lifecycle as seen on the bus: who owns `org.bluez` (NameOwnerChanged: bluetoothd
 * stopped, crashed or restarted), the adapter object coming and going (InterfacesAdded/Removed of
 * org.bluez.Adapter1: unplugged, replugged, a controller reset) and its Powered property. The
 * adapter is named (hci1) or chosen by address (00:1A:7D:DA:71:13), and is found again by the same
 * spec after every change (a replugged dongle may come back under another hciN). Reports changes
 * only: one `down` with the reason while it is gone, one `up` when it is usable again.
 */
import { TransportError } from "../errors.js";
import type { AdapterStatus } from "../link.js";
import type { BluezBus } from "./bus.js";
import { NO_BLUEZ } from "./errors.js";
import { adapterMatches } from "./objects.js";
import { ADAPTER1, bool, BLUEZ, interfacesOf, OBJECT_MANAGER, PROPERTIES, propsOf, type ObjectTree } from "./values.js";

export type { AdapterStatus };

const DBUS_DAEMON = { sender: "org.freedesktop.DBus", iface: "org.freedesktop.DBus", member: "NameOwnerChanged", path: "/org/freedesktop/DBus", arg0: BLUEZ } as const;

export class AdapterWatch {
  private offs: Array<() => void> = [];
  private starting: Promise<void> | undefined;
  /** Undefined until the first check. */
  private state: boolean | undefined;
  /** Object path of the adapter while it exists. */
  private path: string | undefined;
  private readonly listeners = new Set<(s: AdapterStatus) => void>();

  constructor(
    private readonly bus: BluezBus,
    /** "hci1" or "00:1A:7D:DA:71:13". */
    readonly spec: string,
    private readonly ms: number,
    private readonly tree: () => Promise<ObjectTree>,
  ) {}

  get up(): boolean | undefined {
    return this.state;
  }

  /** Signal subscriptions held (reported apart from the links' in diagnostics). */
  get subscriptions(): number {
    return this.offs.length;
  }

  on(fn: (s: AdapterStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Subscribes (once per bus connection) and checks the adapter; throws only when D-Bus is unreachable. */
  start(): Promise<void> {
    this.starting ??= this.subscribe().catch((e: unknown) => {
      for (const off of this.offs.splice(0)) off();
      this.starting = undefined;
      throw e;
    });
    return this.starting;
  }

  private async subscribe(): Promise<void> {
    this.offs.push(await this.bus.subscribe(DBUS_DAEMON, (_p, b) => this.onOwner(b), this.ms));
    this.offs.push(await this.bus.subscribe({ iface: OBJECT_MANAGER, member: "InterfacesAdded", path: "/" }, (_p, b) => this.onAdded(b), this.ms));
    this.offs.push(await this.bus.subscribe({ iface: OBJECT_MANAGER, member: "InterfacesRemoved", path: "/" }, (_p, b) => this.onRemoved(b), this.ms));
    this.offs.push(await this.bus.subscribe({ iface: PROPERTIES, member: "PropertiesChanged", pathNamespace: "/org/bluez", arg0: ADAPTER1 }, (p, b) => this.onProps(p, b), this.ms));
    await this.check();
  }

  /** The bus connection was lost: its subscriptions went with it; the next start() makes new ones. */
  reset(): void {
    this.offs = [];
    this.starting = undefined;
  }

  /** Looks the adapter up in BlueZ's object tree and reports what it finds. */
  async check(): Promise<void> {
    let tree: ObjectTree;
    try {
      tree = await this.tree();
    } catch (e) {
      if (e instanceof TransportError && e.message === NO_BLUEZ) this.set(false, "bluetoothd is not running (org.bluez is not on the D-Bus bus)");
      return; // anything else: the next poll's own error says it
    }
    for (const [path, ifaces] of tree) {
      const props = ifaces.get(ADAPTER1);
      if (!props || !adapterMatches(path, props, this.spec)) continue;
      this.path = path;
      if (bool(props, "Powered") === false) this.set(false, `Bluetooth adapter ${this.spec} is powered off`);
      else this.set(true, `Bluetooth adapter ${this.spec} is back (${path})`);
      return;
    }
    this.path = undefined;
    this.set(false, `Bluetooth adapter ${this.spec} not found in BlueZ`);
  }

  private onOwner(body: readonly unknown[]): void {
    const owner = body[2];
    if (typeof owner !== "string") return;
    this.path = undefined;
    if (owner === "") {
      this.set(false, "bluetoothd stopped (org.bluez left the D-Bus bus)");
      return;
    }
    // restarted: its adapter is exported now or soon (InterfacesAdded); cached objects are gone
    this.set(false, "bluetoothd restarted (org.bluez has a new owner)");
    void this.check();
  }

  private onAdded(body: readonly unknown[]): void {
    const path = body[0];
    const props = interfacesOf(body[1]).get(ADAPTER1);
    if (typeof path !== "string" || !props || !adapterMatches(path, props, this.spec)) return;
    this.path = path;
    if (bool(props, "Powered") === false) this.set(false, `Bluetooth adapter ${this.spec} is powered off`);
    else this.set(true, `Bluetooth adapter ${this.spec} is back (${path})`);
  }

  private onRemoved(body: readonly unknown[]): void {
    const path = body[0];
    const ifaces = body[1];
    if (typeof path !== "string" || path !== this.path || !Array.isArray(ifaces) || !ifaces.includes(ADAPTER1)) return;
    this.path = undefined;
    this.set(false, `Bluetooth adapter ${this.spec} was removed (unplugged or reset)`);
  }

  private onProps(path: string, body: readonly unknown[]): void {
    if (path !== this.path) return;
    const powered = bool(propsOf(body[1]), "Powered");
    if (powered === false) this.set(false, `Bluetooth adapter ${this.spec} was powered off`);
    else if (powered === true) this.set(true, `Bluetooth adapter ${this.spec} is powered on again (${path})`);
  }

  private set(up: boolean, why: string): void {
    if (this.state === up) return;
    const first = this.state === undefined;
    this.state = up;
    if (first && up) return; // found at start: nothing changed
    for (const l of [...this.listeners]) l({ up, why });
  }

  dispose(): void {
    for (const off of this.offs.splice(0)) off();
    this.starting = undefined;
    this.listeners.clear();
  }
}
