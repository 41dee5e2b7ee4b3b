/**
 * RSS, CPU and MQTT traffic of the real bridge in a child process: `daly-bms-bridge run
 * --sim-scenario <8 BMS, A5/D2/0x81, the bench's timing> --mqtt-url <private Mosquitto>
 * --poll-interval 5` (the command's own node flags), warmed up, then measured from /proc.
 *
 * The simulated radio runs in its own process (dist/sim/remote, `simulation.hciSocket`), like a
 * real controller outside the host: the measured process holds only the bridge — noble's HCI/GATT
 * stack and our code, fed H4 packets over a Unix socket instead of the kernel's HCI socket.
 *
 * Children, each with its own broker and simulator (the measured pair side by side, then the
 * instrumented one):
 * - measured, link released between polls (the default), and measured, link kept open
 *   (`keepConnected`): RSS sampled every second, CPU from utime + stime;
 * - instrumented: link released, plus `--cpu-prof` (where the CPU goes) and `--metrics-port` (the
 *   bridge's own poll counters: an independent poll count for the MQTT messages per poll). Its CPU
 *   is not reported (the profiler and the metrics cost some).
 * - peers (messages section, after the others): one bridge alone on a broker for a window, then
 *   with two more bridges (other bridge ids, other BMS) on the same broker for a second window:
 *   the messages that bridge publishes per poll must not change (README "Scaling out").
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { SimTiming } from "../../src/sim/hci/types.js";
import { freePort, startMosquitto, Watch } from "./broker.js";
import { mixMember, POLL_INTERVAL_MS } from "./capacity.js";
import { benchEnv, type BridgeChild, removeDir, runDir, spawnBridge, startSimProcess, writeScenarioFile } from "./child.js";
import { counterDelta, DEFAULT_SCHEME, parsePollCounters, statesPerBms, tally, type Tally, TOPIC_KINDS, type TopicKind } from "./messages.js";
import { clockTicks, cpuPercent, type ProcSample, sampleProc } from "./proc.js";
import { breakdown, type CpuCategory, type CpuProfile } from "./profile.js";
import { median, round1 } from "./stats.js";
import { scenarioBms } from "./variants.js";

export interface ResourceOptions {
  bms: number;
  mix: readonly string[];
  timing: Required<SimTiming>;
  warmMs: number;
  measureMs: number;
  mosquitto: string;
  measured: boolean;
  instrumented: boolean;
}

export type LinkMode = "released" | "kept";

export interface ResourceFigures {
  /** released: the link is closed after every poll (default, the phone app can connect); kept: keepConnected. */
  link: LinkMode;
  bms: number;
  pollIntervalS: number;
  /** Spawn → start of the window. */
  warmupS: number;
  /** Spawn → every BMS had published its first state (auto-probe). */
  allFirstStateS: number;
  measureS: number;
  rssMB: { median: number; max: number; first: number; last: number; anonMedian: number; fileMedian: number; samples: number };
  cpu: { percent: number; userPercent: number; systemPercent: number; mainThreadPercent: number; threads: number };
  /** The simulator process over the same window (not the bridge's; for scale). */
  simulatorCpuPercent: number;
  /**
   * What one wake-up of an idle node process costs on this machine, µs: `node -e
   * "setInterval(() => {}, 50)"` over the same window, CPU ÷ 20 wake-ups/s. A poll's floor is its
   * event-loop wake-ups (≈ 2 per request: the controller's completion event, then the reply) × this.
   */
  wakeupUs: number;
  polls: {
    /** State messages seen on the broker in the window (one per successful poll). */
    states: number;
    perSecond: number;
    /** 8 BMS / 5 s. */
    nominalPerSecond: number;
    medianPeriodS: number | undefined;
    cpuMsPerPoll: number;
    /** CPU if the adapter managed the nominal rate (cpuMsPerPoll × nominal polls/s): a linear estimate. */
    projectedPercentAtNominal: number;
  };
}

/** Where the bridge's CPU goes (--cpu-prof of the instrumented child, link released). */
export interface ProfileFigures {
  /** Share of simulator code in the bridge's samples: 0 when the radio runs in its own process. */
  simulatorShare: number;
  /** Profiled busy time in the window as % of one core (the profiler samples the JS thread only). */
  profiledBusyPercent: number;
  byCategory: Array<{ category: CpuCategory; ms: number; share: number }>;
}

