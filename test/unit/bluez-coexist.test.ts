/**
 * Living beside Home Assistant's Bluetooth on one BlueZ: a device another D-Bus client connected
 * (its own connection to a real private dbus-daemon, as HA's would be) is used without Connect and
 * left connected after our poll, and that client's notify session keeps delivering; a device whose
 * notify characteristic another client acquired is reported "busy" (not a failure, not offline)
 * and left alone; a link we opened ourselves is still disconnected after the poll.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { BluezTransport } from "../../src/transport/bluez/transport.js";
import { TransportError } from "../../src/transport/errors.js";
import { encodeRequest } from "../../src/daly/requests.js";
import { AdapterQueue } from "../../src/runtime/adapter-queue.js";
import { pollOnce } from "../../src/runtime/poller.js";
import { Supervisor } from "../../src/runtime/supervisor.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import { parseScenario, type Scenario } from "../../src/sim/scenario.js";
import { BluezMock } from "../helpers/bluez-mock.js";
import { OtherClient } from "../helpers/bluez-mock-client.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";

const SHARED = "C0:D6:3C:57:2C:01";
const HELD = "C0:D6:3C:57:2C:02";
const OURS = "C0:D6:3C:57:2C:03";
const TIMING = { scanTimeoutMs: 2000, connectTimeoutMs: 2000, gattTimeoutMs: 1000 };
const POLL = { requestTimeoutMs: 400, retries: 1 };
const BASE = { cells_mV: [3301, 3302, 3300, 3305], temperatures_C: [21, 22], current_A: -12.3, soc_pct: 55.5, remaining_Ah: 80.2, cycles: 12, charge_mosfet: true, discharge_mosfet: false };

function scenario(): Scenario {
  const r = parseScenario({
    bms: [
      { ...BASE, address: SHARED, protocol: "d2", soc_pct: 61.5, cycles: 33 },
      { ...BASE, address: HELD, protocol: "d2" },
      { ...BASE, address: OURS, protocol: "a5", soc_pct: 42 },
    ],
  });
  assert.ok(r.ok, r.ok ? "" : r.message);
  return r.scenario;
}

let mock: BluezMock;
let other: OtherClient;
const transports: BluezTransport[] = [];
function make(): BluezTransport {
  const t = new BluezTransport({ busAddress: mock.address, ...TIMING });
  transports.push(t);
  return t;
}

/** The other client connects `address` and starts its own notify session, as HA would. */
async function otherConnects(address: string): Promise<void> {
  const resolved = new Promise<void>((resolve) => mock.on("resolved", (a: string) => a === address && resolve()));
  await other.call(mock.device(address).path, "org.bluez.Device1", "Connect");
  await resolved;
}

const d2Reply = (b: Buffer): boolean => b.length >= 3 && b.length >= 5 + (b[2] ?? 0);

before(async () => {
  mock = await BluezMock.start({ scenario: scenario(), known: [SHARED, HELD, OURS] });
  other = await OtherClient.connect(mock.address);
});

after(async () => {
  for (const t of transports) await t.shutdown();
  other.close();
  await mock.stop();
});

describe("BlueZ shared with another client (mock BlueZ on a private D-Bus)", () => {
  it("a device another client connected stays connected after our poll, and its notify session survives", async () => {
    await otherConnects(SHARED);
    const d = mock.device(SHARED);
    await other.call(mock.chars(SHARED).notify, "org.bluez.GattCharacteristic1", "StartNotify");
    assert.deepEqual([...d.notifySessions], [other.name]);

    const t = make();
    const link = await t.open({ address: SHARED });
    try {
      assert.equal(t.foundOpen, 1, "the link was found open");
      assert.equal(d.counters.connects, 1, "no Connect of ours on a link found open");
      assert.equal(d.notifySessions.size, 2, "our own notify session next to the other client's");
      const r = await pollOnce(link, { protocol: "d2", wantVersion: false, mosBlock: false }, POLL);
      assertScenarioValues(r.snapshot, scenario().bms[0]!);
    } finally {
      await link.close();
    }
    assert.deepEqual(t.diagnostics(), { openLinks: 0, signalHandlers: 0, matchRules: 0 });
    assert.equal(d.iface.Connected, true, "left connected");
    assert.deepEqual(d.disconnectedBy, [], "we never called Disconnect");
    assert.deepEqual([...d.notifySessions], [other.name], "only our notify session ended");
    assert.equal(d.counters.stopNotify, 1);

    // the other client's session still delivers: its own request gets its reply
    const reply = await other.exchange(mock.chars(SHARED).write, encodeRequest({ protocol: "d2", block: "status" }), d2Reply);
    assert.equal(reply[0], 0xd2);
    assert.equal(reply.length, 5 + 0x3e * 2);

    // and a second poll of ours works again on the same shared link
    const again = await t.open({ address: SHARED });
    try {
      assert.equal((await pollOnce(again, { protocol: "d2", wantVersion: false, mosBlock: false }, POLL)).snapshot.soc_pct, 61.5);
    } finally {
      await again.close();
    }
    assert.equal(t.foundOpen, 2);
    assert.equal(d.iface.Connected, true);
    assert.deepEqual(d.disconnectedBy, []);
  });

  it("notify acquired by another client: busy (status \"busy\", online, no failure, retried at the interval); the link is left alone", async () => {
    await otherConnects(HELD);
    const d = mock.device(HELD);
    d.faults.notifyAcquired = true;
    const t = make();
    await assert.rejects(t.open({ address: HELD }), (e: unknown) => e instanceof TransportError && e.kind === "busy" && /acquired by another D-Bus client/.test(e.message));
    assert.equal(d.iface.Connected, true);
    assert.deepEqual(d.disconnectedBy, []);
    assert.deepEqual(t.diagnostics(), { openLinks: 0, signalHandlers: 0, matchRules: 0 });

    const sup = new Supervisor({ address: HELD, protocol: "d2", invertCurrent: false, pollIntervalMs: 1000 }, t, new AdapterQueue(), { keepConnected: false, requestTimeoutMs: 400, retries: 1, offlineAfter: 1, maxBackoffMs: 60_000 });
    const busy: Snapshot[] = [];
    const failures: Error[] = [];
    const availability: boolean[] = [];
    sup.on("busy", (p) => busy.push(p));
    sup.on("failure", (e) => failures.push(e));
    sup.on("availability", (a) => availability.push(a));
    await sup.pollCycle();
    await sup.pollCycle();
    assert.equal(busy.length, 2);
    assert.equal(busy[0]?.status, "busy");
    assert.deepEqual(failures, [], "busy is not a failure (no backoff, offline_after never reached)");
    assert.deepEqual(availability, [true], "one availability change, online; no offline/online flood");
    assert.equal(d.iface.Connected, true);

    d.faults.notifyAcquired = false; // the other client released it: polled again
    const values: Snapshot[] = [];
    sup.on("snapshot", (s) => values.push(s));
    await sup.pollCycle();
    assert.equal(values[0]?.status, "ok");
    assert.equal(values[0]?.soc_pct, 55.5);
    assert.equal(d.iface.Connected, true, "still the other client's link");
  });

  it("a link we opened is still disconnected after the poll", async () => {
    const d = mock.device(OURS);
    const t = make();
    const link = await t.open({ address: OURS });
    try {
      assert.equal((await pollOnce(link, undefined, POLL)).snapshot.soc_pct, 42);
    } finally {
      await link.close();
    }
    assert.equal(t.foundOpen, 0);
    assert.equal(d.iface.Connected, false);
    assert.equal(d.disconnectedBy.length, 1);
  });
});
