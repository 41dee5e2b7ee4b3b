/**
 * BleTransport on @abandonware/noble 1.9.2-26 (ble-noble.md §5 "recommended wrapper shape"):
 * one operation at a time per adapter; scan (by address) before every connect, because 1.x cannot
 * connect to an id it has not discovered in this process (H6a); every step bounded and raced against
 * disconnect; cancel + grace period after a hung connect, and an orphan link that completes late is
 * disconnected (H2b); characteristics re-discovered on every connect (H9); `disconnect` only when
 * connected (H7/H8); a watchdog recreates the noble instance after repeated stuck operations.
 */
import { GATT_LAYOUTS } from "../../daly/constants.js";
import type { Advert, BleLink, BleTransport, LinkTarget } from "../link.js";
import { loadNoble, shutdown } from "./noble-loader.js";
import type { CharacteristicLike, HciSocketLike, NobleLike, PeripheralLike } from "./noble-types.js";
import { busy, notFound, TransportError } from "../errors.js";
import { releasePeripheral, step } from "./guard.js";
import { NobleLink } from "./noble-link.js";

export interface NobleTransportOptions {
  /** Virtual controller socket (simulator); absent = the real adapter. */
  socketFactory?: () => HciSocketLike;
  hciDeviceId?: number;
  userChannel?: boolean;
  scanTimeoutMs: number;
  connectTimeoutMs: number;
  /** Discovery, subscribe and write steps. */
  gattTimeoutMs: number;
  /** Wait after cancelling a hung connect before the adapter is used again (H2b). */
  cancelGraceMs?: number;
  /** Recreate the noble instance after this many consecutive stuck operations. */
  watchdogAfter?: number;
  kind?: string;
}

export class NobleTransport implements BleTransport {
  readonly kind: string;
  private noble: NobleLike | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stuck = 0;
  private readonly links = new Set<NobleLink>();
  /** Number of times the watchdog recreated noble (for logs and tests). */
  restarts = 0;
  /** Every peripheral object this instance touched, for the listener-leak diagnostics. */
  private readonly touched = new Set<PeripheralLike>();

  constructor(private readonly opts: NobleTransportOptions) {
    this.kind = opts.kind ?? "noble";
  }

