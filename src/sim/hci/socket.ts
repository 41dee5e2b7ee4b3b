/**
 * The object noble's `hci.js` gets instead of `new BluetoothHciSocket()` from
 * `@abandonware/bluetooth-hci-socket` (ble-noble.md §7.1): an EventEmitter with bindRaw/bindUser/
 * start/stop/isDevUp/setFilter/write that emits 'data' with one H4 packet per event.
 *
 * Packets to the host are delivered asynchronously (setImmediate), as from the native socket's
 * libuv poll, and in order. Several sockets may be attached to one controller (like raw HCI sockets
 * on one adapter: all of them see every event) — e.g. a watchdog's old and new noble instance.
 */
import { EventEmitter } from "node:events";
import type { HciSocketLike } from "../../transport/noble/noble-types.js";
import type { VirtualController } from "./controller.js";

interface SocketEvents {
  data: [packet: Buffer];
  error: [error: Error];
}

/** An Error shaped like the native socket's (`code` set), e.g. ENODEV, EPERM, ENETDOWN. */
export function errnoError(code: string, text: string): Error {
  return Object.assign(new Error(`${code}, ${text}`), { code });
}

export class VirtualHciSocket extends EventEmitter<SocketEvents> implements HciSocketLike {
  /** Last filter noble set (16 bytes in 1.9.2-26); kept for inspection only. */
  filter: Buffer | undefined;
  private detach: (() => void) | undefined;
  private queue: Buffer[] = [];
  private drainScheduled = false;
  private closed = false;
  private mode: "raw" | "user" | undefined;

  constructor(private readonly controller: VirtualController) {
    super();
  }

  get bindMode(): "raw" | "user" | undefined {
    return this.mode;
  }

  bindRaw(deviceId?: number): number {
    return this.bind("raw", deviceId);
  }

  bindUser(deviceId?: number): number {
    return this.bind("user", deviceId);
  }

  start(): void {
    if (this.closed || this.detach) return;
    this.detach = this.controller.attach((packet) => this.deliver(packet));
  }

  stop(): void {
    this.detach?.();
    this.detach = undefined;
    this.queue = [];
  }

  /** stop() plus: later writes are ignored and start() no longer attaches. */
  close(): void {
    this.stop();
    this.closed = true;
  }

  isDevUp(): boolean {
    return this.controller.isPowered;
  }

  setFilter(filter: Buffer): void {
    this.filter = Buffer.from(filter);
  }

  write(packet: Buffer): void {
    if (this.closed) return;
    if (this.controller.permissionDenied) {
      setImmediate(() => this.emit("error", errnoError("EPERM", "Operation not permitted")));
      return;
    }
    if (!this.controller.isPowered) {
      // the native socket reports a write to a down adapter as an error event; noble ignores it
      setImmediate(() => this.emit("error", errnoError("ENETDOWN", "Network is down")));
      return;
    }
    this.controller.receive(Buffer.from(packet));
  }

  private bind(mode: "raw" | "user", deviceId: number | undefined): number {
    if (!this.controller.adapterPresent) throw errnoError("ENODEV", "No such device");
    this.mode = mode;
    this.controller.noteBind(mode, deviceId);
    return deviceId ?? 0;
  }

  private deliver(packet: Buffer): void {
    this.queue.push(packet);
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      // only what was queued before this drain; packets produced by noble's reactions go next time
      for (const p of this.queue.splice(0)) {
        if (!this.detach) return;
        this.emit("data", p);
      }
    });
  }
}
