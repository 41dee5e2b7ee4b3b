/**
 * A live `offline` on the bridge's own availability topic: someone else's (a stale connection's
 * last will under our id) is answered with `online` and a warning; our own, which Mosquitto 2 sends
 * as it shuts down right before it closes our connection, is not (the soak logged that warning at
 * every broker restart). Timers are mocked: the decision is made a moment after the message.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryBroker } from "../helpers/memory-broker.js";
import { MqttSink } from "../../src/runtime/mqtt-sink.js";
import { createLogger } from "../../src/log.js";
import type { BmsTarget } from "../../src/runtime/supervisor.js";

const B: BmsTarget = { address: "C0:D6:3C:5A:00:07", protocol: "d2", invertCurrent: false, pollIntervalMs: 1000 };
const AVAIL = "daly_bms/bridge/garage/availability";

async function setup(): Promise<{ link: MemoryBroker; sink: MqttSink; lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: "debug", format: "json", destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  const link = new MemoryBroker();
  const sink = new MqttSink(link, [B], { topics: { baseTopic: "daly_bms", discoveryPrefix: "homeassistant" }, bridgeId: "garage", retainState: true, bridgeVersion: "test", republishDelayMs: [0, 0] }, log);
  await sink.start();
  link.emit("connected", true);
  await link.drain();
  await sink.whenReady;
  return { link, sink, lines };
}

const warned = (lines: Array<Record<string, unknown>>): boolean => lines.some((l) => l.level === 40 && /set offline by someone else/.test(String(l.msg)));

describe("MqttSink: an offline on our own availability", () => {
  it("from someone else while our connection stays up: online is re-published, with a warning", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { link, sink, lines } = await setup();
    const from = link.applied.length;
    link.emit("message", AVAIL, "offline", false);
    t.mock.timers.tick(1000);
    await link.drain();
    assert.deepEqual(link.applied.slice(from).map((m) => [m.topic, m.payload]), [[AVAIL, "online"]]);
    assert.ok(warned(lines));
    await sink.stop();
  });

  it("our own will as the broker shuts down (the connection closes right after): no warning, nothing sent on the dying connection", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { link, sink, lines } = await setup();
    const from = link.applied.length;
    link.emit("message", AVAIL, "offline", false);
    link.connected = false;
    link.emit("disconnected", "connection closed");
    t.mock.timers.tick(1000);
    await link.drain();
    assert.deepEqual(link.applied.slice(from), []);
    assert.ok(!warned(lines), "no warning about someone else");
    assert.ok(lines.some((l) => /own last will/.test(String(l.msg))));
    await sink.stop();
  });

  it("our own will, and the broker is back within the moment: still no warning (the reconnect announced online)", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { link, sink, lines } = await setup();
    link.emit("message", AVAIL, "offline", false);
    link.emit("connected", false);
    t.mock.timers.tick(1000);
    await link.drain();
    assert.ok(!warned(lines));
    await sink.stop();
  });
});