export interface MessageFigures {
  bms: number;
  /** Messages from the bridge's start to the end of the warm-up, per kind (discovery separately below). */
  startup: Record<TopicKind, number>;
  discovery: { messages: number; perBms: number; bytes: number };
  window: {
    measureS: number;
    /** From the bridge's poll counters (Prometheus), all BMS. */
    polls: number;
    messages: number;
    perPoll: number;
    perKindPerPoll: Record<TopicKind, number>;
    /** Messages that name a BMS (state, availability, discovery) per poll of that BMS: min and max over BMS. */
    perBmsPerPoll: { min: number; max: number };
    stateBytesAvg: number;
  };
}

/** Messages one bridge publishes per poll, alone on the broker and with other bridges on it. */
export interface PeerMessageFigures {
  bms: number;
  peers: number;
  alone: PeerWindow;
  withPeers: PeerWindow;
}

export interface PeerWindow {
  measureS: number;
  /** This bridge's polls (its Prometheus counters). */
  polls: number;
  /** Messages on this bridge's topics (its BMS's and daly_bms/bridge/<its id>/…) per poll. */
  perPoll: number;
  /** Messages on topics of other bridges (for scale: they are not this bridge's). */
  othersMessages: number;
}

export interface ResourceResult {
  /** Link released between polls (default). */
  resources?: ResourceFigures;
  /** Link kept open (keepConnected). */
  resourcesKept?: ResourceFigures;
  profile?: ProfileFigures;
  messages?: MessageFigures;
  peers?: PeerMessageFigures;
  errors: string[];
}

function scenario(o: ResourceOptions, group: number, dir: string): string {
  return writeScenarioFile(dir, Array.from({ length: o.bms }, (_, i) => scenarioBms(mixMember(o.mix, i), group, i, o.timing)));
}

const MB = (kb: number): number => round1(kb / 1024);
/** Period of the idle wake-up calibration process. */
const WAKE_MS = 50;

/**
 * Warm-up: at least warmMs from spawn, and at least one poll interval after every BMS published its
 * first state (with auto-probe the first round takes long: a 0x81 BMS is found after the D2 and
 * both A5 probes time out), so discovery and probing stay out of the window. Returns when every
 * BMS had its first state, in s after spawn.
 */
async function warmUp(child: BridgeChild, watch: Watch, o: ResourceOptions): Promise<number> {
  const deadline = child.spawnedAtMs + 180_000;
  let exited = false;
  void child.exited.then(() => void (exited = true));
  while (statesPerBms(watch.messages, DEFAULT_SCHEME, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY).size < o.bms) {
    if (exited) throw new Error(`the bridge exited during the warm-up: ${JSON.stringify(child.lines.slice(-3).map((l) => l.fields))}`);
    if (performance.now() > deadline) throw new Error("not every BMS published a state within 180 s");
    await sleep(200);
  }
  const allAt = performance.now();
  await sleep(Math.max(0, Math.max(child.spawnedAtMs + o.warmMs, allAt + POLL_INTERVAL_MS) - performance.now()));
  return round1((allAt - child.spawnedAtMs) / 1000);
}

