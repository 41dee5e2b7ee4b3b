/**
 * MQTT topic and ID builders for the Home Assistant side (contract.md §5). Pure: no client, no I/O.
 *
 * Every builder refuses topics that contain the wildcards `+`/`#` or an empty level, in the
 * spirit of zigbee2mqtt's publish guard (style.md §2(a) 9): a wildcard in a publish topic is
 * always a bug, and an empty level usually means a missing config value.
 */

export type Component = "sensor" | "binary_sensor";

export interface TopicOptions {
  /** Root of the bridge's own topics. Default `daly_bms` (contract.md §5). */
  baseTopic?: string;
  /** HA discovery prefix, configurable in HA's MQTT options. Default `homeassistant`. */
  discoveryPrefix?: string;
}

export const DEFAULT_BASE_TOPIC = "daly_bms";
export const DEFAULT_DISCOVERY_PREFIX = "homeassistant";
export const BMS_ID_PREFIX = "daly_bms_";

// Six hex pairs, separated consistently by ":" or "-", or not at all (\2 repeats the separator).
const MAC_RE = /^([0-9a-f]{2})([:-]?)(?:[0-9a-f]{2}\2){4}[0-9a-f]{2}$/i;

/**
 * HA requires node_id/object_id in a discovery topic to match [a-zA-Z0-9_-]
 * (home-assistant.md §1.1); our own keys are stricter: snake_case.
 */
const ENTITY_KEY_RE = /^[a-z0-9_]+$/;

/** Returns the 12 lower-case hex digits of a MAC; throws if `mac` is not a MAC address. */
function macHex(mac: string): string {
  const trimmed = mac.trim();
  if (!MAC_RE.test(trimmed)) {
    throw new Error(`invalid MAC address "${mac}": expected 6 hex byte pairs separated by ":", "-" or nothing`);
  }
  return trimmed.replace(/[:-]/g, "").toLowerCase();
}

/** `daly_bms_` + 12 lower-case hex digits (contract.md §5). Throws on an invalid MAC. */
export function bmsIdFromMac(mac: string): string {
  return BMS_ID_PREFIX + macHex(mac);
}

/** `c0:d6:3c:57:2a:01`: the form HA's device registry stores for a `mac` connection. */
export function normalizeMac(mac: string): string {
  return (macHex(mac).match(/../g) ?? []).join(":");
}

/**
 * Throws unless `topic` is publishable: non-empty, no `+`/`#`, no empty level, no NUL, and not
 * starting with `$` (reserved for broker topics such as `$SYS`).
 */
export function assertPublishTopic(topic: string): string {
  if (topic.length === 0) throw new Error("MQTT topic must not be empty");
  if (topic.startsWith("$")) throw new Error(`MQTT topic "${topic}" must not start with "$" (reserved for the broker)`);
  if (/[+#\u0000]/.test(topic)) throw new Error(`MQTT topic "${topic}" must not contain "+", "#" or NUL`);
  if (topic.split("/").some((level) => level.length === 0)) {
    throw new Error(`MQTT topic "${topic}" must not contain empty levels (leading, trailing or double "/")`);
  }
  return topic;
}

function join(...levels: string[]): string {
  return assertPublishTopic(levels.join("/"));
}

/** Resolves defaults once; also validates both roots so a bad config fails early. */
export function resolveTopicOptions(opts: TopicOptions = {}): Required<TopicOptions> {
  const baseTopic = opts.baseTopic ?? DEFAULT_BASE_TOPIC;
  const discoveryPrefix = opts.discoveryPrefix ?? DEFAULT_DISCOVERY_PREFIX;
  assertPublishTopic(baseTopic);
  assertPublishTopic(discoveryPrefix);
  return { baseTopic, discoveryPrefix };
}

function assertBmsId(bmsId: string): void {
  if (!/^daly_bms_[0-9a-f]{12}$/.test(bmsId)) {
    throw new Error(`invalid bms_id "${bmsId}": expected daly_bms_ + 12 lower-case hex digits (use bmsIdFromMac)`);
  }
}

/** Same rule as the `bridgeId` config key: one topic level of letters, digits, `_` and `-`. */
export const BRIDGE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function assertBridgeId(bridgeId: string): string {
  if (!BRIDGE_ID_RE.test(bridgeId)) throw new Error(`invalid bridge id "${bridgeId}": expected 1-64 letters, digits, "_" or "-"`);
  return bridgeId;
}

function bridgeTopic(bridgeId: string, leaf: string, opts?: TopicOptions): string {
  return join(resolveTopicOptions(opts).baseTopic, "bridge", assertBridgeId(bridgeId), leaf);
}

/** `<base>/bridge/<bridge_id>/availability`: this bridge's LWT, `online`/`offline`, retained. */
export function bridgeAvailabilityTopic(bridgeId: string, opts?: TopicOptions): string {
  return bridgeTopic(bridgeId, "availability", opts);
}

/** `<base>/bridge/<bridge_id>/registry`: `{bms_id: [entity keys]}` this bridge has discovered, retained. */
export function bridgeRegistryTopic(bridgeId: string, opts?: TopicOptions): string {
  return bridgeTopic(bridgeId, "registry", opts);
}

/** `<base>/bridge/<bridge_id>/info`: `{version, instance, bms: [bms_id]}`, retained (which BMS it polls). */
export function bridgeInfoTopic(bridgeId: string, opts?: TopicOptions): string {
  return bridgeTopic(bridgeId, "info", opts);
}

/** `<base>/bridge/<bridge_id>/ping` → `…/pong`: a live bridge echoes the nonce (not retained). */
export function bridgePingTopic(bridgeId: string, opts?: TopicOptions): string {
  return bridgeTopic(bridgeId, "ping", opts);
}

export function bridgePongTopic(bridgeId: string, opts?: TopicOptions): string {
  return bridgeTopic(bridgeId, "pong", opts);
}

/** Before "Scale out" every bridge shared these two; each bridge now clears/migrates them once. */
export function legacyBridgeAvailabilityTopic(opts?: TopicOptions): string {
  return join(resolveTopicOptions(opts).baseTopic, "bridge", "availability");
}

export function legacyRegistryTopic(opts?: TopicOptions): string {
  return join(resolveTopicOptions(opts).baseTopic, "bridge", "registry");
}

/** `<base>/<bms_id>/availability`: per-BMS `online`/`offline`, retained. */
export function bmsAvailabilityTopic(bmsId: string, opts?: TopicOptions): string {
  assertBmsId(bmsId);
  return join(resolveTopicOptions(opts).baseTopic, bmsId, "availability");
}

/** `<base>/<bms_id>/state`: the snapshot JSON (contract.md §2). */
export function bmsStateTopic(bmsId: string, opts?: TopicOptions): string {
  assertBmsId(bmsId);
  return join(resolveTopicOptions(opts).baseTopic, bmsId, "state");
}

/** `<prefix>/<component>/<bms_id>/<key>/config` (home-assistant.md §1.1: node_id = bms_id). */
export function discoveryConfigTopic(component: Component, bmsId: string, key: string, opts?: TopicOptions): string {
  assertBmsId(bmsId);
  if (!ENTITY_KEY_RE.test(key)) throw new Error(`invalid entity key "${key}": expected [a-z0-9_]+`);
  return join(resolveTopicOptions(opts).discoveryPrefix, component, bmsId, key, "config");
}
