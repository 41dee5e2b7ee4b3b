/**
 * Per-instance bookkeeping of a noble instance made by loadNoble(), for shutdown(): the adapter poll
 * timer and the process handlers noble's bindings add, recorded by wrapping their methods.
 */
import type { BindingsInternals, HciInternals, Listener } from "./noble-internals.js";
import type { HciSocketLike } from "./noble-types.js";

export interface InstanceRecord {
  bindings: BindingsInternals;
  hci: HciInternals;
  socket: HciSocketLike;
  initialized: boolean;
  closed: boolean;
  pollTimer: NodeJS.Timeout | undefined;
  processListeners: { event: "SIGINT" | "exit"; fn: Listener }[];
}

export const records = new WeakMap<object, InstanceRecord>();

export function adapterError(deviceId: number, cause: unknown): Error {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new Error(`no Bluetooth adapter hci${deviceId}: ${msg}`, { cause });
}

/**
 * Runs noble's pollIsDevUp with setTimeout observed, so shutdown() can clear the 1 s poll timer
 * hci.js never exposes. hci.js re-arms that ref'd timer forever, so without this a discarded
 * instance keeps the event loop alive; the `closed` guard ends the chain, clearing lets the
 * process exit at once.
 */
export function wrapPoll(hci: HciInternals, rec: InstanceRecord): void {
  const poll = hci.pollIsDevUp;
  hci.pollIsDevUp = function pollIsDevUpTracked(): void {
    if (rec.closed) return;
    const realSetTimeout = globalThis.setTimeout;
    const tracking = (callback: () => void, ms?: number): NodeJS.Timeout => {
      const t = realSetTimeout(callback, ms);
      rec.pollTimer = t;
      return t;
    };
    // hci.js only calls setTimeout(fn, 1000) inside pollIsDevUp; the override lives for this synchronous call
    Object.assign(globalThis, { setTimeout: tracking });
    try {
      poll.call(hci);
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
  };
}

/**
 * Wraps bindings.init (noble calls it lazily, §2.1) to record the SIGINT/exit handlers it adds
 * (§5 last row; the exit one is an anonymous bind, so only a before/after diff finds it) and to
 * turn adapter failures (ENODEV at bind) into the same clear error plus stateChange 'unsupported'.
 */
export function wrapInit(bindings: BindingsInternals, rec: InstanceRecord, deviceId: number): void {
  const init = bindings.init;
  bindings.init = function initTracked(): void {
    if (rec.closed) throw new Error("noble instance was shut down");
    rec.initialized = true;
    const before = new Set<unknown>([...process.listeners("SIGINT"), ...process.listeners("exit")]);
    try {
      init.call(bindings);
    } catch (error) {
      // noble itself would stay in 'unknown' forever (§1.1 "no adapter" row)
      process.nextTick(() => bindings.emit("stateChange", "unsupported"));
      throw adapterError(deviceId, error);
    } finally {
      for (const fn of process.listeners("SIGINT")) {
        if (!before.has(fn)) rec.processListeners.push({ event: "SIGINT", fn: fn as Listener });
      }
      for (const fn of process.listeners("exit")) {
        if (!before.has(fn)) rec.processListeners.push({ event: "exit", fn: fn as Listener });
      }
    }
  };
}

