/**
 * An in-memory MqttLink for the MQTT sink's unit tests: one connection to a broker that applies
 * the messages handed to it strictly in order (retained store: "" deletes), but only when the test
 * says so, one message at a time. Acknowledgements (the resolved publish promises) come with the
 * delivery, so a test decides exactly how the sink's awaits interleave.
 */
import { EventEmitter } from "node:events";
import type { MqttLink, PublisherEvents } from "../../src/mqtt/publisher.js";

type Op =
  | { kind: "publish"; topic: string; payload: string; retain: boolean; done: () => void }
  | { kind: "read"; filters: readonly string[]; done: (m: Map<string, string>) => void };

export class MemoryBroker extends EventEmitter<PublisherEvents> implements MqttLink {
  connected = true;
  /** What the broker retains, by topic. */
  readonly retained = new Map<string, string>();
  /** Every message in the order the broker applied it. */
  readonly applied: Array<{ topic: string; payload: string; retain: boolean }> = [];
  private readonly queue: Op[] = [];
  private callWaiters: Array<() => void> = [];

  start(): void {}

  async publish(topic: string, payload: string, opts: { retain: boolean }): Promise<void> {
    await new Promise<void>((done) => this.enqueue({ kind: "publish", topic, payload, retain: opts.retain, done }));
  }

  async subscribe(): Promise<void> {}

  /** Like the real one: ordered with the publishes before it; answers with the matching retained messages. */
  async readRetained(filter: string | readonly string[]): Promise<Map<string, string>> {
    const filters = typeof filter === "string" ? [filter] : filter;
    return await new Promise<Map<string, string>>((done) => this.enqueue({ kind: "read", filters, done }));
  }

  async close(): Promise<void> {}

  get pending(): number {
    return this.queue.length;
  }

  /** Topic of the oldest pending publish (undefined for a read or nothing). */
  peek(): string | undefined {
    const op = this.queue[0];
    return op?.kind === "publish" ? op.topic : undefined;
  }

  /** The publishes handed over and not yet applied, oldest first. */
  queued(): Array<{ topic: string; payload: string }> {
    return this.queue.flatMap((op) => (op.kind === "publish" ? [{ topic: op.topic, payload: op.payload }] : []));
  }

  /** Resolves at the next publish or read the sink hands over. */
  nextCall(): Promise<void> {
    return new Promise((r) => this.callWaiters.push(r));
  }

  /** Applies the oldest pending operation, then lets the sink's continuations run. */
  async step(): Promise<boolean> {
    const op = this.queue.shift();
    if (!op) return false;
    if (op.kind === "publish") {
      this.applied.push({ topic: op.topic, payload: op.payload, retain: op.retain });
      if (op.retain) {
        if (op.payload === "") this.retained.delete(op.topic);
        else this.retained.set(op.topic, op.payload);
      }
      op.done();
    } else {
      const got = new Map<string, string>();
      for (const [t, p] of this.retained) if (op.filters.some((f) => matches(f, t))) got.set(t, p);
      op.done(got);
    }
    await new Promise<void>((r) => setImmediate(r));
    return true;
  }

  /** Applies everything, including what the sink hands over meanwhile. */
  async drain(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    while (await this.step());
  }

  /** Retained non-empty discovery configs of one BMS id, as a sorted list of keys. */
  configKeys(bmsId: string, prefix = "homeassistant"): string[] {
    return [...this.retained.keys()]
      .filter((t) => t.startsWith(`${prefix}/`) && t.endsWith("/config") && t.split("/")[2] === bmsId)
      .map((t) => t.split("/")[3] ?? "")
      .sort();
  }

  private enqueue(op: Op): void {
    this.queue.push(op);
    const w = this.callWaiters;
    this.callWaiters = [];
    for (const r of w) r();
  }
}

function matches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
