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
