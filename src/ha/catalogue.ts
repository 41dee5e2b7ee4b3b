/**
 * The Home Assistant entity catalogue: one typed row per entity (style.md §2(a) 7). Discovery
 * payloads are generated from these rows (discovery.ts); nothing else decides units or classes.
 *
 * Every entity reads the per-BMS state topic, whose payload is the Snapshot JSON (contract.md §2),
 * through a `value_template`. Keys are public API: `unique_id` = `<bms_id>_<key>`, so a key must
 * never change once released (test/unit/ha-catalogue.test.ts pins the list).
 *
 * Unit/class/state-class choices follow home-assistant.md §2.1 (HA ≥ 2025.7 rejects a unit that
 * does not fit the device class, §2.2); categories follow §1.8 and §2.5.
 */
import type { Snapshot } from "../bms/snapshot.js";
import type { Component } from "./topics.js";

export type { Component } from "./topics.js";

export type SensorDeviceClass = "voltage" | "current" | "power" | "battery" | "temperature" | "energy" | "enum";
export type BinarySensorDeviceClass = "power" | "plug" | "running" | "problem";
export type StateClass = "measurement" | "total" | "total_increasing";

interface EntityBase {
  /** Stable snake_case key: discovery topic object id and `unique_id` suffix. */
  key: string;
  /** Entity name without the device name (has_entity_name, home-assistant.md §1.8). */
  name: string;
  /** The Snapshot field the entity shows; the entity exists only when this value is present. */
  source: keyof Snapshot;
  /** Jinja2 template rendered by HA against the state payload (`value_json` = Snapshot). */
  valueTemplate: string;
  icon?: string;
  entityCategory?: "diagnostic";
  /** Set only to `false`; absent means HA's default (enabled). */
  enabledByDefault?: false;
  /** json_attributes_template, read from the state topic; must render a JSON object. */
  attributesTemplate?: string;
}

export interface SensorEntity extends EntityBase {
  component: "sensor";
  deviceClass?: SensorDeviceClass;
  unit?: string;
  stateClass?: StateClass;
  /**
   * suggested_display_precision: decimals shown in the UI (display only). Set to the protocol's
   * resolution (daly-protocol.md: 0.1 V, 0.1 A, 0.1 %, 0.1 Ah, 1 mV, 1 °C).
   */
  precision?: number;
  /** Only with deviceClass "enum"; HA forbids unit and state_class alongside (§1.2). */
  options?: readonly string[];
}

export interface BinarySensorEntity extends EntityBase {
  component: "binary_sensor";
  deviceClass?: BinarySensorDeviceClass;
}

export type EntitySpec = SensorEntity | BinarySensorEntity;

/** `{{ value_json.<field> }}`: a missing field renders "", which HA ignores for numeric sensors. */
export function valueTemplate(field: keyof Snapshot): string {
  return `{{ value_json.${field} }}`;
}

/**
 * `ON`/`OFF` for a truthy/falsy field (HA's default payload_on/payload_off). A field missing from
 * one payload renders "", which the MQTT binary_sensor ignores ("Empty template output"), so a
 * partial snapshot never reports a false OFF.
 */
export function onOffTemplate(field: keyof Snapshot): string {
  return ifDefined(field, `{{ 'ON' if value_json.${field} else 'OFF' }}`);
}

/** Renders `body` only when `field` is in the payload, else "" (never a made-up value). */
export function ifDefined(field: keyof Snapshot, body: string): string {
  return `{% if value_json.${field} is defined %}${body}{% endif %}`;
}

const PACK_STATES = ["idle", "charging", "discharging"] as const;
const DIAG = "diagnostic" as const;
/**
 * Attributes of the alarm entities: every active alarm, and which of them are documented names
 * (`named`) and which only a bit number (`unnamed`: `fault_<reg>_bit_<n>`, `unknown_b<b>_bit<n>`).
 */
