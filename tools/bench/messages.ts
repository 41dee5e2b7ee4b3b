/**
 * MQTT traffic accounting: classifies the bridge's topics (contract §5) and counts messages per
 * kind; parses the poll counters of the Prometheus endpoint (the independent poll count) — pure;
 * and measures the messages of one Home Assistant birth with many BMS (measureBirth, real broker).
 */
import { Writable } from "node:stream";
import { performance } from "node:perf_hooks";
import type { Snapshot } from "../../src/bms/snapshot.js";
import { bmsIdFromMac, bridgeAvailabilityTopic } from "../../src/ha/topics.js";
import { createLogger } from "../../src/log.js";
import { Publisher } from "../../src/mqtt/publisher.js";
import { MqttSink, type ResyncResult } from "../../src/runtime/mqtt-sink.js";
import type { BmsTarget } from "../../src/runtime/supervisor.js";
import { startMosquitto } from "../mosquitto.js";
import { Watch } from "./broker.js";

export type TopicKind = "state" | "availability" | "discovery" | "registry" | "bridge" | "other";
export const TOPIC_KINDS: readonly TopicKind[] = ["state", "availability", "discovery", "registry", "bridge", "other"];

export interface TopicScheme {
  baseTopic: string;
  discoveryPrefix: string;
}

export const DEFAULT_SCHEME: TopicScheme = { baseTopic: "daly_bms", discoveryPrefix: "homeassistant" };

const BMS_ID = /^daly_bms_[0-9a-f]{12}$/;

/**
 * <prefix>/<component>/<bms_id>/<key>/config → discovery; <base>/<bms_id>/state|availability;
 * <base>/bridge/<bridge_id>/registry (and the shared <base>/bridge/registry of earlier versions) →
 * registry; <base>/bridge/… (availability, info, ping, sync nonces) → bridge.
 */
export function classifyTopic(topic: string, s: TopicScheme = DEFAULT_SCHEME): { kind: TopicKind; bmsId?: string } {
  const parts = topic.split("/");
  if (topic.startsWith(`${s.discoveryPrefix}/`) && parts.at(-1) === "config") {
    const id = parts[2];
    return id && BMS_ID.test(id) ? { kind: "discovery", bmsId: id } : { kind: "discovery" };
  }
  if (!topic.startsWith(`${s.baseTopic}/`)) return { kind: "other" };
  const rest = topic.slice(s.baseTopic.length + 1).split("/");
  const [first, second] = rest;
  if (first === "bridge") return { kind: (rest.length === 2 && second === "registry") || (rest.length === 3 && rest[2] === "registry") ? "registry" : "bridge" };
  if (first && BMS_ID.test(first) && rest.length === 2) {
    if (second === "state") return { kind: "state", bmsId: first };
    if (second === "availability") return { kind: "availability", bmsId: first };
  }
  return { kind: "other" };
}

export interface SeenMessage {
  topic: string;
  bytes: number;
  /** Receipt time (ms, any origin). */
  atMs: number;
}

export interface KindCount {
  count: number;
  bytes: number;
}

export type Tally = Record<TopicKind, KindCount>;

/** Messages received in [fromMs, toMs), per kind. */
export function tally(msgs: readonly SeenMessage[], s: TopicScheme, fromMs = Number.NEGATIVE_INFINITY, toMs = Number.POSITIVE_INFINITY): Tally {
  const out = Object.fromEntries(TOPIC_KINDS.map((k) => [k, { count: 0, bytes: 0 }])) as Tally;
  for (const m of msgs) {
    if (m.atMs < fromMs || m.atMs >= toMs) continue;
    const c = out[classifyTopic(m.topic, s).kind];
    c.count += 1;
    c.bytes += m.bytes;
  }
  return out;
}

/** State messages per BMS id in [fromMs, toMs). */
export function statesPerBms(msgs: readonly SeenMessage[], s: TopicScheme, fromMs: number, toMs: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of msgs) {
    if (m.atMs < fromMs || m.atMs >= toMs) continue;
    const c = classifyTopic(m.topic, s);
    if (c.kind === "state" && c.bmsId) out.set(c.bmsId, (out.get(c.bmsId) ?? 0) + 1);
  }
  return out;
}

/**
 * One metric per bms_id from a Prometheus scrape, summed over its other labels: e.g.
 * daly_bms_polls_total{bms_id="…",…,result="ok|error"} → polls per BMS, or
 * daly_bms_poll_duration_seconds_sum → seconds spent in successful polls per BMS.
 */
