/** The bridge as a process: stdout mode, SIGTERM → offline and exit, config errors → exit 2. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, SIM_MAIN } from "../helpers/paths.js";
import { startBroker, type Broker } from "../helpers/broker.js";
import { Watcher } from "../helpers/mqtt-watch.js";
import { FAST_ENV, FAST_FLAGS, PACK, scenarioFile } from "../helpers/bridge-run.js";

const A = "C0:D6:3C:57:2A:01";
const ID_A = "daly_bms_c0d63c572a01";
const ENV = { PATH: process.env.PATH ?? "", ...FAST_ENV };

let broker: Broker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

describe("daly-bms-bridge run (process)", () => {
  it("without MQTT prints one snapshot JSON line per poll on stdout, logs on stderr", async () => {
    const file = scenarioFile([{ ...PACK, address: A, protocol: "p81" }]);
    const p = spawn(process.execPath, [CLI, "run", ...FAST_FLAGS, "--sim-scenario", file], { env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    const lines = createInterface({ input: p.stdout });
    const first = await new Promise<string>((resolve) => lines.once("line", resolve));
    const snap = JSON.parse(first) as Record<string, unknown>;
    assert.equal(snap.address, A);
    for (const [k, v] of Object.entries(PACK)) assert.deepEqual(snap[k], v, k);
    const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    p.kill("SIGINT");
    assert.equal(await exited, 0);
  });

  it("stdout mode piped into a reader that quits (| head -1): stops cleanly with exit 0, no EPIPE crash", async () => {
    const file = scenarioFile([{ ...PACK, address: A, protocol: "d2" }]);
    const p = spawn(process.execPath, [CLI, "run", ...FAST_FLAGS, "--sim-scenario", file, "--poll-interval", "1"], { env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    p.stderr.on("data", (b: Buffer) => void (err += b.toString()));
    const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    const lines = createInterface({ input: p.stdout });
    await new Promise<string>((resolve) => lines.once("line", resolve));
    p.stdout.destroy(); // the reader is gone: the next line gets EPIPE
    assert.equal(await exited, 0, err);
    assert.match(err, /stdout closed \(EPIPE\): stopping/);
    assert.doesNotMatch(err, /Unhandled 'error' event/);
  });

  it("simulation.hciSocket: the radio simulated in its own process, polled through a Unix socket", async () => {
    const file = scenarioFile([{ ...PACK, address: A, protocol: "a5" }]);
    const sock = join(mkdtempSync(join(tmpdir(), "daly-hci-")), "hci.sock");
    const sim = spawn(process.execPath, [SIM_MAIN, "--sim-scenario", file, "--hci-socket", sock], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const ready = await new Promise<string>((resolve) => createInterface({ input: sim.stdout }).once("line", resolve));
      assert.equal(ready, `ready ${sock}`);
      const p = spawn(process.execPath, [CLI, "run", ...FAST_FLAGS, "--sim-scenario", file], { env: { ...ENV, DALY_SIM_HCI_SOCKET: sock }, stdio: ["ignore", "pipe", "pipe"] });
      const first = await new Promise<string>((resolve) => createInterface({ input: p.stdout }).once("line", resolve));
      const snap = JSON.parse(first) as Record<string, unknown>;
      for (const [k, v] of Object.entries(PACK)) assert.deepEqual(snap[k], v, k);
      const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
      p.kill("SIGINT");
      assert.equal(await exited, 0);
    } finally {
      sim.kill("SIGTERM");
    }
    // no simulator listening: a clear error naming the key, exit 1
    const r = spawnSync(process.execPath, [CLI, "run", "--sim-scenario", file], { env: { ...ENV, DALY_SIM_HCI_SOCKET: sock }, encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /simulation\.hciSocket: simulator at .*hci\.sock: .*ENOENT/);
  });

  it("SIGTERM: publishes offline for the BMS and the bridge, then exits 0 within 5 s; health file tracks state", async () => {
    const file = scenarioFile([{ ...PACK, address: A, protocol: "d2" }]);
    const healthFile = join(mkdtempSync(join(tmpdir(), "daly-health-")), "health.json");
    const w = await Watcher.connect(broker.url);
    const p = spawn(process.execPath, [CLI, ...FAST_FLAGS, "--sim-scenario", file, "--mqtt-url", broker.url], { env: { ...ENV, DALY_HEALTH_FILE: healthFile }, stdio: "ignore" });
    try {
      await w.waitFor(w.topic(`daly_bms/${ID_A}/availability`, "online"), "online");
      const health = JSON.parse(readFileSync(healthFile, "utf8")) as { ok: boolean; mqtt: string; bms: Record<string, { state: string; due: number }>; updated: number };
      assert.equal(health.ok, true);
      assert.equal(health.mqtt, "connected");
      assert.equal(health.bms[A]?.state, "online");
      assert.ok((health.bms[A]?.due ?? 0) > Date.now(), "the next poll is due in the future");
      assert.ok(Date.now() - health.updated < 10_000);
      const t0 = w.messages.length;
      const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
      const sent = Date.now();
      p.kill("SIGTERM");
      assert.equal(await exited, 0);
      assert.ok(Date.now() - sent < 5000, "exit within 5 s");
      await w.waitFor(w.topic(`daly_bms/${ID_A}/availability`, "offline"), "BMS offline", 2000, t0);
      await w.waitFor(w.topic("daly_bms/bridge/test/availability", "offline"), "bridge offline", 2000, t0);
    } finally {
      p.kill("SIGKILL");
      await w.close();
    }
  });

  it("a killed bridge is announced offline by its last will", async () => {
    const file = scenarioFile([{ ...PACK, address: A, protocol: "d2" }]);
    const w = await Watcher.connect(broker.url);
    const p = spawn(process.execPath, [CLI, ...FAST_FLAGS, "--sim-scenario", file, "--mqtt-url", broker.url], { env: ENV, stdio: "ignore" });
    await w.waitFor(w.topic("daly_bms/bridge/test/availability", "online"), "bridge online");
    const t0 = w.messages.length;
    p.kill("SIGKILL");
    await w.waitFor(w.topic("daly_bms/bridge/test/availability", "offline"), "last will", 10000, t0);
    await w.close();
  });

  it("invalid configuration exits 2 and names the key", () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [["--poll-interval", "0"], {}, /pollInterval/],
      [["--log-level", "loud"], {}, /log\.level/],
      [["--address", "zz:zz"], {}, /bms/],
      [["--bogus"], {}, /bogus/],
      [[], { DALY_MQTT_URL: "http://x" }, /mqtt\.url/],
      [["--sim-scenario", "/nonexistent/scn.json"], {}, /scenario|nonexistent/],
      [["--bridge-id", "shed/2"], {}, /^bridgeId: expected 1-64 letters, digits, "_" or "-"/m],
      [[], { DALY_BRIDGE_ID: "a+b" }, /^bridgeId: .*\(from DALY_BRIDGE_ID\)/m],
      [[], { DALY_BMS: "C0:D6:3C:57:2A:01", DALY_BLE_ADAPTER: "usb-dongle" }, /^ble\.adapter: expected an adapter name like hci1 or an address like 00:1A:7D:DA:71:13, got "usb-dongle"/m],
      [[], { DALY_BMS: '[{"address":"C0:D6:3C:57:2A:01","adapter":"00:1A:7D:DA:71:13"}]', DALY_HCI_USER_CHANNEL: "true" }, /^bms\[0\]\.adapter: with ble\.userChannel name the adapter hciN: it is down then and cannot tell its address 00:1A:7D:DA:71:13/m],
    ];
    for (const [args, env, re] of cases) {
      const r = spawnSync(process.execPath, [CLI, "run", ...args], { env: { PATH: ENV.PATH, ...env }, encoding: "utf8", timeout: 10000 });
      assert.equal(r.status, 2, `${args.join(" ")} ${JSON.stringify(env)}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });
});
