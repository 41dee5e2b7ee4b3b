/**
 * Serves a virtual controller on a Unix socket, so the simulated radio can run in its own process
 * (`node dist/sim/remote/main.js`), like a real controller outside the host: a bridge started with
 * `simulation.hciSocket` then contains only its own code, and the benchmarks measure just that.
 */
import { createServer, type Server, type Socket } from "node:net";
import { rmSync } from "node:fs";
import { VirtualHciSocket, type VirtualController } from "../hci/index.js";
import { encodeFrame, type Frame, FrameReader, MSG } from "./wire.js";

export interface HciServer {
  readonly path: string;
  close(): Promise<void>;
}

function session(conn: Socket, controller: VirtualController): void {
  const sockets = new Map<number, VirtualHciSocket>();
  const reader = new FrameReader();
  let corked = false;
  // one write per turn of the loop: the packets of one connection event reach the host together
  const send = (frame: Buffer): void => {
    if (conn.destroyed) return;
    if (!corked) {
      corked = true;
      conn.cork();
      process.nextTick(() => {
        corked = false;
        conn.uncork();
      });
    }
    conn.write(frame);
  };
  const socketFor = (id: number): VirtualHciSocket => {
    let s = sockets.get(id);
    if (!s) {
      s = new VirtualHciSocket(controller);
      s.on("data", (p) => send(encodeFrame(id, MSG.data, p)));
      s.on("error", (e) => send(encodeFrame(id, MSG.error, Buffer.from(`${(e as { code?: string }).code ?? "EIO"} ${e.message}`))));
      sockets.set(id, s);
    }
    return s;
  };
  const handle = (f: Frame): void => {
    const s = socketFor(f.socket);
    switch (f.type) {
      case MSG.bind: {
        const deviceId = f.payload.readInt16LE(1);
        try {
          if (f.payload[0] === 1) s.bindUser(deviceId < 0 ? undefined : deviceId);
          else s.bindRaw(deviceId < 0 ? undefined : deviceId);
        } catch (e) {
          send(encodeFrame(f.socket, MSG.error, Buffer.from(`ENODEV ${e instanceof Error ? e.message : String(e)}`)));
        }
        return;
      }
      case MSG.start:
        return s.start();
      case MSG.stop:
        return s.stop();
      case MSG.close:
        s.close();
        sockets.delete(f.socket);
        return;
      case MSG.filter:
        return s.setFilter(f.payload);
      case MSG.write:
        return s.write(f.payload);
      default:
        return; // unknown types are ignored: a newer client
    }
  };
  conn.on("data", (chunk: Buffer) => {
    const r = reader.push(chunk);
    if (!Array.isArray(r)) {
      conn.destroy();
      return;
    }
    for (const f of r) handle(f);
  });
  const end = (): void => {
    for (const s of sockets.values()) s.close();
    sockets.clear();
  };
  conn.on("close", end);
  conn.on("error", end);
  send(encodeFrame(0, MSG.hello, Uint8Array.of(controller.adapterPresent ? 1 : 0, controller.isPowered ? 1 : 0)));
}

export function serveHci(controller: VirtualController, path: string): Promise<HciServer> {
  rmSync(path, { force: true });
  const conns = new Set<Socket>();
  const server: Server = createServer((conn) => {
    conns.add(conn);
    conn.on("close", () => conns.delete(conn));
    session(conn, controller);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve({
        path,
        close: () =>
          new Promise<void>((done) => {
            for (const c of conns) c.destroy();
            server.close(() => {
              rmSync(path, { force: true });
              done();
            });
          }),
      });
    });
  });
}
