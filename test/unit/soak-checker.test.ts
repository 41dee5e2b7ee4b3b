/** The soak checker's pure logic: truth windows, wrong-value detection, availability rules, recovery. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { batteryAt } from "../../src/sim/battery.js";
import { parseScenario, type ScenarioBms } from "../../src/sim/scenario.js";
import { checkState, pollWindow } from "../../tools/soak/truth.js";
import { liveness, offlineAfterWindow, sleepingCauses } from "../../tools/soak/availability.js";
import { CheckerCore } from "../../tools/soak/checker-core.js";
import { compareRetained, RecoveryTracker } from "../../tools/soak/recovery.js";
import type { FaultLog, FaultWindow, Outage, SoakTiming } from "../../tools/soak/types.js";

const ADDR = "C0:D6:3C:57:2A:01";
const ID = "daly_bms_c0d63c572a01";
const T0 = 1_700_000_000_000; // a whole second

function drifting(): ScenarioBms {
  const r = parseScenario({
    bms: [{
      address: ADDR, protocol: "d2", cells_mV: [3301, 3302, 3300, 3305], temperatures_C: [21, 22], current_A: -12.3, soc_pct: 55.5,
      remaining_Ah: 80.2, cycles: 12, charge_mosfet: true, discharge_mosfet: false,
      drift: { current_A: { amplitude: 10, period_s: 20 }, cells_mV: { amplitude: 40, period_s: 30 }, soc_pct: { amplitude: 5, period_s: 60 } },
    }],
  });
  assert.ok(r.ok);
  const b = r.scenario.bms[0];
  assert.ok(b);
  return b;
}

/** What a correct bridge publishes for the battery at tMs, built by hand from the truth. */
function stateAt(b: ScenarioBms, tMs: number): Record<string, unknown> {
  const s = batteryAt(b, tMs);
  const v = s.scalars;
  return {
    protocol: b.protocol, voltage_V: v.voltage_V, current_A: v.current_A, power_W: Math.round((v.voltage_V ?? 0) * (v.current_A ?? 0) * 10) / 10,
    soc_pct: v.soc_pct, remaining_Ah: v.remaining_Ah, cycles: v.cycles, cells_mV: s.cells_mV, temperatures_C: s.temperatures_C,
    cell_count: s.cells_mV.length, min_cell_mV: Math.min(...s.cells_mV), max_cell_mV: Math.max(...s.cells_mV), charge_mosfet: true, discharge_mosfet: false,
    status: "ok", energy_charged_kWh: 0.1,
  };
}

const W = (fromMs: number, toMs: number) => ({ fromMs, toMs });

describe("soak truth window", () => {
  const base = { pollBoundMs: 10_000, queuedSince: undefined };
  it("starts at the previous fresh state (minus slack), else at arrival − poll bound", () => {
    assert.deepEqual(pollWindow({ ...base, arrivalMs: T0 + 5000, prevFreshMs: T0 + 3000 }), W(T0 + 2750, T0 + 5000));
    assert.deepEqual(pollWindow({ ...base, arrivalMs: T0 + 5000, prevFreshMs: undefined }), W(T0 - 5000, T0 + 5000));
    assert.deepEqual(pollWindow({ ...base, arrivalMs: T0 + 50_000, prevFreshMs: T0 }), W(T0 + 40_000, T0 + 50_000));
    // the BMS was out of range until T0 + 48 s: its successful poll ran after that
    assert.deepEqual(pollWindow({ ...base, arrivalMs: T0 + 50_000, prevFreshMs: T0, notBeforeMs: T0 + 48_000 }), W(T0 + 47_750, T0 + 50_000));
  });
  it("reaches back before a broker outage for messages queued across it", () => {
    const w = pollWindow({ ...base, queuedSince: T0 + 1000, arrivalMs: T0 + 4000, prevFreshMs: T0 + 3500 });
    assert.equal(w.fromMs, T0 + 1000 - 10_000);
  });
});

