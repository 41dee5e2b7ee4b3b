/**
 * `run` through ESPHome proxies (the bridge in-process, real Mosquitto): values published equal the
 * scenario, a proxy drop fails the poll over to the second proxy, and the proxy state shows in the
 * metrics.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startBroker, freePort, type Broker } from "../helpers/broker.js";
import { Watcher } from "../helpers/mqtt-watch.js";
import { runBridge, STATE_DIR } from "../helpers/bridge-run.js";
import { FakeProxy } from "../helpers/fake-proxy.js";
import { parseScenario } from "../../src/sim/scenario.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";
import type { Snapshot } from "../../src/bms/snapshot.js";

const A = "C0:D6:3C:57:2A:0A";
const ID_A = "daly_bms_c0d63c572a0a";

let broker: Broker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

describe("run through ESPHome proxies", () => {
  it("publishes the scenario's values, fails over when the best proxy drops, and exposes proxy state", async () => {
    const sc = parseScenario({ bms: [{ address: A, protocol: "d2", cells_mV: [3300, 3301, 3302, 3303], temperatures_C: [19], current_A: 7.5, soc_pct: 64, remaining_Ah: 90, cycles: 5, charge_mosfet: true, discharge_mosfet: true }] });
    assert.ok(sc.ok);
    const b = sc.scenario.bms[0];
    assert.ok(b);
    const near = new FakeProxy({ bms: sc.scenario.bms, rssi: -55, name: "near" });
    const far = new FakeProxy({ bms: sc.scenario.bms, rssi: -85, name: "far" });
    await near.start();
    await far.start();
    const cfg = join(STATE_DIR, "esphome-run.json");
    writeFileSync(cfg, JSON.stringify({ transport: "esphome", esphome: { proxies: [{ host: "127.0.0.1", port: near.port, name: "near" }, { host: "127.0.0.1", port: far.port, name: "far" }] }, bms: [{ address: A }] }));
    const port = await freePort();
    const w = await Watcher.connect(broker.url);
    const h = await runBridge(["--config", cfg, "--mqtt-url", broker.url, "--metrics-port", String(port)]);
    try {
      const state = (since = 0): Promise<Snapshot> => w.waitFor((m) => m.topic === `daly_bms/${ID_A}/state` && !m.retain, "state", 15_000, since).then((m) => JSON.parse(m.payload) as Snapshot);
      assertScenarioValues(await state(), b);
      assert.ok(near.stats.connects >= 1 && far.stats.connects === 0, "the nearer proxy serves the BMS");
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, new RegExp(`daly_esphome_proxy_up\\{proxy="near \\(127\\.0\\.0\\.1:${near.port}\\)"\\} 1`));
      await near.stop();
      const since = w.messages.length;
      const beforeFar = far.stats.writes;
      assertScenarioValues(await state(since), b);
      // a state after the drop may come from a poll that was already done; wait for one via far
      while (far.stats.writes === beforeFar) assertScenarioValues(await state(w.messages.length), b);
      assert.ok(far.stats.connects >= 1, "failed over to the far proxy");
      const after = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(after, new RegExp(`daly_esphome_proxy_up\\{proxy="near \\(127\\.0\\.0\\.1:${near.port}\\)"\\} 0`));
    } finally {
      await h.stop();
      await w.close();
      await near.stop();
      await far.stop();
    }
  });
});

describe("short soak through a faulty proxy", () => {
  it("a5, d2 and p81 through one proxy with rotating faults for 20 s: every published state equals the scenario", async () => {
    const sc = parseScenario({
      bms: [
        { address: "C0:D6:3C:57:2B:01", protocol: "a5", cells_mV: [3301, 3302, 3303, 3304], temperatures_C: [20, 21], current_A: -3.2, soc_pct: 51.5, remaining_Ah: 40.1, cycles: 3, charge_mosfet: true, discharge_mosfet: false },
        { address: "C0:D6:3C:57:2B:02", protocol: "d2", cells_mV: [3401, 3402, 3403], temperatures_C: [22], current_A: 12.5, soc_pct: 80, remaining_Ah: 160, cycles: 44, charge_mosfet: true, discharge_mosfet: true },
        { address: "C0:D6:3C:57:2B:03", protocol: "p81", cells_mV: [3201, 3202], temperatures_C: [18, 19, 20], current_A: 0.7, soc_pct: 12.3, remaining_Ah: 9.9, cycles: 120, charge_mosfet: false, discharge_mosfet: true },
      ],
    });
    assert.ok(sc.ok);
    const bms = sc.scenario.bms;
    const proxy = new FakeProxy({ bms, slots: 2 });
    await proxy.start();
    const cfg = join(STATE_DIR, "esphome-soak.json");
    writeFileSync(cfg, JSON.stringify({ transport: "esphome", esphome: { proxies: [{ host: "127.0.0.1", port: proxy.port }] }, bms: bms.map((b) => ({ address: b.address })) }));
    const w = await Watcher.connect(broker.url);
    const h = await runBridge(["--config", cfg, "--mqtt-url", broker.url]);
    // windows of 700 ms in a fixed rotation, faulty every other one: GATT errors, TCP drops,
    // connection cancels, notification sizes 1..40, a stale slot count
    let tick = 0;
    const injected = { gatt: 0, drop: 0, cancel: 0, chunk: 0, stale: 0 };
    const timer = setInterval(() => {
      proxy.o.faults = {};
      delete proxy.o.reportFree;
      tick += 1;
      switch (tick % 2 === 0 ? (tick / 2) % 5 : 5) {
        case 0:
          proxy.o.faults = { gattError: true };
          injected.gatt += 1;
          break;
        case 1:
          proxy.dropAll();
          injected.drop += 1;
          break;
        case 2:
          proxy.o.faults = { connCancel: true };
          injected.cancel += 1;
          break;
        case 3:
          proxy.o.chunk = 1 + ((tick * 7) % 40);
          injected.chunk += 1;
          break;
        case 4:
          proxy.o.reportFree = 2;
          injected.stale += 1;
          break;
        default:
          break; // a quiet window
      }
    }, 700);
    try {
      await new Promise<void>((r) => setTimeout(r, 20_000)); // the soak's duration, not a synchronisation
      clearInterval(timer);
      proxy.o.faults = {};
      delete proxy.o.reportFree;
      // recovery: every BMS publishes a fresh state once the faults stop
      const since = w.messages.length;
      for (const b of bms) {
        const id = `daly_bms_${b.address.replaceAll(":", "").toLowerCase()}`;
        await w.waitFor((m) => m.topic === `daly_bms/${id}/state` && !m.retain && (JSON.parse(m.payload) as Snapshot).status === "ok", `${b.address} recovers`, 20_000, since);
      }
      const states = w.messages.filter((m) => m.topic.endsWith("/state") && !m.retain);
      for (const b of bms) {
        const id = `daly_bms_${b.address.replaceAll(":", "").toLowerCase()}`;
        const mine = states.filter((m) => m.topic === `daly_bms/${id}/state`).map((m) => JSON.parse(m.payload) as Snapshot);
        const ok = mine.filter((s) => s.status === "ok");
        assert.ok(ok.length >= 1, `${b.address}: ${ok.length} fresh states`); // at least the recovery one (more under less load)
        for (const s of ok) assertScenarioValues(s, b);
      }
      for (const [k, n] of Object.entries(injected)) assert.ok(n > 0, `fault ${k} injected`);
      assert.ok(proxy.stats.sessions >= 2, "sessions were dropped and re-established");
    } finally {
      clearInterval(timer);
      await h.stop();
      await w.close();
      await proxy.stop();
    }
  });
});
