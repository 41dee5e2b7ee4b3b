/** Metrics end to end: fake supervisors → registry → HTTP scrape → parsed exposition text. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { TransportError } from "../../src/transport/errors.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import type { SupervisorEvents } from "../../src/runtime/supervisor.js";
import { attachMetrics } from "../../src/metrics/attach.js";
import { register } from "prom-client";
import { createMetrics } from "../../src/metrics/registry.js";
import { startMetricsServer } from "../../src/metrics/server.js";
import { startBridgeMetrics } from "../../src/metrics/index.js";

class FakeSupervisor extends EventEmitter<SupervisorEvents> {
  constructor(readonly target: { address: string; name?: string }) {
    super();
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses `name{a="x",b="y"} value` lines; comments and blank lines are skipped. */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    assert.ok(m, `unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ""] = (l[2] ?? "").replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    const raw = m[3] ?? "";
    out.push({ name: m[1] ?? "", labels, value: raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw) });
  }
  return out;
}

/** The samples of `name` whose labels include `match`. */
function find(samples: readonly Sample[], name: string, match: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

function value(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  const hits = find(samples, name, match);
  assert.equal(hits.length, 1, `${name} ${JSON.stringify(match)}: ${hits.length} samples`);
  return hits[0]?.value ?? NaN;
}

const HOUSE = { address: "C0:D6:3C:57:2A:01", name: "House" };
const HOUSE_LABELS = { bms_id: "daly_bms_c0d63c572a01", address: "C0:D6:3C:57:2A:01", name: "House" };
const VAN_ID = { bms_id: "daly_bms_c0d63c572a02" };

const FIRST: Snapshot = {
  protocol: "d2",
  voltage_V: 13.2,
  current_A: -12.3,
  power_W: -162.36,
  soc_pct: 55.5,
  remaining_Ah: 55.5,
  cycles: 17,
  cells_mV: [3200, 3250, 3300, 3350],
  temperatures_C: [21.5, 23],
  mos_temp_C: 30,
  charge_mosfet: true,
  discharge_mosfet: false,
  balancing_active: true,
  alarms: ["cell_overvoltage_1", "charge_overcurrent_1"],
};

test("metrics: supervisor events are exposed over HTTP with exact values and labels", async (t) => {
  const metrics = createMetrics();
  const house = new FakeSupervisor(HOUSE);
  const van = new FakeSupervisor({ address: "c0:d6:3c:57:2a:02" });
  const detach = attachMetrics([house, van], metrics);
  const server = await startMetricsServer({ port: 0, host: "127.0.0.1", registry: metrics.registry });
  t.after(() => server.close());
  assert.ok(server.port > 0);
  const url = `http://127.0.0.1:${server.port}`;
  const scrape = async (): Promise<Sample[]> => {
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), metrics.registry.contentType);
    return parseExposition(await res.text());
  };

  house.emit("snapshot", FIRST, { requests: 4, retries: 1, rejectedFrames: 2, durationMs: 1234 });
  house.emit("availability", true);
  house.emit("failure", new TransportError("connect timed out after 15000 ms", "timeout"), 1);
  house.emit("failure", new Error("something unexpected"), 2);
  van.emit("failure", new TransportError("not found", "not-found"), 1);

  let s = await scrape();
  const h = HOUSE_LABELS;
  assert.equal(value(s, "daly_bms_voltage_volts", h), 13.2);
  assert.deepEqual(find(s, "daly_bms_voltage_volts")[0]?.labels, HOUSE_LABELS, "exactly bms_id, address, name");
  assert.equal(value(s, "daly_bms_current_amperes", h), -12.3);
  assert.equal(value(s, "daly_bms_power_watts", h), -162.36);
  assert.equal(value(s, "daly_bms_soc_ratio", h), 0.555);
  assert.equal(value(s, "daly_bms_remaining_capacity_ampere_hours", h), 55.5);
  assert.equal(value(s, "daly_bms_cycles", h), 17);
  assert.deepEqual(
    find(s, "daly_bms_cell_voltage_volts", h).map((x) => [x.labels.cell, x.value]),
    [["1", 3.2], ["2", 3.25], ["3", 3.3], ["4", 3.35]],
  );
  assert.equal(value(s, "daly_bms_cell_voltage_volts", { ...h, cell: "3" }), 3.3);
  assert.equal(value(s, "daly_bms_temperature_celsius", { ...h, sensor: "1" }), 21.5);
  assert.equal(value(s, "daly_bms_temperature_celsius", { ...h, sensor: "2" }), 23);
  assert.equal(value(s, "daly_bms_mos_temperature_celsius", h), 30);
  assert.equal(value(s, "daly_bms_charge_mosfet_on", h), 1);
  assert.equal(value(s, "daly_bms_discharge_mosfet_on", h), 0);
  assert.equal(value(s, "daly_bms_balancing", h), 1);
  assert.equal(value(s, "daly_bms_alarms_active", h), 2);
  assert.equal(find(s, "daly_bms_board_temperature_celsius").length, 0, "not reported → no series");
  assert.equal(value(s, "daly_bms_online", h), 1);
  assert.equal(value(s, "daly_bms_polls_total", { ...h, result: "ok" }), 1);
  assert.equal(value(s, "daly_bms_polls_total", { ...h, result: "error" }), 2);
  assert.equal(value(s, "daly_bms_poll_errors_total", { ...h, kind: "timeout" }), 1);
  assert.equal(value(s, "daly_bms_poll_errors_total", { ...h, kind: "other" }), 1);
  assert.equal(value(s, "daly_bms_poll_errors_total", { ...h, kind: "no-reply" }), 0, "known kinds start at 0");
  assert.equal(value(s, "daly_bms_requests_total", h), 4);
  assert.equal(value(s, "daly_bms_request_retries_total", h), 1);
  assert.equal(value(s, "daly_bms_rejected_frames_total", h), 2);
  assert.equal(value(s, "daly_bms_poll_duration_seconds_count", h), 1);
  assert.equal(value(s, "daly_bms_poll_duration_seconds_sum", h), 1.234);
  assert.equal(value(s, "daly_bms_poll_duration_seconds_bucket", { ...h, le: "1" }), 0);
  assert.equal(value(s, "daly_bms_poll_duration_seconds_bucket", { ...h, le: "1.5" }), 1);
  assert.equal(value(s, "daly_bms_poll_duration_seconds_bucket", { ...h, le: "+Inf" }), 1);
  assert.ok(Math.abs(value(s, "daly_bms_last_snapshot_timestamp_seconds", h) - Date.now() / 1000) < 60);
  // the second BMS: its own series, no name, no snapshot values
  assert.equal(value(s, "daly_bms_online", VAN_ID), 0);
  assert.deepEqual(find(s, "daly_bms_online", VAN_ID)[0]?.labels, { ...VAN_ID, address: "C0:D6:3C:57:2A:02", name: "" });
  assert.equal(value(s, "daly_bms_poll_errors_total", { ...VAN_ID, kind: "not-found" }), 1);
  assert.equal(value(s, "daly_bms_polls_total", { ...VAN_ID, result: "ok" }), 0);
  assert.equal(find(s, "daly_bms_voltage_volts", VAN_ID).length, 0);
  assert.ok(find(s, "process_cpu_user_seconds_total").length === 1, "default process metrics");

  // fewer cells, no temperatures: the stale series are gone
  house.emit("snapshot", { voltage_V: 6.6, cells_mV: [3300, 3301] }, { requests: 2, retries: 0, rejectedFrames: 0, durationMs: 400 });
  s = await scrape();
  assert.deepEqual(
    find(s, "daly_bms_cell_voltage_volts", h).map((x) => [x.labels.cell, x.value]),
    [["1", 3.3], ["2", 3.301]],
  );
  assert.equal(find(s, "daly_bms_cell_voltage_volts", { ...h, cell: "3" }).length, 0);
  assert.equal(find(s, "daly_bms_cell_voltage_volts", { ...h, cell: "4" }).length, 0);
  assert.equal(find(s, "daly_bms_temperature_celsius", h).length, 0);
  assert.equal(find(s, "daly_bms_current_amperes", h).length, 0);
  assert.equal(value(s, "daly_bms_voltage_volts", h), 6.6);
  assert.equal(value(s, "daly_bms_polls_total", { ...h, result: "ok" }), 2);
  assert.equal(value(s, "daly_bms_requests_total", h), 6);

  // offline: snapshot values are withdrawn, counters stay
  house.emit("availability", false);
  s = await scrape();
  assert.equal(value(s, "daly_bms_online", h), 0);
  assert.equal(find(s, "daly_bms_voltage_volts", h).length, 0);
  assert.equal(find(s, "daly_bms_cell_voltage_volts", h).length, 0);
  assert.equal(value(s, "daly_bms_polls_total", { ...h, result: "ok" }), 2);

  // detach removes every listener it added, and only those
  const other = (): void => undefined;
  house.on("snapshot", other);
  assert.equal(house.listenerCount("snapshot"), 2);
  detach();
  detach();
  for (const fake of [house, van]) {
    for (const ev of ["snapshot", "failure", "availability"] as const) assert.equal(fake.listenerCount(ev), ev === "snapshot" && fake === house ? 1 : 0, ev);
  }
  house.emit("failure", new TransportError("x", "timeout"), 1);
  s = await scrape();
  assert.equal(value(s, "daly_bms_poll_errors_total", { ...h, kind: "timeout" }), 1, "no counting after detach");
});

