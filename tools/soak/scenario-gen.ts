/**
 * The soak's scenario: N simulated BMS, protocols in turn A5 → D2 → 0x81, with drifting current,
 * SOC, cells and temperatures (so every poll has something new to get right), and a spread of
 * module quirks (all-frames A5, ff00 layout, big MTU, a reply delay). Written as a scenario file
 * and validated by the simulator's own parser, exactly as `--sim-scenario` reads it.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseScenario, type ScenarioBms } from "../../src/sim/scenario.js";
import type { Rng } from "./rng.js";

const PROTOCOLS = ["a5", "d2", "p81"] as const;
const CELLS: Record<(typeof PROTOCOLS)[number], number[]> = { a5: [4, 8, 13, 16], d2: [8, 16, 4, 15], p81: [16, 24, 8, 4] };

const tenth = (v: number): number => Math.round(v * 10) / 10;

export function generateBms(rng: Rng, i: number): Record<string, unknown> {
  const protocol = PROTOCOLS[i % 3] ?? "a5";
  const n = rng.pick(CELLS[protocol]);
  const base = rng.int(3200, 3340);
  const b: Record<string, unknown> = {
    name: `Soak ${protocol} ${n}S #${i + 1}`,
    address: `C0:D6:3C:5A:${hex(i >> 8)}:${hex(i & 0xff)}`,
    protocol,
    cells_mV: Array.from({ length: n }, () => base + rng.int(-12, 12)),
    temperatures_C: Array.from({ length: rng.int(1, 4) }, () => rng.int(15, 35)),
    current_A: tenth(rng() * 60 - 30),
    soc_pct: tenth(30 + rng() * 40),
    remaining_Ah: tenth(20 + rng() * 260),
    cycles: rng.int(0, 900),
    charge_mosfet: rng() < 0.85,
    discharge_mosfet: rng() < 0.85,
    out_of_range: false,
    drift: {
      current_A: { amplitude: rng.int(2, 20), period_s: rng.int(20, 90) },
      soc_pct: { amplitude: rng.int(5, 20), period_s: rng.int(60, 240) },
      cells_mV: { amplitude: rng.int(10, 60), period_s: rng.int(30, 120) },
      temperatures_C: { amplitude: rng.int(2, 8), period_s: rng.int(30, 90) },
    },
    timing: { connectionIntervalMs: rng.pick([5, 5, 10]), advertisingIntervalMs: 5, replyDelayMs: rng.pick([0, 0, 0, 20]) },
  };
  if (protocol !== "a5" && rng() < 0.7) b.mos_temp_C = rng.int(20, 45);
  if (protocol === "a5" && rng() < 0.4) b.a5_all_frames = true;
  if (rng() < 0.3) b.gatt_layout = "ff00";
  if (rng() < 0.3) b.mtu = rng.pick([104, 247]);
  if (rng() < 0.5) b.firmware_version = protocol === "a5" ? "20220810" : "T00K_321042_11";
  return b;
}

export interface SoakScenario {
  file: string;
  bms: ScenarioBms[];
}

export function writeScenario(rng: Rng, count: number): SoakScenario {
  const raw = { bms: Array.from({ length: count }, (_, i) => generateBms(rng, i)) };
  const parsed = parseScenario(raw, "soak scenario");
  if (!parsed.ok) throw new Error(parsed.message);
  const dir = mkdtempSync(join(tmpdir(), "daly-soak-"));
  const file = join(dir, "scenario.json");
  writeFileSync(file, JSON.stringify(raw, null, 1));
  return { file, bms: parsed.scenario.bms };
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, "0");
}
