/**
 * The whole bridge (simulated radio under noble's real HCI stack, real transport, real MQTT code)
 * against a real Mosquitto started here on a free port.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startBroker, type Broker } from "../helpers/broker.js";
import { Watcher, type Msg } from "../helpers/mqtt-watch.js";
import { PACK, runBridge, scenarioFile } from "../helpers/bridge-run.js";

const A = "C0:D6:3C:57:2A:01";
const B = "C0:D6:3C:57:2A:02";
const ID_A = "daly_bms_c0d63c572a01";
const ID_B = "daly_bms_c0d63c572a02";

let broker: Broker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

const json = (m: Msg): Record<string, unknown> => JSON.parse(m.payload) as Record<string, unknown>;

describe("bridge ⇄ Home Assistant over MQTT", () => {
  it("publishes retained discovery for every entity, states equal to the scenario, and availability", async () => {
    const file = scenarioFile([
      { ...PACK, name: "Pack A", address: A, protocol: "a5" },
      { ...PACK, address: B, protocol: "d2", cells_mV: [3320, 3321, 3319, 3322, 3318, 3320, 3323, 3317], mos_temp_C: 31 },
    ]);
    const w = await Watcher.connect(broker.url);
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url]);
    try {
      await w.waitFor(w.topic("daly_bms/bridge/test/availability", "online"), "bridge online");
      const stA = json(await w.waitFor(w.topic(`daly_bms/${ID_A}/state`), "state A"));
      const stB = json(await w.waitFor(w.topic(`daly_bms/${ID_B}/state`), "state B"));
      for (const [k, v] of Object.entries(PACK)) assert.deepEqual(stA[k], v, `A ${k}`);
      assert.deepEqual(stB.cells_mV, [3320, 3321, 3319, 3322, 3318, 3320, 3323, 3317]);
      assert.equal(stB.mos_temp_C, 31);
      assert.equal(stA.protocol, "a5");
      assert.equal(stB.protocol, "d2");
      await w.waitFor(w.topic(`daly_bms/${ID_A}/availability`, "online"), "A online");
      // availability went offline first at start (a stale retained online must not linger)
      const avA = w.messages.filter((m) => m.topic === `daly_bms/${ID_A}/availability`).map((m) => m.payload);
      assert.deepEqual(avA.slice(0, 2), ["offline", "online"]);
      // README: everything at QoS 1, states included (a queued state must not overtake a newer one)
      const live = w.messages.filter((m) => m.topic.startsWith("daly_bms/") && m.payload.length > 0);
      assert.ok(live.some((m) => m.topic.endsWith("/state")));
      assert.ok(live.every((m) => m.qos === 1), "QoS 1");

      // a fresh subscriber gets the retained discovery configs
      // wait for B's last config (published after A's), then for every retained message
      await w.waitFor(w.topic(`homeassistant/sensor/${ID_B}/cell_8/config`), "cell_8 config of B");
      const fresh = await Watcher.connect(broker.url, ["homeassistant/#"]);
      await fresh.sync();
      const configs = fresh.messages.filter((m) => m.retain && m.payload.length > 0 && m.topic.includes(ID_A));
      const ids = configs.map((m) => json(m).unique_id as string).sort();
      for (const k of ["voltage", "current", "power", "soc", "remaining_capacity", "cycles", "cell_1", "cell_4", "temperature_1", "temperature_2", "cell_min", "cell_max", "cell_delta", "charge_mosfet", "discharge_mosfet"]) {
        assert.ok(ids.includes(`${ID_A}_${k}`), `unique_id ${ID_A}_${k}`);
      }
      assert.ok(!ids.includes(`${ID_A}_cell_5`));
      const volt = json(configs.find((m) => m.topic === `homeassistant/sensor/${ID_A}/voltage/config`) ?? configs[0] as Msg);
      assert.equal(volt.state_topic, `daly_bms/${ID_A}/state`);
      assert.equal(volt.availability_mode, "all");
      assert.deepEqual((volt.availability as Array<{ topic: string }>).map((a) => a.topic), ["daly_bms/bridge/test/availability", `daly_bms/${ID_A}/availability`]);
      assert.deepEqual((volt.device as { identifiers: string[] }).identifiers, [ID_A]);
      assert.equal((volt.device as { name: string }).name, "Pack A");
      await fresh.close();
    } finally {
      await h.stop();
      await w.close();
    }
  });

  it("marks a BMS offline after N failed polls when it goes out of range, and online when it is back", async () => {
    const file = scenarioFile([{ ...PACK, address: A, protocol: "d2" }]);
    const w = await Watcher.connect(broker.url);
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url]);
    try {
      await w.waitFor(w.topic(`daly_bms/${ID_A}/availability`, "online"), "online");
      const spec = h.radio.sim?.specs[0];
      assert.ok(spec?.faults);
      spec.faults.outOfRange = true;
      const t0 = w.messages.length;
      await w.waitFor(w.topic(`daly_bms/${ID_A}/availability`, "offline"), "offline after failures", 20000, t0);
      const sup = h.bridge.supervisors[0];
      assert.ok(sup);
      assert.equal(sup.isOnline, false);
      spec.faults.outOfRange = false;
      const t1 = w.messages.length;
      await w.waitFor(w.topic(`daly_bms/${ID_A}/availability`, "online"), "online again", 20000, t1);
      await w.waitFor(w.topic(`daly_bms/${ID_A}/state`), "state after recovery", 20000, t1);
    } finally {
      await h.stop();
      await w.close();
    }
  });

  it("on Home Assistant's birth re-sends availability and state, and only the discovery the broker lost", async () => {
    const file = scenarioFile([{ ...PACK, address: A, protocol: "a5" }]);
    const w = await Watcher.connect(broker.url);
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url, "--poll-interval", "60"]);
    const volt = `homeassistant/sensor/${ID_A}/voltage/config`;
    const soc = `homeassistant/sensor/${ID_A}/soc/config`;
    try {
      await w.waitFor(w.topic(`daly_bms/${ID_A}/state`), "first state");
      await w.waitFor(w.topic(`daly_bms/${ID_A}/availability`, "online"), "online");
      await w.waitFor(w.topic("daly_bms/bridge/test/registry"), "registry");
      // someone deleted one retained config (a broker that lost it, a user cleaning up)
      await w.publish(volt, "", true);
      await w.sync();
      const t0 = w.messages.length;
      await w.publish("homeassistant/status", "online");
      // with a 60 s poll interval, these can only come from the birth resync
      await w.waitFor(w.topic(`daly_bms/${ID_A}/availability`, "online"), "availability again", 10000, t0);
      const st = json(await w.waitFor(w.topic(`daly_bms/${ID_A}/state`), "state again", 10000, t0));
      assert.equal(st.voltage_V, 13.2);
      await w.waitFor((m) => m.topic === volt && m.payload.length > 0, "the lost config again", 10000, t0);
      await w.sync();
      const configs = w.messages.slice(t0).filter((m) => m.topic.endsWith("/config") && m.payload.length > 0).map((m) => m.topic);
      assert.deepEqual(configs, [volt], "only the lost config is re-sent");
      assert.ok(!configs.includes(soc));
    } finally {
      await h.stop();
      await w.close();
    }
  });

  it("survives a broker restart: reconnects and re-publishes bridge availability and discovery", async () => {
    const file = scenarioFile([{ ...PACK, address: A, protocol: "d2" }]);
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url, "--poll-interval", "60"]);
    let w = await Watcher.connect(broker.url);
    try {
      await w.waitFor(w.topic(`daly_bms/${ID_A}/availability`, "online"), "online");
      await w.close();
      await broker.restart(); // no persistence: every retained message is gone
      w = await Watcher.connect(broker.url);
      await w.waitFor(w.topic("daly_bms/bridge/test/availability", "online"), "bridge online after restart", 15000);
      await w.waitFor((m) => m.topic === `homeassistant/sensor/${ID_A}/soc/config` && m.payload.length > 0, "discovery after restart", 15000);
      await w.waitFor(w.topic(`daly_bms/${ID_A}/availability`, "online"), "BMS availability after restart", 15000);
    } finally {
      await h.stop();
      await w.close();
    }
  });

  it("clears the configs of cells that disappeared and of a BMS removed from the config", async () => {
    const sixteen = Array.from({ length: 16 }, (_, i) => 3300 + i);
    const file1 = scenarioFile([
      { ...PACK, address: A, protocol: "d2", cells_mV: sixteen },
      { ...PACK, address: B, protocol: "a5" },
    ]);
    const w = await Watcher.connect(broker.url);
    let h = await runBridge(["--sim-scenario", file1, "--mqtt-url", broker.url, "--poll-interval", "60"]);
    await w.waitFor((m) => m.topic === `homeassistant/sensor/${ID_A}/cell_16/config` && m.payload.length > 0, "cell_16 config");
    await w.waitFor(w.topic(`daly_bms/${ID_B}/state`), "B state");
    await w.waitFor((m) => m.topic === "daly_bms/bridge/test/registry" && m.payload.includes(ID_B), "registry with B");
    await h.stop();
    // restart with A shrunk to 4 cells and B gone
    const file2 = scenarioFile([{ ...PACK, address: A, protocol: "d2" }]);
    const t0 = w.messages.length;
    h = await runBridge(["--sim-scenario", file2, "--mqtt-url", broker.url, "--poll-interval", "60"]);
    try {
      await w.waitFor((m) => m.topic === `homeassistant/sensor/${ID_A}/cell_16/config` && m.payload === "", "cell_16 cleared", 15000, t0);
      await w.waitFor((m) => m.topic === `homeassistant/sensor/${ID_A}/cell_5/config` && m.payload === "", "cell_5 cleared", 15000, t0);
      await w.waitFor((m) => m.topic === `homeassistant/sensor/${ID_B}/voltage/config` && m.payload === "", "B voltage cleared", 15000, t0);
      await w.waitFor((m) => m.topic === `daly_bms/${ID_B}/availability` && m.payload === "", "B availability cleared", 15000, t0);
      const fresh = await Watcher.connect(broker.url, ["homeassistant/#"]);
      await fresh.sync(); // every retained config has arrived: absence below is meaningful
      assert.ok(fresh.messages.some((m) => m.topic === `homeassistant/sensor/${ID_A}/cell_4/config` && m.payload.length > 0), "cell_4 still there");
      assert.ok(!fresh.messages.some((m) => m.topic.includes("/cell_5/") || m.topic.includes(ID_B)), "no retained leftovers");
      await fresh.close();
    } finally {
      await h.stop();
      await w.close();
    }
  });
});
