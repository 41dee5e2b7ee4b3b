/** Turns timed samples into figures (median, p95, ratio to the model's minimum) and prints them. */
import { cycleMinimum, effectiveMtu, NOBLE_SETUP_TRANSACTIONS, pdusPerExchange, pollMinimumMs, replyEvents, replyFrames, type CycleMinimum, type TimingModel } from "./minimum.js";
import type { CycleSample, PollSample, Variant, VariantRun } from "./run.js";
import { median, percentile, round1 } from "./stats.js";
import { CELL_COUNT, TEMP_COUNT } from "./variants.js";

export const TARGET_RATIO = 1.15;

/** Timing of n polls against their simulated minimum: what every poll figure reports. */
export interface TimedFigure {
  n: number;
  medianMs: number;
  p95Ms: number;
  bestMs: number;
  minimumMs: number;
  ratio: number;
  pass: boolean;
}

export interface Figure extends TimedFigure {
  variant: string;
  /** steady: poll on an open link; cycle: open → poll with version reads → close (the first poll);
   *  bridge: open → steady poll → close (every later poll of the supervisor; capacity input). */
  figure: "steady" | "cycle" | "bridge";
  label: string;
  attMtu: number;
  /** Notification PDUs per request of the plan, as the model counts them. */
  pdusPerRequest: number[];
  /** Requests per poll (poller stats, must equal the plan's). */
  requests: number;
  rejectedFrames: number;
  retries: number;
  /** cycle only: per-phase medians next to the model's minimum per phase */
  phases?: { measured: Omit<CycleMinimum, "totalMs">; minimum: Omit<CycleMinimum, "totalMs">; setupAtt: number };
}

function common(samples: readonly PollSample[]): Pick<Figure, "requests" | "rejectedFrames" | "retries" | "n" | "medianMs" | "p95Ms" | "bestMs"> {
  const t = samples.map((s) => s.totalMs);
  return {
    requests: Math.max(...samples.map((s) => s.stats.requests)),
    rejectedFrames: samples.reduce((a, s) => a + s.stats.rejectedFrames, 0),
    retries: samples.reduce((a, s) => a + s.stats.retries, 0),
    n: samples.length,
    medianMs: round1(median(t)),
    p95Ms: round1(percentile(t, 95)),
    bestMs: round1(Math.min(...t)),
  };
}

function verdict(f: Omit<Figure, "ratio" | "pass">): Figure {
  const ratio = Math.round((f.medianMs / f.minimumMs) * 1000) / 1000;
  return { ...f, ratio, pass: ratio <= TARGET_RATIO };
}

export function figures(v: Variant, run: VariantRun, t: TimingModel): Figure[] {
  const attMtu = effectiveMtu(v.serverMtu);
  const steadyPdus = pdusPerExchange(replyFrames(v.steady, CELL_COUNT, TEMP_COUNT), attMtu);
  const cyclePdus = pdusPerExchange(replyFrames(v.cycle, CELL_COUNT, TEMP_COUNT), attMtu);
  const out: Figure[] = [
    verdict({ variant: v.id, figure: "steady", label: v.label, attMtu, pdusPerRequest: steadyPdus, ...common(run.steady), minimumMs: pollMinimumMs(t, steadyPdus) }),
    cycleFigure(v, "cycle", run.cycles, cyclePdus, attMtu, t),
  ];
  if (run.bridge.length > 0) out.push(cycleFigure(v, "bridge", run.bridge, steadyPdus, attMtu, t));
  return out;
}

/** A cycle figure (open → poll → close) with its per-phase medians next to the model's minimum. */
export function cycleFigure(v: Variant, figure: "cycle" | "bridge", samples: readonly CycleSample[], pdus: number[], attMtu: number, t: TimingModel): Figure {
  const setupAtt = Math.max(...samples.map((c) => c.setupAtt));
  const min = cycleMinimum(t, setupAtt, pdus);
  const med = (k: keyof Omit<CycleMinimum, "totalMs">): number => round1(median(samples.map((c) => c[k])));
  const { totalMs: _total, ...minPhases } = min;
  return verdict({
    variant: v.id,
    figure,
    label: v.label,
    attMtu,
    pdusPerRequest: pdus,
    ...common(samples),
    minimumMs: min.totalMs,
    phases: {
      measured: { scanMs: med("scanMs"), connectMs: med("connectMs"), gattMs: med("gattMs"), pollMs: med("pollMs"), closeMs: med("closeMs") },
      minimum: minPhases,
      setupAtt,
    },
  });
}