const ALARM_ATTRIBUTES =
  "{% set a = value_json.alarms | default([]) %}{% set u = value_json.alarms_unnamed | default([]) %}" +
  "{{ {'alarms': a, 'named': a | reject('in', u) | list, 'unnamed': u} | tojson }}";

/**
 * Fixed entities, in the order they are discovered. Per-cell and per-sensor entities come from
 * cellEntity()/temperatureEntity().
 */
export const CATALOGUE: readonly EntitySpec[] = [
  // --- pack -----------------------------------------------------------------------------------
  { key: "voltage", component: "sensor", name: "Voltage", source: "voltage_V", valueTemplate: valueTemplate("voltage_V"),
    deviceClass: "voltage", unit: "V", stateClass: "measurement", precision: 1 },
  { key: "current", component: "sensor", name: "Current", source: "current_A", valueTemplate: valueTemplate("current_A"),
    deviceClass: "current", unit: "A", stateClass: "measurement", precision: 1 },
  { key: "power", component: "sensor", name: "Power", source: "power_W", valueTemplate: valueTemplate("power_W"),
    deviceClass: "power", unit: "W", stateClass: "measurement", precision: 0 },
  { key: "soc", component: "sensor", name: "State of charge", source: "soc_pct", valueTemplate: valueTemplate("soc_pct"),
    deviceClass: "battery", unit: "%", stateClass: "measurement", precision: 1 },
  // No device class exists for electric charge: Ah goes without one (home-assistant.md §2.1 notes).
  { key: "remaining_capacity", component: "sensor", name: "Remaining capacity", source: "remaining_Ah",
    valueTemplate: valueTemplate("remaining_Ah"), unit: "Ah", stateClass: "measurement", precision: 1, icon: "mdi:battery-medium" },
  // A setting, not a measurement: no state_class, so HA keeps no long-term statistics for it.
  { key: "rated_capacity", component: "sensor", name: "Rated capacity", source: "rated_capacity_Ah",
    valueTemplate: valueTemplate("rated_capacity_Ah"), unit: "Ah", precision: 1, icon: "mdi:battery-high", entityCategory: DIAG },
  // Counter without unit or device class (§2.5); total_increasing treats a BMS reset as a new meter.
  { key: "cycles", component: "sensor", name: "Cycles", source: "cycles", valueTemplate: valueTemplate("cycles"),
    stateClass: "total_increasing", precision: 0, icon: "mdi:battery-sync", entityCategory: DIAG },
  { key: "state", component: "sensor", name: "State", source: "state", valueTemplate: valueTemplate("state"),
    deviceClass: "enum", options: PACK_STATES, icon: "mdi:state-machine" },
  // --- cell summary ---------------------------------------------------------------------------
  { key: "cell_min", component: "sensor", name: "Min cell voltage", source: "min_cell_mV", valueTemplate: valueTemplate("min_cell_mV"),
    deviceClass: "voltage", unit: "mV", stateClass: "measurement", precision: 0 },
  { key: "cell_max", component: "sensor", name: "Max cell voltage", source: "max_cell_mV", valueTemplate: valueTemplate("max_cell_mV"),
    deviceClass: "voltage", unit: "mV", stateClass: "measurement", precision: 0 },
  { key: "cell_avg", component: "sensor", name: "Average cell voltage", source: "avg_cell_mV", valueTemplate: valueTemplate("avg_cell_mV"),
    deviceClass: "voltage", unit: "mV", stateClass: "measurement", precision: 0 },
  { key: "cell_delta", component: "sensor", name: "Cell voltage delta", source: "delta_cell_mV",
    valueTemplate: valueTemplate("delta_cell_mV"), deviceClass: "voltage", unit: "mV", stateClass: "measurement", precision: 0,
    entityCategory: DIAG },
  // Cell numbers are labels, not quantities: no state_class (no statistics); precision 0 keeps
  // them numeric in HA so a missing value is ignored rather than shown as "".
  { key: "cell_min_index", component: "sensor", name: "Min cell number", source: "min_cell_index",
    valueTemplate: valueTemplate("min_cell_index"), precision: 0, icon: "mdi:numeric", entityCategory: DIAG, enabledByDefault: false },
  { key: "cell_max_index", component: "sensor", name: "Max cell number", source: "max_cell_index",
    valueTemplate: valueTemplate("max_cell_index"), precision: 0, icon: "mdi:numeric", entityCategory: DIAG, enabledByDefault: false },
  // --- temperatures ---------------------------------------------------------------------------
  { key: "temperature_min", component: "sensor", name: "Min temperature", source: "min_temp_C", valueTemplate: valueTemplate("min_temp_C"),
    deviceClass: "temperature", unit: "°C", stateClass: "measurement", precision: 0 },
  { key: "temperature_max", component: "sensor", name: "Max temperature", source: "max_temp_C", valueTemplate: valueTemplate("max_temp_C"),
    deviceClass: "temperature", unit: "°C", stateClass: "measurement", precision: 0 },
  { key: "mos_temperature", component: "sensor", name: "MOSFET temperature", source: "mos_temp_C",
    valueTemplate: valueTemplate("mos_temp_C"), deviceClass: "temperature", unit: "°C", stateClass: "measurement", precision: 0,
    entityCategory: DIAG },
  { key: "board_temperature", component: "sensor", name: "Board temperature", source: "board_temp_C",
    valueTemplate: valueTemplate("board_temp_C"), deviceClass: "temperature", unit: "°C", stateClass: "measurement", precision: 0,
    entityCategory: DIAG },
  // --- switches and status --------------------------------------------------------------------
  { key: "charge_mosfet", component: "binary_sensor", name: "Charge MOSFET", source: "charge_mosfet",
    valueTemplate: onOffTemplate("charge_mosfet"), deviceClass: "power", entityCategory: DIAG },
  { key: "discharge_mosfet", component: "binary_sensor", name: "Discharge MOSFET", source: "discharge_mosfet",
    valueTemplate: onOffTemplate("discharge_mosfet"), deviceClass: "power", entityCategory: DIAG },
  { key: "charger", component: "binary_sensor", name: "Charger", source: "charger_connected",
    valueTemplate: onOffTemplate("charger_connected"), deviceClass: "plug" },
  { key: "load", component: "binary_sensor", name: "Load", source: "load_connected",
    valueTemplate: onOffTemplate("load_connected"), deviceClass: "power" },
  { key: "balancing", component: "binary_sensor", name: "Balancing", source: "balancing_active",
    valueTemplate: onOffTemplate("balancing_active"), deviceClass: "running", icon: "mdi:scale-balance" },
  { key: "balancing_cells", component: "sensor", name: "Balancing cells", source: "balancing",
    valueTemplate: ifDefined("balancing", "{{ value_json.balancing | join(', ') or 'none' }}"), icon: "mdi:scale-balance",
    entityCategory: DIAG, enabledByDefault: false },
  // On while any alarm is active; the list itself goes into the entity's attributes.
  { key: "problem", component: "binary_sensor", name: "Problem", source: "alarms", valueTemplate: onOffTemplate("alarms"),
    deviceClass: "problem", entityCategory: DIAG, attributesTemplate: ALARM_ATTRIBUTES },
  // Text state: HA drops states longer than 255 characters, so cut the list there.
  { key: "alarms", component: "sensor", name: "Alarms", source: "alarms",
    valueTemplate: ifDefined("alarms", "{{ (value_json.alarms | join(', ') or 'none') | truncate(255, true, '…', 0) }}"),
    icon: "mdi:alert-circle-outline", entityCategory: DIAG, attributesTemplate: ALARM_ATTRIBUTES },
  // --- energy dashboard (home-assistant.md §2.3: two positive, cumulative kWh sensors) ----------
  { key: "energy_charged", component: "sensor", name: "Energy charged", source: "energy_charged_kWh",
    valueTemplate: valueTemplate("energy_charged_kWh"), deviceClass: "energy", unit: "kWh", stateClass: "total_increasing", precision: 3 },
  { key: "energy_discharged", component: "sensor", name: "Energy discharged", source: "energy_discharged_kWh",
    valueTemplate: valueTemplate("energy_discharged_kWh"), deviceClass: "energy", unit: "kWh", stateClass: "total_increasing", precision: 3 },
  // --- bridge diagnostics ---------------------------------------------------------------------
  { key: "status", component: "sensor", name: "Status", source: "status", valueTemplate: valueTemplate("status"),
    deviceClass: "enum", options: ["ok", "sleeping", "busy"], icon: "mdi:sleep", entityCategory: DIAG },
  { key: "rejected_samples", component: "sensor", name: "Rejected samples", source: "rejected_samples",
    valueTemplate: valueTemplate("rejected_samples"), stateClass: "total_increasing", precision: 0, icon: "mdi:filter-remove",
    entityCategory: DIAG },
  // --- identity -------------------------------------------------------------------------------
  { key: "protocol", component: "sensor", name: "Protocol", source: "protocol", valueTemplate: valueTemplate("protocol"),
    icon: "mdi:protocol", entityCategory: DIAG },
  { key: "firmware_version", component: "sensor", name: "Firmware version", source: "firmware_version",
    valueTemplate: valueTemplate("firmware_version"), icon: "mdi:chip", entityCategory: DIAG },
  { key: "hardware_version", component: "sensor", name: "Hardware version", source: "hardware_version",
    valueTemplate: valueTemplate("hardware_version"), icon: "mdi:memory", entityCategory: DIAG },
];

