/**
 * Is a name on the broker held by a live client? Asked before the bridge connects with its last
 * will, on a separate connection that has no will and publishes nothing retained, so a refused
 * bridge cannot disturb the live one (README "Scaling out").
 *
 * A retained `online` on the availability topic means live: a bridge that stops cleanly writes
 * `offline`, and the broker publishes its last will (`offline`) when one dies. The one gap is a
 * connection the broker still believes alive (power cut: up to 1.5 × keep-alive), so an `online`
 * is confirmed by a ping that a live bridge answers; no answer within pingTimeoutMs = stale.
 */
import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import { type BrokerSettings, clientOptions } from "./publisher.js";

export interface PresenceTopics {
  availability: string;
  ping: string;
  pong: string;
}

export type Presence =
  | { state: "free"; retained?: string }
  | { state: "held" }
  | { state: "stale" }
  | { state: "unknown"; reason: string };

export interface PresenceOptions {
  connectTimeoutMs?: number;
  pingTimeoutMs?: number;
  onlinePayload?: string;
}

export async function probePresence(broker: BrokerSettings, topics: PresenceTopics, o: PresenceOptions = {}): Promise<Presence> {
  const online = o.onlinePayload ?? "online";
  let c: mqtt.MqttClient;
  try {
    c = await mqtt.connectAsync(broker.url, {
      ...clientOptions({ ...broker, clientId: `${broker.clientId}-probe-${randomBytes(3).toString("hex")}` }),
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs ?? 5000,
    });
  } catch (e) {
    return { state: "unknown", reason: e instanceof Error ? e.message : String(e) };
  }
  c.on("error", () => undefined);
  try {
    const nonce = randomBytes(8).toString("hex");
    const syncPayload = `sync-${nonce}`;
    let retained: string | undefined;
    let resolveSync: () => void = () => undefined;
    let resolvePong: () => void = () => undefined;
    const synced = new Promise<void>((r) => (resolveSync = r));
    const ponged = new Promise<void>((r) => (resolvePong = r));
    c.on("message", (topic, payload) => {
      const text = payload.toString("utf8");
      if (topic === topics.availability) retained = text;
      else if (topic === topics.pong && text === syncPayload) resolveSync();
      else if (topic === topics.pong && text === nonce) resolvePong();
    });
    await c.subscribeAsync([topics.availability, topics.pong], { qos: 1 });
    // retained messages are delivered right after SUBACK: our own marker comes after them
    await c.publishAsync(topics.pong, syncPayload, { qos: 1, retain: false });
    const timeout = (ms: number): Promise<"timeout"> => new Promise((r) => setTimeout(() => r("timeout"), ms).unref());
    if ((await Promise.race([synced.then(() => "ok" as const), timeout(5000)])) === "timeout") return { state: "unknown", reason: "the broker did not echo our marker" };
    if (retained !== online) return retained === undefined ? { state: "free" } : { state: "free", retained };
    await c.publishAsync(topics.ping, nonce, { qos: 1, retain: false });
    const r = await Promise.race([ponged.then(() => "pong" as const), timeout(o.pingTimeoutMs ?? 25_000)]);
    return r === "pong" ? { state: "held" } : { state: "stale" };
  } catch (e) {
    return { state: "unknown", reason: e instanceof Error ? e.message : String(e) };
  } finally {
    await c.endAsync().catch(() => undefined);
  }
}
