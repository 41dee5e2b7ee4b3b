/**
 * Charged and discharged energy per BMS for HA's Energy dashboard, integrated from gated samples
 * only (trapezoid rule on power, split by sign), never across a gap longer than `maxGapMs` (a missed
 * stretch is not guessed), and persisted atomically (write to a temp file, then rename) together
 * with the last sample — at most once a minute and on stop — so a restart never double-counts an
 * interval and a crash loses at most a minute.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface EnergyState {
  charged_kWh: number;
  discharged_kWh: number;
  /** Last integrated sample: time [ms since epoch] and power [W]. */
  last?: { t: number; p: number };
}

export class EnergyCounter {
  private s: EnergyState;
  private lastSave = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly maxGapMs: number,
    private readonly file?: string,
  ) {
    this.s = (file && load(file)) || { charged_kWh: 0, discharged_kWh: 0 };
  }

  get state(): Readonly<EnergyState> {
    return this.s;
  }

  /** Adds a sample of power [W] (positive = charging) at time t; returns the new totals. */
  add(t: number, p: number): EnergyState {
    const prev = this.s.last;
    if (prev && t > prev.t && t - prev.t <= this.maxGapMs) {
      const h = (t - prev.t) / 3_600_000;
      // split the trapezoid where power crosses zero, so charge and discharge are never netted
      let charged = 0;
      let discharged = 0;
      if (prev.p >= 0 && p >= 0) charged = ((prev.p + p) / 2) * h;
      else if (prev.p <= 0 && p <= 0) discharged = (-(prev.p + p) / 2) * h;
      else {
        const f = Math.abs(prev.p) / (Math.abs(prev.p) + Math.abs(p)); // fraction of the interval before the crossing
        const a = (prev.p / 2) * h * f;
        const b = (p / 2) * h * (1 - f);
        charged = Math.max(a, 0) + Math.max(b, 0);
        discharged = -Math.min(a, 0) - Math.min(b, 0);
      }
      this.s.charged_kWh += charged / 1000;
      this.s.discharged_kWh += discharged / 1000;
    }
    if (!prev || t > prev.t) this.s.last = { t, p };
    // at most once a minute (an SD card does not want a file replaced every poll) and on stop:
    // a crash loses at most a minute of integration, a restart never double-counts
    if (t - this.lastSave >= 60_000) {
      this.lastSave = t;
      this.save();
    }
    return this.s;
  }

  /** Saves now (on stop). */
  flush(): void {
    this.save();
  }

  private save(): void {
    if (!this.file) return;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, JSON.stringify(this.s));
      renameSync(tmp, this.file);
    } catch {
      // a read-only or full disk must not stop the bridge: the counters live on in memory
    }
  }
}

function load(file: string): EnergyState | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (typeof v !== "object" || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o.charged_kWh !== "number" || typeof o.discharged_kWh !== "number") return undefined;
    const out: EnergyState = { charged_kWh: o.charged_kWh, discharged_kWh: o.discharged_kWh };
    const l = o.last as Record<string, unknown> | undefined;
    if (l && typeof l.t === "number" && typeof l.p === "number") out.last = { t: l.t, p: l.p };
    return out;
  } catch {
    return undefined;
  }
}
