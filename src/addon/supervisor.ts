/**
 * Add-on mode (contract §6): with SUPERVISOR_TOKEN in the environment, `run` reads its options
 * from /data/options.json (DALY_ADDON_OPTIONS overrides the path) and, unless the options name a
 * broker, takes host, port, username, password and TLS from the Supervisor's MQTT service
 * (GET $SUPERVISOR_URL/services/mqtt, Bearer $SUPERVISOR_TOKEN; SUPERVISOR_URL defaults to
 * http://supervisor). The result is one config layer below env and flags, so CLI flags still win.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { optionsToConfig } from "./options.js";

export interface AddonLayer {
  /** A config file holding the options (and the Supervisor's broker), for loadConfig's files. */
  file: string;
  /** Where the broker came from, for the start-up log (never the password). */
  broker: string;
  unknownOptions: string[];
}

interface MqttService {
  host: string;
  port: number;
  ssl: boolean;
  username?: string;
  password?: string;
}

export async function addonLayer(env: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<AddonLayer | { error: string }> {
  const path = env.DALY_ADDON_OPTIONS || "/data/options.json";
  let options: unknown;
  try {
    options = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    return { error: `add-on options ${path}: ${(e as Error).message}` };
  }
  const conv = optionsToConfig(options);
  if (!conv.ok) return { error: conv.message };
  const config = conv.config;
  const mqtt = (config.mqtt ?? {}) as Record<string, unknown>;
  let broker = "options (mqtt_url)";
  if (!mqtt.url && !env.DALY_MQTT_URL) {
    const svc = await fetchMqttService(env, timeoutMs);
    if ("error" in svc) return svc;
    mqtt.url = `${svc.ssl ? "mqtts" : "mqtt"}://${svc.host}:${svc.port}`;
    if (svc.username && !mqtt.username) mqtt.username = svc.username;
    if (svc.password && !mqtt.password) mqtt.password = svc.password;
    config.mqtt = mqtt;
    broker = `Supervisor MQTT service (${svc.host}:${svc.port})`;
  }
  // the add-on keeps its state where the Supervisor backs it up
  if (config.stateDir === undefined) config.stateDir = "/data";
  const dir = mkdtempSync(join(tmpdir(), "daly-addon-"));
  const file = join(dir, "options.json");
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return { file, broker, unknownOptions: conv.unknown };
}

async function fetchMqttService(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<MqttService | { error: string }> {
  const base = (env.SUPERVISOR_URL || "http://supervisor").replace(/\/+$/, "");
  const url = `${base}/services/mqtt`;
  let body: unknown;
  try {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${env.SUPERVISOR_TOKEN ?? ""}` }, signal: AbortSignal.timeout(timeoutMs) });
    if (res.status === 400 || res.status === 404) {
      return { error: "no MQTT broker: install and start the Mosquitto broker add-on, or set mqtt_url in the add-on options" };
    }
    if (!res.ok) return { error: `Supervisor ${url} answered HTTP ${res.status}` };
    body = await res.json();
  } catch (e) {
    return { error: `cannot reach the Supervisor at ${url}: ${(e as Error).message}` };
  }
  const data = typeof body === "object" && body !== null && "data" in body ? (body as { data: unknown }).data : undefined;
  if (typeof data !== "object" || data === null) return { error: "Supervisor MQTT service: unexpected answer (no data)" };
  const d = data as Record<string, unknown>;
  if (typeof d.host !== "string" || typeof d.port !== "number") return { error: "Supervisor MQTT service: answer lacks host/port" };
  const out: MqttService = { host: d.host, port: d.port, ssl: d.ssl === true };
  if (typeof d.username === "string") out.username = d.username;
  if (typeof d.password === "string") out.password = d.password;
  return out;
}