async function measuredChild(o: ResourceOptions, link: LinkMode, group: number): Promise<ResourceFigures> {
  const dir = runDir(`rss-${link}`);
  const file = scenario(o, group, dir);
  const broker = await startMosquitto(o.mosquitto);
  const watch = await Watch.connect(broker.url);
  const sim = await startSimProcess(file, dir);
  const env = benchEnv(dir, { DALY_SIM_HCI_SOCKET: sim.socket, ...(link === "kept" ? { DALY_KEEP_CONNECTED: "true" } : {}) });
  const child = spawnBridge(["--sim-scenario", file, "--mqtt-url", broker.url, "--poll-interval", String(POLL_INTERVAL_MS / 1000)], env);
  try {
    const allFirstS = await warmUp(child, watch, o);
    const idle = spawn(process.execPath, ["-e", `setInterval(() => {}, ${WAKE_MS})`], { stdio: "ignore" });
    const samples: ProcSample[] = [sampleProc(child.pid, performance.now())];
    const sim0 = sampleProc(sim.pid, performance.now());
    const idle0 = idle.pid !== undefined ? sampleProc(idle.pid, performance.now()) : undefined;
    const end = (samples[0] as ProcSample).atMs + o.measureMs;
    while (performance.now() < end) {
      await sleep(Math.min(1000, Math.max(0, end - performance.now())));
      samples.push(sampleProc(child.pid, performance.now()));
    }
    const sim1 = sampleProc(sim.pid, performance.now());
    const idle1 = idle.pid !== undefined ? sampleProc(idle.pid, performance.now()) : undefined;
    idle.kill("SIGKILL");
    const first = samples[0] as ProcSample;
    const last = samples.at(-1) as ProcSample;
    const wall = last.atMs - first.atMs;
    const hz = clockTicks();
    const percent = cpuPercent(last.cpuTicks - first.cpuTicks, hz, wall);
    const states = statesPerBms(watch.messages, DEFAULT_SCHEME, first.atMs, last.atMs);
    const total = [...states.values()].reduce((a, b) => a + b, 0);
    const perBmsPeriods = [...states.values()].filter((c) => c > 0).map((c) => wall / 1000 / c);
    const cpuMsPerPoll = total > 0 ? ((last.cpuTicks - first.cpuTicks) / hz) * 1000 / total : Number.NaN;
    const nominal = o.bms / (POLL_INTERVAL_MS / 1000);
    return {
      link,
      bms: o.bms,
      pollIntervalS: POLL_INTERVAL_MS / 1000,
      warmupS: round1((first.atMs - child.spawnedAtMs) / 1000),
      allFirstStateS: allFirstS,
      measureS: round1(wall / 1000),
      rssMB: {
        median: MB(median(samples.map((s) => s.vmRssKb))),
        max: MB(Math.max(...samples.map((s) => s.vmRssKb))),
        first: MB(first.vmRssKb),
        last: MB(last.vmRssKb),
        anonMedian: MB(median(samples.map((s) => s.rssAnonKb))),
        fileMedian: MB(median(samples.map((s) => s.rssFileKb))),
        samples: samples.length,
      },
      cpu: {
        percent: Math.round(percent * 100) / 100,
        userPercent: Math.round(cpuPercent(last.utimeTicks - first.utimeTicks, hz, wall) * 100) / 100,
        systemPercent: Math.round(cpuPercent(last.stimeTicks - first.stimeTicks, hz, wall) * 100) / 100,
        mainThreadPercent: Math.round(cpuPercent(last.mainThreadTicks - first.mainThreadTicks, hz, wall) * 100) / 100,
        threads: last.threads,
      },
      simulatorCpuPercent: Math.round(cpuPercent(sim1.cpuTicks - sim0.cpuTicks, hz, sim1.atMs - sim0.atMs) * 100) / 100,
      // % of a core = wake-ups/s × µs per wake-up / 10⁴
      wakeupUs: idle0 && idle1 ? Math.round((cpuPercent(idle1.cpuTicks - idle0.cpuTicks, hz, idle1.atMs - idle0.atMs) * 1e4) / (1000 / WAKE_MS)) : Number.NaN,
      polls: {
        states: total,
        perSecond: Math.round((total / (wall / 1000)) * 100) / 100,
        nominalPerSecond: nominal,
        medianPeriodS: perBmsPeriods.length ? Math.round(median(perBmsPeriods) * 100) / 100 : undefined,
        cpuMsPerPoll: round1(cpuMsPerPoll),
        projectedPercentAtNominal: Math.round(((cpuMsPerPoll * nominal) / 1000) * 100 * 100) / 100,
      },
    };
  } finally {
    await child.stop();
    await sim.stop();
    await watch.close();
    await broker.stop();
    removeDir(dir);
  }
}

async function scrape(port: number): Promise<{ polls: Map<string, number> }> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await r.text();
  return { polls: parsePollCounters(text) };
}

