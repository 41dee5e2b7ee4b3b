/** An independent MQTT subscriber for assertions: records every message and waits for events. */
import mqtt, { type MqttClient } from "mqtt";

export interface Msg {
  topic: string;
  payload: string;
  retain: boolean;
  /** QoS as delivered (min of the publisher's and this subscriber's 1). */
  qos: number;
  at: number;
}

export class Watcher {
  readonly messages: Msg[] = [];
  private waiters: Array<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];
  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      const m = { topic, payload: payload.toString("utf8"), retain: packet.retain, qos: packet.qos, at: Date.now() };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(m)) return true;
        w.resolve(m);
        return false;
      });
    });
  }

  static async connect(url: string, topics: string[] = ["#"]): Promise<Watcher> {
    return Watcher.connectWith(url, {}, topics);
  }

  static async connectWith(url: string, auth: { username?: string; password?: string }, topics: string[] = ["#"]): Promise<Watcher> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, clientId: `watch-${Math.random().toString(16).slice(2)}`, ...auth });
    const w = new Watcher(client);
    await client.subscribeAsync(topics, { qos: 1 });
    return w;
  }

  /** Resolves with the first message (already received from `since` on, or future) matching pred. */
  waitFor(pred: (m: Msg) => boolean, what: string, timeoutMs = 15000, since = 0): Promise<Msg> {
    const seen = this.messages.slice(since).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<Msg>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const done = (m: Msg): void => {
        clearTimeout(t);
        resolve(m);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  topic(t: string, payload?: string): (m: Msg) => boolean {
    return (m) => m.topic === t && (payload === undefined || m.payload === payload);
  }

  /**
   * Returns once every retained message of the subscription has arrived: the broker sends them
   * right after SUBACK, so a message published afterwards on our own topic comes after all of them.
   */
  async sync(): Promise<void> {
    const topic = `watch-sync/${Math.random().toString(16).slice(2)}`;
    await this.client.subscribeAsync(topic, { qos: 1 });
    const seen = this.waitFor((m) => m.topic === topic, "sync marker", 10000);
    await this.client.publishAsync(topic, "sync", { qos: 1 });
    await seen;
  }

  async publish(topic: string, payload: string, retain = false): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
