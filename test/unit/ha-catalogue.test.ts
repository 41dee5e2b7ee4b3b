import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Snapshot } from "../../src/bms/snapshot.js";
import {
  CATALOGUE,
  cellEntity,
  componentOfKey,
  entitiesFor,
  temperatureEntity,
  type EntitySpec,
  type SensorEntity,
} from "../../src/ha/catalogue.js";
import { buildDiscovery, clearMessages, discoveryKeys, staleConfigs } from "../../src/ha/discovery.js";
import { BMS_ID, MAC, SNAPSHOT_4S2T, SNAPSHOT_FULL_16S } from "../fixtures/ha/snapshots.js";

/**
 * Transcribed from /work/shared/docs/home-assistant.md §2.1 "Allowed units and state classes for
 * the classes this bridge needs" (dev docs sensor table + core sensor/const.py
 * DEVICE_CLASS_STATE_CLASSES). `null` unit = no unit; "*" = anything.
 */
const ALLOWED_SENSOR: Record<string, { units: readonly (string | null)[] | "*"; stateClasses: readonly (string | null)[] | "*" }> = {
  voltage: { units: ["V", "mV", "µV", "kV", "MV"], stateClasses: ["measurement", null] },
  current: { units: ["A", "mA", "µA"], stateClasses: ["measurement", null] },
  power: { units: ["mW", "W", "kW", "MW", "GW", "TW"], stateClasses: ["measurement", null] },
  energy: { units: ["J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"],
    stateClasses: ["total", "total_increasing", null] },
  energy_storage: { units: ["J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"],
    stateClasses: ["measurement", null] },
  battery: { units: ["%"], stateClasses: ["measurement", null] },
  temperature: { units: ["°C", "°F", "K"], stateClasses: ["measurement", null] },
  temperature_delta: { units: ["°C", "°F", "K"], stateClasses: ["measurement", null] },
  duration: { units: ["d", "h", "min", "s", "ms", "µs"], stateClasses: ["measurement", "total", "total_increasing", null] },
  signal_strength: { units: ["dB", "dBm"], stateClasses: ["measurement", null] },
  power_factor: { units: ["%", null], stateClasses: ["measurement", null] },
  enum: { units: [null], stateClasses: [null] },
  timestamp: { units: [null], stateClasses: [null] },
  date: { units: [null], stateClasses: [null] },
  // No device_class: any unit, any state class (Ah and cycle counts live here, §2.1 notes).
  none: { units: "*", stateClasses: "*" },
};

/** home-assistant.md §2.4 "Binary sensor device classes relevant here". */
const ALLOWED_BINARY = ["battery", "battery_charging", "power", "running", "problem", "plug", "connectivity", "safety",
  "heat", "cold", "update"];

/** Every entity the catalogue can produce: fixed rows plus a few generated ones. */
const ALL: EntitySpec[] = [...CATALOGUE, cellEntity(1), cellEntity(16), temperatureEntity(1), temperatureEntity(4)];

function isSensor(e: EntitySpec): e is SensorEntity {
  return e.component === "sensor";
}

describe("ha/catalogue rules (home-assistant.md §2)", () => {
  it("every sensor's (device_class, unit, state_class) is allowed (§2.1)", () => {
    for (const e of ALL.filter(isSensor)) {
      const rule = ALLOWED_SENSOR[e.deviceClass ?? "none"];
      assert.ok(rule, `${e.key}: device_class ${e.deviceClass} not in the allowed table`);
      const unit = e.unit ?? null;
      const stateClass = e.stateClass ?? null;
      assert.ok(rule.units === "*" || rule.units.includes(unit), `${e.key}: unit ${unit} not allowed with ${e.deviceClass}`);
      assert.ok(rule.stateClasses === "*" || rule.stateClasses.includes(stateClass),
        `${e.key}: state_class ${stateClass} not allowed with ${e.deviceClass}`);
    }
  });

  it("a device class other than enum always has a unit (§2.2 'native unit None' warning)", () => {
    for (const e of ALL.filter(isSensor)) {
      if (e.deviceClass !== undefined && e.deviceClass !== "enum") assert.ok(e.unit, `${e.key} has no unit`);
    }
  });

  it("options only on enum sensors, never with unit or state_class (§1.2)", () => {
    for (const e of ALL.filter(isSensor)) {
      if (e.options === undefined) continue;
      assert.equal(e.deviceClass, "enum", e.key);
      assert.equal(e.unit, undefined, e.key);
      assert.equal(e.stateClass, undefined, e.key);
    }
    const state = CATALOGUE.find((e) => e.key === "state");
    assert.ok(state && isSensor(state));
    assert.deepEqual(state.options, ["idle", "charging", "discharging"]);
  });

  it("binary sensors use allowed device classes (§2.4)", () => {
    for (const e of ALL.filter((x) => x.component === "binary_sensor")) {
      assert.ok(e.deviceClass === undefined || ALLOWED_BINARY.includes(e.deviceClass), `${e.key}: ${e.deviceClass}`);
    }
  });

  it("entity_category is only ever diagnostic (§1.7)", () => {
    for (const e of ALL) assert.ok(e.entityCategory === undefined || e.entityCategory === "diagnostic", e.key);
  });

  it("names are short, do not carry the device name, keys are snake_case and unique", () => {
    const keys = CATALOGUE.map((e) => e.key);
    assert.equal(new Set(keys).size, keys.length, "duplicate catalogue key");
    for (const e of ALL) {
      assert.match(e.key, /^[a-z0-9_]+$/);
      assert.doesNotMatch(e.name, /daly|bms/i, `${e.key}: name repeats the device name (§1.8)`);
      assert.ok(e.name.length > 0 && e.name.length <= 30, e.key);
    }
  });

  it("keeps the contract §5 keys", () => {
    const keys = discoveryKeys(SNAPSHOT_4S2T);
    for (const k of ["voltage", "current", "power", "soc", "remaining_capacity", "cycles", "cell_1", "cell_4",
      "temperature_1", "temperature_2", "cell_min", "cell_max", "cell_delta", "charge_mosfet", "discharge_mosfet"]) {
      assert.ok(keys.includes(k), k);
    }
  });

  it("componentOfKey knows fixed and generated keys", () => {
    assert.equal(componentOfKey("cell_12"), "sensor");
    assert.equal(componentOfKey("temperature_3"), "sensor");
    assert.equal(componentOfKey("problem"), "binary_sensor");
    assert.equal(componentOfKey("cell_0"), undefined);
    assert.equal(componentOfKey("nope"), undefined);
  });

  it("generators reject non-positive or fractional numbers", () => {
    assert.throws(() => cellEntity(0));
    assert.throws(() => temperatureEntity(1.5));
  });
});

