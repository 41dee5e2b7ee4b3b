/** The poller against the simulator's Daly responder over an in-memory link (no radio). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { pollOnce } from "../../src/runtime/poller.js";
import { createResponder } from "../../src/sim/responder.js";
import { batteryAt } from "../../src/sim/battery.js";
import { parseScenario, type ScenarioBms } from "../../src/sim/scenario.js";
import { memoryLink } from "../helpers/memory-link.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import type { DeviceProfile } from "../../src/daly/plan.js";

function bms(over: Record<string, unknown>): ScenarioBms {
  const r = parseScenario({
    bms: [{ address: "C0:D6:3C:57:2A:01", cells_mV: [3301, 3302, 3300, 3305], temperatures_C: [21, 22], current_A: -12.3, soc_pct: 55.5, remaining_Ah: 80.2, cycles: 12, charge_mosfet: true, discharge_mosfet: false, ...over }],
  });
  assert.ok(r.ok, r.ok ? "" : r.message);
  const b = r.scenario.bms[0];
  assert.ok(b);
  return b;
}

const OPTS = { requestTimeoutMs: 200, retries: 1 };

const expectScenario = (s: Snapshot, b: ScenarioBms): void => assertScenarioValues(s, b);

for (const protocol of ["a5", "d2", "p81"] as const) {
  test(`probe picks ${protocol} and the poll returns exactly the scenario's values`, async () => {
    const b = bms({ protocol, balancing: [2], alarms: ["cell_overvoltage_warning"], mos_temp_C: 30 });
    const link = memoryLink(createResponder(() => batteryAt(b, 0), { protocol }), { chunk: 20 });
    const r = await pollOnce(link, undefined, OPTS);
    assert.equal(r.profile.protocol, protocol);
    expectScenario(r.snapshot, b);
    assert.deepEqual(r.snapshot.balancing, [2]);
    assert.equal(r.snapshot.balancing_active, true);
    assert.deepEqual(r.snapshot.alarms, ["cell_overvoltage_warning"]);
    assert.deepEqual(r.snapshot.alarms_unnamed, []);
    if (protocol !== "a5") assert.equal(r.snapshot.mos_temp_C, 30);
    assert.equal(link.dataListeners(), 0, "listeners removed after the poll");
    // second poll with the remembered profile sends no probe
    const before = link.writes.length;
    const r2 = await pollOnce(link, r.profile, OPTS);
    expectScenario(r2.snapshot, b);
    assert.ok(link.writes.length - before < (protocol === "a5" ? 9 : 4));
  });
}

test("0x81 fault words: documented bits by name, the rest by register and bit number, and which is which", async () => {
  const alarms = ["cell_undervoltage_protection", "charge_overcurrent_warning", "fault_66_bit_3", "forced_start_active", "fault_72_bit_0", "fault_73_bit_15"];
  const b = bms({ protocol: "p81", alarms });
  const link = memoryLink(createResponder(() => batteryAt(b, 0), { protocol: "p81" }), { chunk: 20 });
  const r = await pollOnce(link, { protocol: "p81", wantVersion: false }, OPTS);
  // wire order: 0x66, then 0x6D (legacy bytes 0–1), 0x6E (bytes 2–3), then 0x72, 0x73
  assert.deepEqual(r.snapshot.alarms, ["fault_66_bit_3", "cell_undervoltage_protection", "charge_overcurrent_warning", "fault_72_bit_0", "forced_start_active", "fault_73_bit_15"]);
  assert.deepEqual(r.snapshot.alarms_unnamed, ["fault_66_bit_3", "fault_72_bit_0", "fault_73_bit_15"]);
  // 0x66 = 0x0008; 0x6D = 0x0800 (legacy byte 0 bit 3, high byte); 0x6E = 0x0100 (legacy byte 2 bit 0)
  assert.match(r.snapshot.alarm_raw ?? "", /^0008(0000){3}08000100/);
});

test("A5 module that answers only host 0x40 is found by the probe and polled from 0x40", async () => {
  const b = bms({ protocol: "a5", a5_hosts: [0x40] });
  const link = memoryLink(createResponder(() => batteryAt(b, 0), { protocol: "a5", a5Hosts: [0x40] }));
  const r = await pollOnce(link, undefined, OPTS);
  assert.equal(r.profile.a5Host, 0x40);
  expectScenario(r.snapshot, b);
});

test("'all 16 frames' padding and merged notifications give the same snapshot", async () => {
  const b = bms({ protocol: "a5" });
  const link = memoryLink(createResponder(() => batteryAt(b, 0), { protocol: "a5", a5AllFrames: true }), { merge: true });
  const r = await pollOnce(link, { protocol: "a5", a5Host: 0x80, wantVersion: false }, OPTS);
  expectScenario(r.snapshot, b);
});

test("a silent BMS fails the poll with no-reply after the retries, and removes its listeners", async () => {
  const link = memoryLink(() => [], { silent: true });
  await assert.rejects(pollOnce(link, undefined, { requestTimeoutMs: 30, retries: 0 }), /no protocol answered/);
  await assert.rejects(pollOnce(link, { protocol: "d2", wantVersion: false }, { requestTimeoutMs: 30, retries: 1 }), /no reply to d2 status/);
  assert.equal(link.dataListeners(), 0);
});

test("link loss mid-poll rejects at once with link-lost", async () => {
  const b = bms({ protocol: "a5" });
  const respond = createResponder(() => batteryAt(b, 0), { protocol: "a5" });
  let n = 0;
  const link = memoryLink((w) => {
    n += 1;
    if (n === 3) setImmediate(() => link.lose());
    return n >= 3 ? [] : respond(w);
  });
  await assert.rejects(pollOnce(link, { protocol: "a5", a5Host: 0x80, wantVersion: false }, { requestTimeoutMs: 5000, retries: 2 }), /link lost/);
  assert.equal(link.dataListeners(), 0);
});

/** An A5 reply frame with one data byte changed and its 8-bit checksum recomputed: it passes the checksum. */
function corruptA5(frame: Uint8Array, dataIndex: number, value: number): Uint8Array {
  const f = Uint8Array.from(frame);
  f[4 + dataIndex] = value;
  f[12] = f.subarray(0, 12).reduce((a, b) => (a + b) & 0xff, 0);
  return f;
}

