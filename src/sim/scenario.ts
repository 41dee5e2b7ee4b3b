/**
 * Simulation scenario file (contract §4) and its validation. Values are served exactly as given
 * unless the scenario asks for drift. Unknown keys are errors, so a typo never silently does nothing.
 */
import { readFileSync } from "node:fs";
import type { Protocol } from "../bms/snapshot.js";
import type { SimFaults, SimTiming } from "./hci/types.js";

export interface ScenarioBms {
  name?: string;
  address: string;
  protocol: Protocol;
  cells_mV: number[];
  temperatures_C: number[];
  current_A: number;
  soc_pct: number;
  remaining_Ah: number;
  cycles: number;
  charge_mosfet: boolean;
  discharge_mosfet: boolean;
  out_of_range: boolean;
  /** Optional extras (documented in docs/simulation.md). */
  voltage_V?: number;
  rated_capacity_Ah?: number;
  mos_temp_C?: number;
  charger_connected?: boolean;
  load_connected?: boolean;
  balancing?: number[];
  alarms?: string[];
  firmware_version?: string;
  hardware_version?: string;
  /** Legacy host addresses the module answers (default both 0x80 and 0x40; batmon-ha#416 has a 0x40-only one). */
  a5_hosts?: number[];
  /** Legacy: send all 16 cell frames / 3 temperature frames regardless of counts (BLE quirk, §2.3). */
  a5_all_frames?: boolean;
  /**
   * Wired RS485 only: this BMS is board n (1–16) of several on one line. Legacy A5: answers
   * requests addressed 0x3F + n and replies from address n (daly-protocol.md §2.1, DSB); 0x81:
   * answers 0x80 + n, replies from 0x50 + n. Without it: A5 0x80/0x40 → 0x01, 0x81 → 0x51.
   */
  board?: number;
  /** Sinusoidal drift per key: {"current_A": {"amplitude": 5, "period_s": 60}} (soak tests). */
  drift?: Partial<Record<"current_A" | "soc_pct" | "cells_mV" | "temperatures_C", { amplitude: number; period_s: number }>>;
  faults?: SimFaults;
  timing?: SimTiming;
  mtu?: number;
  gatt_layout?: "fff0" | "ff00";
  /** The virtual controller (adapter) in whose range the BMS is, `hciN`; default hci0. */
  adapter?: string;
}

export interface Scenario {
  bms: ScenarioBms[];
}

const MAC = /^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/;
const KNOWN = new Set([
  "name", "address", "protocol", "cells_mV", "temperatures_C", "current_A", "soc_pct", "remaining_Ah", "cycles",
  "charge_mosfet", "discharge_mosfet", "out_of_range", "voltage_V", "rated_capacity_Ah", "mos_temp_C",
  "charger_connected", "load_connected", "balancing", "alarms", "firmware_version", "hardware_version", "a5_hosts",
  "a5_all_frames", "drift", "faults", "timing", "mtu", "gatt_layout", "board", "adapter",
]);

export type ScenarioResult = { ok: true; scenario: Scenario } | { ok: false; message: string };

