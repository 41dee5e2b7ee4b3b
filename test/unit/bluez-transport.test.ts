/**
 * BluezTransport over a real D-Bus (private dbus-daemon) against a mock bluetoothd whose devices
 * answer through the Daly responder: exact scenario values for A5, D2 and 0x81, scan, link loss
 * mid-poll, a link found open, a hung connect, a device that never appears, and no BlueZ at all.
 * Synchronisation is by events and awaited calls only; timeouts bound every failure.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { BluezTransport } from "../../src/transport/bluez/transport.js";
import { TransportError } from "../../src/transport/errors.js";
import type { BleLink } from "../../src/transport/link.js";
import { pollOnce } from "../../src/runtime/poller.js";
import type { DeviceProfile } from "../../src/daly/plan.js";
import { parseScenario, type Scenario } from "../../src/sim/scenario.js";
import { BluezMock } from "../helpers/bluez-mock.js";
import { startPrivateBus } from "../helpers/dbus-daemon.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";

const A5 = "C0:D6:3C:57:2B:01";
const D2 = "C0:D6:3C:57:2B:02";
const P81 = "C0:D6:3C:57:2B:03";
const STALE = "C0:D6:3C:57:2B:04";
const HANG = "C0:D6:3C:57:2B:05";
const GHOST = "C0:D6:3C:57:2B:06";
const TIMING = { scanTimeoutMs: 2000, connectTimeoutMs: 2000, gattTimeoutMs: 1000 };
const POLL = { requestTimeoutMs: 400, retries: 1 };
const D2_PROFILE: DeviceProfile = { protocol: "d2", wantVersion: false, mosBlock: false };
const BASE = { cells_mV: [3301, 3302, 3300, 3305], temperatures_C: [21, 22], current_A: -12.3, soc_pct: 55.5, remaining_Ah: 80.2, cycles: 12, charge_mosfet: true, discharge_mosfet: false };

function scenario(): Scenario {
  const r = parseScenario({
    bms: [
      { ...BASE, address: A5, protocol: "a5" },
      { ...BASE, address: D2, protocol: "d2", cells_mV: [3320, 3321, 3319, 3322, 3318, 3320, 3323, 3317], current_A: 8.4, soc_pct: 71.2, remaining_Ah: 142.4, cycles: 57, discharge_mosfet: true, mtu: 23 },
      { ...BASE, address: P81, protocol: "p81", cells_mV: Array.from({ length: 16 }, (_, i) => 3312 + ((i * 7) % 6)), current_A: -8.9, soc_pct: 64, remaining_Ah: 271.2, cycles: 7, charge_mosfet: false, gatt_layout: "ff00", mtu: 247 },
      { ...BASE, address: STALE, protocol: "d2" },
      { ...BASE, address: HANG, protocol: "d2" },
      { ...BASE, address: GHOST, protocol: "d2" },
    ],
  });
  assert.ok(r.ok, r.ok ? "" : r.message);
  return r.scenario;
}

let mock: BluezMock;
let transport: BluezTransport;
const transports: BluezTransport[] = [];
function make(timing: Partial<typeof TIMING> = {}): BluezTransport {
  const t = new BluezTransport({ busAddress: mock.address, ...TIMING, ...timing });
  transports.push(t);
  return t;
}

function assertClean(t: BluezTransport): void {
  assert.deepEqual(t.diagnostics(), { openLinks: 0, signalHandlers: 0, matchRules: 0 }, "no link, signal handler or match rule left");
  assert.equal(mock.discovery.active, false, "discovery stopped");
  for (const d of mock.devices.values()) if (d.counters.connects > 0) assert.equal(d.iface.Connected, false, `${d.bms.address} left connected`);
}

async function isTransportError(p: Promise<unknown>, kind: TransportError["kind"], re?: RegExp): Promise<TransportError> {
  let caught: unknown;
  await p.then(
    () => assert.fail(`expected a ${kind} error`),
    (e: unknown) => (caught = e),
  );
  assert.ok(caught instanceof TransportError, String(caught));
  assert.equal(caught.kind, kind, caught.message);
  if (re) assert.match(caught.message, re);
  return caught;
}

before(async () => {
  const sc = scenario();
  mock = await BluezMock.start({ scenario: sc, connected: [STALE] });
  mock.device(HANG).faults.connectHangs = true;
  mock.device(GHOST).faults.neverAppears = true;
  mock.device(A5).faults.noWriteWithoutResponse = true;
  transport = make();
});

after(async () => {
  for (const t of transports) await t.shutdown();
  await mock.stop();
});

describe("BluezTransport (mock BlueZ on a private D-Bus)", () => {
  it("constructing it opens no bus", () => {
    const t = new BluezTransport({ busAddress: "unix:path=/nonexistent/bus" });
    assert.deepEqual(t.diagnostics(), { openLinks: 0, signalHandlers: 0, matchRules: 0 });
    assert.equal(t.kind, "bluez");
  });

  it("polls A5, D2 and 0x81 modules to the scenario's exact values", async () => {
    for (const b of scenario().bms.slice(0, 3)) {
      const link = await transport.open({ address: b.address });
      try {
        const r = await pollOnce(link, undefined, POLL);
        assertScenarioValues(r.snapshot, b);
      } finally {
        await link.close();
      }
      const d = mock.device(b.address);
      assert.equal(d.counters.stopNotify, 1, "StopNotify on close");
      assert.ok(d.counters.writeTypes.length > 0);
      const want = b.address === A5 ? "request" : "command"; // A5's fff2 lacks write-without-response
      assert.ok(d.counters.writeTypes.every((t) => t === want), `${b.address}: ${d.counters.writeTypes.join(",")}`);
      assertClean(transport);
    }
    assert.deepEqual(mock.discovery.filters.at(-1), { Transport: "le" }, "LE-only discovery filter");
  });

  it("scan lists the modules with address, name and RSSI", async () => {
    const adverts = await make().scan(0.3);
    const a = adverts.find((x) => x.address === P81);
    assert.ok(a, JSON.stringify(adverts));
    assert.equal(a.name, "DL-C0D63C572B03");
    assert.equal(a.rssi, -62);
    assert.deepEqual(a.serviceUuids, ["ff00"]);
    assert.ok(adverts.some((x) => x.address === A5 && x.serviceUuids.includes("fff0")));
    assert.ok(!adverts.some((x) => x.address === GHOST), "never-advertising device not listed");
    assert.equal(mock.discovery.starts, mock.discovery.stops);
  });

  it("device vanishing mid-poll: link-lost at once, everything released, next poll succeeds", async () => {
    const d = mock.device(D2);
    d.faults.vanishAfterWrites = 2;
    const link: BleLink = await transport.open({ address: D2 });
    const closed = new Promise<Error>((resolve) => link.onClose(resolve));
    const t0 = performance.now();
    await isTransportError(pollOnce(link, D2_PROFILE, POLL), "link-lost");
    assert.ok(performance.now() - t0 < POLL.requestTimeoutMs, "loss noticed from BlueZ's signals, not a request timeout");
    assert.match((await closed).message, /disconnected|removed/);
    assert.equal(link.isOpen, false);
    assert.equal(mock.devices.get(D2)?.present, false);
    await link.close();
    assertClean(transport);

    const again = await transport.open({ address: D2 }); // gone from BlueZ: found by discovery again
    try {
      for (let i = 0; i < 3; i++) {
        const r = await pollOnce(again, D2_PROFILE, POLL); // kept open: nothing accumulates
        assert.equal(r.snapshot.soc_pct, 71.2);
        assert.deepEqual(transport.diagnostics(), { openLinks: 1, signalHandlers: 2, matchRules: 2 });
      }
    } finally {
      await again.close();
    }
    assertClean(transport);
  });

  it("a link found open (another client's, or left by an earlier run) is used, never disconnected", async () => {
    const d = mock.device(STALE);
    assert.equal(d.iface.Connected, true);
    const t = make();
    const link = await t.open({ address: STALE });
    try {
      assert.equal(t.foundOpen, 1);
      assert.equal(d.counters.connects, 0, "no Connect on a link found open");
      assert.equal((await pollOnce(link, D2_PROFILE, POLL)).snapshot.soc_pct, 55.5);
    } finally {
      await link.close();
    }
    assert.equal(d.counters.disconnects, 0, "not ours to Disconnect");
    assert.equal(d.iface.Connected, true);
    assertClean(t);
  });

  it("a hung Connect fails with a timeout in bounded time and is cancelled", async () => {
    const t = make({ connectTimeoutMs: 300 });
    const t0 = performance.now();
    await isTransportError(t.open({ address: HANG }), "timeout", /connect timed out after 300 ms/);
    assert.ok(performance.now() - t0 < 1500, `took ${performance.now() - t0} ms`);
    assert.equal(mock.device(HANG).counters.disconnects, 1, "pending Connect cancelled with Disconnect");
    assertClean(t);

    const ac = new AbortController();
    mock.once("connect", () => ac.abort()); // the caller gives up while Connect hangs
    await isTransportError(make().open({ address: HANG }, ac.signal), "timeout", /aborted/);
    assert.equal(mock.device(HANG).counters.disconnects, 2, "cancelled again");
    assertClean(t);
  });

  it("a module that never appears: not-found after the scan timeout, discovery stopped", async () => {
    const t = make({ scanTimeoutMs: 300 });
    const starts = mock.discovery.starts;
    await isTransportError(t.open({ address: GHOST }), "not-found", /C0:D6:3C:57:2B:06 not found within 0.3 s/);
    assert.equal(mock.discovery.starts, starts + 1);
    assert.equal(mock.discovery.stops, mock.discovery.starts);
    assertClean(t);
  });

  it("an adapter BlueZ does not have: clear adapter error", async () => {
    const t = new BluezTransport({ busAddress: mock.address, adapter: "hci1", ...TIMING });
    transports.push(t);
    await isTransportError(t.open({ address: A5 }), "adapter", /Bluetooth adapter hci1 not found in BlueZ \(available: hci0\)/);
    await isTransportError(t.scan(0.1), "adapter", /hci1 not found/);
  });

  it("an adapter named by its address (bms[].adapter) is found in BlueZ's objects; an unknown address is a clear error", async () => {
    const t = new BluezTransport({ busAddress: mock.address, adapter: "00:1a:7d:da:71:13", ...TIMING });
    transports.push(t);
    const link = await t.open({ address: D2 });
    try {
      const r = await pollOnce(link, D2_PROFILE, POLL);
      assert.equal(r.snapshot.protocol, "d2");
    } finally {
      await link.close();
    }
    assertClean(t);
    const u = new BluezTransport({ busAddress: mock.address, adapter: "11:22:33:44:55:66", ...TIMING });
    transports.push(u);
    await isTransportError(u.open({ address: D2 }), "adapter", /Bluetooth adapter 11:22:33:44:55:66 not found in BlueZ \(available: hci0 00:1A:7D:DA:71:13\)/);
  });
});

it("no org.bluez on the bus: clear adapter error, no hang", async () => {
  const bus = await startPrivateBus();
  const t = new BluezTransport({ busAddress: bus.address, ...TIMING });
  try {
    await isTransportError(t.open({ address: A5 }), "adapter", /BlueZ \(org\.bluez\) is not on the D-Bus bus/);
  } finally {
    await t.shutdown();
    await bus.stop();
  }
});

it("no D-Bus at all: clear adapter error", async () => {
  const t = new BluezTransport({ busAddress: "unix:path=/nonexistent/daly-test/bus", gattTimeoutMs: 1000 });
  await isTransportError(t.open({ address: A5 }), "adapter", /cannot connect to D-Bus unix:path=\/nonexistent.*ENOENT/);
  await t.shutdown();
});
