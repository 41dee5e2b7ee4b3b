/**
 * MQTT traffic accounting (pure): classifies the bridge's topics (contract §5) and counts messages
 * per kind; parses the poll counters of the Prometheus endpoint (the independent poll count).
 */

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
