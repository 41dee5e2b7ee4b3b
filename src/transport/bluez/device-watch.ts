/**
 * Signals of one BlueZ device, from before Connect until the link is closed: Device1
 * Connected/ServicesResolved (latched, so a change that arrives before anyone waits is not lost),
 * notification Values of its characteristics, and its removal (InterfacesRemoved). Owns its two
 * match rules; `dispose()` removes them.
 */
import { bounded, linkLost } from "../errors.js";
import type { BluezBus } from "./bus.js";
import { bool, bytes, DEVICE1, GATT_CHAR1, OBJECT_MANAGER, PROPERTIES, propsOf, type Props, under } from "./values.js";

export class DeviceWatch {
  connected: boolean;
  servicesResolved: boolean;
  /** Rejects (link-lost) when the device disappears, or disconnects once `arm()` was called. */
  readonly gone: Promise<never>;
  private reject: (e: Error) => void = () => undefined;
  private lostError: Error | undefined;
  private armed = false;
  /** The device object was removed from BlueZ (nothing left to disconnect). */
  removed = false;
  private offs: Array<() => void> = [];
  private readonly waiters = new Set<() => void>();
  private readonly values = new Map<string, (chunk: Uint8Array) => void>();
  private readonly lostListeners = new Set<(e: Error) => void>();

  private constructor(
    readonly path: string,
    props: Props,
  ) {
    this.connected = bool(props, "Connected") === true;
    this.servicesResolved = bool(props, "ServicesResolved") === true;
    this.gone = new Promise<never>((_, reject) => (this.reject = reject));
    this.gone.catch(() => undefined); // observed through the races and lostListeners
  }

  /** Subscribes before anything is asked of the device, so no change can slip by. */
  static async start(bus: BluezBus, path: string, props: Props, ms: number): Promise<DeviceWatch> {
    const w = new DeviceWatch(path, props);
    try {
      w.offs.push(await bus.subscribe({ iface: PROPERTIES, member: "PropertiesChanged", pathNamespace: path }, (p, b) => w.onProps(p, b), ms));
      w.offs.push(await bus.subscribe({ iface: OBJECT_MANAGER, member: "InterfacesRemoved", path: "/" }, (_p, b) => w.onRemoved(b), ms));
    } catch (e) {
      w.dispose();
      throw e;
    }
    return w;
  }

  get lost(): Error | undefined {
    return this.lostError;
  }

  /**
   * Connect succeeded: from now on Connected → false is a lost link. (BlueZ sends Connected=true
   * before the Connect reply; a success reply is proof enough either way.)
   */
  arm(): void {
    this.armed = true;
    this.connected = true;
  }

  /** Notification Values of `charPath` go to `fn` (one listener per characteristic). */
  onValue(charPath: string, fn: (chunk: Uint8Array) => void): void {
    this.values.set(charPath, fn);
  }

  onLost(fn: (e: Error) => void): () => boolean {
    this.lostListeners.add(fn);
    return () => this.lostListeners.delete(fn);
  }

  /** Resolves when `pred()` holds, re-checked on every Device1 change; bounded, raced with `gone`. */
  async until(pred: () => boolean, ms: number, step: string, extra?: Promise<never>): Promise<void> {
    if (pred()) return;
    let wake: () => void = () => undefined;
    const p = new Promise<void>((resolve) => {
      wake = () => {
        if (pred()) resolve();
      };
      this.waiters.add(wake);
    });
    try {
      await bounded(Promise.race([p, this.gone]), ms, step, extra);
    } finally {
      this.waiters.delete(wake);
    }
  }

  private onProps(path: string, body: readonly unknown[]): void {
    const iface = body[0];
    const changed = propsOf(body[1]);
    if (path === this.path && iface === DEVICE1) {
      const c = bool(changed, "Connected");
      const r = bool(changed, "ServicesResolved");
      if (c !== undefined) this.connected = c;
      if (r !== undefined) this.servicesResolved = r;
      if (c === false) this.servicesResolved = false;
      for (const w of [...this.waiters]) w();
      if (c === false && this.armed) this.lose(linkLost("device disconnected"));
    } else if (iface === GATT_CHAR1 && changed.has("Value")) {
      const chunk = bytes(changed.get("Value"));
      const fn = this.values.get(path);
      if (chunk && fn) fn(chunk);
    }
  }

  private onRemoved(body: readonly unknown[]): void {
    const path = body[0];
    const ifaces = body[1];
    if (typeof path !== "string" || !Array.isArray(ifaces)) return;
    if (path === this.path && ifaces.includes(DEVICE1)) {
      this.removed = true;
      this.connected = false;
      this.lose(linkLost("device removed from BlueZ (out of range or adapter reset)"));
    } else if (under(path, this.path) && this.values.has(path)) this.lose(linkLost("notify characteristic removed (GATT database changed)"));
  }

  lose(e: Error): void {
    if (this.lostError) return;
    this.lostError = e;
    this.reject(e);
    for (const l of [...this.lostListeners]) l(e);
    this.lostListeners.clear();
  }

  dispose(): void {
    for (const off of this.offs.splice(0)) off();
    this.values.clear();
    this.waiters.clear();
    this.lostListeners.clear();
  }
}