export function loadScenarioFile(path: string): ScenarioResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return { ok: false, message: `sim-scenario: cannot read ${path}: ${(e as Error).message}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `sim-scenario: ${path} is not JSON: ${(e as Error).message}` };
  }
  return parseScenario(json, path);
}

export function parseScenario(json: unknown, where = "scenario"): ScenarioResult {
  const fail = (m: string): ScenarioResult => ({ ok: false, message: `${where}: ${m}` });
  if (!isObj(json) || !Array.isArray(json.bms)) return fail('expected {"bms":[…]}');
  const out: ScenarioBms[] = [];
  for (const [i, raw] of json.bms.entries()) {
    const at = `bms[${i}]`;
    if (!isObj(raw)) return fail(`${at} must be an object`);
    for (const k of Object.keys(raw)) if (!KNOWN.has(k)) return fail(`${at}.${k} is not a scenario key`);
    const address = raw.address;
    if (typeof address !== "string" || !MAC.test(address)) return fail(`${at}.address must be a MAC like C0:D6:3C:57:2A:01`);
    if (raw.adapter !== undefined && (typeof raw.adapter !== "string" || !/^hci\d{1,3}$/.test(raw.adapter))) return fail(`${at}.adapter must be an adapter name like hci1`);
    const protocol = raw.protocol ?? "a5";
    if (protocol !== "a5" && protocol !== "d2" && protocol !== "p81") return fail(`${at}.protocol must be a5, d2 or p81`);
    const cells = raw.cells_mV ?? [3300, 3300, 3300, 3300];
    if (!Array.isArray(cells) || cells.length < 1 || cells.length > 48 || !cells.every((c) => typeof c === "number" && c >= 1 && c <= 5000)) {
      return fail(`${at}.cells_mV must be 1–48 cell voltages in mV (1–5000)`);
    }
    const temps = raw.temperatures_C ?? [25];
    if (!Array.isArray(temps) || temps.length > 16 || !temps.every((t) => typeof t === "number" && t >= -40 && t <= 150)) {
      return fail(`${at}.temperatures_C must be up to 16 temperatures in °C (−40–150)`);
    }
    const num = (k: string, def: number, lo: number, hi: number): number | string => {
      const v = raw[k] ?? def;
      return typeof v === "number" && v >= lo && v <= hi ? v : `${at}.${k} must be a number in ${lo}…${hi}`;
    };
    const bool = (k: string, def: boolean): boolean | string => {
      const v = raw[k] ?? def;
      return typeof v === "boolean" ? v : `${at}.${k} must be true or false`;
    };
    const vals = {
      current_A: num("current_A", 0, -1000, 1000),
      soc_pct: num("soc_pct", 50, 0, 100),
      remaining_Ah: num("remaining_Ah", 50, 0, 10000),
      cycles: num("cycles", 0, 0, 65535),
      charge_mosfet: bool("charge_mosfet", true),
      discharge_mosfet: bool("discharge_mosfet", true),
      out_of_range: bool("out_of_range", false),
    };
    for (const v of Object.values(vals)) if (typeof v === "string") return fail(v);
    if (raw.board !== undefined && (typeof raw.board !== "number" || !Number.isInteger(raw.board) || raw.board < 1 || raw.board > 16 || protocol === "d2")) {
      return fail(`${at}.board must be an integer 1–16 on an a5 or p81 board (D2 has no board address)`);
    }
    out.push({
      ...(raw as Partial<ScenarioBms>),
      address: address.toUpperCase(),
      protocol,
      cells_mV: cells as number[],
      temperatures_C: temps as number[],
      ...(vals as { current_A: number; soc_pct: number; remaining_Ah: number; cycles: number; charge_mosfet: boolean; discharge_mosfet: boolean; out_of_range: boolean }),
    });
  }
  const seen = new Set<string>();
  for (const b of out) {
    if (seen.has(b.address)) return fail(`address ${b.address} appears twice`);
    seen.add(b.address);
  }
  return { ok: true, scenario: { bms: out } };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The built-in demo (`--simulate`): one BMS of each protocol family. */
export const DEMO_SCENARIO: Scenario = {
  bms: [
    {
      name: "Demo A5 4S", address: "C0:D6:3C:57:2A:01", protocol: "a5",
      cells_mV: [3301, 3302, 3300, 3305], temperatures_C: [21, 22], current_A: -12.3, soc_pct: 55.5,
      remaining_Ah: 80.2, cycles: 12, charge_mosfet: true, discharge_mosfet: true, out_of_range: false,
      firmware_version: "20220810", drift: { current_A: { amplitude: 3, period_s: 120 } },
    },
    {
      name: "Demo D2 8S", address: "C0:D6:3C:57:2A:02", protocol: "d2",
      cells_mV: [3320, 3321, 3319, 3322, 3318, 3320, 3323, 3317], temperatures_C: [24, 25, 24], current_A: 8.4,
      soc_pct: 71.2, remaining_Ah: 142.4, cycles: 57, charge_mosfet: true, discharge_mosfet: true, out_of_range: false,
      mos_temp_C: 31, firmware_version: "T00K_321042_11", hardware_version: "H2.0_103R_309F9F", rated_capacity_Ah: 200,
    },
    {
      name: "Demo 0x81 16S", address: "C0:D6:3C:57:2A:03", protocol: "p81",
      cells_mV: Array.from({ length: 16 }, (_, i) => 3312 + ((i * 7) % 6)), temperatures_C: [22, 22, 23, 22],
      current_A: -8.9, soc_pct: 64, remaining_Ah: 271.2, cycles: 7, charge_mosfet: true, discharge_mosfet: true,
      out_of_range: false, mos_temp_C: 27,
    },
  ],
};
