/** The one assertion every transport test makes: a snapshot equals the scenario's values exactly. */
import assert from "node:assert/strict";
import type { Snapshot } from "../../src/bms/snapshot.js";
import type { ScenarioBms } from "../../src/sim/scenario.js";

export function assertScenarioValues(s: Snapshot, b: ScenarioBms, where = b.address): void {
  assert.equal(s.protocol, b.protocol, `${where} protocol`);
  assert.deepEqual(s.cells_mV, b.cells_mV, `${where} cells_mV`);
  assert.deepEqual(s.temperatures_C, b.temperatures_C, `${where} temperatures_C`);
  assert.equal(s.current_A, b.current_A, `${where} current_A`);
  assert.equal(s.soc_pct, b.soc_pct, `${where} soc_pct`);
  assert.equal(s.remaining_Ah, b.remaining_Ah, `${where} remaining_Ah`);
  assert.equal(s.cycles, b.cycles, `${where} cycles`);
  assert.equal(s.charge_mosfet, b.charge_mosfet, `${where} charge_mosfet`);
  assert.equal(s.discharge_mosfet, b.discharge_mosfet, `${where} discharge_mosfet`);
}
