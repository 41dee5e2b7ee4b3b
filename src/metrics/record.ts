/**
 * Supervisor events → metric values. Snapshot-derived series are replaced as a whole on each
 * snapshot, so a cell, sensor or value the BMS stops reporting disappears instead of freezing at
 * its last value; they are removed too when the BMS goes offline (as Home Assistant shows
 * "unavailable"). Counters, the histogram, `online` and the last-snapshot timestamp stay.
 */
import type { Snapshot } from "../bms/snapshot.js";
import type { PollStats } from "../runtime/poller.js";
import { bmsLabels, type BmsLabelValues, type DalyMetrics, ERROR_KINDS, errorKind } from "./registry.js";

export interface MetricsTarget {
  readonly address: string;
  readonly name?: string | undefined;
}

/** Creates the per-BMS counter series at 0, so rate() and increase() see their first increment. */
export function registerBms(m: DalyMetrics, target: MetricsTarget, online: boolean | undefined): void {
  const l = bmsLabels(target);
  for (const result of ["ok", "error"]) m.polls.inc({ ...l, result }, 0);
  for (const kind of ERROR_KINDS) m.pollErrors.inc({ ...l, kind }, 0);
  for (const c of [m.requests, m.retries, m.rejectedFrames]) c.inc(l, 0);
  m.pollDuration.zero(l);
  m.online.set(l, online === true ? 1 : 0);
}

export function clearSnapshotSeries(m: DalyMetrics, target: MetricsTarget): void {
  const id = bmsLabels(target).bms_id;
  for (const remove of m.live.get(id) ?? []) remove();
  m.live.delete(id);
}

export function recordSnapshot(m: DalyMetrics, target: MetricsTarget, snap: Snapshot, stats: PollStats & { durationMs: number }): void {
  const l = bmsLabels(target);
  clearSnapshotSeries(m, target);
  const removers: Array<() => void> = [];
  for (const { gauge, pick } of m.scalars) {
    const v = pick(snap);
    if (v === undefined || !Number.isFinite(v)) continue;
    gauge.set(l, v);
    removers.push(() => gauge.remove(l));
  }
  listSeries(snap.cells_mV, (i, mv) => {
    const labels = { ...l, cell: String(i) };
    m.cellVoltage.set(labels, mv / 1000);
    removers.push(() => m.cellVoltage.remove(labels));
  });
  listSeries(snap.temperatures_C, (i, c) => {
    const labels = { ...l, sensor: String(i) };
    m.temperature.set(labels, c);
    removers.push(() => m.temperature.remove(labels));
  });
  m.live.set(l.bms_id, removers);

  m.polls.inc({ ...l, result: "ok" });
  m.pollDuration.observe(l, stats.durationMs / 1000);
  m.requests.inc(l, stats.requests);
  m.retries.inc(l, stats.retries);
  m.rejectedFrames.inc(l, stats.rejectedFrames);
  m.lastSnapshot.set(l, Date.now() / 1000);
}

export function recordFailure(m: DalyMetrics, target: MetricsTarget, err: unknown): void {
  const l: BmsLabelValues = bmsLabels(target);
  m.polls.inc({ ...l, result: "error" });
  m.pollErrors.inc({ ...l, kind: errorKind(err) });
}

export function recordAvailability(m: DalyMetrics, target: MetricsTarget, online: boolean): void {
  m.online.set(bmsLabels(target), online ? 1 : 0);
  if (!online) clearSnapshotSeries(m, target);
}

function listSeries(values: readonly number[] | undefined, set: (oneBased: number, v: number) => void): void {
  values?.forEach((v, i) => {
    if (Number.isFinite(v)) set(i + 1, v);
  });
}
