/** One open GATT link to a Daly module through BlueZ: the BleLink the poller uses. */
import type { BleLink } from "../link.js";
import { busy, linkLost } from "../errors.js";
import { acquired } from "./errors.js";
import { LinkEvents } from "../link-events.js";
import type { BluezBus } from "./bus.js";
import type { DeviceWatch } from "./device-watch.js";
import type { GattPaths } from "./objects.js";
import { DEVICE1, GATT_CHAR1 } from "./values.js";
import dbus from "dbus-next";

export class BluezLink implements BleLink {
  private closing: Promise<void> | undefined;
  private readonly ev = new LinkEvents();

  constructor(
    readonly address: string,
    private readonly bus: BluezBus,
    private readonly watch: DeviceWatch,
    private readonly gatt: GattPaths,
    private readonly timeoutMs: number,
    /** True when our Connect() opened the link; false for a link found open (never disconnected by us). */
    readonly opened: boolean,
    private readonly onGone: (l: BluezLink) => void,
  ) {
    watch.onValue(gatt.notify, (chunk) => this.ev.emitData(chunk));
    watch.onLost((e) => this.lost(e));
  }

  get isOpen(): boolean {
    return this.ev.open && this.watch.connected;
  }

  /** The characteristic layout in use and the write type (for logs). */
  get layout(): GattPaths {
    return this.gatt;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.isOpen) throw linkLost("write on a closed link");
    const options = { type: new dbus.Variant("s", this.gatt.writeType) };
    // a per-write listener, not a race on the link-long `gone` promise (whose reactions would pile up)
    let off = (): boolean => false;
    const lost = new Promise<never>((_, reject) => (off = this.watch.onLost(reject)));
    lost.catch(() => undefined);
    try {
      await this.bus.call(
        { path: this.gatt.write, iface: GATT_CHAR1, member: "WriteValue", signature: "aya{sv}", body: [Buffer.from(bytes), options], step: "write", fallback: "link-lost" },
        this.timeoutMs,
        lost,
      );
    } catch (e) {
      if (acquired(e)) throw busy(`${this.address}'s write characteristic is acquired by another D-Bus client (AcquireWrite)`);
      throw e;
    } finally {
      off();
    }
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.ev.onData(listener);
  }

  onClose(listener: (reason: Error) => void): () => void {
    return this.ev.onClose(listener);
  }

  /** The bus connection under the link failed. */
  fail(err: Error): void {
    this.lost(err);
  }

  /** Link lost or closed: listeners fire once, every signal handler of this link is removed. */
  private lost(err: Error): void {
    if (!this.ev.open) return;
    this.watch.lose(err);
    this.watch.dispose();
    this.onGone(this);
    this.ev.end(err);
  }

  /**
   * StopNotify (ends our notify session only: BlueZ keeps other clients'), and Disconnect when we
   * opened the link; each bounded, errors ignored (the device may be gone).
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const wasConnected = this.watch.connected && !this.watch.lost;
      this.lost(linkLost("closed by the bridge"));
      const ignore = (): undefined => undefined;
      if (wasConnected) {
        await this.bus.call({ path: this.gatt.notify, iface: GATT_CHAR1, member: "StopNotify", step: "StopNotify", fallback: "link-lost" }, this.timeoutMs).catch(ignore);
      }
      if (!this.opened) return; // someone else's link: leave it connected
      await this.bus.call({ path: this.watch.path, iface: DEVICE1, member: "Disconnect", step: "disconnect", fallback: "link-lost" }, this.timeoutMs).catch(ignore);
    })();
    return this.closing;
  }
}
