/**
 * The virtual HCI controller driven through the REAL noble 1.9.2-26 HCI stack (hci.js, gap.js,
 * gatt.js, acl-stream.js): init, scanning, connection, GATT, notifications, flow control, timing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadNoble, shutdown } from "../../src/transport/noble/noble-loader.js";
import { OP } from "../../src/sim/hci/h4.js";
import { createVirtualHci } from "../../src/sim/hci/index.js";
import {
  ADDR,
  connect,
  controllerEvent,
  DataCollector,
  disconnect,
  discover,
  findPeripheral,
  NAME,
  REQ_90,
  session,
  spec,
  startRig,
  subscribe,
  waitState,
  within,
  write,
} from "../helpers/hci-harness.js";

test("noble reaches poweredOn after the controller answers its whole init sequence", async (t) => {
  const seen: number[] = [];
  const rig = await startRig([spec()], { address: "AA:BB:CC:00:11:22" });
  t.after(() => rig.close());
  rig.controller.on("command", (op) => seen.push(op));
  assert.equal(rig.noble.state, "poweredOn");
  assert.equal(rig.noble.address, "aa:bb:cc:00:11:22"); // from Read BD_ADDR
  assert.equal(rig.controller.counters.unknownCommands, 0);
  assert.ok(rig.controller.counters.commands >= 9, "init sends at least 9 commands");
  // scanning after init re-sends Set Scan Enable(0), Set Scan Parameters, Set Scan Enable(1)
  await findPeripheral(rig.noble, NAME);
  assert.ok(seen.includes(OP.LE_SET_SCAN_PARAMETERS) && seen.includes(OP.LE_SET_SCAN_ENABLE));
});

test("an HCI version below 4.0 makes noble report unsupported", async () => {
  const { socketFactory, controller } = createVirtualHci([spec()], { hciVersion: 5 });
  const noble = loadNoble({ socketFactory });
  try {
    await waitState(noble, "unsupported");
  } finally {
    await shutdown(noble);
    controller.stop();
  }
});

test("scan reports the DL- name, service fff0, address, type, RSSI and manufacturer data", async (t) => {
  const rig = await startRig([spec({ rssi: -71 })]);
  t.after(() => rig.close());
  const p = await findPeripheral(rig.noble, NAME, 2000, ["fff0"]); // filtered scan: the advert lists fff0
  assert.equal(p.address, ADDR.toLowerCase());
  assert.equal(p.id, "c0d63c572a01");
  assert.equal(p.addressType, "public");
  assert.equal(p.rssi, -71);
  assert.deepEqual(p.advertisement.serviceUuids, ["fff0"]);
  assert.equal(p.advertisement.manufacturerData?.toString("hex"), "0201c0d63c572a01");
  assert.ok(rig.controller.peripheralCounters(ADDR).advertisingReports >= 2, "ADV_IND + SCAN_RSP");
});

test("duplicate filtering: one ADV_IND + SCAN_RSP per scan session, unless duplicates are allowed", async (t) => {
  const rig = await startRig([spec()]);
  t.after(() => rig.close());
  const reports: number[] = [];
  rig.controller.on("advertisingReport", (_a, type) => reports.push(type));
  await findPeripheral(rig.noble, NAME); // allowDuplicates=false; stops the scan when found
  rig.noble.startScanning([], false); // a new session resets the controller's filter
  const again = controllerEvent(rig.controller, "advertisingReport", 1000);
  await again;
  // 10 advertising intervals: a third report in this session must not come
  const more = new Promise<void>((res) => rig.controller.on("advertisingReport", () => reports.length > 4 && res()));
  await assert.rejects(within(100, "more reports", more), /nothing within 100 ms/);
  assert.deepEqual(reports, [0x00, 0x04, 0x00, 0x04]);

  rig.noble.stopScanning();
  rig.noble.startScanning([], true);
  await within(1000, "repeated reports", new Promise<void>((res) => rig.controller.on("advertisingReport", () => reports.length >= 10 && res())));
});

test("a filtered scan for another service does not report the BMS; ff00 layout advertises ff00", async (t) => {
  const other = spec({ address: "C0:D6:3C:57:2A:02", name: "DL-C0D63C572A02", gattLayout: "ff00" });
  const rig = await startRig([spec(), other]);
  t.after(() => rig.close());
  const names: string[] = [];
  rig.noble.on("discover", (p) => names.push(p.advertisement.localName ?? "?"));
  const p = await findPeripheral(rig.noble, "DL-C0D63C572A02", 2000, ["ff00"]);
  assert.deepEqual(p.advertisement.serviceUuids, ["ff00"]);
  assert.ok(!names.includes(NAME), "the fff0 module is filtered out by noble's HCI binding");
});

test("full session: connect, discover, subscribe, both write kinds, reply, disconnect 0x16", async (t) => {
  const received: Buffer[] = [];
  const rig = await startRig([
    spec({
      onWrite: (data, notify) => {
        received.push(Buffer.from(data));
        notify(Buffer.from("a501900802140000754903556a", "hex"));
      },
    }),
  ]);
  t.after(() => rig.close());
  const p = await findPeripheral(rig.noble, NAME);
  await connect(p);
  assert.equal(p.state, "connected");
  assert.equal(rig.controller.connectedHandles().length, 1);
  const { rx, tx } = await discover(p);
  assert.deepEqual(rx.properties, ["read", "notify"]);
  assert.deepEqual(tx.properties, ["read", "writeWithoutResponse", "write"]);
  assert.equal(p.mtu, 23);
  const data = new DataCollector(rx);
  await subscribe(rx);

  await write(tx, REQ_90, true);
  assert.equal((await data.waitBytes(13)).toString("hex"), "a501900802140000754903556a");
  await write(tx, REQ_90, false); // ATT Write Request: the callback needs the Write Response
  await data.waitBytes(26);
  assert.deepEqual(received, [REQ_90, REQ_90]);
  assert.deepEqual(data.flags, [true, true], "delivered as notifications");
  const ops = rig.controller.peripheralCounters(ADDR).attOpcodes;
  assert.ok(ops.includes(0x52) && ops.includes(0x12), "one Write Command and Write Requests");

  const tx2 = await within(2000, "read", new Promise<Buffer>((res, rej) => tx.read((e, d) => (e ? rej(e) : res(d)))));
  assert.deepEqual(tx2, REQ_90, "reading TX returns the last written value");

  assert.equal(await disconnect(p), 0x16);
  assert.deepEqual(rig.controller.connectedHandles(), []);
  assert.equal(rig.controller.peripheralCounters(ADDR).lastDisconnectReason, 0x16);
});

test("a 129-byte reply is split at MTU-3 (20 bytes) and reassembles to the same bytes", async (t) => {
  const reply = Buffer.from(Array.from({ length: 129 }, (_, i) => (i * 7) & 0xff));
  const rig = await startRig([spec({ onWrite: (_d, notify) => notify(reply) })]);
  t.after(() => rig.close());
  const { tx, data } = await session(rig);
  await write(tx, REQ_90, true);
  assert.deepEqual(await data.waitBytes(129), reply);
  assert.deepEqual(
    data.chunks.map((c) => c.length),
    [20, 20, 20, 20, 20, 20, 9],
  );
});

test("without a CCCD write the server sends no notifications (spec), after subscribe it does", async (t) => {
  const rig = await startRig([spec()]);
  t.after(() => rig.close());
  const p = await findPeripheral(rig.noble, NAME);
  await connect(p);
  const { rx, tx } = await discover(p);
  const data = new DataCollector(rx);
  await write(tx, REQ_90, false);
  // the Write Response and the echo leave in the same connection event, so by now the echo has
  // been rendered — and suppressed, because the CCCD is still 0
  const c = rig.controller.peripheralCounters(ADDR);
  assert.equal(c.writesDelivered, 1);
  assert.equal(c.notificationsSuppressed, 1);
  assert.equal(data.chunks.length, 0);
  await subscribe(rx);
  await write(tx, REQ_90, true);
  assert.deepEqual(await data.waitBytes(13), REQ_90);
});

test("MTU 247 + 8-fragment write: ACL flow control holds noble to 4 packets in flight", async (t) => {
  const big = Buffer.from(Array.from({ length: 200 }, (_, i) => i & 0xff));
  const got: Buffer[] = [];
  const rig = await startRig([spec({ mtu: 247, onWrite: (d, notify) => (got.push(Buffer.from(d)), notify(d)) })]);
  t.after(() => rig.close());
  const { p, tx, data } = await session(rig);
  assert.equal(p.mtu, 247);
  const aclToHostBefore = rig.controller.counters.aclToHost;
  await write(tx, big, false); // 200 + 3 ATT + 4 L2CAP = 207 bytes = 8 ACL packets of <= 27
  assert.deepEqual(got, [big]);
  const c = rig.controller.counters;
  assert.equal(c.maxAclInFlight, 4, "noble filled all 4 buffers and then waited for Number Of Completed Packets");
  assert.equal(c.aclOverflow, 0);
  assert.equal(c.aclOversize, 0);
  assert.deepEqual(await data.waitBytes(200), big);
  assert.equal(data.chunks.length, 1, "one notification at MTU 247");
  assert.ok(c.aclToHost - aclToHostBefore >= 8, "the 207-byte notification and response came in 27-byte ACL fragments");
});

test("a write longer than MTU-3 with response goes through Prepare/Execute Write", async (t) => {
  const long = Buffer.from(Array.from({ length: 40 }, (_, i) => 0x40 + i));
  const got: Buffer[] = [];
  const rig = await startRig([spec({ onWrite: (d) => void got.push(Buffer.from(d)) })]);
  t.after(() => rig.close());
  const { tx } = await session(rig);
  await write(tx, long, false);
  assert.deepEqual(got, [long]);
  const ops = rig.controller.peripheralCounters(ADDR).attOpcodes;
  assert.ok(ops.includes(0x16) && ops.includes(0x18), "prepare + execute write");
});

test("Read RSSI returns the simulated RSSI for the live handle", async (t) => {
  const rig = await startRig([spec({ rssi: -48 })]);
  t.after(() => rig.close());
  const p = await findPeripheral(rig.noble, NAME);
  await connect(p);
  const rssi = await within(2000, "rssi", new Promise<number>((res, rej) => p.updateRssi((e, r) => (e ? rej(e) : res(r)))));
  assert.equal(rssi, -48);
});

test("ff00 layout: ff01 notify / ff02 write work through noble", async (t) => {
  const rig = await startRig([spec({ gattLayout: "ff00" })]);
  t.after(() => rig.close());
  const p = await findPeripheral(rig.noble, NAME);
  await connect(p);
  await assert.rejects(discover(p, ["fff0", "fff1", "fff2"]), /Could not find all requested services/);
  const { rx, tx } = await discover(p, ["ff00", "ff01", "ff02"]);
  assert.deepEqual(rx.properties, ["notify"]);
  assert.deepEqual(tx.properties, ["writeWithoutResponse", "write"]);
  const data = new DataCollector(rx);
  await subscribe(rx);
  await write(tx, REQ_90, true);
  assert.deepEqual(await data.waitBytes(13), REQ_90);
});

test("timing: replies arrive on connection events, plus replyDelayMs", async (t) => {
  const timing = { connectionIntervalMs: 40, advertisingIntervalMs: 10, replyDelayMs: 0 };
  const s = spec({ timing });
  const rig = await startRig([s]);
  t.after(() => rig.close());
  const { tx, data } = await session(rig);
  let t0 = performance.now();
  await write(tx, REQ_90, true); // a Write Command completes locally at once
  await data.waitBytes(13);
  const roundTrip = performance.now() - t0;
  assert.ok(roundTrip >= 38, `write → notification took ${roundTrip.toFixed(1)} ms, at least one 40 ms event`);

  timing.replyDelayMs = 150; // timing is read live
  t0 = performance.now();
  await write(tx, REQ_90, true);
  await data.waitBytes(26);
  const delayed = performance.now() - t0;
  assert.ok(delayed >= 150 + 38, `with replyDelayMs=150 it took ${delayed.toFixed(1)} ms`);
});
