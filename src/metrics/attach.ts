/**
 * Subscribes the metrics to supervisor events. Anything shaped like a Supervisor works (an
 * EventEmitter<SupervisorEvents> with a `target`), so tests can use plain emitters. Attach before
 * `bridge.start()` to see the first poll; the returned function removes exactly the listeners
 * added here (the exposed series stay).
 */
import type { EventEmitter } from "node:events";
import type { Supervisor, SupervisorEvents } from "../runtime/supervisor.js";
import { type MetricsTarget, recordAvailability, recordFailure, recordSnapshot, registerBms } from "./record.js";
import type { DalyMetrics } from "./registry.js";

export type MetricsSource = Pick<EventEmitter<SupervisorEvents>, "on" | "off"> & {
  readonly target: MetricsTarget;
  /** Supervisor.isOnline: the initial value of daly_bms_online when attaching late. */
  readonly isOnline?: boolean;
};

// Compile-time guard: the real Supervisor is a MetricsSource.
const supervisorFits: Supervisor extends MetricsSource ? true : false = true;
void supervisorFits;

export function attachMetrics(sources: readonly MetricsSource[], metrics: DalyMetrics): () => void {
  const detachers = sources.map((s) => {
    registerBms(metrics, s.target, s.isOnline);
    const onSnapshot = (...[snap, stats]: SupervisorEvents["snapshot"]): void => recordSnapshot(metrics, s.target, snap, stats);
    const onFailure = (...[err]: SupervisorEvents["failure"]): void => recordFailure(metrics, s.target, err);
    const onAvailability = (...[online]: SupervisorEvents["availability"]): void => recordAvailability(metrics, s.target, online);
    s.on("snapshot", onSnapshot);
    s.on("failure", onFailure);
    s.on("availability", onAvailability);
    return () => {
      s.off("snapshot", onSnapshot);
      s.off("failure", onFailure);
      s.off("availability", onAvailability);
    };
  });
  let detached = false;
  return () => {
    if (detached) return;
    detached = true;
    for (const d of detachers) d();
  };
}
