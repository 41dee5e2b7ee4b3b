/** Hiding secrets before a config (or anything holding a URL) is logged or printed. */
import type { Config } from "./schema.js";
import { schemaLeaves } from "./schema.js";
import { redactUrl } from "./formats.js";

export const REDACTED = "***";
export { redactUrl };

/**
 * A deep copy of `config` for logging: every `sensitive` schema key that holds a value becomes
 * "***" (an empty one stays "" so "no password set" remains visible), and credentials in
 * `mqtt.url` are masked.
 */
export function redactedConfig(config: Readonly<Config>): Config {
  const copy = structuredClone(config) as Config;
  const tree = copy as unknown as Record<string, unknown>;
  for (const { path, spec } of schemaLeaves()) {
    if (spec.sensitive !== true) continue;
    const keys = path.split(".");
    const last = keys.pop() ?? "";
    let parent: unknown = tree;
    for (const k of keys) parent = typeof parent === "object" && parent !== null ? (parent as Record<string, unknown>)[k] : undefined;
    if (typeof parent === "object" && parent !== null) {
      const p = parent as Record<string, unknown>;
      if (p[last] !== "" && p[last] !== undefined) p[last] = REDACTED;
    }
  }
  // API keys live inside the proxy list (one leaf): hide each non-empty one, keep hosts visible
  const proxies = copy.esphome.proxies.map((p) => (p.encryptionKey ? { ...p, encryptionKey: REDACTED } : p));
  return { ...copy, mqtt: { ...copy.mqtt, url: redactUrl(copy.mqtt.url) }, esphome: { ...copy.esphome, proxies } };
}