async function instrumentedChild(o: ResourceOptions): Promise<{ profile: CpuProfile | undefined; windowFromMs: number; windowToMs: number; messages: MessageFigures }> {
  const dir = runDir("prof");
  const file = scenario(o, 11, dir);
  const profDir = join(dir, "prof");
  const port = await freePort();
  const broker = await startMosquitto(o.mosquitto);
  const watch = await Watch.connect(broker.url);
  const sim = await startSimProcess(file, dir);
  const child = spawnBridge(
    ["--sim-scenario", file, "--mqtt-url", broker.url, "--poll-interval", String(POLL_INTERVAL_MS / 1000), "--metrics-port", String(port)],
    benchEnv(dir, { DALY_SIM_HCI_SOCKET: sim.socket }),
    ["--cpu-prof", "--cpu-prof-dir", profDir],
  );
  let from = 0;
  let to = 0;
  const empty = { polls: new Map<string, number>() };
  let before = empty;
  let after = empty;
  try {
    await warmUp(child, watch, o);
    from = performance.now();
    before = await scrape(port);
    await sleep(o.measureMs);
    to = performance.now();
    after = await scrape(port);
  } finally {
    await child.stop();
    await sim.stop();
    await watch.close();
    await broker.stop();
  }
  const delta = counterDelta(before.polls, after.polls);
  const polls = [...delta.values()].reduce((a, b) => a + b, 0);
  const startup = tally(watch.messages, DEFAULT_SCHEME, Number.NEGATIVE_INFINITY, from);
  const win = tally(watch.messages, DEFAULT_SCHEME, from, to);
  const perPoll = (t: Tally): Record<TopicKind, number> => Object.fromEntries(TOPIC_KINDS.map((k) => [k, polls > 0 ? Math.round((t[k].count / polls) * 1000) / 1000 : Number.NaN])) as Record<TopicKind, number>;
  // messages that name a BMS, per poll of that BMS
  const named = new Map<string, number>();
  for (const m of watch.messages) {
    if (m.atMs < from || m.atMs >= to) continue;
    const id = /(daly_bms_[0-9a-f]{12})/.exec(m.topic)?.[1];
    if (id && !m.topic.startsWith("daly_bms/bridge/")) named.set(id, (named.get(id) ?? 0) + 1);
  }
  const ratios = [...delta].filter(([, p]) => p > 0).map(([id, p]) => (named.get(id) ?? 0) / p);
  const messages = TOPIC_KINDS.reduce((a, k) => a + win[k].count, 0);
  let profile: CpuProfile | undefined;
  try {
    const f = readdirSync(profDir).find((n) => n.endsWith(".cpuprofile"));
    if (f) profile = JSON.parse(readFileSync(join(profDir, f), "utf8")) as CpuProfile;
  } catch {
    profile = undefined;
  } finally {
    removeDir(dir);
  }
  return {
    profile,
    windowFromMs: from - child.spawnedAtMs,
    windowToMs: to - child.spawnedAtMs,
    messages: {
      bms: o.bms,
      startup: Object.fromEntries(TOPIC_KINDS.map((k) => [k, startup[k].count])) as Record<TopicKind, number>,
      discovery: { messages: startup.discovery.count, perBms: Math.round((startup.discovery.count / o.bms) * 10) / 10, bytes: startup.discovery.bytes },
      window: {
        measureS: round1((to - from) / 1000),
        polls,
        messages,
        perPoll: polls > 0 ? Math.round((messages / polls) * 1000) / 1000 : Number.NaN,
        perKindPerPoll: perPoll(win),
        perBmsPerPoll: { min: ratios.length ? Math.round(Math.min(...ratios) * 1000) / 1000 : Number.NaN, max: ratios.length ? Math.round(Math.max(...ratios) * 1000) / 1000 : Number.NaN },
        stateBytesAvg: win.state.count > 0 ? Math.round(win.state.bytes / win.state.count) : 0,
      },
    },
  };
}

const MEASURED_ID = "measured";

/** One window: this bridge's polls and the messages on its own topics, per poll. */
async function peerWindow(port: number, watch: Watch, ownIds: ReadonlySet<string>, ms: number): Promise<PeerWindow> {
  const start = watch.messages.length;
  const from = performance.now();
  const before = await scrape(port);
  await sleep(ms);
  const after = await scrape(port);
  const to = performance.now();
  const polls = [...counterDelta(before.polls, after.polls).values()].reduce((a, b) => a + b, 0);
  let own = 0;
  let others = 0;
  for (const m of watch.messages.slice(start)) {
    if (m.atMs < from || m.atMs >= to) continue;
    const id = /(daly_bms_[0-9a-f]{12})/.exec(m.topic)?.[1];
    const mine = m.topic.startsWith(`daly_bms/bridge/${MEASURED_ID}/`) || (id !== undefined && ownIds.has(id));
    if (mine) own++;
    else others++;
  }
  return { measureS: round1((to - from) / 1000), polls, perPoll: polls > 0 ? Math.round((own / polls) * 1000) / 1000 : Number.NaN, othersMessages: others };
}

