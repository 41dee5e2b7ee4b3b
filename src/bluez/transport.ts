/**
 * BleTransport on BlueZ over D-Bus (dbus-next): shares the adapter with bluetoothd and Home
 * Assistant instead of taking the HCI socket (home-assistant.md §3.6/3.7, ble-noble.md §4.4).
 * One scan/connect at a time per adapter; every D-Bus call bounded; a stale connection left by an
 * earlier run is dropped before connecting; a failed open leaves no connection and no handler.
 */
import type { Advert, BleLink, BleTransport, LinkTarget } from "../ble/link.js";
import { notFound, TransportError } from "../ble/errors.js";
import { BluezBus, type BusOptions } from "./bus.js";
import { DeviceWatch } from "./device-watch.js";
import { dbusName } from "./errors.js";
import { abortPromise } from "./abort.js";
import { discover, withDiscovery } from "./discovery.js";
import { BluezLink } from "./link.js";
import { adapterByAddress, checkAdapter, findDevice, findGatt, type DeviceObject } from "./objects.js";
import { DEVICE1, GATT_CHAR1, OBJECT_MANAGER, type ObjectTree, treeOf } from "./values.js";

export interface BluezTransportOptions extends BusOptions {
  /** BlueZ adapter name (default "hci0"), or the adapter's address (looked up in BlueZ's objects). */
  adapter?: string;
  /** Discovery of a device BlueZ does not know yet (default 15 s). */
  scanTimeoutMs?: number;
  /** Device1.Connect (default 20 s; BlueZ guidance is at least 10 s). */
  connectTimeoutMs?: number;
  /** Every other D-Bus call, services resolution, StartNotify and writes (default 5 s). */
  gattTimeoutMs?: number;
  kind?: string;
}

export class BluezTransport implements BleTransport {
  readonly kind: string;
  readonly adapter: string;
  /** The adapter's BlueZ name (`adapter`, or the one found by its address). */
  private name: string | undefined;
  private readonly bus: BluezBus;
  private readonly links = new Set<BluezLink>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly t: { scan: number; connect: number; gatt: number };
  /** Stale connections dropped before connecting (for logs and tests). */
  staleDisconnects = 0;

  constructor(opts: BluezTransportOptions = {}) {
    this.kind = opts.kind ?? "bluez";
    this.adapter = opts.adapter ?? "hci0";
    if (!/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(this.adapter)) this.name = this.adapter;
    this.t = { scan: opts.scanTimeoutMs ?? 15_000, connect: opts.connectTimeoutMs ?? 20_000, gatt: opts.gattTimeoutMs ?? 5_000 };
    const busOpts: BusOptions = {};
    if (opts.bus) busOpts.bus = opts.bus;
    if (opts.busAddress) busOpts.busAddress = opts.busAddress;
    this.bus = new BluezBus(busOpts); // no connection until the first scan/open
    this.bus.onLost((e) => {
      for (const l of [...this.links]) l.fail(e);
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async tree(): Promise<ObjectTree> {
    const body = await this.bus.call({ path: "/", iface: OBJECT_MANAGER, member: "GetManagedObjects", step: "GetManagedObjects", fallback: "adapter" }, this.t.gatt);
    return treeOf(body);
  }

  /** Checks the adapter (finding it by address first when configured so) and returns its name. */
  private adapterIn(tree: ObjectTree): string {
    this.name ??= adapterByAddress(tree, this.adapter);
    checkAdapter(tree, this.name);
    return this.name;
  }

  private ctx(signal?: AbortSignal): Parameters<typeof discover>[0] {
    return { bus: this.bus, adapter: this.name ?? this.adapter, gattMs: this.t.gatt, tree: () => this.tree(), ...(signal ? { signal } : {}) };
  }

  scan(seconds: number, signal?: AbortSignal): Promise<Advert[]> {
    return this.exclusive(async () => {
      this.adapterIn(await this.tree());
      return withDiscovery(this.ctx(signal), seconds * 1000);
    });
  }

  open(target: LinkTarget, signal?: AbortSignal): Promise<BleLink> {
    return this.exclusive(async () => {
      if (signal?.aborted) throw new TransportError("aborted", "timeout");
      const tree = await this.tree();
      const adapter = this.adapterIn(tree);
      let dev = findDevice(tree, adapter, target.address);
      if (!dev) {
        dev = await discover(this.ctx(signal), target.address, this.t.scan);
        if (!dev) throw notFound(target.address, this.t.scan / 1000);
      }
      return this.connect(target.address, dev, signal);
    });
  }

  private device(dev: DeviceObject, member: string, ms: number, extra?: Promise<never>): Promise<unknown[]> {
    return this.bus.call({ path: dev.path, iface: DEVICE1, member, step: member === "Connect" ? "connect" : member.toLowerCase(), fallback: member === "Connect" ? "not-found" : "link-lost" }, ms, extra);
  }

  private async connect(address: string, dev: DeviceObject, signal?: AbortSignal): Promise<BluezLink> {
    const watch = await DeviceWatch.start(this.bus, dev.path, dev.props, this.t.gatt);
    const aborted = abortPromise(signal);
    let connectCalled = false;
    try {
      if (watch.connected) {
        // a link left by an earlier run (or crash): BlueZ would hand it over half-set-up
        this.staleDisconnects += 1;
        await this.device(dev, "Disconnect", this.t.gatt, aborted.promise).catch((e: unknown) => {
          if (dbusName(e) !== "org.bluez.Error.NotConnected") throw e;
          watch.connected = false; // it went away on its own meanwhile
        });
        await watch.until(() => !watch.connected, this.t.gatt, "stale disconnect", aborted.promise);
      }
      connectCalled = true;
      await this.device(dev, "Connect", this.t.connect, Promise.race([watch.gone, aborted.promise]));
      watch.arm();
      await watch.until(() => watch.servicesResolved, this.t.connect, "GATT services resolution", aborted.promise);
      const layouts = findGatt(await this.tree(), dev.path);
      if (layouts.length === 0) throw new TransportError(`no Daly GATT service (fff0/fff1/fff2 or ff00/ff01/ff02) on ${address}`, "gatt-missing");
      let lastError: unknown;
      for (const gatt of layouts) {
        try {
          await this.bus.call({ path: gatt.notify, iface: GATT_CHAR1, member: "StartNotify", step: "StartNotify", fallback: "gatt-missing" }, this.t.gatt, Promise.race([watch.gone, aborted.promise]));
        } catch (e) {
          lastError = e; // NotPermitted "Notify acquired" on fff1: batmon-ha#356 falls back to ff01
          if (e instanceof TransportError && e.kind === "gatt-missing") continue;
          throw e;
        }
        if (watch.lost) throw watch.lost; // dropped in the same read as the StartNotify reply
        const link = new BluezLink(address, this.bus, watch, gatt, this.t.gatt, (l) => this.links.delete(l));
        this.links.add(link);
        return link;
      }
      throw lastError;
    } catch (e) {
      watch.dispose();
      // cancels a Connect still pending in BlueZ, or drops a connection we cannot use
      if (connectCalled && !watch.removed) await this.device(dev, "Disconnect", this.t.gatt).catch(() => undefined);
      throw e;
    } finally {
      aborted.dispose();
    }
  }

  /** Open links and signal subscriptions: all return to zero when every link is closed. */
  diagnostics(): { openLinks: number; signalHandlers: number; matchRules: number } {
    return { openLinks: this.links.size, ...this.bus.diagnostics() };
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.links].map((l) => l.close()));
    await this.queue;
    await this.bus.close();
  }
}