/**
 * `cell_<n>` (1-based) reads `cells_mV[n-1]`. Per-cell values are fast-changing detail:
 * diagnostic and disabled by default (home-assistant.md §1.8, §2.5); cell_min/max/delta carry the
 * summary. Users enable the cells they want in HA.
 */
export function cellEntity(n: number): SensorEntity {
  assertOrdinal(n, "cell");
  return {
    key: `cell_${n}`, component: "sensor", name: `Cell ${n}`, source: "cells_mV",
    valueTemplate: `{{ value_json.cells_mV[${n - 1}] }}`,
    // Enabled and on the main card: per-cell voltages are why LiFePO4 owners install a BMS bridge
    // (landscape.md §4); HA's "diagnostic" advice (home-assistant.md §2.5) loses to users here.
    deviceClass: "voltage", unit: "mV", stateClass: "measurement", precision: 0,
  };
}

/** `temperature_<n>` (1-based) reads `temperatures_C[n-1]`; sensors after the first are diagnostic (§2.5). */
export function temperatureEntity(n: number): SensorEntity {
  assertOrdinal(n, "temperature sensor");
  return {
    key: `temperature_${n}`, component: "sensor", name: `Temperature ${n}`, source: "temperatures_C",
    valueTemplate: `{{ value_json.temperatures_C[${n - 1}] }}`,
    deviceClass: "temperature", unit: "°C", stateClass: "measurement", precision: 0,
    ...(n > 1 ? { entityCategory: DIAG } : {}),
  };
}

function assertOrdinal(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} number must be an integer ≥ 1, got ${n}`);
}

/** The entities a snapshot supports: fixed rows whose source is present, then cells, then temperatures. */
export function entitiesFor(snapshot: Snapshot): EntitySpec[] {
  const fixed = CATALOGUE.filter((e) => snapshot[e.source] !== undefined);
  const cells = (snapshot.cells_mV ?? []).map((_, i) => cellEntity(i + 1));
  const temps = (snapshot.temperatures_C ?? []).map((_, i) => temperatureEntity(i + 1));
  return [...fixed, ...cells, ...temps];
}

/** Component of a key, including generated ones; undefined for keys the catalogue never had. */
export function componentOfKey(key: string): Component | undefined {
  if (/^(cell|temperature)_[1-9][0-9]*$/.test(key)) return "sensor";
  return CATALOGUE.find((e) => e.key === key)?.component;
}
