/**
 * Home Assistant add-on options (/data/options.json) → our config keys. The add-on's option names
 * are flat and snake_case where HA users expect them (ha-addon/config.yaml); this table is the one
 * mapping, and test/unit/packaging-addon.test.ts checks config.yaml against it.
 */
export const ADDON_OPTION_MAP: Readonly<Record<string, string>> = {
  bms: "bms",
  transport: "transport",
  poll_interval: "pollInterval",
  keep_connected: "keepConnected",
  offline_after_failures: "offlineAfterFailures",
  hci_device: "ble.hciDeviceId",
  user_channel: "ble.userChannel",
  request_timeout: "ble.requestTimeout",
  mqtt_url: "mqtt.url",
  mqtt_username: "mqtt.username",
  mqtt_password: "mqtt.password",
  base_topic: "mqtt.baseTopic",
  discovery_prefix: "mqtt.discoveryPrefix",
  log_level: "log.level",
  bridge_id: "bridgeId",
  esphome_proxies: "esphome.proxies",
};

export type OptionsResult = { ok: true; config: Record<string, unknown>; unknown: string[] } | { ok: false; message: string };

/** Converts parsed options.json to a nested config object; empty strings mean "not set". */
export function optionsToConfig(options: unknown): OptionsResult {
  if (typeof options !== "object" || options === null || Array.isArray(options)) return { ok: false, message: "add-on options: expected a JSON object" };
  const out: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(options)) {
    const key = ADDON_OPTION_MAP[k];
    if (!key) {
      unknown.push(k);
      continue;
    }
    if (v === null || v === "") continue;
    setPath(out, key, k === "bms" ? normaliseBms(v) : k === "esphome_proxies" ? normaliseProxies(v) : v);
  }
  return { ok: true, config: out, unknown };
}

/** HA's list-of-dicts options use snake_case too; accept both spellings per BMS entry. */
function normaliseBms(v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  return v.map((b: unknown) => {
    if (typeof b !== "object" || b === null) return b;
    const e: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(b)) {
      if (x === null || x === "") continue;
      const key = k === "invert_current" ? "invertCurrent" : k === "poll_interval" ? "pollInterval" : k;
      e[key] = x;
    }
    return e;
  });
}

/** `esphome_proxies` items: `encryption_key` is the add-on's spelling of encryptionKey. */
function normaliseProxies(v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  return v.map((p: unknown) => {
    if (typeof p !== "object" || p === null) return p;
    const e: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(p)) {
      if (x === null || (x === "" && k !== "encryption_key")) continue;
      e[k === "encryption_key" ? "encryptionKey" : k] = x;
    }
    return e;
  });
}

function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
  const parts = path.split(".");
  let cur = o;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (typeof next === "object" && next !== null) cur = next as Record<string, unknown>;
    else {
      const fresh: Record<string, unknown> = {};
      cur[p] = fresh;
      cur = fresh;
    }
  }
  cur[parts.at(-1) ?? path] = v;
}
