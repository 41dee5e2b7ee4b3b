/**
 * Resource samples over the run: RSS and heap, event-loop delay (perf_hooks histogram, reset per
 * sample so each covers its own interval), active handles, listener counts on noble's objects
 * (NobleTransport.diagnostics) and on `process`, and process warnings (MaxListenersExceeded…).
 */
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

export interface Sample {
  tS: number;
  rssMB: number;
  /** RssAnon from /proc/self/status: private memory (heap, malloc, stacks), without the shared node binary. */
  anonMB: number;
  heapMB: number;
  /** V8's committed heap (heapUsed is the live part). */
  heapTotalMB: number;
  /** Memory outside the V8 heap owned by JS objects (Buffers, ArrayBuffers). */
  externalMB: number;
  eldP50Ms: number;
  eldP99Ms: number;
  eldMaxMs: number;
  activeResources: number;
  nobleListeners: number;
  peripheralListeners: number;
  openLinks: number;
  processListeners: number;
}

export interface Diagnosable {
  diagnostics(): { nobleListeners: number; peripheralListeners: number; openLinks: number };
}

const PROCESS_EVENTS = ["exit", "SIGINT", "SIGTERM", "uncaughtException", "unhandledRejection", "warning", "beforeExit"] as const;
const mb = (b: number): number => Math.round((b / 1048576) * 10) / 10;
const RESOLUTION_MS = 10;

function rssAnonMB(): number {
  try {
    const kb = /^RssAnon:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return kb === undefined ? Number.NaN : Math.round((Number(kb) / 1024) * 10) / 10;
  } catch {
    return Number.NaN; // not Linux
  }
}
const STALL_MS = 100;
/** The histogram holds whole timer periods: the delay is what exceeds the sampling period. */
const ms = (ns: number): number => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 10) / 10);

export class Probes {
  readonly samples: Sample[] = [];
  readonly warnings: string[] = [];
  /** Event-loop stalls over STALL_MS: when (s from start) and how long (ms). */
  readonly stalls: Array<{ tS: number; ms: number }> = [];
  private lastBeat = Date.now();
  private readonly beat: NodeJS.Timeout;
  private readonly eld: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private readonly onWarning = (w: Error): void => {
    if (this.warnings.length < 20) this.warnings.push(`${w.name}: ${w.message}`);
  };

  constructor(
    private readonly transport: Diagnosable | undefined,
    private readonly t0: number,
  ) {
    this.eld.enable();
    process.on("warning", this.onWarning);
    this.beat = setInterval(() => {
      const now = Date.now();
      const late = now - this.lastBeat - RESOLUTION_MS;
      if (late > STALL_MS && this.stalls.length < 200) this.stalls.push({ tS: Math.round((now - late - this.t0) / 100) / 10, ms: late });
      this.lastBeat = now;
    }, RESOLUTION_MS);
  }

  /** `collect`: with --expose-gc, collect garbage first so the heap figure is live data (warm-up and end only: the pause lands in the next delay interval). */
  sample(now: number, collect = false): Sample {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (collect && gc) gc();
    const mem = process.memoryUsage();
    const d = this.transport?.diagnostics() ?? { nobleListeners: 0, peripheralListeners: 0, openLinks: 0 };
    const s: Sample = {
      tS: Math.round((now - this.t0) / 100) / 10,
      rssMB: mb(mem.rss),
      anonMB: rssAnonMB(),
      heapMB: mb(mem.heapUsed),
      heapTotalMB: mb(mem.heapTotal),
      externalMB: mb(mem.external),
      eldP50Ms: ms(this.eld.percentile(50)),
      eldP99Ms: ms(this.eld.percentile(99)),
      eldMaxMs: ms(this.eld.max),
      activeResources: process.getActiveResourcesInfo().length,
      ...d,
      processListeners: PROCESS_EVENTS.reduce((a, e) => a + process.listenerCount(e), 0),
    };
    this.eld.reset();
    this.samples.push(s);
    return s;
  }

  stop(): void {
    clearInterval(this.beat);
    this.eld.disable();
    process.removeListener("warning", this.onWarning);
  }
}

export interface Growth {
  start: Sample | undefined;
  warm: Sample | undefined;
  end: Sample | undefined;
  rssGrowthMB: number;
  anonGrowthMB: number;
  heapGrowthMB: number;
  heapTotalGrowthMB: number;
  externalGrowthMB: number;
  listenerGrowth: number;
  eldP99MaxMs: number;
  eldMaxMs: number;
}

/** Start, the first sample at or after warm-up, the end, and growth from warm-up to end. */
export function growth(samples: readonly Sample[], warmupS: number): Growth {
  const start = samples[0];
  const end = samples[samples.length - 1];
  const warm = samples.find((s) => s.tS >= warmupS) ?? end;
  const delta = (f: (s: Sample) => number): number => Math.round(((end ? f(end) : 0) - (warm ? f(warm) : 0)) * 10) / 10;
  const listeners = (s: Sample | undefined): number => (s ? s.nobleListeners + s.peripheralListeners + s.processListeners : 0);
  return {
    start,
    warm,
    end,
    rssGrowthMB: delta((x) => x.rssMB),
    anonGrowthMB: delta((x) => x.anonMB),
    heapGrowthMB: delta((x) => x.heapMB),
    heapTotalGrowthMB: delta((x) => x.heapTotalMB),
    externalGrowthMB: delta((x) => x.externalMB),
    listenerGrowth: listeners(end) - listeners(warm),
    eldP99MaxMs: Math.max(0, ...samples.map((s) => s.eldP99Ms)),
    eldMaxMs: Math.max(0, ...samples.map((s) => s.eldMaxMs)),
  };
}
