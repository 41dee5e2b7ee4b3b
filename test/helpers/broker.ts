/**
 * A real MQTT broker for integration tests: Mosquitto (tools/mosquitto.ts) on a free loopback
 * port, started and stopped by the test itself. Where the binary is missing (a fresh laptop) it
 * falls back to an in-process Aedes broker and says so; CI installs Mosquitto (.ci/run), and with
 * CI=true a missing Mosquitto is an error, never a silent fallback.
 */
import { createServer, type Server } from "node:net";
import { findMosquitto, freePort, startMosquitto } from "../../tools/mosquitto.js";

export { freePort };

export interface Broker {
  url: string;
  port: number;
  kind: "mosquitto" | "aedes";
  stop(): Promise<void>;
  /** Stops and starts the broker on the same port (retained messages are lost: no persistence). */
  restart(): Promise<void>;
}

export async function startBroker(auth?: { username: string; password: string }): Promise<Broker> {
  const bin = findMosquitto();
  if (!bin) {
    if (process.env.CI) throw new Error("mosquitto is not installed (CI must use the real broker: see .ci/run)");
    process.stderr.write("# mosquitto not found: using the in-process Aedes broker instead\n");
    return await startAedes(await freePort(), auth);
  }
  const m = await startMosquitto(bin, auth);
  return {
    url: m.url,
    port: m.port,
    kind: "mosquitto",
    stop: () => m.dispose(),
    restart: async () => {
      await m.stop();
      await m.start();
    },
  };
}

async function startAedes(port: number, auth?: { username: string; password: string }): Promise<Broker> {
  const { Aedes } = await import("aedes");
  let server: Server | undefined;
  let broker: InstanceType<typeof Aedes> | undefined;
  const up = async (): Promise<void> => {
    broker = await Aedes.createBroker();
    const b = broker;
    if (auth) {
      b.authenticate = (_client, username, password, done) => done(null, username === auth.username && password?.toString() === auth.password);
    }
    server = createServer((sock) => b.handle(sock));
    await new Promise<void>((r) => server?.listen(port, "127.0.0.1", () => r()));
  };
  const down = async (): Promise<void> => {
    const s = server;
    const b = broker;
    server = undefined;
    broker = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    if (b) await new Promise<void>((r) => b.close(() => r()));
  };
  await up();
  return { url: `mqtt://127.0.0.1:${port}`, port, kind: "aedes", stop: down, restart: async () => { await down(); await up(); } };
}
