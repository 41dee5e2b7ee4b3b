/** Starts the whole bridge in-process (simulated radio, real transport and MQTT code). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRun, type RunHandle } from "../../src/commands/run.js";

export const FAST_TIMING = { connectionIntervalMs: 5, advertisingIntervalMs: 5 };

export function scenarioFile(bms: Array<Record<string, unknown>>): string {
  const dir = mkdtempSync(join(tmpdir(), "daly-scn-"));
  const file = join(dir, "scenario.json");
  writeFileSync(file, JSON.stringify({ bms: bms.map((b) => ({ timing: FAST_TIMING, ...b })) }));
  return file;
}

export const PACK = {
  cells_mV: [3301, 3302, 3300, 3305],
  temperatures_C: [21, 22],
  current_A: -12.3,
  soc_pct: 55.5,
  remaining_Ah: 80.2,
  cycles: 12,
  charge_mosfet: true,
  discharge_mosfet: false,
};

export const FAST_FLAGS = ["--poll-interval", "1", "--log-level", "error"];
/** Energy counters and other state of test bridges go to a fresh temp dir, never ~/.local/state. */
export const STATE_DIR = mkdtempSync(join(tmpdir(), "daly-state-"));
/** Test bridges run as bridge id "test" (availability `daly_bms/bridge/test/availability`) unless a test says otherwise. */
export const TEST_BRIDGE_ID = "test";
export const FAST_ENV = { DALY_BRIDGE_ID: TEST_BRIDGE_ID, DALY_STATE_DIR: STATE_DIR, DALY_BLE_SCAN_TIMEOUT: "1", DALY_BLE_REQUEST_TIMEOUT: "0.3", DALY_BLE_REQUEST_RETRIES: "1", DALY_OFFLINE_AFTER_FAILURES: "2", DALY_BLE_CONNECT_TIMEOUT: "1" };

export async function runBridge(args: string[], env: Record<string, string> = {}): Promise<RunHandle> {
  const h = await startRun([...FAST_FLAGS, ...args], { ...FAST_ENV, ...env });
  if (!("bridge" in h)) throw new Error(`bridge did not start: ${h.message}`);
  return h;
}