describe("ha/catalogue unique IDs (public API)", () => {
  it("are unique and well-formed for a full snapshot", () => {
    const ids = buildDiscovery({ mac: MAC, bridgeVersion: "0.0.0", bridgeId: "test" }, SNAPSHOT_FULL_16S).map((m) => m.payload.unique_id);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.match(id, /^daly_bms_[0-9a-f]{12}_[a-z0-9_]+$/);
    assert.equal(ids.length, CATALOGUE.length + 16 + 4, "full snapshot should enable every fixed entity");
  });

  it("golden: sorted unique IDs of the 4-cell / 2-sensor snapshot — a change here breaks users' entities", () => {
    const ids = buildDiscovery({ mac: MAC, bridgeVersion: "0.0.0", bridgeId: "test" }, SNAPSHOT_4S2T).map((m) => m.payload.unique_id).sort();
    const golden = [
      "alarms", "balancing", "balancing_cells", "cell_1", "cell_2", "cell_3", "cell_4", "cell_delta", "cell_max",
      "cell_max_index", "cell_min", "cell_min_index", "charge_mosfet", "charger", "current", "cycles",
      "discharge_mosfet", "load", "power", "problem", "protocol", "remaining_capacity", "soc", "state",
      "temperature_1", "temperature_2", "temperature_max", "temperature_min", "voltage",
    ].map((k) => `${BMS_ID}_${k}`);
    assert.deepEqual(ids, golden);
  });
});

describe("ha/catalogue entitiesFor", () => {
  it("omits entities whose value is absent", () => {
    const keys = discoveryKeys(SNAPSHOT_4S2T);
    for (const k of ["mos_temperature", "board_temperature", "cell_avg", "rated_capacity", "firmware_version",
      "hardware_version"]) {
      assert.ok(!keys.includes(k), k);
    }
    const { mos_temp_C: _m, alarms: _a, charge_mosfet: _c, ...rest } = SNAPSHOT_FULL_16S;
    const partial = discoveryKeys(rest);
    for (const k of ["mos_temperature", "problem", "alarms", "charge_mosfet"]) assert.ok(!partial.includes(k), k);
    assert.ok(partial.includes("board_temperature"));
    assert.deepEqual(discoveryKeys({}), []);
  });

  it("makes one cell entity per cells_mV element and one temperature per sensor", () => {
    const count = (s: Snapshot, re: RegExp) => discoveryKeys(s).filter((k) => re.test(k)).length;
    assert.equal(count(SNAPSHOT_4S2T, /^cell_\d+$/), 4);
    assert.equal(count(SNAPSHOT_FULL_16S, /^cell_\d+$/), 16);
    assert.equal(count(SNAPSHOT_FULL_16S, /^temperature_\d+$/), 4);
    assert.equal(count({ ...SNAPSHOT_4S2T, cells_mV: [] }, /^cell_\d+$/), 0);
    const cell3 = entitiesFor(SNAPSHOT_4S2T).find((e) => e.key === "cell_3");
    assert.equal(cell3?.valueTemplate, "{{ value_json.cells_mV[2] }}");
  });

  it("staleConfigs on a shrink from 16 to 4 cells clears cells 5..16 and nothing else", () => {
    const before = discoveryKeys(SNAPSHOT_FULL_16S);
    const after = discoveryKeys({ ...SNAPSHOT_FULL_16S, cells_mV: SNAPSHOT_4S2T.cells_mV });
    const stale = staleConfigs(before, after);
    assert.deepEqual(stale, Array.from({ length: 12 }, (_, i) => `cell_${i + 5}`));
    assert.deepEqual(staleConfigs(after, before), []);
    assert.deepEqual(staleConfigs(["cell_1", "cell_1", "x"], []), ["cell_1", "x"]);

    const clears = clearMessages({ mac: MAC }, stale);
    assert.equal(clears.length, 12);
    assert.deepEqual(clears[0], {
      key: "cell_5", component: "sensor", topic: `homeassistant/sensor/${BMS_ID}/cell_5/config`, payload: "",
    });
    // A key from an older catalogue is cleared under both components.
    assert.deepEqual(clearMessages({ mac: MAC }, ["gone"]).map((m) => m.topic), [
      `homeassistant/sensor/${BMS_ID}/gone/config`, `homeassistant/binary_sensor/${BMS_ID}/gone/config`,
    ]);
  });
});
