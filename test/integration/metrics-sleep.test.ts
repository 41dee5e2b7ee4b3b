/**
 * The running bridge's Prometheus endpoint (scraped over HTTP and parsed), and a sleeping BMS:
 * it stays online, its entities keep their last values, the status entity says "sleeping".
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startBroker, freePort, type Broker } from "../helpers/broker.js";
import { Watcher } from "../helpers/mqtt-watch.js";
import { PACK, runBridge, scenarioFile } from "../helpers/bridge-run.js";

const A = "C0:D6:3C:57:2A:01";
const ID_A = "daly_bms_c0d63c572a01";

let broker: Broker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe("metrics and sleeping BMS", () => {
  it("/metrics exposes the BMS values after a poll", async () => {
    const port = await freePort();
    const file = scenarioFile([{ ...PACK, address: A, protocol: "d2" }]);
    const w = await Watcher.connect(broker.url);
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url, "--metrics-port", String(port)]);
    try {
      await w.waitFor(w.topic(`daly_bms/${ID_A}/state`), "state");
      const m = parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      const lbl = `bms_id="${ID_A}",address="${A}",name=""`;
      assert.equal(m.get(`daly_bms_voltage_volts{${lbl}}`), 13.2);
      assert.equal(m.get(`daly_bms_current_amperes{${lbl}}`), -12.3);
      assert.equal(m.get(`daly_bms_cell_voltage_volts{${lbl},cell="3"}`), 3.3);
      assert.equal(m.get(`daly_bms_online{${lbl}}`), 1);
    } finally {
      await h.stop();
      await w.close();
    }
  });

  it("a BMS that stops answering is 'sleeping', not offline; its values are not overwritten", async () => {
    const file = scenarioFile([{ ...PACK, address: A, protocol: "a5" }]);
    const w = await Watcher.connect(broker.url);
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url]);
    try {
      // a fresh (not retained) state: the previous test left a retained one for the same BMS
      const first = JSON.parse((await w.waitFor((m) => m.topic === `daly_bms/${ID_A}/state` && !m.retain, "state")).payload) as Record<string, unknown>;
      assert.equal(first.status, "ok");
      assert.equal(first.energy_charged_kWh, 0);
      const f = h.radio.sim?.specs[0]?.faults;
      assert.ok(f);
      f.sleeping = true;
      const t0 = w.messages.length;
      const sleepMsg = await w.waitFor((m) => m.topic === `daly_bms/${ID_A}/state` && m.payload.includes('"sleeping"'), "sleeping state", 20000, t0);
      const s = JSON.parse(sleepMsg.payload) as Record<string, unknown>;
      assert.equal(s.voltage_V, undefined, "no stale value re-published");
      assert.equal(s.protocol, "a5");
      // several sleeping polls later the BMS is still online (sleeping is not offline)
      await w.waitFor((m) => m.topic === `daly_bms/${ID_A}/state` && m.payload.includes('"sleeping"'), "second sleeping poll", 20000, w.messages.indexOf(sleepMsg) + 1);
      assert.ok(!w.messages.slice(t0).some((m) => m.topic === `daly_bms/${ID_A}/availability` && m.payload === "offline"));
      assert.equal(h.bridge.supervisors[0]?.isOnline, true);
      f.sleeping = false;
      await w.waitFor((m) => m.topic === `daly_bms/${ID_A}/state` && m.payload.includes('"status":"ok"'), "awake again", 20000, w.messages.length);
    } finally {
      await h.stop();
      await w.close();
    }
  });
});
