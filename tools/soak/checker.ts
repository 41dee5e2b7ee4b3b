/**
 * The checker's own MQTT client (mqtt.js, not the bridge's Publisher): subscribes to everything,
 * stamps each message with its arrival time and hands it to CheckerCore; plays Home Assistant's
 * birth message when asked. Reconnects quickly after a broker restart (and re-subscribes).
 */
import mqtt, { type MqttClient } from "mqtt";
import type { CheckerCore } from "./checker-core.js";
import type { RetainedRead } from "./recovery.js";

export class MqttChecker {
  private constructor(
    private readonly client: MqttClient,
    readonly core: CheckerCore,
  ) {
    client.on("message", (topic, payload, packet) => core.onMessage(topic, payload.toString("utf8"), Date.now(), packet.retain));
  }

  static async connect(url: string, core: CheckerCore): Promise<MqttChecker> {
    const client = await mqtt.connectAsync(url, { clientId: `daly-soak-checker-${process.pid}`, reconnectPeriod: 100, clean: true, resubscribe: true });
    const c = new MqttChecker(client, core);
    await client.subscribeAsync("#", { qos: 1 });
    return c;
  }

  /** What Home Assistant sends when it (re)starts: the bridge must re-publish everything. */
  async homeAssistantBirth(prefix = "homeassistant"): Promise<void> {
    await this.client.publishAsync(`${prefix}/status`, "online", { qos: 1, retain: false });
  }

  /**
   * What the broker retains now: a fresh connection subscribes to every discovery config and the
   * registry of bridge `bridgeId` (`<base>/bridge/<bridge_id>/registry`), and reads until its own
   * nonce comes back (retained copies arrive first).
   */
  static async readRetained(url: string, bridgeId: string, prefix = "homeassistant", base = "daly_bms", timeoutMs = 5000): Promise<RetainedRead> {
    const registryTopic = `${base}/bridge/${bridgeId}/registry`;
    const client = await mqtt.connectAsync(url, { clientId: `daly-soak-retained-${process.pid}`, reconnectPeriod: 0, clean: true, connectTimeout: timeoutMs });
    try {
      const configs = new Map<string, string>();
      let registry: string | undefined;
      const nonce = `daly-soak/sync/${Math.random().toString(16).slice(2)}`;
      const done = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no sync within the timeout")), timeoutMs);
        client.on("message", (topic, payload) => {
          const text = payload.toString("utf8");
          if (topic === nonce) {
            clearTimeout(t);
            resolve();
          } else if (topic === registryTopic) registry = text;
          else if (text === "") configs.delete(topic);
          else configs.set(topic, text);
        });
      });
      await client.subscribeAsync([`${prefix}/+/+/+/config`, registryTopic, nonce], { qos: 1 });
      await client.publishAsync(nonce, "sync", { qos: 1 });
      await done;
      return { configTopics: [...configs.keys()], registry };
    } finally {
      await client.endAsync(true);
    }
  }

  get connected(): boolean {
    return this.client.connected;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
