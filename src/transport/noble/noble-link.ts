/** One open GATT link to a Daly module through noble: the BleLink the poller uses. */
import type { BleLink } from "../link.js";
import type { CharacteristicLike, PeripheralLike } from "./noble-types.js";
import { linkLost } from "../errors.js";
import { LinkEvents } from "../link-events.js";
import { releasePeripheral, step } from "./guard.js";

export class NobleLink implements BleLink {
  private readonly ev = new LinkEvents();
  private readonly onNoble = (data: Buffer): void => this.ev.emitData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  private readonly onDisconnect = (reason: number): void => this.lost(linkLost(`disconnected (reason 0x${reason.toString(16)})`));
  /** Write Command (no response) where allowed: the official app and Bulltron packs need it (§4.2). */
  private readonly withoutResponse: boolean;

  constructor(
    readonly address: string,
    private readonly p: PeripheralLike,
    private readonly notify: CharacteristicLike,
    private readonly tx: CharacteristicLike,
    private readonly timeoutMs: number,
    private readonly onGone: (l: NobleLink) => void,
  ) {
    this.withoutResponse = tx.properties.includes("writeWithoutResponse");
    notify.on("data", this.onNoble);
    p.once("disconnect", this.onDisconnect);
  }

  get isOpen(): boolean {
    return this.ev.open && this.p.state === "connected";
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.isOpen) throw linkLost("write on a closed link");
    await step<void>(this.p, "write", this.timeoutMs, (done) => this.tx.write(Buffer.from(bytes), this.withoutResponse, (err) => done(err)));
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.ev.onData(listener);
  }

  onClose(listener: (reason: Error) => void): () => void {
    return this.ev.onClose(listener);
  }

  private lost(err: Error): void {
    if (!this.ev.open) return;
    this.detach();
    this.ev.end(err);
  }

  private detach(): void {
    this.notify.removeListener("data", this.onNoble);
    this.p.removeListener("disconnect", this.onDisconnect);
    this.onGone(this);
  }

  async close(): Promise<void> {
    if (!this.ev.open) return;
    this.lost(linkLost("closed by the bridge"));
    // remove every listener noble objects still hold (§5 listener leaks), then release the link
    this.notify.removeAllListeners("data");
    await releasePeripheral(this.p, this.timeoutMs);
    this.p.removeAllListeners("connect");
  }
}
