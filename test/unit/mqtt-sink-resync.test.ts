/**
 * Issue 17: after every HA birth and broker reconnect, the discovery configs the broker retains
 * for a BMS are exactly the ones the bridge announced — also when a resync runs while a config is
 * being cleared. The MqttSink on an in-memory broker that applies messages one at a time in order
 * (test/helpers/memory-broker.ts), so the interleaving of the sink's awaits is fixed by the test.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { MemoryBroker } from "../helpers/memory-broker.js";
import { MqttSink } from "../../src/runtime/mqtt-sink.js";
import { createLogger } from "../../src/log.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import type { BmsTarget } from "../../src/runtime/supervisor.js";

const A: BmsTarget = { address: "C0:D6:3C:5A:00:01", protocol: "a5", invertCurrent: false, pollIntervalMs: 1000 };
const B: BmsTarget = { address: "C0:D6:3C:5A:00:07", protocol: "d2", invertCurrent: false, pollIntervalMs: 1000 };
const ID_A = "daly_bms_c0d63c5a0001";
const ID_B = "daly_bms_c0d63c5a0007";
const BRIDGE = "garage";
const REGISTRY = `daly_bms/bridge/${BRIDGE}/registry`;
const INFO = `daly_bms/bridge/${BRIDGE}/info`;
const FULL: Snapshot = { protocol: "d2", voltage_V: 13.2, current_A: 1, soc_pct: 50, cells_mV: [3300, 3301, 3302, 3303], temperatures_C: [20], mos_temp_C: 31, balancing: [2], balancing_active: true, status: "ok" };
// the optional D2 block (MOS temperature and the balancing cells) missed the poll
const { mos_temp_C: _m, balancing: _b, balancing_active: _ba, ...WITHOUT_MOS } = FULL;

function sinkOn(link: MemoryBroker, targets: BmsTarget[]): MqttSink {
  const quiet = Object.assign(new Writable({ write: (_c, _e, done) => done() }), { isTTY: false });
  const log = createLogger({ level: "fatal", format: "json", destination: quiet });
  return new MqttSink(link, targets, { topics: { baseTopic: "daly_bms", discoveryPrefix: "homeassistant" }, bridgeId: BRIDGE, retainState: true, bridgeVersion: "test", republishDelayMs: [0, 0] }, log);
}

async function started(link: MemoryBroker, targets: BmsTarget[]): Promise<MqttSink> {
  const sink = sinkOn(link, targets);
  await sink.start();
  link.emit("connected", true);
  await link.drain();
  await sink.whenReady;
  return sink;
}

function registry(link: MemoryBroker): Record<string, string[]> {
  return JSON.parse(link.retained.get(REGISTRY) ?? "{}") as Record<string, string[]>;
}

/** The invariant: retained configs of each BMS = its announced keys (the registry says which). */
function assertRetainedEqualsAnnounced(link: MemoryBroker, ids: string[], when: string): void {
  const reg = registry(link);
  for (const id of ids) assert.deepEqual(link.configKeys(id), [...(reg[id] ?? [])].sort(), `${when}: retained configs of ${id} = announced`);
}

/** Lets the broker apply everything until the sink completed its next resync. */
async function resynced(sink: MqttSink, link: MemoryBroker): Promise<void> {
  const prev = sink.lastResync;
  for (;;) {
    const next = link.nextCall();
    await link.drain();
    if (sink.lastResync !== prev) return;
    await next;
  }
}

/** A snapshot without the optional block, not awaited: its messages stay with the broker until applied. */
async function misses(sink: MqttSink, link: MemoryBroker, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const p = sink.snapshot(B, WITHOUT_MOS);
    await link.drain();
    await p;
  }
}

