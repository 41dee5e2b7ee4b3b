/** One open GATT link to a Daly module through noble: the BleLink the poller uses. */
import type { BleLink } from "./link.js";
import type { CharacteristicLike, PeripheralLike } from "./noble-loader.js";
import { linkLost } from "./errors.js";
import { releasePeripheral, step } from "./guard.js";

export class NobleLink implements BleLink {
  private open = true;
  private readonly closeListeners = new Set<(e: Error) => void>();
  private readonly dataListeners = new Set<(c: Uint8Array) => void>();
  private readonly onNoble = (data: Buffer): void => {
    for (const l of [...this.dataListeners]) l(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  };
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
    return this.open && this.p.state === "connected";
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.isOpen) throw linkLost("write on a closed link");
    await step<void>(this.p, "write", this.timeoutMs, (done) => this.tx.write(Buffer.from(bytes), this.withoutResponse, (err) => done(err)));
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  onClose(listener: (reason: Error) => void): () => void {
    if (!this.open) {
      queueMicrotask(() => listener(linkLost("already closed")));
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  private lost(err: Error): void {
    if (!this.open) return;
    this.open = false;
    this.detach();
    for (const l of [...this.closeListeners]) l(err);
    this.closeListeners.clear();
  }

  private detach(): void {
    this.notify.removeListener("data", this.onNoble);
    this.p.removeListener("disconnect", this.onDisconnect);
    this.onGone(this);
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.lost(linkLost("closed by the bridge"));
    // remove every listener noble objects still hold (§5 listener leaks), then release the link
    this.notify.removeAllListeners("data");
    await releasePeripheral(this.p, this.timeoutMs);
    this.p.removeAllListeners("connect");
  }
}
