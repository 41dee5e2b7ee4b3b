/**
 * The Prometheus metrics of the bridge, on a dedicated prom-client Registry (never the global
 * default one, so several bridges in one process, e.g. tests, cannot clash). Names follow the
 * Prometheus conventions: base units in the name (volts, amperes, seconds, ratio), `_total` only
 * on counters. State of charge is `daly_bms_soc_ratio` (0–1, the base unit), not percent.
 *
 * Every per-BMS series carries `bms_id` (`daly_bms_` + MAC, lower case, no colons: the same id as
 * the Home Assistant device), `address` and `name` (empty when the BMS has no name).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { TransportError } from "../transport/errors.js";
import type { Snapshot } from "../bms/snapshot.js";
import { bmsIdFromMac } from "../ha/topics.js";

export const BMS_LABELS = ["bms_id", "address", "name"] as const;
export type BmsLabel = (typeof BMS_LABELS)[number];
export type BmsLabelValues = Record<BmsLabel, string>;

/** A real poll takes 0.2–20 s (connect + GATT discovery + a few requests with retries). */
export const POLL_DURATION_BUCKETS: readonly number[] = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30];

/** `kind` label values of daly_bms_poll_errors_total: TransportError kinds, "other" for the rest. */
export const ERROR_KINDS = ["timeout", "not-found", "gatt-missing", "link-lost", "adapter", "no-reply", "corrupt", "busy", "other"] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];
// Compile-time guard: a new TransportError kind must be added above.
const everyKindListed: [Exclude<TransportError["kind"], ErrorKind>] extends [never] ? true : false = true;
void everyKindListed;

/** The public bms_id (ha/topics.ts owns the derivation from the MAC). */
export const bmsId = bmsIdFromMac;

export function bmsLabels(target: { readonly address: string; readonly name?: string | undefined }): BmsLabelValues {
  return { bms_id: bmsId(target.address), address: target.address.toUpperCase(), name: target.name ?? "" };
}

export function errorKind(err: unknown): ErrorKind {
  const kind: unknown = typeof err === "object" && err !== null && "kind" in err ? err.kind : undefined;
  return ERROR_KINDS.find((k) => k === kind && k !== "other") ?? "other";
}

const flag = (b: boolean | undefined): number | undefined => (b === undefined ? undefined : b ? 1 : 0);

/** One-value-per-BMS gauges taken from a snapshot; a value the snapshot lacks removes the series. */
const SCALARS: ReadonlyArray<readonly [name: string, help: string, pick: (s: Snapshot) => number | undefined]> = [
  ["daly_bms_voltage_volts", "Pack voltage.", (s) => s.voltage_V],
  ["daly_bms_current_amperes", "Pack current; positive = charging (after invertCurrent).", (s) => s.current_A],
  ["daly_bms_power_watts", "Pack power; same sign as the current.", (s) => s.power_W],
  ["daly_bms_soc_ratio", "State of charge, 0-1.", (s) => (s.soc_pct === undefined ? undefined : s.soc_pct / 100)],
  ["daly_bms_remaining_capacity_ampere_hours", "Remaining capacity.", (s) => s.remaining_Ah],
  ["daly_bms_rated_capacity_ampere_hours", "Rated capacity from the settings block, when read.", (s) => s.rated_capacity_Ah],
  ["daly_bms_cycles", "Charge cycles as counted by the BMS.", (s) => s.cycles],
  ["daly_bms_mos_temperature_celsius", "MOSFET temperature, on models that report it.", (s) => s.mos_temp_C],
  ["daly_bms_board_temperature_celsius", "Board temperature, on models that report it.", (s) => s.board_temp_C],
  ["daly_bms_charge_mosfet_on", "1 when the charge MOSFET is on.", (s) => flag(s.charge_mosfet)],
  ["daly_bms_discharge_mosfet_on", "1 when the discharge MOSFET is on.", (s) => flag(s.discharge_mosfet)],
  ["daly_bms_balancing", "1 while the balancer runs.", (s) => flag(s.balancing_active ?? (s.balancing ? s.balancing.length > 0 : undefined))],
  ["daly_bms_alarms_active", "Number of active alarms.", (s) => s.alarms?.length],
];

