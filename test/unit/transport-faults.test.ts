/**
 * ble-noble.md §5 failure modes H2–H9, reproduced through the virtual controller underneath
 * noble's real HCI stack and handled by our NobleTransport + poller: each poll ends with an error
 * in bounded time, leaves no orphan link and no leaked listener, and the next poll succeeds.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createSimRadio, type SimRadio } from "../../src/sim/radio.js";
import { parseScenario } from "../../src/sim/scenario.js";
import { pollOnce } from "../../src/runtime/poller.js";
import type { SimFaults } from "../../src/sim/hci/types.js";
import type { DeviceProfile } from "../../src/daly/plan.js";

const A = "C0:D6:3C:57:2A:01";
const TIMING = { scanTimeoutMs: 600, connectTimeoutMs: 600, gattTimeoutMs: 600, cancelGraceMs: 150, watchdogAfter: 3 };
const POLL = { requestTimeoutMs: 300, retries: 1 };
const PROFILE: DeviceProfile = { protocol: "d2", wantVersion: false, mosBlock: false };

let radio: SimRadio;
before(() => {
  const r = parseScenario({ bms: [{ address: A, protocol: "d2", cells_mV: [3301, 3302, 3300, 3305], soc_pct: 55.5, timing: { connectionIntervalMs: 5, advertisingIntervalMs: 5 } }] });
  assert.ok(r.ok);
  radio = createSimRadio(r.scenario, TIMING);
});
after(async () => {
  await radio.stop();
});

function faults(): SimFaults {
  const f = radio.specs[0]?.faults;
  assert.ok(f);
  return f;
}

function clear(): void {
  const f = faults();
  for (const k of Object.keys(f)) delete (f as Record<string, unknown>)[k];
}

/** One full cycle as the supervisor does it; returns the error, if any, and how long it took. */
async function cycle(): Promise<{ err?: Error; ms: number; soc?: number }> {
  const t0 = performance.now();
  let link;
  try {
    link = await radio.transport.open({ address: A });
    const r = await pollOnce(link, PROFILE, POLL);
    return { ms: performance.now() - t0, ...(r.snapshot.soc_pct !== undefined ? { soc: r.snapshot.soc_pct } : {}) };
  } catch (e) {
    return { err: e as Error, ms: performance.now() - t0 };
  } finally {
    await link?.close();
  }
}

function assertClean(): void {
  assert.deepEqual(radio.controller.connectedHandles(), [], "no orphan link at the controller");
  const d = radio.transport.diagnostics();
  assert.equal(d.openLinks, 0, "no link object left");
  assert.equal(d.peripheralListeners, 0, "no connect/disconnect listener left on the peripheral");
  assert.ok(d.nobleListeners <= 1, `noble listeners ${d.nobleListeners}`);
}

async function expectRecovery(): Promise<void> {
  clear();
  const ok = await cycle();
  assert.equal(ok.err, undefined, `next poll succeeds: ${ok.err?.message}`);
  assert.equal(ok.soc, 55.5);
  assertClean();
}