async function peersRun(o: ResourceOptions, peers: number): Promise<PeerMessageFigures> {
  const dir = runDir("peers");
  const bms = Array.from({ length: o.bms }, (_, i) => scenarioBms(mixMember(o.mix, i), 20, i, o.timing));
  const file = writeScenarioFile(dir, bms);
  const ownIds = new Set(bms.map((b) => `daly_bms_${b.address.replaceAll(":", "").toLowerCase()}`));
  const port = await freePort();
  const broker = await startMosquitto(o.mosquitto);
  const watch = await Watch.connect(broker.url);
  const sim = await startSimProcess(file, dir);
  const child = spawnBridge(
    ["--sim-scenario", file, "--mqtt-url", broker.url, "--poll-interval", String(POLL_INTERVAL_MS / 1000), "--metrics-port", String(port), "--bridge-id", MEASURED_ID],
    benchEnv(dir, { DALY_SIM_HCI_SOCKET: sim.socket }),
  );
  const others: BridgeChild[] = [];
  try {
    await warmUp(child, watch, o);
    const alone = await peerWindow(port, watch, ownIds, o.measureMs);
    for (let p = 0; p < peers; p++) {
      // the peers simulate their radio in-process: only the measured bridge's figures matter
      const pdir = runDir(`peer${p}`);
      const pfile = writeScenarioFile(pdir, Array.from({ length: o.bms }, (_, i) => scenarioBms(mixMember(o.mix, i), 21 + p, i, o.timing)));
      others.push(spawnBridge(["--sim-scenario", pfile, "--mqtt-url", broker.url, "--poll-interval", String(POLL_INTERVAL_MS / 1000), "--bridge-id", `peer${p}`], benchEnv(pdir, {})));
    }
    // every peer BMS has published a state, then one more interval: their start-up stays out of the window
    const deadline = performance.now() + 180_000;
    while (statesPerBms(watch.messages, DEFAULT_SCHEME, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY).size < o.bms * (peers + 1)) {
      if (performance.now() > deadline) throw new Error("the peer bridges did not publish every state within 180 s");
      await sleep(200);
    }
    await sleep(POLL_INTERVAL_MS);
    const withPeers = await peerWindow(port, watch, ownIds, o.measureMs);
    return { bms: o.bms, peers, alone, withPeers };
  } finally {
    await Promise.all([child.stop(), ...others.map((c) => c.stop())]);
    await sim.stop();
    await watch.close();
    await broker.stop();
    removeDir(dir);
  }
}

export async function runResources(o: ResourceOptions): Promise<ResourceResult> {
  const errors: string[] = [];
  const fail = (what: string) => (e: unknown): undefined => void errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  // the measured pair first, the profiled child after: its profiler would share the cores
  const [released, kept] = await Promise.all([
    o.measured ? measuredChild(o, "released", 10).catch(fail("resources (link released)")) : undefined,
    o.measured ? measuredChild(o, "kept", 12).catch(fail("resources (link kept)")) : undefined,
  ]);
  const i = o.instrumented ? await instrumentedChild(o).catch(fail("instrumented run")) : undefined;
  const peers = o.instrumented ? await peersRun(o, 2).catch(fail("peer bridges run")) : undefined;
  const out: ResourceResult = { errors };
  if (peers) out.peers = peers;
  if (released) out.resources = released;
  if (kept) out.resourcesKept = kept;
  if (i) {
    out.messages = i.messages;
    if (i.profile) {
      const b = breakdown(i.profile, i.windowFromMs, i.windowToMs);
      const base = b.busyMs - (b.byCategory.metrics ?? 0);
      out.profile = {
        simulatorShare: Math.round(b.simulatorShare * 1000) / 1000,
        profiledBusyPercent: b.windowMs > 0 ? Math.round((b.busyMs / b.windowMs) * 100 * 100) / 100 : Number.NaN,
        byCategory: (Object.entries(b.byCategory) as Array<[CpuCategory, number]>)
          .map(([category, ms]) => ({ category, ms: round1(ms), share: base > 0 ? Math.round((ms / base) * 1000) / 1000 : 0 }))
          .sort((x, y) => y.ms - x.ms),
      };
    } else if (o.instrumented) errors.push("instrumented run: no CPU profile written");
  }
  return out;
}