export interface ScalarGauge {
  readonly gauge: Gauge<BmsLabel>;
  readonly pick: (s: Snapshot) => number | undefined;
}

export interface DalyMetrics {
  readonly registry: Registry;
  readonly scalars: readonly ScalarGauge[];
  readonly cellVoltage: Gauge<BmsLabel | "cell">;
  readonly temperature: Gauge<BmsLabel | "sensor">;
  readonly online: Gauge<BmsLabel>;
  readonly lastSnapshot: Gauge<BmsLabel>;
  readonly pollDuration: Histogram<BmsLabel>;
  readonly polls: Counter<BmsLabel | "result">;
  readonly pollErrors: Counter<BmsLabel | "kind">;
  readonly requests: Counter<BmsLabel>;
  readonly retries: Counter<BmsLabel>;
  readonly rejectedFrames: Counter<BmsLabel>;
  /** transport esphome: 1 while the proxy's API session is up with advertisements arriving. */
  readonly proxyUp: Gauge<"proxy">;
  readonly proxyStateChanges: Counter<"proxy" | "state">;
  /** Removers of the snapshot-derived series currently exposed, per bms_id (see record.ts). */
  readonly live: Map<string, Array<() => void>>;
}

export interface MetricsOptions {
  /** process_* and nodejs_* metrics on the same registry; default true. */
  defaultMetrics?: boolean;
}

export function createMetrics(opts: MetricsOptions = {}): DalyMetrics {
  const registry = new Registry();
  const registers = [registry];
  const labelNames = BMS_LABELS;
  const gauge = <L extends string>(name: string, help: string, extra: readonly L[] = []): Gauge<BmsLabel | L> =>
    new Gauge<BmsLabel | L>({ name, help, labelNames: [...labelNames, ...extra], registers });
  const counter = <L extends string>(name: string, help: string, extra: readonly L[] = []): Counter<BmsLabel | L> =>
    new Counter<BmsLabel | L>({ name, help, labelNames: [...labelNames, ...extra], registers });
  const m: DalyMetrics = {
    registry,
    scalars: SCALARS.map(([name, help, pick]) => ({ gauge: gauge(name, help), pick })),
    cellVoltage: gauge("daly_bms_cell_voltage_volts", "Cell voltage; cell is 1-based.", ["cell"]),
    temperature: gauge("daly_bms_temperature_celsius", "Temperature sensor; sensor is 1-based.", ["sensor"]),
    online: gauge("daly_bms_online", "1 while the BMS answers polls, 0 once it is offline (offlineAfterFailures) or not yet polled."),
    lastSnapshot: gauge("daly_bms_last_snapshot_timestamp_seconds", "Unix time of the last successful poll."),
    pollDuration: new Histogram<BmsLabel>({
      name: "daly_bms_poll_duration_seconds",
      help: "Duration of successful polls, connect included when the link was closed.",
      labelNames,
      buckets: [...POLL_DURATION_BUCKETS],
      registers,
    }),
    polls: counter("daly_bms_polls_total", "Polls by result (ok|error).", ["result"]),
    pollErrors: counter("daly_bms_poll_errors_total", "Failed polls by error kind.", ["kind"]),
    requests: counter("daly_bms_requests_total", "Requests sent in successful polls."),
    retries: counter("daly_bms_request_retries_total", "Request retries in successful polls."),
    rejectedFrames: counter("daly_bms_rejected_frames_total", "Frames dropped (bad checksum or unexpected) in successful polls."),
    proxyUp: new Gauge<"proxy">({ name: "daly_esphome_proxy_up", help: "ESPHome proxy: 1 while its API session is up and advertisements arrive, else 0.", labelNames: ["proxy"], registers }),
    proxyStateChanges: new Counter<"proxy" | "state">({ name: "daly_esphome_proxy_state_changes_total", help: "ESPHome proxy state changes by new state (connecting|ready|silent|down|stopped).", labelNames: ["proxy", "state"], registers }),
    live: new Map(),
  };
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  return m;
}
