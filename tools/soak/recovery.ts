/**
 * Recovery after a broker or Home Assistant restart (pure): from the event on, every discovery
 * config seen before it, the availability of the bridge and of every BMS, and a state of every
 * BMS that had one, must be seen again. Recovery time = event → the last of them.
 */

export interface RecoveryNeeds {
  /** Non-empty discovery config topics known before the event. */
  configs: Iterable<string>;
  /** Availability topics (bridge + every BMS). */
  availability: Iterable<string>;
  /** State topics of the BMS that had published a state. */
  states: Iterable<string>;
}

export interface RecoveryResult {
  kind: string;
  at: number;
  /** ms from the event to full recovery; undefined while pending or when it timed out. */
  recoveredMs?: number;
  /** Topics still missing at the timeout / at the end of the run (first few). */
  missing?: string[];
  timedOut?: boolean;
}

export class RecoveryTracker {
  private readonly pending = new Set<string>();
  readonly result: RecoveryResult;

  constructor(kind: string, at: number, needs: RecoveryNeeds) {
    this.result = { kind, at };
    for (const t of needs.configs) this.pending.add(t);
    for (const t of needs.availability) this.pending.add(t);
    for (const t of needs.states) this.pending.add(t);
  }

  get done(): boolean {
    return this.result.recoveredMs !== undefined || this.result.timedOut === true;
  }

  /** Feeds one message (configs count only when non-empty). */
  seen(topic: string, payload: string, at: number): void {
    if (this.done || at < this.result.at) return;
    if (topic.endsWith("/config") && payload === "") return;
    if (!this.pending.delete(topic)) return;
    if (this.pending.size === 0) this.result.recoveredMs = at - this.result.at;
  }

  /** Gives up after timeoutMs; `final` reports a pending one as missing without calling it timed out. */
  check(now: number, timeoutMs: number, final = false): void {
    if (this.done) return;
    if (this.pending.size === 0) {
      this.result.recoveredMs = 0;
      return;
    }
    if (now - this.result.at > timeoutMs) this.result.timedOut = true;
    if (this.result.timedOut || final) this.result.missing = [...this.pending].slice(0, 5);
  }
}
