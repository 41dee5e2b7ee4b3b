/**
 * src/transport/noble/noble-loader.ts: the real-adapter error path on this Bluetooth-less host, one
 * independent noble per loadNoble() call, shutdown() hygiene, adapter selection and user channel.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { test } from "node:test";
import { loadNoble, shutdown } from "../../src/transport/noble/noble-loader.js";
import type { NobleLike } from "../../src/transport/noble/noble-types.js";
import { OP } from "../../src/sim/hci/h4.js";
import { createVirtualHci } from "../../src/sim/hci/index.js";
import {
  ADDR,
  connect,
  controllerEvent,
  discover,
  findPeripheral,
  NAME,
  spec,
  startRig,
  waitState,
  within,
} from "../helpers/hci-harness.js";

const handlers = (): [number, number] => [process.listenerCount("SIGINT"), process.listenerCount("exit")];

test("without a socket factory the native socket fails with a clear adapter error", async (t) => {
  let noble: NobleLike | undefined;
  try {
    noble = loadNoble({ deviceId: 3 });
  } catch (error) {
    assert.ok(error instanceof Error);
    // EAFNOSUPPORT without kernel Bluetooth (this CI host), ENODEV/EPERM/MODULE_NOT_FOUND elsewhere
    assert.match(error.message, /^no Bluetooth adapter hci3: \S+/);
    assert.ok(error.cause instanceof Error, "original error kept as cause");
    return;
  }
  await shutdown(noble);
  t.skip("this host has a Bluetooth adapter");
});

test("each loadNoble() gets its own socket, even after noble's hci modules were required normally", async (t) => {
  // a plain require binds hci.js to the native socket module; it must not leak into loadNoble
  const require = createRequire(import.meta.url);
  const RealBindings: unknown = require("@abandonware/noble/lib/hci-socket/bindings");
  assert.equal(typeof RealBindings, "function");

  const a = await startRig([spec()], { address: "00:00:00:00:00:0A" });
  t.after(() => a.close());
  const b = await startRig([spec()], { address: "00:00:00:00:00:0B" });
  t.after(() => b.close());
  assert.equal(a.noble.address, "00:00:00:00:00:0a");
  assert.equal(b.noble.address, "00:00:00:00:00:0b");
  const aCommands = a.controller.counters.commands;
  await findPeripheral(b.noble, NAME);
  assert.equal(a.controller.counters.commands, aCommands, "b's scan went to b's controller only");
  assert.ok(b.controller.scanning === false && b.controller.counters.commands > aCommands);
});

test("shutdown removes noble's SIGINT/exit handlers and every open link", async () => {
  const [sigint, exit] = handlers();
  const rig = await startRig([spec()]);
  assert.deepEqual(handlers(), [sigint + 1, exit + 1], "the HCI bindings add one of each on init");
  const p = await findPeripheral(rig.noble, NAME);
  await connect(p);
  assert.equal(rig.controller.connectedHandles().length, 1);

  await shutdown(rig.noble);
  assert.deepEqual(handlers(), [sigint, exit]);
  assert.deepEqual(rig.controller.connectedHandles(), [], "no orphan link");
  assert.equal(rig.controller.peripheralCounters(ADDR).lastDisconnectReason, 0x16);
  await shutdown(rig.noble); // idempotent
  rig.controller.stop();
});

test("a process that used noble exits on its own right after shutdown (poll timer cleared)", async () => {
  // noble's hci.js re-arms a ref'd 1 s isDevUp poll forever; a child process shows whether anything is left
  const loader = new URL("../../src/transport/noble/noble-loader.js", import.meta.url).href;
  const sim = new URL("../../src/sim/hci/index.js", import.meta.url).href;
  const script = `
    const { loadNoble, shutdown } = await import(${JSON.stringify(loader)});
    const { createVirtualHci } = await import(${JSON.stringify(sim)});
    const count = () => process.listenerCount("SIGINT") + "/" + process.listenerCount("exit");
    const before = count(); // node itself has an exit handler while a top-level await is pending
    const { socketFactory, controller } = createVirtualHci([{ address: "${ADDR}", name: "${NAME}", onWrite() {} }]);
    const noble = loadNoble({ socketFactory });
    await new Promise((resolve) => noble.on("stateChange", (s) => s === "poweredOn" && resolve()));
    await shutdown(noble);
    controller.stop();
    process.stdout.write("done " + (count() === before) + "\\n");
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  let doneAt = 0;
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.includes("done")) doneAt ||= performance.now();
  });
  const code = await within(5000, "child exit", new Promise<number | null>((res) => child.on("exit", res)));
  const lingered = performance.now() - doneAt;
  assert.equal(code, 0);
  assert.equal(out.trim(), "done true", "no SIGINT/exit handler left");
  assert.ok(doneAt > 0 && lingered < 600, `process lingered ${lingered.toFixed(0)} ms after shutdown (noble's poll is 1000 ms)`);
});

test("a watchdog can recreate noble many times on one adapter without leaks", async () => {
  const [sigint, exit] = handlers();
  const { socketFactory, controller } = createVirtualHci([spec()]);
  let previous: NobleLike | undefined;
  try {
    for (let i = 0; i < 4; i++) {
      const noble = loadNoble({ socketFactory });
      await waitState(noble, "poweredOn");
      let oldSawDiscover = false;
      previous?.on("discover", () => (oldSawDiscover = true));
      const p = await findPeripheral(noble, NAME);
      await connect(p);
      await shutdown(noble);
      assert.equal(oldSawDiscover, false, "a shut-down instance receives nothing");
      previous = noble;
    }
    assert.deepEqual(handlers(), [sigint, exit]);
    assert.deepEqual(controller.connectedHandles(), []);
  } finally {
    controller.stop();
  }
});

test("ENODEV at bind becomes stateChange 'unsupported' plus a clear warning", async () => {
  const { socketFactory, controller } = createVirtualHci([spec()]);
  controller.adapterPresent = false;
  const noble = loadNoble({ socketFactory, deviceId: 1 });
  const warning = within(1000, "warning", new Promise<string>((res) => noble.on("warning", res)));
  try {
    await waitState(noble, "unsupported");
    assert.match(await warning, /no Bluetooth adapter hci1: ENODEV, No such device/);
  } finally {
    await shutdown(noble);
    controller.stop();
  }
});

test("deviceId reaches bindRaw; userChannel binds the user channel and starts with HCI Reset", async () => {
  const raw = createVirtualHci([spec()]);
  const rawBind = controllerEvent(raw.controller, "bind", 1000);
  const n1 = loadNoble({ socketFactory: raw.socketFactory, deviceId: 2 });
  try {
    await waitState(n1, "poweredOn");
    assert.deepEqual(await rawBind, ["raw", 2]);
  } finally {
    await shutdown(n1);
    raw.controller.stop();
  }

  const envBefore = process.env["HCI_CHANNEL_USER"];
  const user = createVirtualHci([spec()]);
  const userBind = controllerEvent(user.controller, "bind", 1000);
  const firstCommand = controllerEvent(user.controller, "command", 1000);
  const n2 = loadNoble({ socketFactory: user.socketFactory, userChannel: true });
  assert.equal(process.env["HCI_CHANNEL_USER"], envBefore, "env restored after construction");
  try {
    await waitState(n2, "poweredOn");
    assert.deepEqual(await userBind, ["user", undefined]);
    assert.deepEqual(await firstCommand, [OP.RESET]);
    const p = await findPeripheral(n2, NAME);
    await connect(p);
    await discover(p); // needs LE Read Buffer Size, which noble skips in user-channel mode
  } finally {
    await shutdown(n2);
    user.controller.stop();
  }
});

test("noble bug: in user-channel mode without the loader's fix no ACL data is ever sent", async () => {
  const { socketFactory, controller } = createVirtualHci([spec()]);
  const noble = loadNoble({ socketFactory, userChannel: true, fixUserChannelBufferSize: false });
  try {
    await waitState(noble, "poweredOn");
    const p = await findPeripheral(noble, NAME);
    await connect(p);
    await assert.rejects(discover(p, undefined, 300), /nothing within 300 ms/);
    assert.equal(controller.counters.aclFromHost, 0, "not even the Exchange MTU left noble");
  } finally {
    await shutdown(noble);
    controller.stop();
  }
});