describe("soak truth check", () => {
  const b = drifting();
  it("accepts a state equal to the truth at a second of the window", () => {
    const v = checkState(b, stateAt(b, T0 + 3000), W(T0 + 2500, T0 + 3900));
    assert.deepEqual(v.wrong, []);
    assert.ok(v.checked >= 10);
  });
  it("accepts values from different seconds of one window (a poll straddling a second)", () => {
    const s = { ...stateAt(b, T0 + 3000), cells_mV: batteryAt(b, T0 + 4000).cells_mV };
    assert.deepEqual(checkState(b, s, W(T0 + 3500, T0 + 4200)).wrong, []);
  });
  it("flags a deliberately wrong current, and names the truths of the window", () => {
    const s = stateAt(b, T0 + 3000);
    const wrong = { ...s, current_A: (s.current_A as number) + 0.1, power_W: undefined };
    const v = checkState(b, wrong, W(T0 + 3000, T0 + 3900));
    assert.equal(v.wrong.length, 1);
    assert.equal(v.wrong[0]?.key, "current_A");
    assert.deepEqual(v.wrong[0]?.expected, [JSON.stringify(s.current_A)]);
  });
  it("flags a stale state: true once, but not in this poll's window", () => {
    const v = checkState(b, stateAt(b, T0 + 3000), W(T0 + 9000, T0 + 10_500));
    assert.ok(v.wrong.some((w) => w.key === "current_A"));
    assert.ok(v.wrong.some((w) => w.key === "cells_mV"));
  });
  it("allows ±0.1 V on the pack voltage, not more", () => {
    const s = stateAt(b, T0 + 3000);
    const volts = s.voltage_V as number;
    assert.deepEqual(checkState(b, { ...s, voltage_V: volts + 0.1, power_W: undefined }, W(T0 + 3000, T0 + 3500)).wrong, []);
    assert.equal(checkState(b, { ...s, voltage_V: volts + 0.2, power_W: undefined }, W(T0 + 3000, T0 + 3500)).wrong[0]?.key, "voltage_V");
  });
  it("flags missing required values, values the BMS does not serve, a wrong MOSFET and power ≠ V × I", () => {
    const { soc_pct: _soc, ...rest } = stateAt(b, T0 + 3000);
    const v = checkState(b, { ...rest, mos_temp_C: 30, charge_mosfet: false, power_W: 1 }, W(T0 + 3000, T0 + 3500));
    assert.deepEqual(v.wrong.map((w) => w.key).sort(), ["charge_mosfet", "mos_temp_C", "power_W", "soc_pct"]);
  });
});

describe("soak availability rules", () => {
  const oor: FaultWindow & { to: number } = { address: ADDR, kind: "outOfRange", from: T0, to: T0 + 15_000, effect: "fails" };
  const rule = { window: oor, requiredMs: 10_000, outages: [] as Outage[], graceMs: 5000 };
  it("requires offline after a long out-of-range window", () => {
    assert.deepEqual(offlineAfterWindow({ ...rule, availability: [{ at: T0 - 5000, online: true }, { at: T0 + 8000, online: false }], now: T0 + 30_000 }), { ok: true });
    const r = offlineAfterWindow({ ...rule, availability: [{ at: T0 - 5000, online: true }], now: T0 + 30_000 });
    assert.equal(r.ok, false);
    assert.deepEqual(offlineAfterWindow({ ...rule, availability: [{ at: T0 - 5000, online: true }], now: T0 + 16_000 }), { ok: "pending" });
    assert.deepEqual(offlineAfterWindow({ ...rule, availability: [{ at: T0 - 5000, online: false }], now: T0 + 30_000 }), { ok: true });
    assert.deepEqual(offlineAfterWindow({ ...rule, window: { ...oor, to: T0 + 4000 }, availability: [], now: T0 + 30_000 }), { ok: "n/a" });
  });
  it("online needs recent fresh states; silence without a fault is a hang", () => {
    const base = { since: T0, staleMs: 20_000, hangMs: 30_000, lastFresh: T0 + 1000, lastAlive: T0 + 1000 };
    assert.equal(liveness({ ...base, now: T0 + 10_000, online: true, faults: [] }).kind, "ok");
    assert.equal(liveness({ ...base, now: T0 + 25_000, online: true, faults: [] }).kind, "stale-online");
    assert.equal(liveness({ ...base, now: T0 + 35_000, online: false, faults: [] }).kind, "hang");
    assert.equal(liveness({ ...base, now: T0 + 35_000, online: false, faults: [{ ...oor, to: undefined }] }).kind, "ok");
    assert.equal(liveness({ ...base, now: T0 + 35_000, online: false, faults: [{ ...oor, to: T0 + 20_000 }] }).kind, "ok");
  });
  it('status "sleeping" needs a silencing fault during the poll', () => {
    const sleep: FaultWindow = { address: ADDR, kind: "sleeping", from: T0, to: T0 + 5000, effect: "silent" };
    const split: FaultWindow = { ...sleep, kind: "split", effect: "benign" };
    assert.equal(sleepingCauses(T0 + 6000, 3000, [sleep])[0], sleep);
    assert.deepEqual(sleepingCauses(T0 + 9000, 3000, [sleep]), []);
    assert.deepEqual(sleepingCauses(T0 + 2000, 3000, [split]), []);
  });
});