describe("MqttSink resync (issue 17)", () => {
  it("an HA birth while the tenth miss clears a config: the broker does not keep the cleared config", async () => {
    const link = new MemoryBroker();
    const sink = await started(link, [B]);
    const done = sink.snapshot(B, FULL);
    await link.drain();
    await done;
    const bc = `homeassistant/sensor/${ID_B}/balancing_cells/config`;
    assert.ok(link.retained.has(bc), "balancing_cells announced");
    await misses(sink, link, 9);
    assert.ok(link.retained.has(bc), "kept through nine misses");

    // the tenth miss clears it; its messages are still on their way when HA announces itself
    const tenth = sink.snapshot(B, WITHOUT_MOS);
    const resyncStarts = link.nextCall();
    link.emit("message", "homeassistant/status", "online", false);
    await resyncStarts;
    // the broker now applies everything in order, one message at a time
    await link.drain();
    await tenth;
    await sink.lastRepublish;
    await link.drain();
    assert.ok(!(registry(link)[ID_B] ?? []).includes("balancing_cells"), "the bridge no longer announces balancing_cells");
    assertRetainedEqualsAnnounced(link, [ID_B], "after the birth");
    assert.ok(!link.retained.has(bc), "the cleared config is not resurrected by the resync");
  });

  it("an HA birth sends availability, states and the bridge's info only, when the broker holds every announced config", async () => {
    const link = new MemoryBroker();
    const sink = await started(link, [A, B]);
    await Promise.all([sink.snapshot(A, FULL), sink.snapshot(B, FULL), sink.availability(A, true), sink.availability(B, true), link.drain()]);
    const configs = link.configKeys(ID_A).length + link.configKeys(ID_B).length;
    assert.ok(configs > 20);
    const from = link.applied.length;
    link.emit("message", "homeassistant/status", "online", false);
    await resynced(sink, link);
    const sent = link.applied.slice(from);
    assert.deepEqual(sent.filter((m) => m.topic.endsWith("/config")), [], "no discovery re-sent");
    assert.deepEqual(
      sent.map((m) => m.topic).sort(),
      [`daly_bms/bridge/${BRIDGE}/availability`, INFO, `daly_bms/${ID_A}/availability`, `daly_bms/${ID_A}/state`, `daly_bms/${ID_B}/availability`, `daly_bms/${ID_B}/state`].sort(),
    );
    assert.equal(sink.lastResync?.messages, 6);
  });

  it("an HA birth restores a config the broker lost, updates a changed one, clears one not announced, and restores the registry", async () => {
    const link = new MemoryBroker();
    const sink = await started(link, [A, B]);
    await Promise.all([sink.snapshot(A, FULL), sink.snapshot(B, FULL), link.drain()]);
    const soc = `homeassistant/sensor/${ID_A}/soc/config`;
    const volt = `homeassistant/sensor/${ID_B}/voltage/config`;
    const ghost = `homeassistant/sensor/${ID_B}/cell_9/config`;
    const foreign = "homeassistant/sensor/some_other_device/cell_9/config";
    const socPayload = link.retained.get(soc);
    const voltPayload = link.retained.get(volt);
    link.retained.delete(soc);
    link.retained.set(volt, "{}");
    link.retained.set(ghost, "{\"unique_id\":\"x\"}");
    link.retained.set(foreign, "{\"unique_id\":\"y\"}");
    link.retained.delete(REGISTRY);
    const from = link.applied.length;
    link.emit("message", "homeassistant/status", "online", false);
    await resynced(sink, link);
    assert.equal(link.retained.get(soc), socPayload);
    assert.equal(link.retained.get(volt), voltPayload);
    assert.ok(!link.retained.has(ghost), "a config of ours that is not announced is cleared");
    assert.ok(link.retained.has(foreign), "someone else's config is left alone");
    assertRetainedEqualsAnnounced(link, [ID_A, ID_B], "after the birth");
    const configsSent = link.applied.slice(from).filter((m) => m.topic.endsWith("/config")).length;
    assert.equal(configsSent, 3);
    assert.deepEqual(sink.lastResync && { resent: sink.lastResync.configsResent, cleared: sink.lastResync.configsCleared, registry: sink.lastResync.registryResent }, { resent: 2, cleared: 1, registry: true });
  });

  it("a broker reconnect after the broker lost every retained message re-publishes every announced config, including one whose field missed the last poll", async () => {
    const link = new MemoryBroker();
    const sink = await started(link, [B]);
    await Promise.all([sink.snapshot(B, FULL), link.drain()]);
    await misses(sink, link, 3);
    const before = link.configKeys(ID_B);
    assert.ok(before.includes("balancing_cells") && before.includes("mos_temperature"));
    link.retained.clear(); // a restart without persistence
    link.emit("connected", false);
    await resynced(sink, link);
    assert.deepEqual(link.configKeys(ID_B), before);
    assertRetainedEqualsAnnounced(link, [ID_B], "after the reconnect");
    // the bridge's own topics came back too: its registry (tested above) and its info, which peers read
    const info = JSON.parse(link.retained.get(INFO) ?? "{}") as { bms?: string[]; instance?: string };
    assert.deepEqual(info.bms, [ID_B]);
    assert.equal(info.instance, sink.instance);
  });

  it("an HA birth leaves alone a config of a BMS another live bridge also claims (its configs may be that bridge's)", async () => {
    const link = new MemoryBroker();
    const sink = await started(link, [A, B]);
    await Promise.all([sink.snapshot(A, FULL), sink.snapshot(B, FULL), link.drain()]);
    // bridge "shed" polls B too (configured twice): it announced a cell this bridge does not have
    link.emit("message", "daly_bms/bridge/shed/info", JSON.stringify({ version: "x", instance: "other", bms: [ID_B] }), true);
    link.emit("message", "daly_bms/bridge/shed/availability", "online", true);
    assert.deepEqual(sink.otherClaims(ID_B), ["shed"]);
    const theirs = `homeassistant/sensor/${ID_B}/cell_9/config`;
    const ghost = `homeassistant/sensor/${ID_A}/cell_9/config`;
    link.retained.set(theirs, "{\"unique_id\":\"x\"}");
    link.retained.set(ghost, "{\"unique_id\":\"y\"}");
    link.emit("message", "homeassistant/status", "online", false);
    await resynced(sink, link);
    assert.ok(link.retained.has(theirs), "the claimed BMS's extra config stays");
    assert.ok(!link.retained.has(ghost), "an unclaimed BMS's extra config is cleared");
    assert.equal(sink.lastResync?.configsCleared, 1);
  });

  it("an HA birth re-sends the last state message exactly as published: a sleeping one, not the older full snapshot", async () => {
    const link = new MemoryBroker();
    const sink = await started(link, [B]);
    const sleeping: Snapshot = { protocol: "d2", status: "sleeping", rejected_samples: 0 };
    await Promise.all([sink.snapshot(B, FULL), sink.availability(B, true), link.drain()]);
    await Promise.all([sink.partial(B, sleeping), link.drain()]);
    const from = link.applied.length;
    link.emit("message", "homeassistant/status", "online", false);
    await resynced(sink, link);
    const states = link.applied.slice(from).filter((m) => m.topic === `daly_bms/${ID_B}/state`);
    // the full snapshot with status "ok" would tell HA the BMS answered, with values from before its sleep
    assert.deepEqual(states.map((m) => JSON.parse(m.payload) as unknown), [sleeping]);
    assert.deepEqual(JSON.parse(link.retained.get(`daly_bms/${ID_B}/state`) ?? "null"), sleeping);
  });

  it("polls that finished before the first connect: discovery from the full snapshot, then the last state message as it was", async () => {
    const link = new MemoryBroker();
    const sink = sinkOn(link, [B]);
    await sink.start();
    const sleeping: Snapshot = { protocol: "d2", status: "sleeping", rejected_samples: 0 };
    await sink.snapshot(B, FULL);
    await sink.partial(B, sleeping);
    link.emit("connected", true);
    await link.drain();
    await sink.whenReady;
    assert.ok(link.configKeys(ID_B).includes("mos_temperature"), "discovery from the full snapshot");
    assert.deepEqual(link.applied.filter((m) => m.topic === `daly_bms/${ID_B}/state`).map((m) => JSON.parse(m.payload) as unknown), [sleeping]);
  });

  it("a BMS removed from the config is cleared at start in one hand-over with the registry that no longer lists it", async () => {
    const link = new MemoryBroker();
    const gone = "daly_bms_c0d63c5a00ff";
    const cfg = (k: string): string => `homeassistant/sensor/${gone}/${k}/config`;
    link.retained.set(REGISTRY, JSON.stringify({ [gone]: ["soc", "voltage"] }));
    link.retained.set(cfg("soc"), "{}");
    link.retained.set(cfg("voltage"), "{}");
    const sink = sinkOn(link, [B]);
    await sink.start();
    link.emit("connected", true);
    // let the broker apply operations until the first clear of the removed BMS is next
    while (link.pending === 0 || !link.peek()?.startsWith(`homeassistant/sensor/${gone}/`)) {
      const next = link.nextCall();
      if (!(await link.step())) await next;
    }
    // the registry without it was handed over in the same step as the clears
    assert.ok(link.queued().some((m) => m.topic === REGISTRY && !m.payload.includes(gone)), "registry update already queued with the clears");
    await link.drain();
    await sink.whenReady;
    assert.deepEqual(registry(link), {});
    assert.ok(!link.retained.has(cfg("soc")) && !link.retained.has(cfg("voltage")));
  });
});
