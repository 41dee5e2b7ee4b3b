/** Where snapshots and availability go: MQTT/Home Assistant, or stdout (daly_bms_bt's behaviour). */
import type { Snapshot } from "../bms/snapshot.js";
import type { BmsTarget } from "./supervisor.js";

export interface Sink {
  start(): Promise<void>;
  snapshot(target: BmsTarget, snapshot: Snapshot): Promise<void>;
  /** A state message that is not a full sample (the BMS is asleep): no discovery change. */
  partial(target: BmsTarget, partial: Snapshot): Promise<void>;
  availability(target: BmsTarget, online: boolean): Promise<void>;
  stop(): Promise<void>;
  /** For the health file: "connected"/"disconnected" with MQTT, "not configured" in stdout mode. */
  mqttState(): "connected" | "disconnected" | "not configured";
}

/** No MQTT configured: one snapshot JSON line per poll per BMS on stdout; logs go to stderr. */
export class StdoutSink implements Sink {
  /** Resolves when the reader went away (`… | head`: EPIPE): the bridge then stops cleanly instead of crashing. */
  readonly closed: Promise<void>;
  private isClosed = false;

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {
    this.closed = new Promise((resolve) => {
      out.on("error", (e: NodeJS.ErrnoException) => {
        // EPIPE and friends: nobody reads any more; every further line would fail the same way
        if (!this.isClosed) process.stderr.write(`stdout closed (${e.code ?? e.message}): stopping\n`);
        this.isClosed = true;
        resolve();
      });
    });
  }
  async start(): Promise<void> {}
  async snapshot(target: BmsTarget, s: Snapshot): Promise<void> {
    if (this.isClosed) return;
    this.out.write(JSON.stringify({ address: target.address, ...(target.name ? { name: target.name } : {}), ...s }) + "\n");
  }
  async partial(target: BmsTarget, p: Snapshot): Promise<void> {
    await this.snapshot(target, p);
  }
  async availability(): Promise<void> {}
  async stop(): Promise<void> {}
  mqttState(): "not configured" {
    return "not configured";
  }
}