describe("soak checker core", () => {
  const timing: SoakTiming = { pollIntervalMs: 1000, offlineAfter: 3, scanTimeoutMs: 1000, connectTimeoutMs: 1000, requestTimeoutMs: 300, retries: 1, bmsCount: 1, hangMs: 30_000 };
  const noFaults: FaultLog & { brokerUp(): boolean } = { windows: () => [], outages: () => [], brokerUp: () => true };
  it("counts a deliberately wrong state and passes correct ones", () => {
    const b = drifting();
    const core = new CheckerCore([b], timing, noFaults, T0);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 1200)), T0 + 1300);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 2400)), T0 + 2500);
    assert.equal(core.wrongValues, 0);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify({ ...stateAt(b, T0 + 3400), soc_pct: 99.9 }), T0 + 3500);
    assert.equal(core.wrongValues, 1);
    assert.equal(core.wrongDetails[0]?.key, "soc_pct");
    // a repeat of the last state is only a re-publish right after an HA birth message
    core.markRepublish(T0 + 4000);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify({ ...stateAt(b, T0 + 3400), soc_pct: 99.9 }), T0 + 4200);
    assert.equal(core.wrongValues, 1);
    assert.equal(core.tallies[0]?.republished, 1);
    // …and never an older one: that is a stale state
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 1200)), T0 + 4300);
    assert.ok(core.wrongValues > 1);
  });
  it("after a restart, reads the retained configs until they equal the announced ones; a lasting difference is an error", () => {
    const b = drifting();
    const core = new CheckerCore([b], timing, noFaults, T0);
    const registry = JSON.stringify({ [ID]: ["soc", "balancing_cells"] });
    const soc = `homeassistant/sensor/${ID}/soc/config`;
    const bc = `homeassistant/sensor/${ID}/balancing_cells/config`;
    core.startRecovery("HA restart", T0 + 1000);
    core.startRecovery("broker restart", T0 + 40_000, true);
    assert.equal(core.retainedCheckDue(T0 + 2000), undefined, "not before its recovery or 2 s");
    const ha = core.retainedCheckDue(T0 + 3100);
    assert.equal(ha?.kind, "HA restart");
    if (!ha) return;
    core.retainedRead(ha, { configTopics: [soc], registry }, T0 + 3200); // a transient difference
    assert.equal(core.retainedCheckDue(T0 + 4000), undefined, "read again only 2 s later");
    assert.equal(core.retainedCheckDue(T0 + 5300), ha);
    core.retainedRead(ha, { configTopics: [soc, bc], registry }, T0 + 5300);
    assert.equal(ha.matchedMs, 4300);
    const br = core.retainedCheckDue(T0 + 43_000);
    assert.equal(br?.kind, "broker restart");
    if (!br) return;
    core.retainedRead(br, { configTopics: [soc], registry }, T0 + 43_000);
    core.retainedRead(br, { configTopics: [soc], registry }, T0 + 54_000);
    assert.equal(core.availabilityErrors.length, 0, "within 15 s: read again");
    core.retainedRead(br, { configTopics: [soc], registry }, T0 + 56_000);
    assert.equal(br.failed, true);
    assert.deepEqual(core.availabilityErrors.map((p) => p.rule), ["retained-configs"]);
    assert.match(core.availabilityErrors[0]?.detail ?? "", /announced but not retained balancing_cells/);
  });
  it('reports status "sleeping" without a cause and a stale online BMS', () => {
    const b = drifting();
    const core = new CheckerCore([b], timing, noFaults, T0);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 1200)), T0 + 1300);
    core.onMessage(`daly_bms/${ID}/availability`, "online", T0 + 1310);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify({ protocol: "d2", status: "sleeping" }), T0 + 2500);
    core.tick(T0 + 5000);
    assert.deepEqual(core.availabilityErrors.map((p) => p.rule), ["sleeping-cause"]);
    core.tick(T0 + 60_000);
    assert.deepEqual(core.availabilityErrors.map((p) => p.rule), ["sleeping-cause", "stale-online"]);
  });
});

