/**
 * The checker's own MQTT client (mqtt.js, not the bridge's Publisher): subscribes to everything,
 * stamps each message with its arrival time and hands it to CheckerCore; plays Home Assistant's
 * birth message when asked. Reconnects quickly after a broker restart (and re-subscribes).
 */
import mqtt, { type MqttClient } from "mqtt";
import type { CheckerCore } from "./checker-core.js";

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

  get connected(): boolean {
    return this.client.connected;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
