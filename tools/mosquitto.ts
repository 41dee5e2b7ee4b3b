/**
 * A private Mosquitto for the tests, the soak and the bench: a free loopback port, no persistence
 * (a restart loses every retained message, like a broker whose disk was wiped), optional password
 * authentication, stopped and started on the same port.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Mosquitto {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Last lines mosquitto wrote on stderr (for a failure report). */
  stderrTail(): string;
  dispose(): Promise<void>;
}

const CANDIDATES = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"];

export function findMosquitto(): string | undefined {
  return CANDIDATES.find((p) => spawnSync(p, ["-h"]).error === undefined);
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

async function waitListening(port: number, timeoutMs: number): Promise<void> {
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
    if (Date.now() > until) throw new Error(`mosquitto did not listen on port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startMosquitto(bin: string, auth?: { username: string; password: string }): Promise<Mosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "daly-mosq-"));
  chmodSync(dir, 0o755); // started as root, mosquitto drops to its own user and must read its files
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
  writeFileSync(conf, `listener ${port} 127.0.0.1\n${authLines}persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n`);
  let proc: ChildProcess | undefined;
  let tail = "";
  const start = async (): Promise<void> => {
    const p = spawn(bin, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    proc = p;
    p.stderr?.on("data", (d: Buffer) => {
      tail = (tail + d.toString("utf8")).slice(-2000);
    });
    await waitListening(port, 5000);
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill("SIGTERM");
    });
  };
  // never leave a broker behind, whatever ends this process
  const onExit = (): void => void proc?.kill("SIGTERM");
  process.on("exit", onExit);
  try {
    await start();
  } catch (e) {
    process.removeListener("exit", onExit);
    await stop();
    throw e;
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    start,
    stop,
    stderrTail: () => tail,
    dispose: async () => {
      process.removeListener("exit", onExit);
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
