/**
 * Renders every discovery template with real Jinja2, the way HA's MQTT integration does:
 * `value` = the raw state payload, `value_json` = the parsed payload, sandboxed environment,
 * non-strict undefined (a missing key renders ""). All templates go to one python3 process.
 *
 * Needs python3 with jinja2 (CI: `apt-get install python3-jinja2` for /usr/bin/python3). Fails,
 * never skips, when none is found.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { Snapshot } from "../../src/bms/snapshot.js";
import { buildDiscovery } from "../../src/ha/discovery.js";
import { cellEntity } from "../../src/ha/catalogue.js";
import { MAC, SNAPSHOT_4S2T, SNAPSHOT_FULL_16S } from "../fixtures/ha/snapshots.js";

const RENDER_PY = `
import json, sys
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment(undefined=jinja2.Undefined)
out = {}
for case in json.load(sys.stdin):
    try:
        out[case["id"]] = {"ok": env.from_string(case["template"]).render(
            value=case["payload"], value_json=json.loads(case["payload"]))}
    except Exception as e:
        out[case["id"]] = {"error": type(e).__name__ + ": " + str(e)}
json.dump(out, sys.stdout)
`;

interface Case { id: string; payload: string; template: string }
type Rendered = Record<string, { ok?: string; error?: string }>;

function findPython(): string {
  for (const exe of ["python3", "/usr/bin/python3"]) {
    const r = spawnSync(exe, ["-c", "import jinja2"], { encoding: "utf8" });
    if (r.status === 0) return exe;
  }
  throw new Error("no python3 with jinja2 found (tried python3, /usr/bin/python3): install python3-jinja2 " +
    "(apt-get install python3-jinja2) or `pip install jinja2`; the HA template test cannot run without it");
}

function render(python: string, cases: Case[]): Rendered {
  const r = spawnSync(python, ["-c", RENDER_PY], { input: JSON.stringify(cases), encoding: "utf8" });
  assert.equal(r.status, 0, `python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Rendered;
}

/** Cases for the value template (and attributes template, as `<key>#attributes`) of every entity. */
function casesFor(snapshot: Snapshot, prefix: string): Case[] {
  const payload = JSON.stringify(snapshot);
  return buildDiscovery({ mac: MAC, bridgeVersion: "0.0.0", bridgeId: "test" }, snapshot).flatMap(({ key, payload: p }) => [
    { id: `${prefix}${key}`, payload, template: p.value_template },
    ...(p.json_attributes_template !== undefined
      ? [{ id: `${prefix}${key}#attributes`, payload, template: p.json_attributes_template }]
      : []),
  ]);
}

const EXPECTED_4S2T: Record<string, string> = {
  voltage: "13.2", current: "-12.3", power: "-162.36", soc: "55.5", remaining_capacity: "80.2", cycles: "12",
  state: "discharging", cell_min: "3300", cell_max: "3305", cell_delta: "5", cell_min_index: "3", cell_max_index: "4",
  temperature_min: "21", temperature_max: "22", charge_mosfet: "ON", discharge_mosfet: "OFF", charger: "OFF",
  load: "ON", balancing: "OFF", balancing_cells: "none", problem: "OFF", alarms: "none", protocol: "a5",
  cell_1: "3301", cell_2: "3302", cell_3: "3300", cell_4: "3305", temperature_1: "21", temperature_2: "22",
};

const EXPECTED_FULL: Record<string, string> = {
  voltage: "52.8", current: "20.5", power: "1082.4", soc: "87", remaining_capacity: "87.4", rated_capacity: "100",
  cycles: "153", state: "charging", cell_min: "3298", cell_max: "3302", cell_avg: "3300", cell_delta: "4",
  cell_min_index: "6", cell_max_index: "5", temperature_min: "-2", temperature_max: "25", mos_temperature: "31",
  board_temperature: "28", charge_mosfet: "ON", discharge_mosfet: "ON", charger: "ON", load: "OFF", balancing: "ON",
  balancing_cells: "2, 5", problem: "ON", alarms: "cell_voltage_high_level1, charge_temp_low_level1",
  protocol: "d2", firmware_version: "20220812-1.0.3", hardware_version: "DL-R16L-F8S",
  cell_1: "3301", cell_2: "3299", cell_6: "3298", cell_16: "3300",
  temperature_1: "24", temperature_2: "25", temperature_3: "23", temperature_4: "-2",
};

