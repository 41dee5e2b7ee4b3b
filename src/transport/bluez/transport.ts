/**
 * BleTransport on BlueZ over D-Bus (dbus-next): shares the adapter with bluetoothd and Home
 * Assistant instead of taking the HCI socket (home-assistant.md §3.6/3.7, ble-noble.md §4.4).
 * One scan/connect at a time per adapter; every D-Bus call bounded; a link another client opened is
 * used and left open (only links we opened are disconnected); a failed open leaves no connection
 * we made and no handler.
 */
import type { Advert, BleLink, BleTransport, LinkTarget } from "../link.js";
import { busy, notFound, TransportError } from "../errors.js";
import { BluezBus, type BusOptions } from "./bus.js";
import { DeviceWatch } from "./device-watch.js";
import { acquired, dbusName } from "./errors.js";
import { abortPromise } from "./abort.js";
import { discover, withDiscovery } from "./discovery.js";
import { BluezLink } from "./link.js";
import { findDevice, findGatt, resolveAdapter, type DeviceObject } from "./objects.js";
import { AdapterWatch, type AdapterStatus } from "./adapter-watch.js";
import { DEVICE1, GATT_CHAR1, OBJECT_MANAGER, type ObjectTree, treeOf } from "./values.js";

export interface BluezTransportOptions extends BusOptions {
  /** BlueZ adapter by name ("hci1") or by address ("00:1A:7D:DA:71:13"); default "hci0". */
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
  private readonly watch: AdapterWatch;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly t: { scan: number; connect: number; gatt: number };
  /** Links found open (connected by another D-Bus client) and used without Connect/Disconnect. */
  foundOpen = 0;

  constructor(opts: BluezTransportOptions = {}) {
    this.kind = opts.kind ?? "bluez";
    this.adapter = opts.adapter ?? "hci0";
    if (!/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(this.adapter)) this.name = this.adapter;
    this.t = { scan: opts.scanTimeoutMs ?? 15_000, connect: opts.connectTimeoutMs ?? 20_000, gatt: opts.gattTimeoutMs ?? 5_000 };
    const busOpts: BusOptions = {};
    if (opts.bus) busOpts.bus = opts.bus;
    if (opts.busAddress) busOpts.busAddress = opts.busAddress;
    this.bus = new BluezBus(busOpts); // no connection until the first scan/open
    this.watch = new AdapterWatch(this.bus, this.adapter, this.t.gatt, () => this.tree());
    this.bus.onLost((e) => {
      this.watch.reset();
      for (const l of [...this.links]) l.fail(e);
    });
    // bluetoothd gone, adapter removed or powered off: every link is gone with it, at once
    this.watch.on((s) => {
      if (s.up) return;
      const err = new TransportError(s.why, "adapter");
      for (const l of [...this.links]) l.fail(err);
    });
  }

