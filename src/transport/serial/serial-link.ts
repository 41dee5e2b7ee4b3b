/**
 * One open serial port (USB–UART or USB–RS485 adapter) as the BleLink the poller uses. Bytes are
 * passed through untouched: the poller's assembler does framing and resync. Writes are serialised
 * and spaced at least `minGapMs` apart (daly-protocol.md §2.7.6: requests sent too fast are
 * dropped by the board). Every wait is bounded and raced against the port going away.
 */
import type { SerialPort } from "serialport";
import type { BleLink } from "../link.js";
import { LinkEvents } from "../link-events.js";
import { linkLost, timeoutError, TransportError } from "../errors.js";

export interface SerialLinkOptions {
  path: string;
  minGapMs: number;
  /** Bound for one write + drain, and for closing the port. */
  ioTimeoutMs: number;
}

const noop = (): void => undefined;

export class SerialLink implements BleLink {
  private readonly ev = new LinkEvents();
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private chain: Promise<void> = Promise.resolve();
  private released: Promise<void> = Promise.resolve();
  /** Pending waits (gap timer, write) woken with the loss reason when the port goes away. */
  private readonly waiters = new Set<(e: Error) => void>();

  private readonly onPortData = (chunk: Buffer): void => {
    this.ev.emitData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  };
  private readonly onPortClose = (err: Error | null): void =>
    this.lost(linkLost(err ? `serial port ${this.opts.path} disconnected (${err.message})` : `serial port ${this.opts.path} closed`));
  private readonly onPortError = (err: Error): void => this.lost(linkLost(`serial port ${this.opts.path}: ${err.message}`));

  constructor(
    readonly address: string,
    private readonly port: SerialPort,
    private readonly opts: SerialLinkOptions,
  ) {
    port.on("data", this.onPortData);
    port.on("close", this.onPortClose);
    port.on("error", this.onPortError);
  }

  get isOpen(): boolean {
    return this.ev.open && this.port.isOpen;
  }

  /** Queues the request behind earlier writes; resolves once the bytes are handed to the OS. */
  write(bytes: Uint8Array): Promise<void> {
    const run = this.chain.then(() => this.writeNow(bytes));
    this.chain = run.catch(noop);
    return run;
  }

  private async writeNow(bytes: Uint8Array): Promise<void> {
    if (!this.isOpen) throw linkLost(`write on closed serial port ${this.opts.path}`);
    // loop: a Node timer may fire a fraction of a millisecond early
    for (let wait = this.gapLeft(); wait > 0; wait = this.gapLeft()) {
      await this.guard<void>("request spacing", wait + this.opts.ioTimeoutMs, (done) => {
        const t = setTimeout(() => done(null), Math.ceil(wait));
        return () => clearTimeout(t);
      });
    }
    if (!this.isOpen) throw linkLost(`write on closed serial port ${this.opts.path}`);
    try {
      await this.guard<void>(`write to ${this.opts.path}`, this.opts.ioTimeoutMs, (done) => {
        this.port.write(Buffer.from(bytes), (err) => {
          if (err) done(linkLost(`write to ${this.opts.path} failed: ${err.message}`));
          else this.port.drain((e) => done(e ? linkLost(`write to ${this.opts.path} failed: ${e.message}`) : null));
        });
        return noop;
      });
    } finally {
      // the gap counts from the end of this write (drained), so however late the write call ran
      // after the gap timer, the next one starts at least minGapMs after it (a loaded machine
      // once wrote two requests 298 ms apart with a 300 ms gap counted from before the write)
      this.lastWriteAt = performance.now();
    }
  }

  private gapLeft(): number {
    return this.lastWriteAt + this.opts.minGapMs - performance.now();
  }

  /** Runs one step: settles on done, its timeout, or the link being lost, whichever is first. */
  private guard<T>(step: string, ms: number, run: (done: (err: Error | null, v?: T) => void) => () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let cancel = noop;
      const finish = (err: Error | null, v?: T): void => {
        if (!this.waiters.delete(onLost)) return;
        clearTimeout(timer);
        cancel();
        if (err) reject(err);
        else resolve(v as T);
      };
      const onLost = (e: Error): void => finish(e);
      const timer = setTimeout(() => finish(timeoutError(step, ms)), ms);
      this.waiters.add(onLost);
      cancel = run(finish);
    });
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.ev.onData(listener);
  }

  onClose(listener: (reason: Error) => void): () => void {
    return this.ev.onClose(listener);
  }

  private lost(err: TransportError): void {
    if (!this.ev.open) return;
    for (const w of [...this.waiters]) w(err);
    this.ev.end(err);
    this.released = this.release();
  }

  /** Closes the OS port (bounded, never throws) and detaches; keeps a no-op error listener so a late error cannot crash the process. */
  private async release(): Promise<void> {
    const port = this.port;
    port.removeListener("data", this.onPortData);
    port.removeListener("close", this.onPortClose);
    port.removeListener("error", this.onPortError);
    port.on("error", noop);
    if (!port.isOpen) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, this.opts.ioTimeoutMs);
      port.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Idempotent, bounded by ioTimeoutMs, never throws. */
  async close(): Promise<void> {
    this.lost(linkLost(`serial port ${this.opts.path} closed by the bridge`));
    await this.released;
  }
}
