/**
 * Where a child's CPU goes, from a V8 CPU profile (`node --cpu-prof`; pure): every sample is charged
 * to the innermost frame that belongs to a script of ours or of a package — node's internals
 * (timers, streams, Buffer, fs bindings) are charged to the code that called them. Also gives the
 * simulator's share (src/sim): with the radio in its own process only its H4 socket client is left.
 */

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber?: number;
}

export interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  /** µs, monotonic */
  startTime: number;
  endTime: number;
  samples: number[];
  /** µs between samples */
  timeDeltas: number[];
}

export type CpuCategory =
  | "simulator"
  | "bridge"
  | "state files"
  | "noble"
  | "mqtt"
  | "logging"
  | "metrics"
  | "other packages"
  | "node internals"
  | "gc"
  | "native";

export const CPU_CATEGORY_LABEL: Record<CpuCategory, string> = {
  simulator: "simulator (virtual controller + BMS, src/sim)",
  bridge: "bridge code (runtime, ble, daly, bms, ha, mqtt sink)",
  "state files": "health + energy files (sync write + rename per poll)",
  noble: "noble BLE host stack (HCI/ATT parsing)",
  mqtt: "mqtt.js client",
  logging: "pino logging",
  metrics: "prom-client (instrumented run only)",
  "other packages": "other packages",
  "node internals": "node internals with no caller of ours (event loop, timers, sockets)",
  gc: "garbage collector",
  native: "native / unattributed (V8 '(program)')",
};

const MQTT_PACKAGES = new Set(["mqtt", "mqtt-packet", "bl", "readable-stream", "number-allocator", "commist", "help-me", "minimist", "split2", "ws", "socks", "ip-address", "worker-timers", "worker-timers-broker", "broker-factory", "fast-unique-numbers", "rfdc", "lru-cache"]);
const LOGGING_PACKAGES = new Set(["pino", "pino-pretty", "pino-std-serializers", "pino-abstract-transport", "sonic-boom", "thread-stream", "safe-stable-stringify", "quick-format-unescaped", "atomic-sleep", "on-exit-leak-free", "colorette", "fast-copy", "dateformat", "@pinojs/redact", "fast-redact"]);
const METRICS_PACKAGES = new Set(["prom-client", "tdigest", "bintrees", "@opentelemetry/api"]);

/** Package name of a node_modules URL (scoped names included), else undefined. */
export function packageOf(url: string): string | undefined {
  const i = url.lastIndexOf("/node_modules/");
  if (i < 0) return undefined;
  const parts = url.slice(i + "/node_modules/".length).split("/");
  const first = parts[0] ?? "";
  return first.startsWith("@") ? `${first}/${parts[1] ?? ""}` : first;
}

function isInternal(f: CallFrame): boolean {
  return f.url === "" || f.url.startsWith("node:") || f.url.startsWith("internal/");
}

/** Category of one sample; `stack` runs from the sampled (innermost) frame outwards. */
export function categorize(stack: readonly CallFrame[]): CpuCategory | "idle" {
  const leaf = stack[0];
  if (!leaf) return "native";
  if (leaf.functionName === "(idle)") return "idle";
  if (leaf.functionName === "(garbage collector)") return "gc";
  if (leaf.functionName === "(program)" || leaf.functionName === "(root)") return "native";
  const owner = stack.find((f) => !isInternal(f));
  if (!owner) return "node internals";
  const pkg = packageOf(owner.url);
  if (pkg !== undefined) {
    if (pkg.startsWith("@abandonware/")) return "noble";
    if (MQTT_PACKAGES.has(pkg)) return "mqtt";
    if (LOGGING_PACKAGES.has(pkg)) return "logging";
    if (METRICS_PACKAGES.has(pkg)) return "metrics";
    return "other packages";
  }
  if (owner.url.includes("/sim/")) return "simulator";
  if (owner.url.endsWith("/runtime/health.js") || (owner.url.endsWith("/bms/energy.js") && owner.functionName === "save")) return "state files";
  if (owner.url.includes("/metrics/")) return "metrics";
  return "bridge";
}

export interface ProfileBreakdown {
  windowMs: number;
  /** Sampled time not idle, ms. */
  busyMs: number;
  byCategory: Partial<Record<CpuCategory, number>>;
  /** simulator / (busy − metrics): the share of the bridge process's CPU the simulator costs. */
  simulatorShare: number;
}

/** Breakdown of the samples taken in [fromMs, toMs) after the profile's start. */
export function breakdown(p: CpuProfile, fromMs = 0, toMs = Number.POSITIVE_INFINITY): ProfileBreakdown {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const cache = new Map<number, CpuCategory | "idle">();
  const categoryOf = (id: number): CpuCategory | "idle" => {
    const hit = cache.get(id);
    if (hit) return hit;
    const stack: CallFrame[] = [];
    for (let cur = byId.get(id); cur; cur = byId.get(parent.get(cur.id) ?? -1)) stack.push(cur.callFrame);
    const c = categorize(stack);
    cache.set(id, c);
    return c;
  };
  const byCategory: Partial<Record<CpuCategory, number>> = {};
  let busyUs = 0;
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const d = p.timeDeltas[i] ?? 0;
    t += d;
    const ms = t / 1000;
    if (ms < fromMs || ms >= toMs) continue;
    const c = categoryOf(p.samples[i] ?? -1);
    if (c === "idle") continue;
    busyUs += d;
    byCategory[c] = (byCategory[c] ?? 0) + d / 1000;
  }
  const end = Math.min(toMs, (p.endTime - p.startTime) / 1000);
  const busyMs = busyUs / 1000;
  const base = busyMs - (byCategory.metrics ?? 0);
  return { windowMs: Math.max(0, end - fromMs), busyMs, byCategory, simulatorShare: base > 0 ? (byCategory.simulator ?? 0) / base : 0 };
}
