/** The bench's pure readers: /proc parsing, MQTT topic accounting, CPU profile attribution, targets, arguments. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpuPercent, parseProcStat, statusKb } from "../../tools/bench/proc.js";
import { classifyTopic, counterDelta, DEFAULT_SCHEME, parsePollCounters, parseSeries, statesPerBms, tally } from "../../tools/bench/messages.js";
import { breakdown, categorize, packageOf, type CpuProfile } from "../../tools/bench/profile.js";
import { judge, targetLine } from "../../tools/bench/targets.js";
import { FULL, parseArgs, QUICK, selectSections } from "../../tools/bench/args.js";

test("/proc/<pid>/stat: fields counted after the last parenthesis", () => {
  const line = "4242 (node (weird) name) S 1 4242 4242 0 -1 4194560 2945 0 0 0 157 20 0 0 20 0 11 0 123456 1099511627776 19000 18446744073709551615 1 1 0 0 0 0 0 16781312 17922 0 0 0 17 1 0 0 0 0 0";
  assert.deepEqual(parseProcStat(line), { utimeTicks: 157, stimeTicks: 20, threads: 11 });
  assert.throws(() => parseProcStat("garbage"));
});

test("/proc/<pid>/status: kB values", () => {
  const status = "Name:\tnode\nVmPeak:\t 1000 kB\nVmRSS:\t   78544 kB\nRssAnon:\t   34100 kB\nRssFile:\t   44444 kB\nThreads:\t11\n";
  assert.equal(statusKb(status, "VmRSS"), 78544);
  assert.equal(statusKb(status, "RssAnon"), 34100);
  assert.equal(statusKb(status, "VmSwap"), undefined);
});

test("CPU percent of one core from clock ticks", () => {
  assert.equal(cpuPercent(60, 100, 60_000), 1); // 0.6 s of CPU in 60 s
  assert.equal(cpuPercent(250, 100, 10_000), 25);
  assert.ok(Number.isNaN(cpuPercent(1, 100, 0)));
});

const ID = "daly_bms_c0d63c6a0001";

test("topics: state, availability, discovery, registry, bridge, other", () => {
  assert.deepEqual(classifyTopic(`daly_bms/${ID}/state`), { kind: "state", bmsId: ID });
  assert.deepEqual(classifyTopic(`daly_bms/${ID}/availability`), { kind: "availability", bmsId: ID });
  assert.deepEqual(classifyTopic(`homeassistant/sensor/${ID}/cell_01_voltage/config`), { kind: "discovery", bmsId: ID });
  assert.deepEqual(classifyTopic("daly_bms/bridge/registry"), { kind: "registry" });
  assert.deepEqual(classifyTopic("daly_bms/bridge/garage/registry"), { kind: "registry" });
  assert.deepEqual(classifyTopic("daly_bms/bridge/availability"), { kind: "bridge" });
  assert.deepEqual(classifyTopic("daly_bms/bridge/garage/availability"), { kind: "bridge" });
  assert.deepEqual(classifyTopic("daly_bms/bridge/garage/info"), { kind: "bridge" });
  assert.deepEqual(classifyTopic("daly_bms/bridge/sync/abcdef"), { kind: "bridge" });
  assert.deepEqual(classifyTopic("homeassistant/status"), { kind: "other" });
  assert.deepEqual(classifyTopic("elsewhere/x"), { kind: "other" });
  assert.deepEqual(classifyTopic(`b/${ID}/state`, { baseTopic: "b", discoveryPrefix: "ha" }), { kind: "state", bmsId: ID });
});

test("tally and states per BMS count a window only", () => {
  const msgs = [
    { topic: `homeassistant/sensor/${ID}/soc/config`, bytes: 900, atMs: 10 },
    { topic: `daly_bms/${ID}/state`, bytes: 700, atMs: 20 },
    { topic: `daly_bms/${ID}/state`, bytes: 710, atMs: 120 },
    { topic: `daly_bms/${ID}/availability`, bytes: 6, atMs: 130 },
  ];
  const t = tally(msgs, DEFAULT_SCHEME, 100, 200);
  assert.deepEqual(t.state, { count: 1, bytes: 710 });
  assert.equal(t.availability.count, 1);
  assert.equal(t.discovery.count, 0);
  assert.equal(tally(msgs, DEFAULT_SCHEME).discovery.bytes, 900);
  assert.deepEqual([...statesPerBms(msgs, DEFAULT_SCHEME, 0, 1000)], [[ID, 2]]);
});

test("Prometheus poll counters summed over results, and their growth", () => {
  const text = [
    "# HELP daly_bms_polls_total Polls by result (ok|error).",
    `daly_bms_polls_total{bms_id="${ID}",address="C0:D6:3C:6A:00:01",name="x",result="ok"} 12`,
    `daly_bms_polls_total{bms_id="${ID}",address="C0:D6:3C:6A:00:01",name="x",result="error"} 1`,
    `daly_bms_polls_total{bms_id="daly_bms_c0d63c6a0002",address="C0:D6:3C:6A:00:02",name="y",result="ok"} 3`,
    `daly_bms_poll_duration_seconds_sum{bms_id="${ID}",address="C0:D6:3C:6A:00:01",name="x"} 9.5`,
    `daly_bms_polls_totalx{bms_id="${ID}"} 99`,
  ].join("\n");
  const c = parsePollCounters(text);
  assert.equal(c.get(ID), 13);
  assert.equal(c.get("daly_bms_c0d63c6a0002"), 3);
  assert.equal(parseSeries(text, "daly_bms_poll_duration_seconds_sum").get(ID), 9.5);
  assert.deepEqual([...counterDelta(new Map([[ID, 10]]), c)], [[ID, 3], ["daly_bms_c0d63c6a0002", 3]]);
});

const fr = (functionName: string, url: string): { functionName: string; url: string } => ({ functionName, url });
const DIST = "file:///app/dist";
const NM = "/app/node_modules";

test("CPU samples are charged to the innermost frame of ours or of a package", () => {
  assert.equal(packageOf(`${NM}/@abandonware/noble/lib/hci-socket/hci.js`), "@abandonware/noble");
  assert.equal(packageOf(`${NM}/mqtt/node_modules/bl/bl.js`), "bl");
  assert.equal(packageOf(`${DIST}/sim/hci/link.js`), undefined);
  assert.equal(categorize([fr("(idle)", "")]), "idle");
  assert.equal(categorize([fr("(garbage collector)", "")]), "gc");
  assert.equal(categorize([fr("(program)", "")]), "native");
  assert.equal(categorize([fr("insert", "node:internal/timers"), fr("connectionEvent", `${DIST}/sim/hci/link.js`)]), "simulator");
  assert.equal(categorize([fr("renameSync", "node:fs"), fr("save", `${DIST}/bms/energy.js`), fr("add", `${DIST}/bms/energy.js`)]), "state files");
  assert.equal(categorize([fr("add", `${DIST}/bms/energy.js`)]), "bridge");
  assert.equal(categorize([fr("writeFileUtf8", ""), fr("write", `${DIST}/runtime/health.js`)]), "state files");
  assert.equal(categorize([fr("emit", "node:events"), fr("onSocketData", `${NM}/@abandonware/noble/lib/hci-socket/hci.js`), fr("write", `${DIST}/sim/hci/socket.js`)]), "noble");
  assert.equal(categorize([fr("publishProc", `${NM}/mqtt/build/lib/client.js`)]), "mqtt");
  assert.equal(categorize([fr("write", `${NM}/sonic-boom/index.js`)]), "logging");
  assert.equal(categorize([fr("collect", `${NM}/prom-client/lib/gauge.js`)]), "metrics");
  assert.equal(categorize([fr("pollOnce", `${DIST}/runtime/poller.js`)]), "bridge");
  assert.equal(categorize([fr("processTimers", "node:internal/timers"), fr("", "")]), "node internals");
});

test("profile breakdown: a window of samples, idle excluded, simulator share without metrics", () => {
  const p: CpuProfile = {
    startTime: 0,
    endTime: 10_000,
    nodes: [
      { id: 1, callFrame: fr("(root)", ""), children: [2, 3, 4, 5] },
      { id: 2, callFrame: fr("(idle)", "") },
      { id: 3, callFrame: fr("connectionEvent", `${DIST}/sim/hci/link.js`) },
      { id: 4, callFrame: fr("pollOnce", `${DIST}/runtime/poller.js`) },
      { id: 5, callFrame: fr("collect", `${NM}/prom-client/lib/gauge.js`) },
    ],
    // 1 ms apart: idle, sim, bridge, metrics, sim, idle, bridge, bridge, sim, idle
    samples: [2, 3, 4, 5, 3, 2, 4, 4, 3, 2],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
  };
  const all = breakdown(p);
  assert.equal(all.busyMs, 7);
  assert.deepEqual(all.byCategory, { simulator: 3, bridge: 3, metrics: 1 });
  assert.equal(all.simulatorShare, 0.5);
  const late = breakdown(p, 5, 10); // samples at t = 5…9 ms
  assert.deepEqual(late.byCategory, { simulator: 2, bridge: 2 });
  assert.equal(late.windowMs, 5);
});

test("targets: PASS at or under the limit, MISS above, n/a when not measured", () => {
  assert.equal(judge("rss", 60).verdict, "PASS");
  assert.equal(judge("rss", 60.1).verdict, "MISS");
  assert.equal(judge("cpu", undefined).verdict, "n/a");
  assert.equal(judge("firstState", Number.NaN).verdict, "n/a");
  assert.match(targetLine(judge("firstState", 1921.4)), /^ {2}PASS .*1921 ms \(target ≤ 2000 ms\)$/);
});

const IDS = ["a5", "d2", "d2-nomos", "p81"];

test("--only: sections, variants, and the old meaning of variant ids alone", () => {
  assert.deepEqual([...selectSections(undefined, IDS).sections], ["poll", "capacity", "resources", "messages", "startup", "proxy"]);
  assert.deepEqual([...selectSections(["proxy"], IDS).sections], ["proxy"]);
  assert.deepEqual([...selectSections(["a5", "d2"], IDS).sections], ["poll"]);
  assert.deepEqual(selectSections(["a5", "d2"], IDS).variants, ["a5", "d2"]);
  assert.deepEqual([...selectSections(["capacity", "startup"], IDS).sections], ["capacity", "startup"]);
  assert.equal(selectSections(["capacity"], IDS).variants, undefined);
  assert.equal(selectSections(["all", "p81"], IDS).sections.size, 6);
  assert.throws(() => selectSections(["cpu"], IDS), /unknown section or variant "cpu"/);
});

test("--quick durations, explicit flags win", () => {
  const q = parseArgs(["--quick", "--json", "--measure-s", "30"], IDS);
  assert.equal(q.json, true);
  assert.equal(q.n, QUICK.n);
  assert.equal(q.measureS, 30);
  assert.equal(q.capacityS, QUICK.capacityS);
  const f = parseArgs(["--n", "7", "--ci", "50"], IDS);
  assert.equal(f.n, 7);
  assert.equal(f.reps, FULL.reps);
  assert.equal(f.timing.connectionIntervalMs, 50);
  assert.throws(() => parseArgs(["--n"], IDS), /--n needs a number/);
  assert.throws(() => parseArgs(["--bogus"], IDS), /unknown argument --bogus/);
});
