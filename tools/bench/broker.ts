/**
 * The bench's private Mosquitto (tools/mosquitto.ts) and an independent MQTT subscriber that
 * records every message with its receipt time.
 */
import { startMosquitto as startMosquittoProcess } from "../mosquitto.js";
import { performance } from "node:perf_hooks";
import mqtt, { type MqttClient } from "mqtt";
import type { SeenMessage } from "./messages.js";

export { findMosquitto, freePort } from "../mosquitto.js";

export interface Broker {
  url: string;
  stop(): Promise<void>;
}

export async function startMosquitto(bin: string): Promise<Broker> {
  const m = await startMosquittoProcess(bin);
  return { url: m.url, stop: () => m.dispose() };
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

  async publish(topic: string, payload: string, retain = false): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  /** Returns once every message the broker had for us before now has arrived (a marker round trip). */
  async sync(): Promise<void> {
    const topic = `bench-sync/${Math.random().toString(16).slice(2)}`;
    const seen = this.next((m) => m.topic === topic, 10_000);
    await this.client.publishAsync(topic, "sync", { qos: 1 });
    if (!(await seen)) throw new Error("sync marker did not come back");
  }

  async close(): Promise<void> {
    await this.client.endAsync(true).catch(() => undefined);
  }
}