/** The model in words, with this run's numbers (printed above the table). */
export function explain(t: TimingModel): string[] {
  const ci = t.connectionIntervalMs;
  const k = replyEvents(t);
  return [
    `Timing model: connection interval CI = ${ci} ms, BMS reply delay = ${t.replyDelayMs} ms, advertising interval = ${t.advertisingIntervalMs} ms,`,
    `  notification PDUs per connection event: ${Number.isFinite(t.pdusPerEvent) ? t.pdusPerEvent : "unlimited (link.ts delivers every queued PDU at one event)"}.`,
    "Physical minimum (derived from the model, not measured):",
    `  request/response = 1 CI (the write waits for the next event) + k CI until the reply's event,`,
    `    k = floor(reply delay / CI) + 1 = ${k}  →  ${(1 + k) * ci} ms per request, + 1 CI per extra event when a`,
    `    reply needs more PDUs (ceil(len / (ATT_MTU − 3)) per frame) than one event carries.`,
    `  steady poll = Σ requests (back-to-back polls: each poll starts just after an event, so its`,
    `    first write also waits a full CI).`,
    `  cycle = scan 0 (the sim reports an advertiser at once) + connect ${t.advertisingIntervalMs} ms (first initiator tick)`,
    `    + ATT setup transactions × 2 CI (noble: MTU, 2 × services, 2 × characteristics, CCCD read + write`,
    `    = ${NOBLE_SETUP_TRANSACTIONS}; cross-checked with the controller's ATT counter) + poll + close 1 CI (Disconnection Complete).`,
    `  figures: steady = poll on an open link; cycle = open → poll with version reads → close (a BMS's first`,
    `    poll); bridge = open → steady poll → close (every later poll with the link released: the capacity input).`,
    `Ratio = median wall time / minimum; target ≤ ${TARGET_RATIO}.`,
  ];
}

const pad = (s: string | number, w: number): string => String(s).padStart(w);

export function table(figs: readonly Figure[]): string[] {
  const head = `${"variant".padEnd(9)} ${"figure".padEnd(6)} ${pad("req", 3)} ${pad("rej", 3)} ${pad("retry", 5)} ${pad("min ms", 7)} ${pad("median", 7)} ${pad("p95", 7)} ${pad("best", 7)} ${pad("ratio", 6)}`;
  const rows = figs.map(
    (f) =>
      `${f.variant.padEnd(9)} ${f.figure.padEnd(6)} ${pad(f.requests, 3)} ${pad(f.rejectedFrames, 3)} ${pad(f.retries, 5)} ${pad(f.minimumMs.toFixed(1), 7)} ` +
      `${pad(f.medianMs.toFixed(1), 7)} ${pad(f.p95Ms.toFixed(1), 7)} ${pad(f.bestMs.toFixed(1), 7)} ${pad(f.ratio.toFixed(3), 6)} ${f.pass ? "ok" : "ABOVE TARGET"}`,
  );
  return [head, ...rows];
}

export function phaseLines(figs: readonly Figure[]): string[] {
  const out = ["Cycle phases, median measured / minimum (ms):"];
  for (const f of figs) {
    const p = f.phases;
    if (!p) continue;
    const part = (name: string, k: keyof Omit<CycleMinimum, "totalMs">): string => `${name} ${p.measured[k].toFixed(1)}/${p.minimum[k]}`;
    out.push(`  ${f.variant.padEnd(9)} ${f.figure.padEnd(6)} ${part("scan", "scanMs")}  ${part("connect", "connectMs")}  ${part("gatt", "gattMs")} (${p.setupAtt} ATT)  ${part("poll", "pollMs")}  ${part("close", "closeMs")}`);
  }
  return out;
}