test("metrics server: /healthz, 404, 405, close with an open keep-alive connection", async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  const server = await startMetricsServer({ port: 0, host: "127.0.0.1", registry: metrics.registry });
  const url = `http://127.0.0.1:${server.port}`;
  try {
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), "ok\n");
    const missing = await fetch(`${url}/nope`);
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
    const post = await fetch(`${url}/metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.arrayBuffer();
    const withQuery = await fetch(`${url}/metrics?x=1`);
    assert.equal(withQuery.status, 200);
    assert.doesNotMatch(await withQuery.text(), /process_cpu/, "defaultMetrics: false");
  } finally {
    await server.close();
    await server.close();
  }
  await assert.rejects(fetch(`${url}/healthz`), "closed");
});

test("metrics server: a port in use is an error", async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  const a = await startMetricsServer({ port: 0, host: "127.0.0.1", registry: metrics.registry });
  try {
    await assert.rejects(startMetricsServer({ port: a.port, host: "127.0.0.1", registry: metrics.registry }), /EADDRINUSE/);
  } finally {
    await a.close();
  }
});

test("metrics: registries are independent (no global registry clash)", async () => {
  const a = createMetrics();
  const b = createMetrics();
  assert.notEqual(a.registry, b.registry);
  const house = new FakeSupervisor(HOUSE);
  const detach = attachMetrics([house], a);
  house.emit("availability", true);
  detach();
  assert.equal(value(parseExposition(await a.registry.metrics()), "daly_bms_online", HOUSE_LABELS), 1);
  assert.equal(find(parseExposition(await b.registry.metrics()), "daly_bms_online").length, 0);
  assert.equal(find(parseExposition(await register.metrics()), "daly_bms_online").length, 0, "global registry untouched");
});

interface Panel {
  type?: string;
  title?: string;
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

test("grafana dashboard: valid JSON whose queries use only exported metric names", () => {
  const text = readFileSync(new URL("../../../docs/grafana-dashboard.json", import.meta.url), "utf8");
  const dash = JSON.parse(text) as {
    schemaVersion: number;
    __inputs: Array<{ name: string; pluginId: string }>;
    panels: Panel[];
    templating: { list: Array<{ name: string; definition: string }> };
  };
  assert.ok(dash.schemaVersion >= 36);
  assert.deepEqual(dash.__inputs.map((i) => [i.name, i.pluginId]), [["DS_PROMETHEUS", "prometheus"]]);
  const variable = dash.templating.list.find((v) => v.name === "bms_id");
  assert.equal(variable?.definition, "label_values(daly_bms_voltage_volts, bms_id)");

  const metrics = createMetrics();
  const known = new Set<string>();
  for (const m of metrics.registry.getMetricsAsArray()) {
    known.add(m.name);
    if (String(m.type) === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) known.add(m.name + suffix);
  }
  const flat = (ps: readonly Panel[]): Panel[] => ps.flatMap((p) => [p, ...flat(p.panels ?? [])]);
  const panels = flat(dash.panels).filter((p) => p.type !== "row");
  const titles = panels.map((p) => p.title ?? "");
  for (const want of ["Pack voltage", "Current", "Power", "State of charge", "Cell voltages", "Cell delta", "Temperatures", "MOSFET", "Online", "Poll duration p95", "errors by kind"]) {
    assert.ok(titles.some((ti) => ti.toLowerCase().includes(want.toLowerCase())), `panel ${want}`);
  }
  const exprs = [variable?.definition ?? "", ...panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr ?? ""))];
  let used = 0;
  for (const expr of exprs) {
    assert.ok(expr.length > 0, "every target has an expression");
    for (const [name] of expr.matchAll(/\bdaly_bms_[a-z_]+\b/g)) {
      used += 1;
      assert.ok(known.has(name), `${name} (in ${expr}) is not a registered metric`);
    }
  }
  assert.ok(used >= 15);
  assert.ok(exprs.some((e) => e.startsWith("histogram_quantile(0.95, ") && e.includes("rate(daly_bms_poll_duration_seconds_bucket")), "p95 poll duration");
  assert.ok(exprs.some((e) => /^max by \(.*\) \(daly_bms_cell_voltage_volts.*\) - min by \(.*\) \(daly_bms_cell_voltage_volts/.test(e)), "cell delta");
});

test("startBridgeMetrics: attach + serve in one call; close detaches and stops serving", async () => {
  const house = new FakeSupervisor(HOUSE);
  const bm = await startBridgeMetrics([house], { port: 0, host: "127.0.0.1" });
  const url = `http://127.0.0.1:${bm.port}/metrics`;
  try {
    house.emit("snapshot", FIRST, { requests: 4, retries: 0, rejectedFrames: 0, durationMs: 800 });
    const s = parseExposition(await (await fetch(url)).text());
    assert.equal(value(s, "daly_bms_cell_voltage_volts", { ...HOUSE_LABELS, cell: "4" }), 3.35);
  } finally {
    await bm.close();
  }
  assert.equal(house.listenerCount("snapshot") + house.listenerCount("failure") + house.listenerCount("availability"), 0);
  await assert.rejects(fetch(url));
});
