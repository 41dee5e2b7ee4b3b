/** Retry timing (runtime/backoff.ts) and the cap the bridge configures (commands/setup.ts). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { maxBackoffMs, nextDelayMs } from "../../src/runtime/backoff.js";
import { supervisorOptions } from "../../src/commands/setup.js";
import { loadConfig } from "../../src/config/load.js";

const policy = { intervalMs: 5000, offlineAfter: 3, maxMs: maxBackoffMs(5000) };
const mid = (): number => 0.5; // no jitter

describe("backoff", () => {
  it("keeps the poll interval until the BMS is offline, then doubles", () => {
    assert.deepEqual([0, 1, 2].map((f) => nextDelayMs(f, policy, mid)), [5000, 5000, 5000]);
    assert.deepEqual([3, 4, 5].map((f) => nextDelayMs(f, policy, mid)), [10_000, 20_000, 40_000]);
  });
  it("waits at most about a minute for an unreachable BMS", () => {
    assert.equal(nextDelayMs(50, policy, mid), 60_000);
    assert.equal(nextDelayMs(50, policy, () => 0.999_999), 72_000);
    assert.equal(nextDelayMs(50, policy, () => 0), 48_000);
  });
  it("never retries more often than the poll interval", () => {
    const slow = { intervalMs: 600_000, offlineAfter: 3, maxMs: maxBackoffMs(600_000) };
    assert.equal(nextDelayMs(10, slow, mid), 600_000);
  });
  it("is what the bridge configures", () => {
    const r = loadConfig({ argv: ["--poll-interval", "30"], env: {} });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(supervisorOptions(r.config, {}).maxBackoffMs, 60_000);
  });
});