export function parseSeries(text: string, metric: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${metric}{`)) continue;
    const id = /bms_id="([^"]*)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf("}") + 1).trim().split(/\s+/)[0]);
    if (!id || !Number.isFinite(value)) continue;
    out.set(id, (out.get(id) ?? 0) + value);
  }
  return out;
}

/** Polls per bms_id (all results). */
export function parsePollCounters(text: string): Map<string, number> {
  return parseSeries(text, "daly_bms_polls_total");
}

/** Counter growth between two scrapes (ids missing from `before` count from 0). */
export function counterDelta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, v] of after) out.set(id, v - (before.get(id) ?? 0));
  return out;
}

/** Messages around one Home Assistant birth (or broker reconnect), as the broker saw them. */
export interface BirthFigures {
  bms: number;
  /** Discovery configs announced in all (what a birth re-sent before issue 17). */
  announcedConfigs: number;
  /** HA birth, broker still holding everything: messages the bridge published, per kind. */
  birth: { messages: number; byKind: Partial<Record<TopicKind, number>>; retainedRead: number };
  /** HA birth after one config was lost from the broker. */
  birthOneLost: { messages: number; discovery: number };
  /** Reconnect to a broker that restarted without persistence (lost every retained message). */
  brokerLost: { messages: number; discovery: number; byKind: Partial<Record<TopicKind, number>> };
}

function byKind(t: Tally): Partial<Record<TopicKind, number>> {
  return Object.fromEntries(TOPIC_KINDS.filter((k) => t[k].count > 0).map((k) => [k, t[k].count]));
}

/**
 * A realistic full sample: 16 cells, 4 sensors, the D2 extras (MOS temperature, balancing), alarms,
 * versions: the widest entity set a BMS announces (about 60 configs).
 */
export function benchSnapshot(i: number): Snapshot {
  const cells = Array.from({ length: 16 }, (_, k) => 3300 + ((k * 7 + i) % 11));
  return {
    protocol: "d2", voltage_V: 53.1, current_A: -4.2, power_W: -223, soc_pct: 71.5, remaining_Ah: 200, rated_capacity_Ah: 280, cycles: 41,
    cells_mV: cells, temperatures_C: [21, 22, 21, 23], mos_temp_C: 30, cell_count: 16, temp_sensor_count: 4,
    max_cell_mV: Math.max(...cells), min_cell_mV: Math.min(...cells), max_cell_index: 1, min_cell_index: 2, delta_cell_mV: 10, avg_cell_mV: 3305,
    max_temp_C: 23, min_temp_C: 21, state: "discharging", charge_mosfet: true, discharge_mosfet: true, charger_connected: false, load_connected: true,
    balancing_active: true, balancing: [3], alarms: [], fault_code: 0, status: "ok", energy_charged_kWh: 1.2, energy_discharged_kWh: 3.4,
    firmware_version: "20230101", hardware_version: "HW1",
  };
}

/**
 * Messages per HA birth: the real MqttSink with `bms` BMS on a private Mosquitto, fed one full
 * sample each; then an HA birth, a birth after one retained config was deleted, and a broker
 * restart without persistence, each counted on an independent subscriber up to a sync marker.
 */
export async function measureBirth(bin: string, bms = 16): Promise<BirthFigures> {
  const m = await startMosquitto(bin);
  const w = await Watch.connect(m.url);
  const quiet = Object.assign(new Writable({ write: (_c, _e, done) => done() }), { isTTY: false });
  const topics = { baseTopic: DEFAULT_SCHEME.baseTopic, discoveryPrefix: DEFAULT_SCHEME.discoveryPrefix };
  const bridgeId = "bench";
  const pub = new Publisher({ url: m.url, clientId: `bench-birth-${process.pid}`, will: { topic: bridgeAvailabilityTopic(bridgeId, topics), payload: "offline" } });
  const targets: BmsTarget[] = Array.from({ length: bms }, (_, i) => ({ address: `C0:D6:3C:5A:01:${i.toString(16).padStart(2, "0")}`, protocol: "d2", invertCurrent: false, pollIntervalMs: 5000 }));
  const sink = new MqttSink(pub, targets, { topics, bridgeId, retainState: true, bridgeVersion: "bench", republishDelayMs: [0, 0] }, createLogger({ level: "fatal", format: "json", destination: quiet }));
  const lastState = `${topics.baseTopic}/${bmsIdFromMac(targets[targets.length - 1]?.address ?? "")}/state`;
  /** Runs `act`, waits for the resync's last message (the last BMS's state) and a sync marker; counts the bridge's messages in between. */
  const window = async (act: () => Promise<void>): Promise<{ t: Tally; resync: ResyncResult | undefined }> => {
    const from = performance.now();
    const last = w.next((x) => x.topic === lastState, 30_000);
    await act();
    if (!(await last)) throw new Error("no resync within 30 s");
    await sink.lastRepublish;
    await w.sync();
    const seen = w.messages.filter((x) => x.topic !== `${topics.discoveryPrefix}/status` && !x.topic.startsWith("bench-sync/"));
    return { t: tally(seen, DEFAULT_SCHEME, from), resync: sink.lastResync };
  };
  try {
    await sink.start();
    await sink.whenReady;
    await Promise.all(targets.flatMap((t, i) => [sink.snapshot(t, benchSnapshot(i)), sink.availability(t, true)]));
    await w.sync();
    const announcedConfigs = tally(w.messages, DEFAULT_SCHEME).discovery.count;
    const birthMsg = (): Promise<void> => w.publish(`${topics.discoveryPrefix}/status`, "online");
    const b1 = await window(birthMsg);
    const lost = `${topics.discoveryPrefix}/sensor/${bmsIdFromMac(targets[0]?.address ?? "")}/soc/config`;
    await w.publish(lost, "", true);
    const b2 = await window(birthMsg);
    const b3 = await window(async () => {
      await m.stop();
      await m.start();
    });
    const total = (t: Tally): number => TOPIC_KINDS.reduce((a, k) => a + t[k].count, 0);
    return {
      bms,
      announcedConfigs,
      birth: { messages: total(b1.t), byKind: byKind(b1.t), retainedRead: b1.resync ? announcedConfigs + 1 - b1.resync.configsResent : 0 },
      birthOneLost: { messages: total(b2.t), discovery: b2.t.discovery.count },
      brokerLost: { messages: total(b3.t), discovery: b3.t.discovery.count, byKind: byKind(b3.t) },
    };
  } finally {
    await sink.stop();
    await w.close();
    await m.dispose();
  }
}
