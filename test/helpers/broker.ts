/**
 * A real MQTT broker for integration tests: Mosquitto on a free loopback port, started and
 * stopped by the test itself. Where the binary is missing (a fresh laptop) it falls back to an
 * in-process Aedes broker and says so; CI installs Mosquitto (.ci/run), and with CI=true a missing
 * Mosquitto is an error, never a silent fallback.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Broker {
  url: string;
  port: number;
  kind: "mosquitto" | "aedes";
  stop(): Promise<void>;
  /** Stops and starts the broker on the same port (retained messages are lost: no persistence). */
  restart(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function mosquittoPath(): string | undefined {
  for (const p of ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]) {
    if (spawnSync(p, ["-h"]).error === undefined) return p;
  }
  return undefined;
}

async function waitListening(port: number, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`broker did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function startBroker(auth?: { username: string; password: string }): Promise<Broker> {
  const port = await freePort();
  const bin = mosquittoPath();
  if (!bin) {
    if (process.env.CI) throw new Error("mosquitto is not installed (CI must use the real broker: see .ci/run)");
    process.stderr.write("# mosquitto not found: using the in-process Aedes broker instead\n");
    return await startAedes(port, auth);
  }
  const dir = mkdtempSync(join(tmpdir(), "daly-mosq-"));
  // started as root, mosquitto drops to its own user: it must be able to read its files
  chmodSync(dir, 0o755);
  const conf = join(dir, "mosquitto.conf");
  let authLines = "allow_anonymous true\n";
  if (auth) {
    const pw = join(dir, "passwd");
    writeFileSync(pw, "");
    const r = spawnSync("mosquitto_passwd", ["-b", pw, auth.username, auth.password]);
    if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${String(r.stderr)}`);
    chmodSync(pw, 0o644);
    authLines = `allow_anonymous false\npassword_file ${pw}\n`;
  }
  writeFileSync(conf, `listener ${port} 127.0.0.1\n${authLines}persistence false\nlog_dest stderr\nlog_type error\n`);
  let proc: ChildProcess | undefined;
  const up = async (): Promise<void> => {
    proc = spawn(bin, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    await waitListening(port);
  };
  const down = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill("SIGTERM");
    });
  };
  await up();
  return { url: `mqtt://127.0.0.1:${port}`, port, kind: "mosquitto", stop: down, restart: async () => { await down(); await up(); } };
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
    if (s) {
      await new Promise<void>((r) => s.close(() => r()));
    }
    if (b) await new Promise<void>((r) => b.close(() => r()));
  };
  await up();
  return { url: `mqtt://127.0.0.1:${port}`, port, kind: "aedes", stop: down, restart: async () => { await down(); await up(); } };
}
