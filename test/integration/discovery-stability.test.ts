/**
 * Entities do not flap: a field that misses one poll (an optional block's lost reply) keeps its
 * discovery config; only a field missing from 10 snapshots in a row is cleared; a broker restart
 * re-publishes every config announced in the run, also those whose field missed the last poll.
 * The MqttSink against a real Mosquitto, fed snapshots directly.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { startBroker, type Broker } from "../helpers/broker.js";
import { Watcher } from "../helpers/mqtt-watch.js";
import { Publisher } from "../../src/mqtt/publisher.js";
import { MqttSink } from "../../src/runtime/mqtt-sink.js";
import { createLogger } from "../../src/log.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import type { BmsTarget } from "../../src/runtime/supervisor.js";

const TARGET: BmsTarget = { address: "C0:D6:3C:57:2A:07", protocol: "d2", invertCurrent: false, pollIntervalMs: 1000 };
const ID = "daly_bms_c0d63c572a07";
const MOS = `homeassistant/sensor/${ID}/mos_temperature/config`;
const FULL: Snapshot = { protocol: "d2", voltage_V: 13.2, current_A: 1, soc_pct: 50, cells_mV: [3300, 3300, 3300, 3300], temperatures_C: [20], mos_temp_C: 31, status: "ok" };
const { mos_temp_C: _dropped, ...WITHOUT_MOS } = FULL;

let broker: Broker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

function sinkFor(url: string): MqttSink {
  const pub = new Publisher({ url, clientId: `stability-${process.pid}`, will: { topic: "daly_bms/bridge/stability/availability", payload: "offline" } });
  const quiet = Object.assign(new Writable({ write: (_c, _e, done) => done() }), { isTTY: false });
  const log = createLogger({ level: "fatal", format: "json", destination: quiet });
  return new MqttSink(pub, [TARGET], { topics: { baseTopic: "daly_bms", discoveryPrefix: "homeassistant" }, bridgeId: "stability", retainState: true, bridgeVersion: "test", republishDelayMs: [0, 50] }, log);
}

describe("discovery stability (MqttSink)", () => {
  it("keeps a config whose field missed some polls, clears it after ten in a row, restores all after a broker restart", async () => {
    const w = await Watcher.connect(broker.url);
    const sink = sinkFor(broker.url);
    await sink.start();
    await sink.whenReady;
    try {
      await sink.snapshot(TARGET, FULL);
      await w.waitFor((m) => m.topic === MOS && m.payload.length > 0, "MOS config");
      const t0 = w.messages.length;
      for (let i = 0; i < 9; i++) await sink.snapshot(TARGET, WITHOUT_MOS);
      await sink.snapshot(TARGET, FULL); // back: the count starts again
      for (let i = 0; i < 9; i++) await sink.snapshot(TARGET, WITHOUT_MOS);
      await w.sync();
      assert.ok(!w.messages.slice(t0).some((m) => m.topic === MOS && m.payload === ""), "not cleared after up to 9 misses");

      // the broker loses its retained messages; the last snapshot lacks the MOS field, yet its
      // config was announced in this run and comes back
      const t1 = w.messages.length;
      await broker.restart();
      await w.waitFor((m) => m.topic === MOS && m.payload.length > 0, "MOS config re-published after the restart", 15_000, t1);

      const t2 = w.messages.length;
      await sink.snapshot(TARGET, WITHOUT_MOS); // the tenth miss in a row
      await w.waitFor((m) => m.topic === MOS && m.payload === "", "MOS config cleared after 10 misses in a row", 5000, t2);
    } finally {
      await sink.stop();
      await w.close();
    }
  });
});