describe("soak checker core: asleep is not offline (README)", () => {
  const timing: SoakTiming = { pollIntervalMs: 1000, offlineAfter: 3, scanTimeoutMs: 1000, connectTimeoutMs: 1000, requestTimeoutMs: 300, retries: 1, bmsCount: 1, hangMs: 30_000 };
  const asleep: FaultWindow = { address: ADDR, kind: "sleeping", from: T0 + 15_000, effect: "silent" };
  const faults: FaultLog & { brokerUp(): boolean } = { windows: () => [asleep], outages: () => [], brokerUp: () => true };
  const run = (onlineAgain: boolean): string[] => {
    const b = drifting();
    const core = new CheckerCore([b], timing, faults, T0);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 1200)), T0 + 1300);
    core.onMessage(`daly_bms/${ID}/availability`, "online", T0 + 1310);
    core.onMessage(`daly_bms/${ID}/availability`, "offline", T0 + 10_000);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify({ protocol: "d2", status: "sleeping" }), T0 + 16_000);
    if (onlineAgain) core.onMessage(`daly_bms/${ID}/availability`, "online", T0 + 16_010);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify({ protocol: "d2", status: "sleeping" }), T0 + 18_000);
    core.tick(T0 + 25_000);
    return core.availabilityErrors.map((p) => p.rule);
  };
  it("flags a BMS that keeps reporting sleeping while its availability stays offline", () => {
    assert.deepEqual(run(false), ["asleep-but-offline"]);
  });
  it("accepts it when the first sleeping poll brings it back online", () => {
    assert.deepEqual(run(true), []);
  });
});

describe("soak checker core: asleep after a window, unless the bridge was in backoff", () => {
  const timing: SoakTiming = { pollIntervalMs: 1000, offlineAfter: 3, scanTimeoutMs: 1000, connectTimeoutMs: 1000, requestTimeoutMs: 300, retries: 1, bmsCount: 1, hangMs: 30_000 };
  const asleep: FaultWindow = { address: ADDR, kind: "sleeping", from: T0 + 10_000, to: T0 + 40_000, effect: "silent" };
  // out of range for 18 s inside the sleep: offline, then retries back off beyond the sleep's end
  const away: FaultWindow = { address: ADDR, kind: "outOfRange", from: T0 + 12_000, to: T0 + 30_000, effect: "fails" };
  const run = (windows: FaultWindow[]): string[] => {
    const b = drifting();
    const core = new CheckerCore([b], timing, { windows: () => windows, outages: () => [], brokerUp: () => true }, T0);
    for (let t = T0 + 1000; t < T0 + 10_000; t += 1000) core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, t + 200)), t + 300);
    core.onMessage(`daly_bms/${ID}/availability`, "online", T0 + 1310);
    core.onMessage(`daly_bms/${ID}/availability`, "offline", T0 + 16_000);
    core.tick(T0 + 60_000);
    return core.availabilityErrors.map((p) => p.rule);
  };
  it("requires status sleeping when the BMS was reachable during a long sleep", () => {
    assert.ok(run([asleep]).includes("asleep-after-window"));
  });
  it("does not require it when an out-of-range window put the bridge in backoff past the sleep's end", () => {
    assert.ok(!run([asleep, away]).includes("asleep-after-window"));
  });
});

describe("soak recovery", () => {
  it("measures the time until every needed topic is seen again, and times out", () => {
    const needs = { configs: ["homeassistant/sensor/x/soc/config"], availability: ["daly_bms/bridge/soak/availability"], states: ["daly_bms/x/state"] };
    const r = new RecoveryTracker("HA restart", T0, needs);
    r.seen("homeassistant/sensor/x/soc/config", "{}", T0 - 100); // before the event: does not count
    r.seen("daly_bms/bridge/soak/availability", "online", T0 + 300);
    r.seen("homeassistant/sensor/x/soc/config", "{}", T0 + 200);
    assert.equal(r.done, false);
    r.seen("daly_bms/x/state", "{}", T0 + 1400);
    assert.equal(r.result.recoveredMs, 1400);
    const late = new RecoveryTracker("broker restart", T0, needs);
    late.check(T0 + 31_000, 30_000);
    assert.equal(late.result.timedOut, true);
    assert.equal(late.result.missing?.length, 3);
  });
  it("a config the bridge clears after the event is no longer needed", () => {
    const r = new RecoveryTracker("broker restart", T0, { configs: ["homeassistant/sensor/x/soc/config", "homeassistant/sensor/x/mos_temperature/config"], availability: [], states: [] });
    r.seen("homeassistant/sensor/x/soc/config", "{}", T0 + 100);
    assert.equal(r.done, false);
    r.seen("homeassistant/sensor/x/mos_temperature/config", "", T0 + 200);
    assert.equal(r.result.recoveredMs, 200);
  });
  it("compares the retained configs of each BMS with the keys its registry entry announces, exactly", () => {
    const cfg = (id: string, key: string, c = "sensor"): string => `homeassistant/${c}/${id}/${key}/config`;
    const registry = JSON.stringify({ [ID]: ["soc", "balancing_cells", "charge_mosfet"] });
    const all = [cfg(ID, "soc"), cfg(ID, "balancing_cells"), cfg(ID, "charge_mosfet", "binary_sensor"), "homeassistant/light/kitchen/lamp/config"];
    assert.deepEqual(compareRetained({ configTopics: all, registry }, [ID]), []);
    // the issue-17 case: a config announced (and seen before) that the broker no longer holds
    assert.deepEqual(compareRetained({ configTopics: all.filter((t) => !t.includes("balancing")), registry }, [ID]), [`${ID}: announced but not retained balancing_cells`]);
    // the broker keeps a config the bridge cleared
    assert.deepEqual(compareRetained({ configTopics: [...all, cfg(ID, "mos_temperature")], registry }, [ID]), [`${ID}: retained but not announced mos_temperature`]);
    // a registry lost with the broker's retained messages: nothing is announced any more
    assert.equal(compareRetained({ configTopics: all, registry: undefined }, [ID]).length, 1);
    // a BMS that announced nothing yet, with nothing retained, is fine
    assert.deepEqual(compareRetained({ configTopics: [], registry: undefined }, [ID]), []);
  });
});