  /** Serialises adapter operations: one scan/connect in flight per adapter. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async adapter(): Promise<NobleLike> {
    if (!this.noble) {
      const loadOpts: Parameters<typeof loadNoble>[0] = {};
      if (this.opts.socketFactory) loadOpts.socketFactory = this.opts.socketFactory;
      if (this.opts.hciDeviceId !== undefined) loadOpts.deviceId = this.opts.hciDeviceId;
      if (this.opts.userChannel !== undefined) loadOpts.userChannel = this.opts.userChannel;
      this.noble = loadNoble(loadOpts); // throws "no Bluetooth adapter hciN: …" without hardware
    }
    const noble = this.noble;
    if (noble.state === "poweredOn") return noble;
    await step<void>(undefined, "adapter power-on", this.opts.gattTimeoutMs * 2, (done) => {
      const on = (s: string): void => {
        if (s === "poweredOn") {
          noble.removeListener("stateChange", on);
          done(null);
        } else if (s === "unsupported" || s === "unauthorized") {
          noble.removeListener("stateChange", on);
          done(new TransportError(`Bluetooth adapter ${s}`, "adapter"));
        }
      };
      noble.on("stateChange", on);
      if (noble.state === "poweredOn") on("poweredOn");
    }).catch((e: unknown) => {
      throw e instanceof TransportError ? e : new TransportError(`Bluetooth adapter did not power on: ${String(e)}`, "adapter");
    });
    return noble;
  }

  scan(seconds: number): Promise<Advert[]> {
    return this.exclusive(async () => {
      const noble = await this.adapter();
      const found = new Map<string, Advert>();
      const onDiscover = (p: PeripheralLike): void => {
        const name = p.advertisement.localName;
        const uuids = p.advertisement.serviceUuids ?? [];
        const daly = uuids.includes("fff0") || uuids.includes("ff00") || /^(DL-|JHB-)/.test(name ?? "");
        if (!daly) return;
        const prev = found.get(p.address);
        found.set(p.address, { address: p.address.toUpperCase(), name: name ?? prev?.name, rssi: p.rssi, serviceUuids: uuids } as Advert);
      };
      noble.on("discover", onDiscover);
      try {
        noble.startScanning([], true);
        await new Promise((r) => setTimeout(r, seconds * 1000));
      } finally {
        noble.removeListener("discover", onDiscover);
        noble.stopScanning();
      }
      return [...found.values()];
    });
  }

  open(target: LinkTarget, signal?: AbortSignal): Promise<BleLink> {
    return this.exclusive(async () => {
      if (signal?.aborted) throw new TransportError("aborted", "timeout");
      try {
        const link = await this.connect(target);
        this.stuck = 0;
        return link;
      } catch (e) {
        if (e instanceof TransportError && e.kind === "timeout") await this.onStuck();
        throw e;
      }
    });
  }

  private async find(noble: NobleLike, address: string): Promise<PeripheralLike> {
    const want = address.toLowerCase();
    try {
      return await step<PeripheralLike>(undefined, "scan", this.opts.scanTimeoutMs, (done) => {
        const onDiscover = (p: PeripheralLike): void => {
          if (p.address.toLowerCase() !== want) return;
          noble.removeListener("discover", onDiscover);
          done(null, p);
        };
        noble.on("discover", onDiscover);
        // listener first, then scan (H6a); duplicates allowed so a cached device is reported again
        noble.startScanning([], true);
        setTimeout(() => noble.removeListener("discover", onDiscover), this.opts.scanTimeoutMs + 10).unref();
      });
    } catch (e) {
      if (e instanceof TransportError && e.kind === "timeout") throw notFound(address, this.opts.scanTimeoutMs / 1000);
      throw e;
    } finally {
      noble.stopScanning(); // controllers cannot scan while initiating (§5 "Command Disallowed")
    }
  }

  private async connect(target: LinkTarget): Promise<NobleLink> {
    const noble = await this.adapter();
    const p = await this.find(noble, target.address);
    this.touched.add(p);
    try {
      await step<void>(p, "connect", this.opts.connectTimeoutMs, (done) => p.connect((err) => done(err)));
    } catch (e) {
      await this.cancel(p);
      // HCI 0x0B: this controller already has a link to it, made by another host on the adapter
      // (bluetoothd for Home Assistant); noble cannot share it. Anything else noble cannot tell
      // apart from out of range (a module held by a phone stops advertising).
      if (e instanceof Error && /\(0xb\)$/.test(e.message)) {
        throw busy(`the adapter already has a connection to ${target.address} (HCI 0x0B ACL Connection Already Exists), made by another program on it such as bluetoothd / Home Assistant; noble cannot share it (transport bluez can)`);
      }
      throw e;
    }
    try {
      const { notify, write } = await this.discover(p);
      await step<void>(p, "subscribe", this.opts.gattTimeoutMs, (done) => notify.subscribe((err) => done(err)));
      const link = new NobleLink(target.address, p, notify, write, this.opts.gattTimeoutMs, (l) => this.links.delete(l));
      this.links.add(link);
      return link;
    } catch (e) {
      await releasePeripheral(p, this.opts.gattTimeoutMs);
      throw e;
    }
  }

  private async discover(p: PeripheralLike): Promise<{ notify: CharacteristicLike; write: CharacteristicLike }> {
    // all services: noble fails the whole call when one requested service is missing, and a module
    // has either fff0 or ff00 (§4.2)
    let chars: CharacteristicLike[];
    try {
      chars = await step<CharacteristicLike[]>(p, "discover GATT", this.opts.gattTimeoutMs, (done) =>
        p.discoverSomeServicesAndCharacteristics([], [], (err, _s, c) => done(err ? new Error(String(err)) : null, c ?? [])),
      );
    } finally {
      dropStaleDiscovery(p);
    }
    for (const l of GATT_LAYOUTS) {
      const notify = chars.find((c) => c.uuid === l.notify);
      const write = chars.find((c) => c.uuid === l.write);
      if (notify && write) return { notify, write };
    }
    throw new TransportError(`no Daly GATT service (fff0/fff1/fff2 or ff00/ff01/ff02) on ${p.address}`, "gatt-missing");
  }

  /** H2/H2b: cancel a hung connect, wait for the controller's late answer, drop an orphan link. */
  private async cancel(p: PeripheralLike): Promise<void> {
    const grace = this.opts.cancelGraceMs ?? 1000;
    if (p.state === "connecting") {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, grace);
        function finish(): void {
          clearTimeout(timer);
          p.removeListener("connect", onConnect);
          resolve();
        }
        const onConnect = (err: Error | null): void => {
          if (!err) return; // a late success is handled below
          finish();
        };
        p.on("connect", onConnect);
        p.cancelConnect();
      });
    }
    if (p.state === "connected") await releasePeripheral(p, this.opts.gattTimeoutMs);
    p.removeAllListeners("connect");
  }

  private async onStuck(): Promise<void> {
    this.stuck += 1;
    if (this.stuck < (this.opts.watchdogAfter ?? 3) || !this.noble) return;
    // the connect queue or GATT queue of this noble instance may be wedged for good (H5, H6a)
    const old = this.noble;
    this.noble = undefined;
    this.touched.clear();
    this.stuck = 0;
    this.restarts += 1;
    await shutdown(old).catch(() => undefined);
  }

  /**
   * Listener counts on noble's objects (noble leaks one per hung operation, ble-noble.md §5): the
   * soak and the tests check that they stay flat.
   */
  diagnostics(): { nobleListeners: number; peripheralListeners: number; openLinks: number } {
    const n = this.noble;
    const nobleListeners = n ? n.listenerCount("discover") + n.listenerCount("stateChange") : 0;
    let peripheralListeners = 0;
    for (const p of this.touched) peripheralListeners += p.listenerCount("connect") + p.listenerCount("disconnect") + p.listenerCount("servicesDiscover");
    return { nobleListeners, peripheralListeners, openLinks: this.links.size };
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.links].map((l) => l.close()));
    const n = this.noble;
    this.noble = undefined;
    if (n) await shutdown(n).catch(() => undefined);
  }
}

