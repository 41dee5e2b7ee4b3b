/** An in-memory BleLink wired to the simulator's responder, for poller unit tests (no radio). */
import type { BleLink } from "../../src/transport/link.js";

export interface MemoryLinkOptions {
  /** Split each reply into chunks of this size (BLE MTU − 3). */
  chunk?: number;
  /** Drop replies (a sleeping BMS). */
  silent?: boolean;
  /** Merge all replies of one request into one notification. */
  merge?: boolean;
}

export function memoryLink(respond: (w: Uint8Array) => Uint8Array[], opts: MemoryLinkOptions = {}): BleLink & { lose(): void; dataListeners(): number; writes: Uint8Array[] } {
  const data = new Set<(c: Uint8Array) => void>();
  const close = new Set<(e: Error) => void>();
  let open = true;
  const writes: Uint8Array[] = [];
  const lose = (): void => {
    if (!open) return;
    open = false;
    for (const l of [...close]) l(new Error("link lost"));
  };
  return {
    address: "C0:D6:3C:57:2A:01",
    writes,
    get isOpen() {
      return open;
    },
    async write(bytes) {
      if (!open) throw new Error("not connected");
      writes.push(bytes);
      if (opts.silent) return;
      const replies = respond(bytes);
      const notifications = opts.merge ? [Uint8Array.from(replies.flatMap((r) => [...r]))] : replies;
      setImmediate(() => {
        for (const n of notifications) {
          const size = opts.chunk ?? n.length;
          for (let i = 0; i < n.length; i += size) for (const l of [...data]) l(n.subarray(i, i + size));
        }
      });
    },
    onData(l) {
      data.add(l);
      return () => data.delete(l);
    },
    onClose(l) {
      close.add(l);
      return () => close.delete(l);
    },
    async close() {
      lose();
    },
    lose,
    dataListeners: () => data.size,
  };
}