describe("soak checker core: states queued across a broker outage", () => {
  const timing: SoakTiming = { pollIntervalMs: 1000, offlineAfter: 3, scanTimeoutMs: 1000, connectTimeoutMs: 1000, requestTimeoutMs: 300, retries: 1, bmsCount: 1, hangMs: 30_000 };
  const outage: Outage = { from: T0 + 1000, to: T0 + 2000 };
  const faults: FaultLog & { brokerUp(): boolean } = { windows: () => [], outages: () => [outage], brokerUp: () => true };
  it("judges states flushed after the bridge's reconnect \"online\" against the outage, not against each other's arrival", () => {
    // the seed-4242 soak: the client's connect handler sent "online" first, then its queue (two
    // states polled during the outage) — the second was judged from the first one's arrival on
    const b = drifting();
    const core = new CheckerCore([b], timing, faults, T0);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 800)), T0 + 900);
    core.onMessage("daly_bms/bridge/soak/availability", "online", T0 + 3900);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 1200)), T0 + 3905);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 1900)), T0 + 3910);
    assert.equal(core.wrongValues, 0, JSON.stringify(core.wrongDetails[0]));
    // the next live poll started after the queued state was published, long before it arrived
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 2950)), T0 + 6500);
    assert.equal(core.wrongValues, 0, JSON.stringify(core.wrongDetails[0]));
    // well after the flush, a state is live again: an old one is stale
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 1900)), T0 + 9000);
    assert.ok(core.wrongValues > 0);
  });
});

describe("soak checker core: a re-publish repeats the last state message exactly", () => {
  const timing: SoakTiming = { pollIntervalMs: 1000, offlineAfter: 3, scanTimeoutMs: 1000, connectTimeoutMs: 1000, requestTimeoutMs: 300, retries: 1, bmsCount: 1, hangMs: 30_000 };
  const asleep: FaultWindow = { address: ADDR, kind: "sleeping", from: T0 + 4000, to: T0 + 12_000, effect: "silent" };
  const faults: FaultLog & { brokerUp(): boolean } = { windows: () => [asleep], outages: () => [], brokerUp: () => true };
  const SLEEPING = JSON.stringify({ protocol: "d2", status: "sleeping" });
  const run = (republished: string): CheckerCore => {
    const b = drifting();
    const core = new CheckerCore([b], timing, faults, T0);
    core.onMessage(`daly_bms/${ID}/state`, JSON.stringify(stateAt(b, T0 + 1200)), T0 + 1300);
    core.onMessage(`daly_bms/${ID}/availability`, "online", T0 + 1310);
    core.onMessage(`daly_bms/${ID}/state`, SLEEPING, T0 + 5000);
    core.markRepublish(T0 + 20_000);
    core.onMessage(`daly_bms/${ID}/state`, republished === "sleeping" ? SLEEPING : JSON.stringify(stateAt(b, T0 + 1200)), T0 + 20_500);
    return core;
  };
  it('a "sleeping" state re-sent after the sleep ended is a re-publish, not a new sleeping report', () => {
    const core = run("sleeping");
    assert.equal(core.tallies[0]?.republished, 1);
    assert.deepEqual(core.availabilityErrors.map((p) => p.rule), []);
  });
  it("the last full state re-sent after a sleeping one is judged as new (and is stale)", () => {
    const core = run("full");
    assert.equal(core.tallies[0]?.republished, 0);
    assert.ok(core.wrongValues > 0);
  });
});
