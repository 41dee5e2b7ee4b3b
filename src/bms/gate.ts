/**
 * Plausibility gate between decode and publish. Checksum-valid frames can still carry nonsense (a
 * sleeping BMS reports 0 V / −3000 A, a measurement glitch 0.00 V; landscape.md §4, daly-protocol.md
 * §6): every sample passes these rules before anything is published or integrated.
 *
 * Hard rules (always reject):
 *   incomplete   – voltage, current, SOC or the cell list is missing (a step failed or a zero frame
 *                  was dropped by the decoder): never publish half a battery
 *   over_rating  – |current| above the configured rating
 * Soft rules ("drop one glitch, flag a persistent change"): a sample that breaks one is rejected,
 * unless the previous sample broke the same rule too — then the change is real and accepted:
 *   voltage_mismatch – pack voltage differs from the sum of the cells by > max(1 V, 3 %)
 *   cell_count       – the number of cells differs from the last accepted sample
 *   soc_jump         – SOC moved > 10 points since the last accepted sample
 *   voltage_jump     – pack voltage moved > 10 % since the last accepted sample
 *   temp_jump        – a temperature sensor moved > 20 °C since the last accepted sample
 * Physical ranges (SOC 0–100 %, cells 1–5000 mV, −40–150 °C) are enforced earlier, in the decoder.
 */
import type { Snapshot } from "./snapshot.js";

export type GateRule = "incomplete" | "over_rating" | "voltage_mismatch" | "cell_count" | "soc_jump" | "voltage_jump" | "temp_jump";
export type GateResult = { accept: true; flagged?: GateRule } | { accept: false; rule: GateRule };

export interface GateOptions {
  /** Largest believable |current| [A]. */
  maxCurrentA: number;
}

export class PlausibilityGate {
  private last: Snapshot | undefined;
  private lastBroken: GateRule | undefined;
  rejected = 0;

  constructor(private readonly opts: GateOptions = { maxCurrentA: 1000 }) {}

  check(s: Snapshot): GateResult {
    const hard = this.hardRule(s);
    if (hard) return this.reject(hard);
    const soft = this.softRule(s);
    if (soft && soft !== this.lastBroken) {
      this.lastBroken = soft;
      return this.reject(soft);
    }
    this.lastBroken = undefined;
    this.last = s;
    return soft ? { accept: true, flagged: soft } : { accept: true };
  }

  private reject(rule: GateRule): GateResult {
    this.rejected += 1;
    return { accept: false, rule };
  }

  private hardRule(s: Snapshot): GateRule | undefined {
    if (s.voltage_V === undefined || s.current_A === undefined || s.soc_pct === undefined || !s.cells_mV?.length) return "incomplete";
    if (Math.abs(s.current_A) > this.opts.maxCurrentA) return "over_rating";
    return undefined;
  }

  private softRule(s: Snapshot): GateRule | undefined {
    const cells = s.cells_mV ?? [];
    const sum = cells.reduce((a, c) => a + c, 0) / 1000;
    const v = s.voltage_V ?? 0;
    if (Math.abs(v - sum) > Math.max(1, 0.03 * sum)) return "voltage_mismatch";
    const p = this.last;
    if (!p) return undefined;
    if ((p.cells_mV?.length ?? 0) !== cells.length) return "cell_count";
    if (p.soc_pct !== undefined && s.soc_pct !== undefined && Math.abs(s.soc_pct - p.soc_pct) > 10) return "soc_jump";
    if (p.voltage_V !== undefined && p.voltage_V > 0 && Math.abs(v - p.voltage_V) / p.voltage_V > 0.1) return "voltage_jump";
    const pt = p.temperatures_C ?? [];
    if ((s.temperatures_C ?? []).some((t, i) => pt[i] !== undefined && Math.abs(t - (pt[i] ?? t)) > 20)) return "temp_jump";
    return undefined;
  }
}
