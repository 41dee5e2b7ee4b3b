/**
 * Every fault hook of the virtual controller, observed through the real noble stack. These are
 * the reliability problems of ble-noble.md §5 (H2, H2b, H3, H4, H5) plus notification damage.
 * "Does not happen" is checked with a bounded wait that has to run out.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HCI_STATUS } from "../../src/sim/hci/index.js";
import type { SimFaults } from "../../src/sim/hci/index.js";
import {
  ADDR,
  connect,
  controllerEvent,
  DataCollector,
  discover,
  findPeripheral,
  NAME,
  nextDisconnect,
  REQ_90,
  session,
  spec,
  startRig,
  subscribe,
  waitState,
  within,
  write,
} from "../helpers/hci-harness.js";

const OTHER = { address: "C0:D6:3C:57:2A:02", name: "DL-C0D63C572A02" };

test("outOfRange: never advertised while a neighbour is", async (t) => {
  const rig = await startRig([spec({ faults: { outOfRange: true } }), spec(OTHER)]);
  t.after(() => rig.close());
  const seen: string[] = [];
  rig.noble.on("discover", (p) => seen.push(p.advertisement.localName ?? "?"));
  await findPeripheral(rig.noble, OTHER.name);
  // a fresh scan session lasting 20 advertising intervals of the hidden BMS
  await assert.rejects(findPeripheral(rig.noble, NAME, 200), /nothing within 200 ms/);
  assert.ok(!seen.includes(NAME));
  assert.equal(rig.controller.peripheralCounters(ADDR).advertisingReports, 0);
});

test("connectHang: connect stays pending, no link; cancel gives 'canceled' then the 0x02 complete (H2)", async (t) => {
  const faults: SimFaults = {};
  const rig = await startRig([spec({ faults })]);
  t.after(() => rig.close());
  const p = await findPeripheral(rig.noble, NAME);
  faults.connectHang = true;
  const errors: string[] = [];
  p.on("connect", (e) => errors.push(e ? e.message : "ok"));
  const pending = controllerEvent(rig.controller, "connectionPending", 1000);
  const attempt = connect(p, 300);
  assert.deepEqual(await pending, [ADDR]);
  await assert.rejects(attempt, /connect: nothing within 300 ms/);
  assert.equal(p.state, "connecting");
  assert.equal(rig.controller.pendingConnection, ADDR);
  assert.deepEqual(rig.controller.connectedHandles(), []);

  const late = within(1000, "late connect event", new Promise<void>((res) => p.on("connect", (e) => e?.message.includes("0x2") && res())));
  p.cancelConnect();
  await late;
  assert.deepEqual(errors, ["connection canceled!", "Unknown Connection Identifier (0x2)"]);
  assert.equal(rig.controller.pendingConnection, undefined);
  assert.deepEqual(rig.controller.connectedHandles(), []);
});

test("H2b: a retry right after cancel gets the stale 0x02 error while the link really comes up", async (t) => {
  const faults: SimFaults = { connectHang: true };
  const rig = await startRig([spec({ faults })]);
  t.after(() => rig.close());
  const p = await findPeripheral(rig.noble, NAME);
  const pending = controllerEvent(rig.controller, "connectionPending", 1000);
  p.connect();
  await pending;
  p.cancelConnect();
  faults.connectHang = false; // the BMS is reachable again
  const linkUp = controllerEvent(rig.controller, "connected", 2000);
  await assert.rejects(connect(p), /Unknown Connection Identifier \(0x2\)/);
  await linkUp; // noble's queued retry: an orphan link the caller thinks failed
  await within(1000, "state", new Promise<void>((res) => (p.state === "connected" ? res() : p.once("connect", () => res()))));
  assert.equal(p.state, "connected");
  assert.equal(rig.controller.connectedHandles().length, 1);
});

test("linkLossAfterWrites: the n-th write is lost with the link (0x08); its callback never fires (H3)", async (t) => {
  const faults: SimFaults = { linkLossAfterWrites: 2 };
  const rig = await startRig([spec({ faults })]);
  t.after(() => rig.close());
  const { p, tx, data } = await session(rig);
  await write(tx, REQ_90, false);
  await data.waitBytes(13);
  const lost = nextDisconnect(p);
  let acked = false;
  tx.write(REQ_90, false, () => (acked = true));
  assert.equal(await lost, HCI_STATUS.CONN_TIMEOUT);
  assert.equal(acked, false);
  assert.equal(data.bytes.length, 13, "no reply to the lost write");
  assert.equal(rig.controller.peripheralCounters(ADDR).lastDisconnectReason, 0x08);
  assert.deepEqual(rig.controller.connectedHandles(), []);
});

test("attErrorOnWrite: Write Request gets an ATT error, noble never calls back (H4), the queue goes on", async (t) => {
  const faults: SimFaults = {};
  const rig = await startRig([spec({ faults })]);
  t.after(() => rig.close());
  const { tx, data } = await session(rig);
  faults.attErrorOnWrite = 0x03;
  await assert.rejects(write(tx, REQ_90, false, 300), /nothing within 300 ms/);
  const c = rig.controller.peripheralCounters(ADDR);
  assert.equal(c.writesDelivered, 0, "the responder never saw the refused writes");
  assert.equal(c.attOpcodes.filter((o) => o === 0x12).length, 2, "the CCCD write and the refused request");
  faults.attErrorOnWrite = undefined; // mutable between polls: the next poll works again
  await write(tx, REQ_90, false);
  assert.deepEqual(await data.waitBytes(13), REQ_90);
});

test("mtuInvalidPdu: Exchange MTU answered with Invalid PDU stalls all GATT (H5)", async (t) => {
  const rig = await startRig([spec({ faults: { mtuInvalidPdu: true } })]);
  t.after(() => rig.close());
  const p = await findPeripheral(rig.noble, NAME);
  await connect(p);
  await assert.rejects(discover(p, undefined, 300), /nothing within 300 ms/);
  assert.deepEqual(rig.controller.peripheralCounters(ADDR).attOpcodes, [0x02], "noble never sent Read By Group Type");
});

test("dropNotifications as a count drops that many PDUs and counts down", async (t) => {
  const faults: SimFaults = {};
  const rig = await startRig([spec({ faults })]);
  t.after(() => rig.close());
  const { tx, data } = await session(rig);
  faults.dropNotifications = 1;
  await write(tx, Buffer.from("0102", "hex"), false);
  await write(tx, REQ_90, false);
  assert.deepEqual(await data.waitBytes(13), REQ_90, "only the second reply arrives");
  assert.equal(faults.dropNotifications, 0);
  assert.equal(rig.controller.peripheralCounters(ADDR).notificationsDropped, 1);
});

test("dropNotifications as a probability loses some chunks of a long reply (seeded)", async (t) => {
  const reply = Buffer.alloc(200, 0x55);
  const rig = await startRig([spec({ faults: { dropNotifications: 0.5 }, onWrite: (_d, n) => n(reply) })], { seed: 7 });
  t.after(() => rig.close());
  const { tx } = await session(rig);
  await write(tx, REQ_90, false); // the reply is rendered in the event that carries the Write Response
  const c = rig.controller.peripheralCounters(ADDR);
  assert.equal(c.notificationsDropped + c.notificationsSent, 10);
  assert.ok(c.notificationsDropped > 0 && c.notificationsSent > 0, `dropped ${c.notificationsDropped}`);
});

test("garbleNotifications flips the last byte of each notification", async (t) => {
  const rig = await startRig([spec({ faults: { garbleNotifications: true } })]);
  t.after(() => rig.close());
  const { tx, data } = await session(rig);
  await write(tx, REQ_90, true);
  const got = await data.waitBytes(13);
  assert.deepEqual(got.subarray(0, 12), REQ_90.subarray(0, 12));
  assert.equal(got[12], (REQ_90[12] ?? 0) ^ 0xff);
});

test("splitNotifications forces smaller chunks; mergeNotifications coalesces replies", async (t) => {
  const faults: SimFaults = { splitNotifications: 5 };
  const rig = await startRig([spec({ mtu: 247, faults, onWrite: (d, n) => (n(d), n(d), n(d)) })]);
  t.after(() => rig.close());
  const { tx, data } = await session(rig);
  await write(tx, REQ_90, true);
  await data.waitBytes(39);
  assert.deepEqual(data.chunks.map((c) => c.length), [5, 5, 3, 5, 5, 3, 5, 5, 3]);

  data.chunks.length = 0;
  faults.splitNotifications = undefined;
  faults.mergeNotifications = true;
  await write(tx, REQ_90, true);
  const merged = await data.waitBytes(39);
  assert.deepEqual(data.chunks.map((c) => c.length), [39], "three replies in one notification");
  assert.deepEqual(merged, Buffer.concat([REQ_90, REQ_90, REQ_90]));

  data.chunks.length = 0;
  faults.mergeNotifications = false;
  await write(tx, REQ_90, true);
  await data.waitBytes(39);
  assert.deepEqual(data.chunks.map((c) => c.length), [13, 13, 13]);
});

test("sleeping: GATT works, writes are acknowledged, no reply ever comes", async (t) => {
  const rig = await startRig([spec({ faults: { sleeping: true } })]);
  t.after(() => rig.close());
  const { tx, data } = await session(rig);
  await write(tx, REQ_90, false);
  await assert.rejects(data.waitBytes(1, 300), /nothing within 300 ms/);
  const c = rig.controller.peripheralCounters(ADDR);
  assert.equal(c.writes, 1);
  assert.equal(c.writesDelivered, 0);
});

test("going out of range while connected is a supervision timeout (0x08); remote close is 0x13", async (t) => {
  const faults: SimFaults = {};
  const rig = await startRig([spec({ faults })]);
  t.after(() => rig.close());
  const p = await findPeripheral(rig.noble, NAME);
  await connect(p);
  const lost = nextDisconnect(p);
  faults.outOfRange = true;
  assert.equal(await lost, 0x08);

  faults.outOfRange = false;
  await connect(p); // noble keeps the Peripheral object; connect needs no new scan
  const closed = nextDisconnect(p);
  assert.equal(rig.controller.disconnectPeripheral(ADDR), true);
  assert.equal(await closed, 0x13);
});

test("a late reply after a reconnect lands on the new link (stale data hazard)", async (t) => {
  let pending: ((b: Uint8Array) => void) | undefined;
  const rig = await startRig([spec({ onWrite: (_d, notify) => void (pending = notify) })]);
  t.after(() => rig.close());
  const first = await session(rig);
  await write(first.tx, REQ_90, false);
  assert.ok(pending);
  await within(2000, "remote close", (async () => {
    const lost = nextDisconnect(first.p);
    rig.controller.disconnectPeripheral(ADDR);
    await lost;
  })());
  await connect(first.p);
  const { rx } = await discover(first.p);
  const data = new DataCollector(rx);
  await subscribe(rx);
  pending(REQ_90); // the BMS answers the old request now
  assert.deepEqual(await data.waitBytes(13), REQ_90);
});

test("adapter power loss: noble sees poweredOff, then poweredOn again when it comes back", async (t) => {
  const rig = await startRig([spec()]);
  t.after(() => rig.close());
  const p = await findPeripheral(rig.noble, NAME);
  await connect(p);
  let disconnects = 0;
  p.on("disconnect", () => disconnects++);
  const off = waitState(rig.noble, "poweredOff", 3000); // noble polls isDevUp once a second
  rig.controller.setPowered(false);
  await off;
  assert.equal(disconnects, 0, "no Disconnection Complete reaches the host when the adapter dies (§5)");
  assert.deepEqual(rig.controller.connectedHandles(), []);
  const on = waitState(rig.noble, "poweredOn", 3000);
  rig.controller.setPowered(true);
  await on;
  await findPeripheral(rig.noble, NAME);
});
