/** The bench's pure model of the simulated physical minimum (tools/bench/minimum.ts). No timing targets here. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  cycleMinimum,
  effectiveMtu,
  exchangeMs,
  NOBLE_SETUP_TRANSACTIONS,
  notificationPdus,
  pdusPerExchange,
  pollMinimumMs,
  PROXY_DISCOVERY_TRANSACTIONS,
  proxyCycleMinimum,
  replyEvents,
  replyFrames,
  type TimingModel,
} from "../../tools/bench/minimum.js";
import { median, percentile } from "../../tools/bench/stats.js";

const T: TimingModel = { connectionIntervalMs: 30, replyDelayMs: 40, advertisingIntervalMs: 100, pdusPerEvent: Number.POSITIVE_INFINITY };

test("a reply leaves at the first event strictly after the reply delay", () => {
  assert.equal(replyEvents({ ...T, replyDelayMs: 0 }), 1); // queued after the event's snapshot
  assert.equal(replyEvents({ ...T, replyDelayMs: 29 }), 1);
  assert.equal(replyEvents({ ...T, replyDelayMs: 30 }), 2); // a tie counts as missed
  assert.equal(replyEvents(T), 2);
  assert.equal(replyEvents({ ...T, replyDelayMs: 100 }), 4);
});

test("one exchange is 1 + k events, plus extra events only when PDUs per event are capped", () => {
  assert.equal(exchangeMs(T, 1), 90);
  assert.equal(exchangeMs(T, 7), 90); // the simulated controller delivers every queued PDU at one event
  assert.equal(exchangeMs({ ...T, replyDelayMs: 0, connectionIntervalMs: 15 }, 1), 30);
  assert.equal(exchangeMs({ ...T, pdusPerEvent: 4 }, 7), 120);
  assert.equal(exchangeMs({ ...T, pdusPerEvent: 1 }, 7), 270);
});

test("ATT_MTU and notification PDU counts", () => {
  assert.equal(effectiveMtu(23), 23);
  assert.equal(effectiveMtu(512), 256); // noble asks for 256
  assert.equal(effectiveMtu(247), 247);
  assert.equal(notificationPdus(129, 23), 7); // ceil(129 / 20)
  assert.equal(notificationPdus(129, 256), 1);
  assert.equal(notificationPdus(13, 23), 1);
  assert.equal(notificationPdus(0, 23), 1);
});

test("reply sizes come from the real poll plan", () => {
  assert.deepEqual(replyFrames({ protocol: "d2", wantVersion: false, mosBlock: true }, 16, 4), [[129], [23]]);
  assert.deepEqual(replyFrames({ protocol: "d2", wantVersion: true, mosBlock: false }, 16, 4), [[129], [69]]);
  const a5 = replyFrames({ protocol: "a5", a5Host: 0x80, wantVersion: false }, 16, 4);
  assert.deepEqual(a5.map((s) => s.length), [1, 1, 1, 6, 1, 1, 1]);
  assert.deepEqual(pdusPerExchange([[129], [23]], 23), [7, 2]);
  assert.deepEqual(pdusPerExchange(a5, 23), [1, 1, 1, 6, 1, 1, 1]);
});

test("poll and cycle minimum for known intervals", () => {
  assert.equal(pollMinimumMs(T, [1, 1]), 180);
  assert.equal(pollMinimumMs(T, [1, 1, 1, 6, 1, 1, 1]), 630);
  assert.equal(NOBLE_SETUP_TRANSACTIONS, 7);
  const c = cycleMinimum(T, 7, [1, 1, 1]);
  assert.deepEqual(c, { scanMs: 0, connectMs: 100, gattMs: 420, pollMs: 270, closeMs: 30, totalMs: 820 });
  assert.equal(cycleMinimum({ ...T, connectionIntervalMs: 50, advertisingIntervalMs: 200 }, 7, [1]).totalMs, 200 + 700 + 100 + 50);
});

test("cycle minimum through an ESPHome proxy: connect + MTU, discovery, CCCD write, poll, disconnect", () => {
  assert.equal(PROXY_DISCOVERY_TRANSACTIONS, 5);
  const c = proxyCycleMinimum(T, 5, [1, 1]);
  assert.deepEqual(c, { connectMs: 160, servicesMs: 300, notifyMs: 60, pollMs: 180, closeMs: 30, totalMs: 730 });
  assert.equal(proxyCycleMinimum(T, 5, [1, 1, 1, 6, 1, 1, 1]).totalMs, 160 + 300 + 60 + 630 + 30);
  assert.equal(proxyCycleMinimum({ ...T, connectionIntervalMs: 50, replyDelayMs: 0, advertisingIntervalMs: 200 }, 3, [1]).totalMs, 300 + 300 + 100 + 100 + 50);
});

test("median and nearest-rank p95", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  const twenty = Array.from({ length: 20 }, (_, i) => i + 1);
  assert.equal(percentile(twenty, 95), 19);
  assert.equal(percentile(twenty, 100), 20);
  assert.throws(() => median([]));
});