describe("BLE failure modes (ble-noble.md §5)", () => {
  it("baseline: a poll succeeds and leaves nothing behind", async () => {
    await expectRecovery();
  });

  it("H2/H2b: a connect that never completes is cancelled in bounded time; a late completion is not left as an orphan", async () => {
    faults().connectHang = true;
    const r = await cycle();
    assert.match(r.err?.message ?? "", /connect timed out/);
    assert.ok(r.ms < TIMING.scanTimeoutMs + TIMING.connectTimeoutMs + 2000, `bounded: ${r.ms} ms`);
    assertClean();
    await expectRecovery();
  });

  it("H3: link loss during a write rejects at once with link-lost", async () => {
    faults().linkLossAfterWrites = 1;
    const r = await cycle();
    assert.match(r.err?.message ?? "", /link lost|disconnected/);
    assert.ok(r.ms < 2000, `bounded: ${r.ms} ms`);
    assertClean();
    await expectRecovery();
  });

  it("H4: a module that rejects writes fails the poll in bounded time (noble would wait forever)", async () => {
    faults().attErrorOnWrite = 0x03;
    const r = await cycle();
    assert.match(r.err?.message ?? "", /no reply/);
    assert.ok(r.ms < 3000, `bounded: ${r.ms} ms`);
    assertClean();
    await expectRecovery();
  });

  it("H5: an MTU answer that stalls noble's GATT queue ends in a discovery timeout, not a hang", async () => {
    faults().mtuInvalidPdu = true;
    const r = await cycle();
    assert.match(r.err?.message ?? "", /discover GATT timed out|timed out/);
    assert.ok(r.ms < TIMING.scanTimeoutMs + TIMING.gattTimeoutMs + 2000, `bounded: ${r.ms} ms`);
    assertClean();
    // the first connection after the stall can still time out once (see the issue note); the
    // second must work: the adapter is not wedged
    clear();
    if ((await cycle()).err) assertClean();
    await expectRecovery();
  });

  it("H6: a BMS that is not advertising is 'not found' after the scan timeout; the connect queue is not wedged", async () => {
    faults().outOfRange = true;
    const r = await cycle();
    assert.match(r.err?.message ?? "", /not found/);
    assert.ok(r.ms < TIMING.scanTimeoutMs + 1000, `bounded: ${r.ms} ms`);
    assertClean();
    await expectRecovery();
  });

  it("H7/H8: closing a link that was already lost sends no Disconnect and resolves at once", async () => {
    const link = await radio.transport.open({ address: A });
    const handle = radio.controller.handleOf(A);
    assert.notEqual(handle, undefined);
    radio.controller.disconnectPeripheral(A, 0x08);
    await new Promise<void>((resolve) => link.onClose(() => resolve()));
    const t0 = performance.now();
    await link.close();
    assert.ok(performance.now() - t0 < 100, "close of a lost link is immediate");
    assertClean();
    await expectRecovery();
  });

  it("H9: after a reconnect the characteristics are discovered again (a kept link that dropped is replaced)", async () => {
    const link1 = await radio.transport.open({ address: A });
    const r1 = await pollOnce(link1, PROFILE, POLL);
    assert.equal(r1.snapshot.soc_pct, 55.5);
    radio.controller.disconnectPeripheral(A, 0x08);
    await new Promise<void>((resolve) => link1.onClose(() => resolve()));
    await assert.rejects(link1.write(Uint8Array.of(1)), /link lost|closed/);
    const link2 = await radio.transport.open({ address: A });
    const r2 = await pollOnce(link2, PROFILE, POLL);
    assert.equal(r2.snapshot.soc_pct, 55.5);
    await link2.close();
    assertClean();
  });

  it("a sleeping module (connects, never answers) fails with no-reply in bounded time", async () => {
    faults().sleeping = true;
    const r = await cycle();
    assert.match(r.err?.message ?? "", /no reply/);
    assert.ok(r.ms < 3000, `bounded: ${r.ms} ms`);
    assertClean();
    await expectRecovery();
  });

  it("watchdog: repeated stuck connects recreate the noble instance, and polling works afterwards", async () => {
    const before = radio.transport.restarts;
    faults().connectHang = true;
    for (let i = 0; i < TIMING.watchdogAfter; i++) assert.ok((await cycle()).err);
    assert.equal(radio.transport.restarts, before + 1);
    await expectRecovery();
  });

  it("dropped, garbled, split and merged notifications: bad frames are dropped, retries recover, values exact", async () => {
    const f = faults();
    for (const fault of [{ splitNotifications: 7 }, { mergeNotifications: true }, { dropNotifications: 1 }, { garbleNotifications: true }] as SimFaults[]) {
      clear();
      Object.assign(f, fault);
      const r = await cycle();
      if (fault.garbleNotifications) {
        assert.match(r.err?.message ?? "", /no reply/, "every reply corrupt: no value is published");
      } else {
        assert.equal(r.err, undefined, `${JSON.stringify(fault)}: ${r.err?.message}`);
        assert.equal(r.soc, 55.5);
      }
      assertClean();
    }
    await expectRecovery();
  });
});
