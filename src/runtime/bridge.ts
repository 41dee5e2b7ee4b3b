/**
 * The running bridge: one supervisor per BMS, one queue per adapter (a BMS's `adapter`, else the
 * default one), their events routed to the
 * sink (MQTT/HA or stdout), logs once per state change, and a bounded graceful stop.
 */
import { setMaxListeners } from "node:events";
import type { Logger } from "pino";
import type { BleTransport } from "../transport/link.js";
import { AdapterQueue } from "./adapter-queue.js";
import type { Sink } from "./sink.js";
import { type BmsTarget, Supervisor, type SupervisorOptions } from "./supervisor.js";

export interface BridgeOptions {
  targets: readonly BmsTarget[];
  transport: BleTransport;
  sink: Sink;
  log: Logger;
  supervisor: SupervisorOptions;
  /** The adapter of BMS that name none (`hci<ble.hciDeviceId>`); default "hci0". */
  defaultAdapter?: string;
}

export class Bridge {
  readonly supervisors: Supervisor[];
  private readonly abort = new AbortController();
  private running: Promise<void>[] = [];
  /** One queue per adapter: polls on one adapter are serialised, different adapters run in parallel. */
  readonly queues = new Map<string, AdapterQueue>();
  /** Last logged condition per BMS: one log line per change, not per retry. */
  private readonly lastLogged = new Map<string, string>();

  constructor(private readonly o: BridgeOptions) {
    // every supervisor (and its poll steps) listens on the one signal: more than 10 BMS is normal
    setMaxListeners(0, this.abort.signal);
    this.supervisors = o.targets.map((t) => new Supervisor(t, o.transport, this.queueFor(t.adapter ?? o.defaultAdapter ?? "hci0"), o.supervisor));
  }

  private queueFor(adapter: string): AdapterQueue {
    let q = this.queues.get(adapter);
    if (!q) this.queues.set(adapter, (q = new AdapterQueue()));
    return q;
  }

  /** True while the transport reports its adapter gone. */
  /** Adapters reported gone ("*" = the transport's only adapter). */
  private readonly adaptersDown = new Set<string>();
  private offAdapter: (() => void) | undefined;

  async start(): Promise<void> {
    await this.o.sink.start();
    // bluetoothd restarts, adapter unplugged or powered off (BlueZ): one log line, every BMS
    // offline once, polling resumes by itself when the adapter is back
    this.offAdapter = this.o.transport.onAdapter?.((st) => {
      // a transport serving several adapters says which one; the others go on polling
      const key = st.adapter ?? "*";
      const affected = this.supervisors.filter((s) => st.adapter === undefined || (s.target.adapter ?? this.o.defaultAdapter ?? "hci0") === st.adapter);
      if (st.up) {
        if (!this.adaptersDown.delete(key)) return;
        this.o.log.info({ adapter: st.adapter, why: st.why }, "Bluetooth adapter back: polling resumes");
        for (const s of affected) s.adapterBack();
      } else {
        if (this.adaptersDown.has(key)) return;
        this.adaptersDown.add(key);
        this.o.log.warn({ adapter: st.adapter, why: st.why }, `Bluetooth adapter gone: ${st.adapter === undefined ? "every BMS" : `the BMS on ${st.adapter}`} offline until it is back`);
        for (const s of affected) s.adapterLost();
      }
    });
    for (const s of this.supervisors) {
      const log = this.o.log.child({ bms: s.target.address, ...(s.target.name ? { name: s.target.name } : {}) });
      s.on("snapshot", (snap, stats) => {
        this.logOnce(s, "ok", () => log.info({ protocol: snap.protocol, cells: snap.cell_count, durationMs: Math.round(stats.durationMs) }, "polling"));
        log.debug({ ...stats, durationMs: Math.round(stats.durationMs) }, "poll done");
        this.o.sink.snapshot(s.target, snap).catch((e: unknown) => log.warn({ err: String(e) }, "publishing the state failed"));
      });
      s.on("failure", (err, n) => {
        this.logOnce(s, `fail:${err.message.replace(/\d+ ms/, "")}`, () => log.warn({ err: err.message, consecutive: n }, "poll failed; retrying with backoff"));
        log.debug({ err: err.message, consecutive: n }, "poll failed");
      });
      s.on("rejected", (rule, total) => {
        this.logOnce(s, `rejected:${rule}`, () => log.warn({ rule, total }, "implausible sample dropped"));
      });
      s.on("sleeping", (partial) => {
        this.logOnce(s, "sleeping", () => log.info("BMS asleep: the module answers, the BMS does not; keeping the last values"));
        this.o.sink.partial(s.target, partial).catch((e: unknown) => log.warn({ err: String(e) }, "publishing the state failed"));
      });
      s.on("busy", (partial, why) => {
        this.logOnce(s, "busy", () => log.warn({ err: why.message }, "BMS in use by another client: keeping the last values, retrying at the poll interval"));
        this.o.sink.partial(s.target, partial).catch((e: unknown) => log.warn({ err: String(e) }, "publishing the state failed"));
      });
      s.on("availability", (online) => {
        log.info({ online }, online ? "BMS online" : "BMS offline");
        this.o.sink.availability(s.target, online).catch((e: unknown) => log.warn({ err: String(e) }, "publishing availability failed"));
      });
      this.running.push(s.start(this.abort.signal));
    }
  }

  private logOnce(s: Supervisor, condition: string, emit: () => void): void {
    if (this.lastLogged.get(s.target.address) === condition) return;
    this.lastLogged.set(s.target.address, condition);
    emit();
  }

  /** Aborts polls, releases BLE, publishes offline, disconnects; bounded by timeoutMs overall. */
  async stop(timeoutMs = 4000): Promise<void> {
    this.abort.abort();
    this.offAdapter?.();
    const work = (async () => {
      await Promise.allSettled(this.running);
      await this.o.transport.shutdown().catch(() => undefined);
      await this.o.sink.stop();
    })();
    await Promise.race([work, new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
  }
}
