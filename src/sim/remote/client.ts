/**
 * The bridge's side of a simulator in another process (server.ts): HCI sockets for noble that
 * forward H4 packets over one Unix socket. Only the transport of bytes differs from the in-process
 * VirtualHciSocket; noble's HCI/GATT code and ours run exactly as on a real adapter.
 */
import { EventEmitter } from "node:events";
import { connect, type Socket } from "node:net";
import type { HciSocketLike } from "../../transport/noble/noble-types.js";
import { errnoError } from "../hci/socket.js";
import { encodeFrame, type Frame, FrameReader, MSG } from "./wire.js";

interface SocketEvents {
  data: [packet: Buffer];
  error: [error: Error];
}

interface Channel {
  send(socket: number, type: number, payload?: Uint8Array): void;
  readonly adapterPresent: boolean;
  readonly powered: boolean;
}


class RemoteHciSocket extends EventEmitter<SocketEvents> implements HciSocketLike {
  private closed = false;

  constructor(
    private readonly id: number,
    private readonly channel: Channel,
  ) {
    super();
  }

  bindRaw(deviceId?: number): number {
    return this.bind(0, deviceId);
  }

  bindUser(deviceId?: number): number {
    return this.bind(1, deviceId);
  }

  start(): void {
    if (!this.closed) this.channel.send(this.id, MSG.start);
  }

  stop(): void {
    if (!this.closed) this.channel.send(this.id, MSG.stop);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.send(this.id, MSG.close);
  }

  isDevUp(): boolean {
    return this.channel.powered;
  }

  setFilter(filter: Buffer): void {
    if (!this.closed) this.channel.send(this.id, MSG.filter, filter);
  }

  write(packet: Buffer): void {
    if (!this.closed) this.channel.send(this.id, MSG.write, packet);
  }

  /** A frame from the server for this socket. */
  receive(f: Frame): void {
    if (this.closed) return;
    if (f.type === MSG.data) this.emit("data", f.payload);
    else if (f.type === MSG.error) {
      const text = f.payload.toString("utf8");
      const space = text.indexOf(" ");
      this.emit("error", errnoError(space > 0 ? text.slice(0, space) : "EIO", space > 0 ? text.slice(space + 1) : text));
    }
  }

  private bind(mode: number, deviceId: number | undefined): number {
    if (!this.channel.adapterPresent) throw errnoError("ENODEV", "No such device");
    const p = Buffer.alloc(3);
    p.writeUInt8(mode, 0);
    p.writeInt16LE(deviceId ?? -1, 1);
    this.channel.send(this.id, MSG.bind, p);
    return deviceId ?? 0;
  }
}

export interface RemoteHci {
  /** Each call makes a new socket on the remote controller (one per noble instance). */
  socketFactory: () => HciSocketLike;
  close(): void;
}

/** Connects to a simulator's socket and waits for its hello (the adapter's state). */
export function connectRemoteHci(path: string, timeoutMs = 5000): Promise<RemoteHci> {
  return new Promise((resolve, reject) => {
    // onread: libuv hands each read straight to onChunk, without a Readable stream's machinery —
    // closer to the native HCI socket, which emits from C++ (the buffer is reused: copied per read)
    const onread = {
      buffer: Buffer.alloc(64 * 1024),
      callback: (n: number, buf: Uint8Array): boolean => {
        onChunk(Buffer.from(buf.subarray(0, n)));
        return true; // keep reading
      },
    };
    const conn: Socket = connect({ path, onread });
    conn.unref(); // like the native HCI socket: the bridge's own timers keep the process alive
    const reader = new FrameReader();
    const sockets = new Map<number, RemoteHciSocket>();
    let nextId = 1;
    let ready = false;
    const state = { adapterPresent: true, powered: true };
    // the packets noble writes in one turn of the loop leave in one syscall (the native socket's
    // write(2) costs no JS; a stream write per packet would make the simulator's plumbing the
    // biggest item in the bridge's profile)
    let pending: Buffer[] = [];
    const flush = (): void => {
      const out = pending;
      pending = [];
      if (!conn.destroyed && out.length > 0) conn.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
    };
    const channel: Channel = {
      send: (socket, type, payload) => {
        if (pending.length === 0) process.nextTick(flush);
        pending.push(encodeFrame(socket, type, payload));
      },
      get adapterPresent() {
        return state.adapterPresent;
      },
      get powered() {
        return state.powered && !conn.destroyed;
      },
    };
    const timer = setTimeout(() => fail(new Error(`simulator at ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      conn.destroy();
      if (!ready) reject(e);
    };
    conn.on("error", (e) => {
      if (!ready) return fail(new Error(`simulator at ${path}: ${e.message}`));
      // after start-up a lost simulator is an adapter gone: every socket reports it, noble sees no events
      for (const s of sockets.values()) s.emit("error", errnoError("ENETDOWN", `simulator connection lost: ${e.message}`));
    });
    function onChunk(chunk: Buffer): void {
      const r = reader.push(chunk);
      if (!Array.isArray(r)) return fail(new Error(`simulator at ${path}: ${r.error}`));
      for (const f of r) {
        if (f.socket === 0 && f.type === MSG.hello) {
          state.adapterPresent = f.payload[0] === 1;
          state.powered = f.payload[1] === 1;
          if (!ready) {
            ready = true;
            clearTimeout(timer);
            resolve({
              socketFactory: () => {
                const id = nextId++;
                const s = new RemoteHciSocket(id, channel);
                sockets.set(id, s);
                return s;
              },
              close: () => conn.end(),
            });
          }
          continue;
        }
        sockets.get(f.socket)?.receive(f);
      }
    }
  });
}
