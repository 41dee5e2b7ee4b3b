/**
 * MQTT client wrapper: connect with a retained last will, publish/subscribe with a topic guard,
 * reconnect forever with growing backoff, and typed events. Knows nothing about BMS or HA.
 */
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

/** How to reach the broker; shared by the publisher and the start-up presence probe. */
export interface BrokerSettings {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
}

export interface MqttSettings extends BrokerSettings {
  will: { topic: string; payload: string };
  /** First reconnect delay; doubles per failed attempt up to maxReconnectMs. */
  reconnectMs?: number;
  maxReconnectMs?: number;
}

export interface PublisherEvents {
  /** Connected (first time: first=true; after a broker restart: first=false). */
  connected: [first: boolean];
  disconnected: [reason: string];
  /** `retained`: the broker sent it from its store on subscribe, not as a live publish. */
  message: [topic: string, payload: string, retained: boolean];
}

export class Publisher extends EventEmitter<PublisherEvents> implements MqttLink {
  private client: MqttClient | undefined;
  private everConnected = false;

  constructor(private readonly settings: MqttSettings) {
    super();
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    const s = this.settings;
    const base = s.reconnectMs ?? 1000;
    const opts: IClientOptions = {
      ...clientOptions(s),
      reconnectPeriod: base,
      will: { topic: s.will.topic, payload: Buffer.from(s.will.payload), qos: 1, retain: true },
    };
    const c = mqtt.connect(s.url, opts);
    this.client = c;
    c.on("connect", () => {
      c.options.reconnectPeriod = base;
      const first = !this.everConnected;
      this.everConnected = true;
      this.emit("connected", first);
    });
    c.on("reconnect", () => {
      c.options.reconnectPeriod = Math.min((c.options.reconnectPeriod ?? base) * 2, s.maxReconnectMs ?? 30_000);
    });
    c.on("close", () => this.emit("disconnected", "connection closed"));
    c.on("error", (err) => this.emit("disconnected", err.message));
    c.on("message", (topic, payload, packet) => this.emit("message", topic, payload.toString("utf8"), packet.retain));
  }

  async publish(topic: string, payload: string, opts: { retain: boolean; qos?: 0 | 1 }): Promise<void> {
    assertTopic(topic);
    const c = this.client;
    if (!c) throw new Error("MQTT client not started");
    // mqtt.js queues while offline; a lost broker is handled by re-publishing on reconnect
    await c.publishAsync(topic, payload, { retain: opts.retain, qos: opts.qos ?? 1 });
  }

  async subscribe(topics: string[]): Promise<void> {
    const c = this.client;
    if (!c) throw new Error("MQTT client not started");
    await c.subscribeAsync(topics, { qos: 1 });
  }

  /**
   * Reads the retained messages under `filter` (one filter or several, e.g. our own registry topic
   * and our discovery configs): subscribes, then round-trips a nonce message; every retained
   * message was delivered before the nonce comes back. A message we publish ourselves meanwhile
   * arrives live and replaces the retained copy, so the map is the broker's state at the nonce.
   * Empty payloads (deleted retained messages) are kept as "".
   */
  async readRetained(filter: string | readonly string[], syncTopicBase: string, timeoutMs = 5000): Promise<Map<string, string>> {
    const c = this.client;
    if (!c) throw new Error("MQTT client not started");
    const got = new Map<string, string>();
    const nonceTopic = `${syncTopicBase}/${randomBytes(6).toString("hex")}`;
    const filters = typeof filter === "string" ? [filter] : [...filter];
    const matchers = filters.map(topicMatcher);
    const matches = (topic: string): boolean => matchers.some((m) => m(topic));
    return await new Promise<Map<string, string>>((resolve) => {
      const onMsg = (topic: string, payload: string): void => {
        if (topic === nonceTopic) return finish();
        if (matches(topic)) got.set(topic, payload);
      };
      const finish = (): void => {
        clearTimeout(timer);
        this.removeListener("message", onMsg);
        void c.unsubscribeAsync([nonceTopic, ...filters]).catch(() => undefined);
        resolve(got);
      };
      const timer = setTimeout(finish, timeoutMs);
      this.on("message", onMsg);
      void (async () => {
        await c.subscribeAsync([...filters, nonceTopic], { qos: 1 });
        await c.publishAsync(nonceTopic, "sync", { qos: 1, retain: false });
      })().catch(finish);
    });
  }

  /** Publishes the final messages (offline states), then disconnects cleanly. */
  async close(final: Array<{ topic: string; payload: string }> = [], timeoutMs = 2000): Promise<void> {
    const c = this.client;
    if (!c) return;
    this.client = undefined;
    // a clean stop is not a lost broker: no "disconnected" events from here on
    c.removeAllListeners("close");
    c.removeAllListeners("error");
    c.on("error", () => undefined);
    const work = (async () => {
      if (c.connected) for (const m of final) await c.publishAsync(m.topic, m.payload, { qos: 1, retain: true });
      await c.endAsync();
    })();
    const t = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([work.catch(() => undefined), t]);
    c.end(true);
  }
}

/** Client id, credentials, TLS and timing of a connection (no will, no reconnect policy). */
export function clientOptions(s: BrokerSettings): IClientOptions {
  const opts: IClientOptions = {
    clientId: s.clientId,
    clean: true,
    keepalive: 30, // > 20 s: noble's native connect can freeze the event loop (ble-noble.md §5)
    connectTimeout: 10_000,
  };
  if (s.username) opts.username = s.username;
  if (s.password) opts.password = s.password;
  if (s.tls) {
    if (s.tls.ca) opts.ca = readFileSync(s.tls.ca);
    if (s.tls.cert) opts.cert = readFileSync(s.tls.cert);
    if (s.tls.key) opts.key = readFileSync(s.tls.key);
    opts.rejectUnauthorized = s.tls.rejectUnauthorized ?? true;
  }
  return opts;
}

/** What the MQTT sink needs of a publisher (tests drive the sink with an in-memory one). */
export interface MqttLink {
  readonly connected: boolean;
  start(): void;
  publish(topic: string, payload: string, opts: { retain: boolean; qos?: 0 | 1 }): Promise<void>;
  subscribe(topics: string[]): Promise<void>;
  readRetained(filter: string | readonly string[], syncTopicBase: string, timeoutMs?: number): Promise<Map<string, string>>;
  close(final?: Array<{ topic: string; payload: string }>, timeoutMs?: number): Promise<void>;
  on<K extends keyof PublisherEvents>(event: K, listener: (...args: PublisherEvents[K]) => void): unknown;
}

export function assertTopic(topic: string): void {
  if (topic.length === 0 || /[+#\u0000]/.test(topic) || topic.split("/").some((l) => l.length === 0)) {
    throw new Error(`refusing to publish to invalid topic "${topic}"`);
  }
}

function topicMatcher(filter: string): (topic: string) => boolean {
  const f = filter.split("/");
  return (topic) => {
    const t = topic.split("/");
    for (let i = 0; i < f.length; i++) {
      if (f[i] === "#") return true;
      if (f[i] !== "+" && f[i] !== t[i]) return false;
    }
    return t.length === f.length;
  };
}
