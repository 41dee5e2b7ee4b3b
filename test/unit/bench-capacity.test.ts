/** The bench's capacity arithmetic and timeline analysis (tools/bench/capacity.ts). No timing targets here. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  adapterBusy,
  analyseStates,
  keepsRate,
  meanCycle,
  mixCapacity,
  mixCycles,
  mixMember,
  overloadExtra,
  perAdapter,
  predictedPeriods,
} from "../../tools/bench/capacity.js";

const CYCLES = { a5: 1200, d2: 750, p81: 750 };
const MIX = ["a5", "d2", "p81"];

test("per adapter: floor(budget / cycle)", () => {
  assert.equal(perAdapter(5000, 1200), 4);
  assert.equal(perAdapter(5000, 750), 6);
  assert.equal(perAdapter(5000, 5000), 1);
  assert.equal(perAdapter(5000, 5001), 0);
  assert.throws(() => perAdapter(5000, 0));
});

test("round-robin mix: members, cycles, mean", () => {
  assert.equal(mixMember(MIX, 0), "a5");
  assert.equal(mixMember(MIX, 4), "d2");
  assert.deepEqual(mixCycles(MIX, CYCLES, 5), [1200, 750, 750, 1200, 750]);
  assert.equal(meanCycle(MIX, CYCLES), 900);
  assert.throws(() => mixCycles(["a5", "x"], CYCLES, 2), /no cycle time for x/);
  assert.throws(() => mixMember([], 0));
});

test("mix capacity: the largest N whose cycles fit the interval", () => {
  // 1200 + 750 + 750 + 1200 + 750 = 4650 ≤ 5000; + 750 = 5400 > 5000
  assert.equal(mixCapacity(5000, MIX, CYCLES), 5);
  assert.equal(mixCapacity(4650, MIX, CYCLES), 5); // exactly full still fits
  assert.equal(mixCapacity(1000, MIX, CYCLES), 0);
  assert.equal(mixCapacity(5000, ["d2"], CYCLES), 6);
});

test("overload: N + k must exceed the tolerated period by a margin", () => {
  // limit 5000 × 1.1 × 1.05 = 5775: N+1 = 5400 (too close), N+2 = 6600
  assert.equal(overloadExtra(5000, MIX, CYCLES, 5), 2);
  assert.equal(overloadExtra(5000, MIX, CYCLES, 5, 1, 1), 1);
});

test("predicted period: the interval, or the whole round when the adapter is saturated", () => {
  // the supervisor's interval is a period: 5 s, unless a round of all cycles takes longer
  assert.deepEqual(predictedPeriods(5000, [1200, 750]), [5000, 5000]);
  assert.deepEqual(predictedPeriods(5000, [1200, 750, 750, 1200, 750, 750, 1200]), [6600, 6600, 6600, 6600, 6600, 6600, 6600]);
});

test("state timeline: intervals, waits and the rate check", () => {
  const ev = [
    { atMs: 1000, durationMs: 900 },
    { atMs: 6700, durationMs: 700 }, // 5700 = 5000 sleep + 700 cycle: no wait
    { atMs: 12700, durationMs: 700 }, // 6000: waited 300
    { atMs: 18400, durationMs: 700 },
  ];
  const a = analyseStates([...ev].reverse(), 5000); // order does not matter
  assert.deepEqual(a.intervals, [5700, 6000, 5700]);
  assert.equal(a.states, 4);
  assert.equal(a.medianIntervalMs, 5700);
  assert.equal(a.maxIntervalMs, 6000);
  assert.equal(a.medianWaitMs, 0);
  assert.equal(a.maxWaitMs, 300);
  assert.equal(a.medianCycleMs, 700);
  assert.equal(keepsRate(a), false); // 5.7 s > 5.5 s
  assert.equal(keepsRate(a, 5000, 1.2), true);
  const fast = analyseStates([{ atMs: 0, durationMs: 700 }, { atMs: 5000, durationMs: 700 }, { atMs: 10000, durationMs: 700 }], 4300);
  assert.equal(keepsRate(fast), true);
  const short = analyseStates([{ atMs: 0, durationMs: 700 }, { atMs: 5000, durationMs: 700 }], 4300);
  assert.equal(keepsRate(short), false); // one interval is not evidence
  assert.equal(analyseStates([], 5000).medianIntervalMs, undefined);
});

test("adapter busy: cycle time of the states in the window over the window", () => {
  const ev = [
    { atMs: 500, durationMs: 400 },
    { atMs: 2000, durationMs: 1000 },
    { atMs: 3000, durationMs: 500 },
  ];
  assert.equal(adapterBusy(ev, 1000, 4000), 0.5);
  assert.equal(adapterBusy(ev, 4000, 4000), 0);
});
