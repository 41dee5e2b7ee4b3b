/**
 * Home Assistant MQTT discovery payloads (single-component discovery, home-assistant.md §1.3:
 * works on every HA ≥ 2023.9). Pure: returns `{ topic, payload }` messages; publishing them
 * (retained) and clearing stale ones is the publisher's job.
 *
 * Payloads use full key names, not abbreviations (§1.6), and are built in one fixed key order so
 * that a stable-stringified payload only changes when its content does.
 */
import type { Protocol, Snapshot } from "../bms/snapshot.js";
import { componentOfKey, entitiesFor, type EntitySpec } from "./catalogue.js";
import {
  bmsAvailabilityTopic,
  bmsIdFromMac,
  bmsStateTopic,
  bridgeAvailabilityTopic,
  discoveryConfigTopic,
  normalizeMac,
  type Component,
  type TopicOptions,
} from "./topics.js";

export const PAYLOAD_ONLINE = "online";
export const PAYLOAD_OFFLINE = "offline";
export const ORIGIN_NAME = "daly-bms-bridge";
export const MANUFACTURER = "Daly";

export interface DiscoveryContext {
  /** BMS Bluetooth address; the only input to every ID (never the name, §5.2 "duplicate entities"). */
  mac: string;
  /** Display name of the HA device; default `Daly BMS <last 6 hex digits>`. */
  name?: string;
  topics?: TopicOptions;
  model?: string;
  /** Device sw_version; defaults to the snapshot's firmware_version. */
  swVersion?: string;
  /** Device hw_version; defaults to the snapshot's hardware_version. */
  hwVersion?: string;
  /** Version of this bridge, sent as origin.sw_version. */
  bridgeVersion: string;
  /** Id of the bridge that polls this BMS: its availability topic joins the entity's list. */
  bridgeId: string;
  /** Used for the default model when the snapshot has no protocol. */
  protocol?: Protocol;
  /** origin.support_url; omitted when not given. */
  supportUrl?: string;
  /** `identifiers[0]` of a bridge device this BMS is reached through (device via_device). */
  viaDevice?: string;
  /** expire_after [s] on every entity; omitted when not given (availability topics cover outages). */
  expireAfterSeconds?: number;
}

export interface AvailabilityEntry {
  topic: string;
  payload_available: typeof PAYLOAD_ONLINE;
  payload_not_available: typeof PAYLOAD_OFFLINE;
}

export interface DeviceBlock {
  identifiers: string[];
  name: string;
  manufacturer: string;
  model: string;
  sw_version?: string;
  hw_version?: string;
  connections: [string, string][];
  via_device?: string;
}

export interface OriginBlock {
  name: string;
  sw_version: string;
  support_url?: string;
}

export interface DiscoveryPayload {
  unique_id: string;
  /** Entity-id hint for HA < 2025.10; ignored from 2026.4 (home-assistant.md §1.8). */
  object_id: string;
  /** Entity-id hint for HA ≥ 2025.10, incl. domain; its presence silences the object_id warning. */
  default_entity_id: string;
  has_entity_name: true;
  name: string;
  state_topic: string;
  value_template: string;
  device_class?: string;
  unit_of_measurement?: string;
  state_class?: string;
  suggested_display_precision?: number;
  options?: string[];
  payload_on?: string;
  payload_off?: string;
  json_attributes_topic?: string;
  json_attributes_template?: string;
  icon?: string;
  entity_category?: string;
  enabled_by_default?: boolean;
  expire_after?: number;
  availability: AvailabilityEntry[];
  availability_mode: "all";
  device: DeviceBlock;
  origin: OriginBlock;
}

export interface DiscoveryMessage {
  key: string;
  component: Component;
  topic: string;
  payload: DiscoveryPayload;
}

/** An empty retained payload deletes a discovered entity (home-assistant.md §1.2). */
export interface ClearMessage {
  key: string;
  component: Component;
  topic: string;
  payload: "";
}

const PROTOCOL_MODEL: Record<Protocol, string> = {
  a5: "Smart BMS (legacy A5)",
  d2: "Smart BMS (Modbus D2)",
  p81: "Smart BMS (0x81)",
};

