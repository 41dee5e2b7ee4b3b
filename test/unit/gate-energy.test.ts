/** Plausibility gate rules (each with a failing and a passing sample) and the energy counters. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlausibilityGate } from "../../src/bms/gate.js";
import { EnergyCounter } from "../../src/bms/energy.js";
import type { Snapshot } from "../../src/bms/snapshot.js";

const GOOD: Snapshot = { voltage_V: 13.2, current_A: -12.3, soc_pct: 55.5, cells_mV: [3301, 3302, 3300, 3305], temperatures_C: [21, 22] };
const gate = (): PlausibilityGate => {
  const g = new PlausibilityGate({ maxCurrentA: 300 });
  assert.deepEqual(g.check(GOOD), { accept: true });
  return g;
};

describe("plausibility gate", () => {
  it("incomplete samples are always rejected (sleeping zero frames, a failed step)", () => {
    const g = gate();
    assert.deepEqual(g.check({ protocol: "d2" }), { accept: false, rule: "incomplete" });
    assert.deepEqual(g.check({ ...GOOD, cells_mV: [] }), { accept: false, rule: "incomplete" });
    assert.deepEqual(g.check({ protocol: "d2" }), { accept: false, rule: "incomplete" }, "hard rule: even twice in a row");
    assert.equal(g.rejected, 3);
    assert.deepEqual(g.check(GOOD), { accept: true });
  });

  it("current beyond the rating is always rejected", () => {
    const g = gate();
    assert.deepEqual(g.check({ ...GOOD, current_A: -301 }), { accept: false, rule: "over_rating" });
    assert.deepEqual(g.check({ ...GOOD, current_A: -301 }), { accept: false, rule: "over_rating" });
    assert.deepEqual(g.check({ ...GOOD, current_A: -299 }), { accept: true });
  });

  const soft: Array<[string, Snapshot]> = [
    ["voltage_mismatch", { ...GOOD, voltage_V: 15.0 }],
    ["cell_count", { ...GOOD, voltage_V: 16.5, cells_mV: [3301, 3302, 3300, 3305, 3300] }],
    ["soc_jump", { ...GOOD, soc_pct: 80 }],
    ["voltage_jump", { ...GOOD, voltage_V: 11.0, cells_mV: [2750, 2750, 2750, 2750] }],
    ["temp_jump", { ...GOOD, temperatures_C: [21, 60] }],
  ];
  for (const [rule, sample] of soft) {
    it(`${rule}: one glitch is dropped, the same change twice is accepted and flagged`, () => {
      const g = gate();
      assert.deepEqual(g.check(sample), { accept: false, rule });
      assert.deepEqual(g.check(GOOD), { accept: true }, "a glitch followed by normal data: normal data passes");
      assert.deepEqual(g.check(sample), { accept: false, rule });
      assert.deepEqual(g.check(sample), { accept: true, flagged: rule }, "persistent change accepted");
    });
  }

  it("a plausible change passes at once", () => {
    const g = gate();
    assert.deepEqual(g.check({ ...GOOD, soc_pct: 60, current_A: 40, temperatures_C: [25, 26] }), { accept: true });
  });
});

describe("energy counters", () => {
  const H = 3_600_000;
  it("constant charge current: exact kWh by the trapezoid rule", () => {
    const e = new EnergyCounter(5 * 60_000);
    for (let i = 0; i <= 120; i++) e.add(i * 30_000, 1320); // 13.2 V × 100 A for one hour, every 30 s
    assert.ok(Math.abs(e.state.charged_kWh - 1.32) < 1e-9, String(e.state.charged_kWh));
    assert.equal(e.state.discharged_kWh, 0);
  });

  it("discharge counts separately; a sign change splits the interval at the zero crossing", () => {
    const e = new EnergyCounter(H);
    e.add(0, -1000);
    e.add(H, -1000);
    assert.ok(Math.abs(e.state.discharged_kWh - 1) < 1e-9);
    e.add(2 * H, 1000); // −1000 → +1000 linearly: half an hour each way, 0.25 kWh each
    assert.ok(Math.abs(e.state.discharged_kWh - 1.25) < 1e-9, String(e.state.discharged_kWh));
    assert.ok(Math.abs(e.state.charged_kWh - 0.25) < 1e-9, String(e.state.charged_kWh));
  });

  it("no integration across a gap longer than the limit", () => {
    const e = new EnergyCounter(90_000);
    e.add(0, 1000);
    e.add(60_000, 1000);
    e.add(60_000 + 10 * 60_000, 1000); // ten minutes without data: not guessed
    assert.ok(Math.abs(e.state.charged_kWh - 1000 * (60_000 / H) / 1000) < 1e-12);
  });

  it("persists atomically: a restart neither loses nor double-counts", () => {
    const file = join(mkdtempSync(join(tmpdir(), "daly-energy-")), "energy-x.json");
    const a = new EnergyCounter(5 * 60_000, file);
    for (let i = 0; i <= 60; i++) a.add(i * 30_000, 2000); // 30 min at 2 kW = 1 kWh
    assert.ok(Math.abs((JSON.parse(readFileSync(file, "utf8")) as { charged_kWh: number }).charged_kWh - 1) < 1e-9);
    // restart: a new counter continues from the file; the sample it already counted adds nothing
    const b = new EnergyCounter(5 * 60_000, file);
    b.add(60 * 30_000, 2000);
    assert.ok(Math.abs(b.state.charged_kWh - 1) < 1e-9, "same sample again: no double count");
    b.add(61 * 30_000, 2000); // the next interval after the restart is counted
    assert.ok(Math.abs(b.state.charged_kWh - (1 + 2 * (30_000 / H))) < 1e-9);
  });
});