/**
 * H5 recovery. noble 1.9.2-26 `discoverSomeServicesAndCharacteristics` is `peripheral.once(
 * 'servicesDiscover', …)` followed by a per-service `service.once('characteristicsDiscover', …)`
 * (lib/peripheral.js, lib/service.js). When a GATT step stalls (gatt.js drops an ATT error 0x04
 * without completing `_currentCommand`, so the Read By Group Type request is never even sent),
 * that `servicesDiscover` listener stays on the Peripheral object, and noble reuses the same
 * Peripheral object for every later connection to that address (noble._peripherals). On the next
 * connection the first `servicesDiscover` then runs the stale callback too: it starts a second
 * characteristic discovery whose `characteristicsDiscover` answer makes noble.onCharacteristicsDiscover
 * replace the Characteristic objects in noble._characteristics — after our discovery has returned
 * the first set. noble.onNotify / onRead look characteristics up in that map, so the `notify` (and
 * every later `data`) event goes to objects we never saw: "subscribe timed out" on the first
 * connection after the stall, success on the second (the stale listener was consumed). Seen with
 * the virtual controller: ATT opcodes on that connection were MTU, 2 × Read By Group Type, 5 × Read
 * By Type (characteristic discovery twice, then the CCCD lookup) and the CCCD write, which the
 * module acknowledged; with this fix, 3 × Read By Type.
 * Nothing at the HCI level survives (hci.js drops the handle's ACL queue on Disconnection
 * Complete; bindings.js creates a fresh Gatt and AclStream per link; the simulator's ATT server
 * and CCCD are per link), and the bridge is the only caller of discovery on its noble instance,
 * so removing every `servicesDiscover` listener once our own discovery step has settled (success:
 * already consumed; timeout or link loss: stale) is exact.
 */
function dropStaleDiscovery(p: PeripheralLike): void {
  p.removeAllListeners("servicesDiscover");
}
