/**
 * The bench's timing model and the simulated modules it polls.
 *
 * Timing (one model for every protocol, so the figures compare):
 * - connectionIntervalMs 30: the simulator's default and BlueZ's default minimum LE connection
 *   interval (le_min_conn_interval 24 × 1.25 ms); phones and Daly modules run 30–50 ms.
 * - replyDelayMs 40: the BMS's own turnaround behind the BLE module (UART request → reply ≈ 50 ms,
 *   daly-protocol.md §4.4). Deliberately not a multiple of 30, so a reply never ties with an event.
 * - advertisingIntervalMs 100: the simulator's default; also its LE Create Connection latency.
 * MTU: D2/0x81 modules answer 512 (what they negotiate with the phone app, §4.2); noble asks for 256,
 * so the link runs at 256 and a 129-byte D2 reply is one notification. The A5 module and the
 * "D2, no MOS block" module answer 23 (older HLK-B20-style dongles): A5 frames (13 bytes) still fit,
 * a 129-byte D2 reply becomes 7 notifications — which exercises the multi-PDU path.
 */
import type { ScenarioBms } from "../../src/sim/scenario.js";
import type { SimTiming } from "../../src/sim/hci/types.js";
import type { Variant } from "./run.js";

export const DEFAULT_TIMING = { connectionIntervalMs: 30, replyDelayMs: 40, advertisingIntervalMs: 100 };

const CELLS = 16;
const TEMPS = 4;

function bms(address: string, protocol: ScenarioBms["protocol"], mos: boolean): Omit<ScenarioBms, "timing"> {
  return {
    name: `bench ${protocol}`,
    address,
    protocol,
    cells_mV: Array.from({ length: CELLS }, (_, i) => 3300 + (i % 5)),
    temperatures_C: Array.from({ length: TEMPS }, (_, i) => 21 + i),
    current_A: -7.5,
    soc_pct: 64,
    remaining_Ah: 180,
    cycles: 42,
    charge_mosfet: true,
    discharge_mosfet: true,
    out_of_range: false,
    ...(mos ? { mos_temp_C: 31 } : {}),
    firmware_version: "20220810",
    hardware_version: "H2.0_103R",
  };
}

export const CELL_COUNT = CELLS;
export const TEMP_COUNT = TEMPS;

export const VARIANTS: Variant[] = [
  {
    id: "a5",
    label: "A5 16S/4T, MTU 23: 0x94 0x90 0x93 0x95×6 0x96×1 0x97 0x98 (+0x62×2 0x63×2 after a connect)",
    bms: bms("C0:D6:3C:57:2A:01", "a5", false),
    serverMtu: 23,
    steady: { protocol: "a5", a5Host: 0x80, wantVersion: false },
    cycle: { protocol: "a5", a5Host: 0x80, wantVersion: true },
  },
  {
    id: "d2",
    label: "D2, MTU 512→256: 0x00×62 + MOS 0x3E×9 (module has a MOS sensor) (+0xA9×32 after a connect)",
    bms: bms("C0:D6:3C:57:2A:02", "d2", true),
    serverMtu: 512,
    steady: { protocol: "d2", wantVersion: false, mosBlock: true },
    cycle: { protocol: "d2", wantVersion: true, mosBlock: true },
  },
  {
    id: "d2-nomos",
    label: "D2, MTU 23 (7 PDUs per reply), mosBlock:false: 0x00×62 (+0xA9×32 after a connect)",
    bms: bms("C0:D6:3C:57:2A:03", "d2", false),
    serverMtu: 23,
    steady: { protocol: "d2", wantVersion: false, mosBlock: false },
    cycle: { protocol: "d2", wantVersion: true, mosBlock: false },
  },
  {
    id: "p81",
    label: "0x81, MTU 512→256: block1 0x00×64 + block2 0x41×62 (+0x178×74 after a connect)",
    bms: bms("C0:D6:3C:57:2A:04", "p81", true),
    serverMtu: 512,
    steady: { protocol: "p81", wantVersion: false },
    cycle: { protocol: "p81", wantVersion: true },
  },
];

/**
 * The protocol mix of the multi-BMS sections (capacity, resources): BMS i is the module of variant
 * MIX[i % 3] — A5 (MTU 23), D2 with a MOS sensor (MTU 512) and 0x81 (MTU 512), as in the poll figures.
 */
export const MIX = ["a5", "d2", "p81"] as const;

/** Address of BMS `i` of bench run `group` (distinct per run, so concurrent runs never share a topic). */
export function benchAddress(group: number, i: number): string {
  const h = (v: number): string => (v & 0xff).toString(16).padStart(2, "0").toUpperCase();
  return `C0:D6:3C:${h(0x60 + group)}:${h(i >> 8)}:${h(i)}`;
}

/** Scenario entry for BMS `i` of a run: the variant's module (cells, MTU) with the bench's timing. */
export function scenarioBms(variantId: string, group: number, i: number, timing: Required<SimTiming>): ScenarioBms {
  const v = VARIANTS.find((x) => x.id === variantId);
  if (!v) throw new Error(`unknown bench variant ${variantId}`);
  return { ...v.bms, name: `bench ${variantId} #${i + 1}`, address: benchAddress(group, i), mtu: v.serverMtu, timing: { ...timing } };
}
