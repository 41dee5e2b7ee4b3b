/** Discarding a noble instance made by loadNoble(): no open link, timer or process handler survives it. */
import type { Listener } from "./noble-internals.js";
import type { NobleLike } from "./noble-types.js";
import { records, type InstanceRecord } from "./instance-hooks.js";

export interface ShutdownOptions {
  /** How long to wait for Disconnection Complete of open links. Default 1000 ms. */
  timeoutMs?: number;
}

/**
 * Discards a Noble instance made by loadNoble(): stops scanning, disconnects open links (waiting
 * for Disconnection Complete up to timeoutMs, so no orphan link survives the instance), clears
 * the adapter poll timer, removes the process SIGINT/exit handlers the bindings added, and stops
 * (and, for the virtual socket, closes) the HCI socket. Idempotent.
 */
export async function shutdown(noble: NobleLike, opts: ShutdownOptions = {}): Promise<void> {
  const rec = records.get(noble);
  if (!rec) {
    noble.stopScanning();
    return;
  }
  if (rec.closed) return;
  if (rec.initialized) {
    try {
      noble.stopScanning();
    } catch {
      // adapter already gone: nothing to stop
    }
    // not hci._aclConnections: hci.js also files handle 0 there after a *failed* connection complete
    const handles = Object.keys(rec.bindings._aclStreams).map(Number);
    if (handles.length > 0 && noble.state === "poweredOn") await disconnectAll(rec, handles, opts.timeoutMs ?? 1000);
  }
  rec.closed = true;
  if (rec.pollTimer) clearTimeout(rec.pollTimer);
  for (const { event, fn } of rec.processListeners.splice(0)) {
    if (event === "exit") process.removeListener("exit", fn);
    else process.removeListener("SIGINT", fn);
  }
  try {
    rec.socket.stop();
    rec.socket.close?.();
  } catch {
    // a native socket that was never started may refuse stop(); it is released by GC
  }
}

const DISCONNECT_OPCODE = 0x0406;

/**
 * Sends HCI Disconnect for each handle and waits for each Disconnection Complete — or for a
 * failed Command Status (e.g. 0x02 after an adapter reset, when noble still believes in a link
 * the controller has forgotten), after which no Disconnection Complete will come. Command Status
 * events return in command order; on a shared raw adapter another process's Disconnect could
 * interleave, which at worst ends the wait early for one handle.
 */
function disconnectAll(rec: InstanceRecord, handles: number[], timeoutMs: number): Promise<void> {
  const { hci, socket } = rec;
  return new Promise((resolve) => {
    const left = new Set(handles);
    const order = [...handles];
    const check = (): void => {
      if (left.size > 0) return;
      clearTimeout(timer);
      hci.removeListener("disconnComplete", onDisconnect);
      socket.removeListener("data", onData);
      resolve();
    };
    const onDisconnect: Listener = (handle) => {
      if (typeof handle === "number") left.delete(handle);
      check();
    };
    const onData = (packet: Buffer): void => {
      // H4 event 0x0f = Command Status: status, num packets, opcode
      if (packet.length < 7 || packet[0] !== 0x04 || packet[1] !== 0x0f || packet.readUInt16LE(5) !== DISCONNECT_OPCODE) return;
      const handle = order.shift();
      if (handle !== undefined && packet[3] !== 0) left.delete(handle);
      check();
    };
    const timer = setTimeout(() => {
      left.clear();
      check();
    }, timeoutMs);
    hci.on("disconnComplete", onDisconnect);
    socket.on("data", onData);
    for (const h of handles) hci.disconnect(h);
  });
}
