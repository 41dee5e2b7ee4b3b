/**
 * The bench's private Mosquitto (a free loopback port, no persistence) and an independent MQTT
 * subscriber that records every message with its receipt time. (test/helpers/broker.ts does the
 * same for the tests; src must not import test/.)
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import mqtt, { type MqttClient } from "mqtt";
import type { SeenMessage } from "./messages.js";

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

export interface Broker {
  url: string;
  stop(): Promise<void>;
}

export async function startMosquitto(bin: string): Promise<Broker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "daly-bench-mosq-"));
  chmodSync(dir, 0o755); // started as root, mosquitto drops to its own user and must read the file
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n`);
  const proc: ChildProcess = spawn(bin, ["-c", conf], { stdio: ["ignore", "ignore", "ignore"] });
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      await new Promise<void>((resolve) => {
        proc.once("exit", () => resolve());
        proc.kill("SIGTERM");
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitListening(port, 5000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `mqtt://127.0.0.1:${port}`, stop };
}

/** Subscribes to everything (`#`) before the bridge starts; keeps topic, size and receipt time. */
export class Watch {
  readonly messages: SeenMessage[] = [];
  private waiters: Array<{ pred: (m: SeenMessage) => boolean; resolve: (m: SeenMessage) => void }> = [];

  private constructor(private readonly client: MqttClient) {
    client.on("message", (topic, payload) => {
      const m = { topic, bytes: payload.length, atMs: performance.now() };
      this.messages.push(m);
      const ready = this.waiters.filter((w) => w.pred(m));
      this.waiters = this.waiters.filter((w) => !ready.includes(w));
      for (const w of ready) w.resolve(m);
    });
  }

  static async connect(url: string): Promise<Watch> {
    const client = await mqtt.connectAsync(url, { clientId: `bench-watch-${Math.random().toString(16).slice(2, 10)}`, reconnectPeriod: 200 });
    const w = new Watch(client);
    await client.subscribeAsync(["#"], { qos: 1 });
    return w;
  }

  /** The first message (from now on) matching pred, or undefined after timeoutMs. */
  next(pred: (m: SeenMessage) => boolean, timeoutMs: number): Promise<SeenMessage | undefined> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        resolve(undefined);
      }, timeoutMs);
      const done = (m: SeenMessage): void => {
        clearTimeout(t);
        resolve(m);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true).catch(() => undefined);
  }
}
