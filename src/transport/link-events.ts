/**
 * The listener bookkeeping every BleLink needs (noble, BlueZ, serial): data listeners, close
 * listeners that fire exactly once, and a late onClose on a closed link still being told.
 */
import { linkLost } from "./errors.js";

export class LinkEvents {
  private isOpen = true;
  private readonly data = new Set<(chunk: Uint8Array) => void>();
  private readonly closed = new Set<(reason: Error) => void>();

  get open(): boolean {
    return this.isOpen;
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    this.data.add(listener);
    return () => this.data.delete(listener);
  }

  onClose(listener: (reason: Error) => void): () => void {
    if (!this.isOpen) {
      queueMicrotask(() => listener(linkLost("already closed")));
      return () => undefined;
    }
    this.closed.add(listener);
    return () => this.closed.delete(listener);
  }

  emitData(chunk: Uint8Array): void {
    for (const l of [...this.data]) l(chunk);
  }

  /** Marks the link closed and tells the close listeners once; false when it was already closed. */
  end(reason: Error): boolean {
    if (!this.isOpen) return false;
    this.isOpen = false;
    const ls = [...this.closed];
    this.closed.clear();
    this.data.clear();
    for (const l of ls) l(reason);
    return true;
  }
}