describe("ha templates rendered by real Jinja2", () => {
  let rendered: Rendered = {};
  const partial: Snapshot = { protocol: "a5", cells_mV: [3301, 3302, 3300, 3305], voltage_V: 13.2 };
  const manyAlarms: Snapshot = { alarms: Array.from({ length: 20 }, (_, i) => `some_rather_long_alarm_name_${i}`) };
  // a 0x81 BMS with one documented and two undocumented fault bits (bms/alarms.ts)
  const p81Faults: Snapshot = { protocol: "p81", alarms: ["cell_overvoltage_warning", "fault_66_bit_3", "forced_start_active", "fault_73_bit_0"], alarms_unnamed: ["fault_66_bit_3", "fault_73_bit_0"] };

  before(() => {
    const python = findPython();
    const cases = [...casesFor(SNAPSHOT_4S2T, "a:"), ...casesFor(SNAPSHOT_FULL_16S, "f:")];
    // Templates of a full discovery set against payloads that lack their keys (a partial poll).
    for (const c of casesFor(SNAPSHOT_FULL_16S, "p:")) cases.push({ ...c, payload: JSON.stringify(partial) });
    for (const c of casesFor(manyAlarms, "m:")) cases.push(c);
    for (const c of casesFor(p81Faults, "u:")) cases.push(c);
    // A cell entity left over after a shrink (16 → 4 cells) until its config is cleared.
    cases.push({ id: "shrunk:cell_10", payload: JSON.stringify(partial), template: cellEntity(10).valueTemplate });
    rendered = render(python, cases);
  });

  function out(id: string): string {
    const r = rendered[id];
    assert.ok(r, `template ${id} was not rendered`);
    assert.equal(r.error, undefined, `${id}: ${r.error}`);
    assert.equal(typeof r.ok, "string");
    return r.ok ?? "";
  }

  it("renders the expected state for every entity of the 4-cell snapshot", () => {
    const keys = Object.keys(rendered).filter((id) => id.startsWith("a:") && !id.endsWith("#attributes"));
    assert.deepEqual(keys.map((id) => id.slice(2)).sort(), Object.keys(EXPECTED_4S2T).sort(), "untested entities");
    for (const [key, want] of Object.entries(EXPECTED_4S2T)) assert.equal(out(`a:${key}`), want, key);
    assert.deepEqual(JSON.parse(out("a:problem#attributes")), { alarms: [], named: [], unnamed: [] });
  });

  it("renders the expected state for the full 16-cell snapshot", () => {
    for (const [key, want] of Object.entries(EXPECTED_FULL)) assert.equal(out(`f:${key}`), want, key);
    const keys = Object.keys(rendered).filter((id) => id.startsWith("f:") && !id.endsWith("#attributes"));
    for (const id of keys) out(id); // none errors
    assert.deepEqual(JSON.parse(out("f:problem#attributes")),
      { alarms: ["cell_voltage_high_level1", "charge_temp_low_level1"], named: ["cell_voltage_high_level1", "charge_temp_low_level1"], unnamed: [] });
  });

  it("a missing key renders empty (HA ignores it) instead of a made-up value", () => {
    const expectNonEmpty = new Set(["voltage", "protocol", "cell_1", "cell_2", "cell_3", "cell_4"]);
    for (const id of Object.keys(rendered).filter((x) => x.startsWith("p:") && !x.endsWith("#attributes"))) {
      const key = id.slice(2);
      if (expectNonEmpty.has(key)) assert.notEqual(out(id), "", key);
      else if (!/^cell_\d+$/.test(key) && !/^temperature_\d+$/.test(key)) assert.equal(out(id), "", key);
    }
    assert.equal(out("shrunk:cell_10"), "");
    // Indexing an array that is missing altogether raises; HA logs it and drops that one message
    // (the entity keeps its state). Pinned here so a change of behaviour is noticed.
    assert.match(rendered["p:temperature_1"]?.error ?? "", /UndefinedError/);
    assert.equal(out("p:cell_16"), "");
    assert.deepEqual(JSON.parse(out("p:problem#attributes")), { alarms: [], named: [], unnamed: [] });
  });

  it("alarm attributes tell documented names from bit-number fallbacks", () => {
    const want = { alarms: p81Faults.alarms, named: ["cell_overvoltage_warning", "forced_start_active"], unnamed: ["fault_66_bit_3", "fault_73_bit_0"] };
    assert.deepEqual(JSON.parse(out("u:problem#attributes")), want);
    assert.deepEqual(JSON.parse(out("u:alarms#attributes")), want);
    assert.equal(out("u:problem"), "ON");
  });

  it("a long alarm list is cut to HA's 255-character state limit", () => {
    const text = out("m:alarms");
    assert.ok(text.length <= 255, `length ${text.length}`);
    assert.ok(text.startsWith("some_rather_long_alarm_name_0, ") && text.endsWith("…"));
    assert.equal(out("m:problem"), "ON");
  });
});
