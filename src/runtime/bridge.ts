/**
 * The running bridge: one supervisor per BMS sharing one adapter queue, their events routed to the
 * sink (MQTT/HA or stdout), logs once per state change, and a bounded graceful stop.
 */
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
}

export class Bridge {
  readonly supervisors: Supervisor[];
  private readonly abort = new AbortController();
  private running: Promise<void>[] = [];
  private readonly queue = new AdapterQueue();
  /** Last logged condition per BMS: one log line per change, not per retry. */
  private readonly lastLogged = new Map<string, string>();

  constructor(private readonly o: BridgeOptions) {
    this.supervisors = o.targets.map((t) => new Supervisor(t, o.transport, this.queue, o.supervisor));
  }

  /** True while the transport reports its adapter gone. */
  private adapterDown = false;
  private offAdapter: (() => void) | undefined;

  async start(): Promise<void> {
    await this.o.sink.start();
    // bluetoothd restarts, adapter unplugged or powered off (BlueZ): one log line, every BMS
    // offline once, polling resumes by itself when the adapter is back
    this.offAdapter = this.o.transport.onAdapter?.((st) => {
      if (st.up) {
        if (!this.adapterDown) return;
        this.adapterDown = false;
        this.o.log.info({ adapter: st.why }, "Bluetooth adapter back: polling resumes");
        for (const s of this.supervisors) s.adapterBack();
      } else {
        if (this.adapterDown) return;
        this.adapterDown = true;
        this.o.log.warn({ why: st.why }, "Bluetooth adapter gone: every BMS offline until it is back");
        for (const s of this.supervisors) s.adapterLost();
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