for (const [what, index, value] of [["frame number 9", 0, 9], ["a temperature of 210 °C", 1, 250]] as const) {
  test(`A5: a checksum-valid temperature frame with ${what} is no answer: the step retries, no temperature goes missing`, async () => {
    const b = bms({ protocol: "a5" });
    const respond = createResponder(() => batteryAt(b, 0), { protocol: "a5" });
    let corrupted = 0;
    const link = memoryLink((w) =>
      respond(w).map((r) => {
        if (r[2] !== 0x96 || corrupted > 0) return r;
        corrupted += 1;
        return corruptA5(r, index, value);
      }),
    );
    const r = await pollOnce(link, { protocol: "a5", a5Host: 0x80, wantVersion: false }, OPTS);
    assert.equal(corrupted, 1);
    assert.deepEqual(r.snapshot.temperatures_C, [21, 22]);
    assert.equal(r.stats.retries, 1);
    assert.equal(r.stats.rejectedFrames, 1);
    expectScenario(r.snapshot, b);
  });
}

test("A5: only corrupt temperature frames fail the poll as corrupt instead of publishing it without temperatures", async () => {
  const b = bms({ protocol: "a5" });
  const respond = createResponder(() => batteryAt(b, 0), { protocol: "a5" });
  const link = memoryLink((w) => respond(w).map((r) => (r[2] === 0x96 ? corruptA5(r, 1, 250) : r)));
  await assert.rejects(pollOnce(link, { protocol: "a5", a5Host: 0x80, wantVersion: false }, OPTS), /only corrupt replies to a5 temperatures/);
});

test("A5: an incomplete cell reply is not combined with the retry's frames (one reply = one sample)", async () => {
  const b = bms({ protocol: "a5", cells_mV: [3301, 3302, 3300, 3305, 3310, 3311] }); // 2 cell frames
  let cellReplies = 0;
  // the battery moves between the answers: every cell is 7 mV lower from the second one on
  const at = (): ScenarioBms => (cellReplies >= 2 ? { ...b, cells_mV: b.cells_mV.map((v) => v - 7) } : b);
  const link = memoryLink((w) => {
    if (w[2] === 0x95) cellReplies += 1; // a cell request (A5 80 95 08 …)
    const replies = createResponder(() => batteryAt(at(), 0), { protocol: "a5" })(w);
    if (w[2] !== 0x95) return replies;
    // answer 1 loses frame 2, answer 2 loses frame 1 (together they would complete a mix), answer 3 is whole
    return cellReplies === 1 ? replies.slice(0, 1) : cellReplies === 2 ? replies.slice(1) : replies;
  });
  const r = await pollOnce(link, { protocol: "a5", a5Host: 0x80, wantVersion: false }, { requestTimeoutMs: 200, retries: 2 });
  assert.equal(cellReplies, 3);
  assert.deepEqual(r.snapshot.cells_mV, [3294, 3295, 3293, 3298, 3303, 3304]);
});

test("D2: the MOS block is given up after 3 polls in a row without an answer if it never answered, at once when answered without a MOS temperature", async () => {
  const b = bms({ protocol: "d2", mos_temp_C: 30 });
  const respond = createResponder(() => batteryAt(b, 0), { protocol: "d2" });
  let mosSilent = true;
  // a D2 read request: D2 03 <register hi> <register lo> …; 0x3E is the MOS block
  const link = memoryLink((w) => (mosSilent && w[2] === 0x00 && w[3] === 0x3e ? [] : respond(w)));
  let profile: DeviceProfile = { protocol: "d2", wantVersion: false };
  const opts = { requestTimeoutMs: 50, retries: 0 };
  for (const expected of [1, 2]) {
    profile = (await pollOnce(link, profile, opts)).profile;
    assert.equal(profile.mosMisses, expected);
    assert.notEqual(profile.mosBlock, false, `still read after ${expected} miss(es)`);
  }
  profile = (await pollOnce(link, profile, opts)).profile;
  assert.equal(profile.mosBlock, false, "never answered: given up after 3 misses in a row");

  // a block that answered once is never given up: lost replies are lost replies
  mosSilent = false;
  const answered = await pollOnce(link, { protocol: "d2", wantVersion: false }, opts);
  assert.equal(answered.snapshot.mos_temp_C, 30);
  mosSilent = true;
  profile = answered.profile;
  for (let i = 0; i < 5; i++) profile = (await pollOnce(link, profile, opts)).profile;
  assert.notEqual(profile.mosBlock, false, "answered before: still read after 5 misses");

  const noMos = bms({ protocol: "d2" });
  const link2 = memoryLink(createResponder(() => batteryAt(noMos, 0), { protocol: "d2" }));
  const r = await pollOnce(link2, { protocol: "d2", wantVersion: false }, opts);
  assert.equal(r.snapshot.mos_temp_C, undefined);
  assert.equal(r.profile.mosBlock, false, "answered without a MOS temperature: unsupported");
});