/** Copy of `o` without undefined values; keeps key order. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function defaultDeviceName(mac: string): string {
  return `Daly BMS ${bmsIdFromMac(mac).slice(-6).toUpperCase()}`;
}

export function deviceBlock(ctx: DiscoveryContext, snapshot: Snapshot): DeviceBlock {
  const protocol = snapshot.protocol ?? ctx.protocol;
  const name = ctx.name?.trim();
  return defined({
    identifiers: [bmsIdFromMac(ctx.mac)],
    name: name !== undefined && name.length > 0 ? name : defaultDeviceName(ctx.mac),
    manufacturer: MANUFACTURER,
    model: ctx.model ?? (protocol !== undefined ? PROTOCOL_MODEL[protocol] : "Smart BMS"),
    sw_version: ctx.swVersion ?? snapshot.firmware_version,
    hw_version: ctx.hwVersion ?? snapshot.hardware_version,
    connections: [["mac", normalizeMac(ctx.mac)]],
    via_device: ctx.viaDevice,
  });
}

export function originBlock(ctx: DiscoveryContext): OriginBlock {
  return defined({ name: ORIGIN_NAME, sw_version: ctx.bridgeVersion, support_url: ctx.supportUrl });
}

/**
 * The polling bridge's topic and the BMS's: both must say `online` (availability_mode `all`,
 * contract.md §5). Another bridge stopping never touches either.
 */
export function availabilityList(bmsId: string, bridgeId: string, topics?: TopicOptions): AvailabilityEntry[] {
  return [bridgeAvailabilityTopic(bridgeId, topics), bmsAvailabilityTopic(bmsId, topics)].map((topic) => ({
    topic,
    payload_available: PAYLOAD_ONLINE,
    payload_not_available: PAYLOAD_OFFLINE,
  }));
}

/** The discovery payload of one catalogue entity. `device`/`origin` are shared by all entities. */
export function entityPayload(
  ctx: DiscoveryContext,
  entity: EntitySpec,
  device: DeviceBlock,
  origin: OriginBlock,
): DiscoveryPayload {
  const bmsId = bmsIdFromMac(ctx.mac);
  const uniqueId = `${bmsId}_${entity.key}`;
  const stateTopic = bmsStateTopic(bmsId, ctx.topics);
  const sensor = entity.component === "sensor" ? entity : undefined;
  const binary = entity.component === "binary_sensor" ? entity : undefined;
  return defined<DiscoveryPayload>({
    unique_id: uniqueId,
    object_id: uniqueId,
    default_entity_id: `${entity.component}.${uniqueId}`,
    has_entity_name: true,
    name: entity.name,
    state_topic: stateTopic,
    value_template: entity.valueTemplate,
    device_class: entity.deviceClass,
    unit_of_measurement: sensor?.unit,
    state_class: sensor?.stateClass,
    suggested_display_precision: sensor?.precision,
    options: sensor?.options !== undefined ? [...sensor.options] : undefined,
    payload_on: binary !== undefined ? "ON" : undefined,
    payload_off: binary !== undefined ? "OFF" : undefined,
    json_attributes_topic: entity.attributesTemplate !== undefined ? stateTopic : undefined,
    json_attributes_template: entity.attributesTemplate,
    icon: entity.icon,
    entity_category: entity.entityCategory,
    enabled_by_default: entity.enabledByDefault,
    expire_after: ctx.expireAfterSeconds,
    availability: availabilityList(bmsId, ctx.bridgeId, ctx.topics),
    availability_mode: "all",
    device,
    origin,
  });
}

/** One retained config message per entity the snapshot supports (catalogue.ts entitiesFor). */
export function buildDiscovery(ctx: DiscoveryContext, snapshot: Snapshot): DiscoveryMessage[] {
  const bmsId = bmsIdFromMac(ctx.mac);
  const device = deviceBlock(ctx, snapshot);
  const origin = originBlock(ctx);
  return entitiesFor(snapshot).map((entity) => ({
    key: entity.key,
    component: entity.component,
    topic: discoveryConfigTopic(entity.component, bmsId, entity.key, ctx.topics),
    payload: entityPayload(ctx, entity, device, origin),
  }));
}

/** Entity keys a snapshot produces, in discovery order. */
export function discoveryKeys(snapshot: Snapshot): string[] {
  return entitiesFor(snapshot).map((e) => e.key);
}

/** Keys discovered before but not now (e.g. 16 → 4 cells): their configs must be cleared. */
export function staleConfigs(previousKeys: readonly string[], currentKeys: readonly string[]): string[] {
  const current = new Set(currentKeys);
  return [...new Set(previousKeys)].filter((k) => !current.has(k));
}

/**
 * Empty retained payloads that delete `keys`. A key the catalogue no longer knows (removed in a
 * later version) is cleared under both components, since its component can't be looked up.
 */
export function clearMessages(ctx: Pick<DiscoveryContext, "mac" | "topics">, keys: readonly string[]): ClearMessage[] {
  const bmsId = bmsIdFromMac(ctx.mac);
  return keys.flatMap((key) => {
    const known = componentOfKey(key);
    const components: Component[] = known !== undefined ? [known] : ["sensor", "binary_sensor"];
    return components.map((component) => ({
      key,
      component,
      topic: discoveryConfigTopic(component, bmsId, key, ctx.topics),
      payload: "" as const,
    }));
  });
}