  /**
   * Adapter lifecycle (bluetoothd restarts, adapter removed/re-added, powered off/on): called on
   * every change once the transport was first used; returns the unsubscribe function.
   */
  onAdapter(fn: (s: AdapterStatus) => void): () => void {
    return this.watch.on(fn);
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

  private ctx(adapter: string, signal?: AbortSignal): Parameters<typeof discover>[0] {
    return { bus: this.bus, adapter, gattMs: this.t.gatt, tree: () => this.tree(), ...(signal ? { signal } : {}) };
  }

  scan(seconds: number, signal?: AbortSignal): Promise<Advert[]> {
    return this.exclusive(async () => {
      await this.watch.start();
      const adapter = resolveAdapter(await this.tree(), this.adapter);
      return withDiscovery(this.ctx(adapter, signal), seconds * 1000);
    });
  }

  open(target: LinkTarget, signal?: AbortSignal): Promise<BleLink> {
    return this.exclusive(async () => {
      if (signal?.aborted) throw new TransportError("aborted", "timeout");
      await this.watch.start();
      const tree = await this.tree();
      const adapter = resolveAdapter(tree, this.adapter);
      let dev = findDevice(tree, adapter, target.address);
      if (!dev) {
        dev = await discover(this.ctx(adapter, signal), target.address, this.t.scan);
        if (!dev) throw notFound(target.address, this.t.scan / 1000);
      }
      return this.connect(target.address, dev, signal);
    });
  }

  private device(dev: DeviceObject, member: string, ms: number, extra?: Promise<never>): Promise<unknown[]> {
    return this.bus.call({ path: dev.path, iface: DEVICE1, member, step: member === "Connect" ? "connect" : member.toLowerCase(), fallback: member === "Connect" ? "not-found" : "link-lost" }, ms, extra);
  }

  /**
   * Opens a link. A device BlueZ already has connected (Connected=true before we call Connect) is
   * someone else's link — Home Assistant's, another integration's, or one an earlier run left: BlueZ
   * shares one LE connection between its D-Bus clients, so we use it with our own GATT objects and
   * our own notify session, and never disconnect it. Only a link our Connect() opened is ours to
   * Disconnect().
   */
  private async connect(address: string, dev: DeviceObject, signal?: AbortSignal): Promise<BluezLink> {
    const watch = await DeviceWatch.start(this.bus, dev.path, dev.props, this.t.gatt);
    const aborted = abortPromise(signal);
    let opened = false;
    try {
      if (watch.connected) this.foundOpen += 1;
      else {
        opened = true;
        await this.device(dev, "Connect", this.t.connect, Promise.race([watch.gone, aborted.promise])).catch((e: unknown) => {
          // another client connected it between our GetManagedObjects and our Connect: shared
          if (dbusName(e) !== "org.bluez.Error.AlreadyConnected") throw e;
          opened = false;
          this.foundOpen += 1;
        });
      }
      watch.arm();
      await watch.until(() => watch.servicesResolved, this.t.connect, opened ? "GATT services resolution" : "GATT services resolution (link found open)", aborted.promise);
      const layouts = findGatt(await this.tree(), dev.path);
      if (layouts.length === 0) throw new TransportError(`no Daly GATT service (fff0/fff1/fff2 or ff00/ff01/ff02) on ${address}`, "gatt-missing");
      let lastError: unknown;
      for (const gatt of layouts) {
        try {
          await this.bus.call({ path: gatt.notify, iface: GATT_CHAR1, member: "StartNotify", step: "StartNotify", fallback: "gatt-missing" }, this.t.gatt, Promise.race([watch.gone, aborted.promise]));
        } catch (e) {
          // NotPermitted "Notify acquired": another client holds the notify characteristic with
          // AcquireNotify (bleak's default); batmon-ha#356 falls back to ff01
          lastError = acquired(e) ? busy(`${address}'s notify characteristic ${gatt.layout === "fff0" ? "fff1" : "ff01"} is acquired by another D-Bus client (AcquireNotify)`) : e;
          if (e instanceof TransportError && e.kind === "gatt-missing") continue;
          throw e;
        }
        if (watch.lost) throw watch.lost; // dropped in the same read as the StartNotify reply
        const link = new BluezLink(address, this.bus, watch, gatt, this.t.gatt, opened, (l) => this.links.delete(l));
        this.links.add(link);
        return link;
      }
      throw lastError;
    } catch (e) {
      watch.dispose();
      // cancels a Connect still pending in BlueZ, or drops a connection we opened and cannot use;
      // a link we found open is left as it was
      if (opened && !watch.removed) await this.device(dev, "Disconnect", this.t.gatt).catch(() => undefined);
      throw e;
    } finally {
      aborted.dispose();
    }
  }

  /**
   * Open links and their signal subscriptions: all return to zero when every link is closed (the
   * adapter watch's own subscriptions, held for the transport's lifetime, are `lifecycle`).
   */
  diagnostics(): { openLinks: number; signalHandlers: number; matchRules: number } {
    const d = this.bus.diagnostics();
    const w = this.watch.subscriptions;
    return { openLinks: this.links.size, signalHandlers: d.signalHandlers - w, matchRules: d.matchRules - w };
  }

  /** The adapter watch's subscriptions (NameOwnerChanged, InterfacesAdded/Removed, Powered). */
  get lifecycleSubscriptions(): number {
    return this.watch.subscriptions;
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.links].map((l) => l.close()));
    await this.queue;
    this.watch.dispose();
    await this.bus.close();
  }
}


