/**
 * The targets ("Prove it"), printed next to the figures as PASS/MISS. Reported, never
 * asserted: the bench exits 0 whatever they say (1 only if the bench itself fails).
 */

export interface TargetResult {
  id: string;
  label: string;
  /** The measured figure; undefined when its section did not run or failed. */
  value: number | undefined;
  limit: number;
  unit: string;
  /** PASS / MISS; "n/a" when not measured. */
  verdict: "PASS" | "MISS" | "n/a";
}

export const TARGETS = {
  pollRatio: { label: "poll wall time / simulated minimum (worst figure)", limit: 1.15, unit: "×" },
  proxyRatio: { label: "poll through an ESPHome proxy / simulated minimum (worst figure)", limit: 1.15, unit: "×" },
  rss: { label: "RSS, 8 BMS at 5 s, link kept open, steady state (median VmRSS)", limit: 60, unit: "MB" },
  cpu: { label: "CPU, 8 BMS at 5 s, link kept open, steady state", limit: 1, unit: "% of a core" },
  rssReleased: { label: "RSS, 8 BMS at 5 s, link released (more than one adapter polls: see capacity)", limit: 60, unit: "MB" },
  cpuReleased: { label: "CPU, 8 BMS at 5 s, link released (adapter saturated: see capacity)", limit: 1, unit: "% of a core" },
  firstState: { label: "start → first state on the broker, protocol configured (D2)", limit: 2000, unit: "ms" },
  firstStateAuto: { label: "start → first state on the broker, auto-probe (D2)", limit: 2000, unit: "ms" },
} as const;

export type TargetId = keyof typeof TARGETS;

/** value ≤ limit → PASS (the limits are all upper bounds). */
export function judge(id: TargetId, value: number | undefined): TargetResult {
  const t = TARGETS[id];
  const verdict = value === undefined || !Number.isFinite(value) ? "n/a" : value <= t.limit ? "PASS" : "MISS";
  return { id, label: t.label, value: value !== undefined && Number.isFinite(value) ? value : undefined, limit: t.limit, unit: t.unit, verdict };
}

export function targetLine(r: TargetResult): string {
  const v = r.value === undefined ? "—" : r.unit === "ms" ? r.value.toFixed(0) : r.value.toFixed(r.unit === "×" ? 3 : 2);
  return `  ${r.verdict.padEnd(4)} ${r.label}: ${v} ${r.unit} (target ≤ ${r.limit} ${r.unit})`;
}
