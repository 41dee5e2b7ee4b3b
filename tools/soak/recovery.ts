/**
 * Recovery after a broker or Home Assistant restart (pure): from the event on, the availability
 * of the bridge and of every BMS and a state of every BMS that had one must be seen again, and
 * after a broker restart (it loses its retained messages) every discovery config seen before it
 * too, unless the bridge clears it meanwhile. Recovery time = event → the last of them.
 *
 * Then the exact-set rule (compareRetained): what the broker retains for each BMS — read by a
 * fresh subscription, not inferred from the live stream — is exactly the set of discovery configs
 * the bridge announces in its retained registry `<base>/bridge/<bridge_id>/registry` ({bms_id: [keys]}).
 */

export interface RecoveryNeeds {
  /** Non-empty discovery config topics known before the event (none after an HA restart: the broker keeps them). */
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

  /** Feeds one message (an empty config: the bridge cleared it, no longer needed; compareRetained judges that). */
  seen(topic: string, payload: string, at: number): void {
    if (this.done || at < this.result.at) return;
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

/** One read of the broker's retained messages: non-empty discovery configs by topic, and the registry payload. */
export interface RetainedRead {
  configTopics: Iterable<string>;
  registry: string | undefined;
}

/**
 * Differences between the retained configs of each BMS (`<prefix>/<component>/<bms_id>/<key>/config`)
 * and the keys its registry entry announces; empty when they are equal. `ids`: the BMS to judge.
 */
export function compareRetained(read: RetainedRead, ids: readonly string[]): string[] {
  let registry: Record<string, unknown> = {};
  const diffs: string[] = [];
  if (read.registry !== undefined && read.registry !== "") {
    try {
      const v: unknown = JSON.parse(read.registry);
      if (typeof v === "object" && v !== null && !Array.isArray(v)) registry = v as Record<string, unknown>;
      else diffs.push("registry is not a JSON object");
    } catch {
      diffs.push("registry is not JSON");
    }
  }
  const retained = new Map<string, Set<string>>();
  for (const topic of read.configTopics) {
    const [, , id, key] = topic.split("/");
    if (id === undefined || key === undefined) continue;
    let set = retained.get(id);
    if (!set) retained.set(id, (set = new Set()));
    set.add(key);
  }
  for (const id of ids) {
    const raw = registry[id];
    const announced = new Set(Array.isArray(raw) ? raw.filter((k): k is string => typeof k === "string") : []);
    const held = retained.get(id) ?? new Set<string>();
    const missing = [...announced].filter((k) => !held.has(k));
    const extra = [...held].filter((k) => !announced.has(k));
    if (missing.length > 0) diffs.push(`${id}: announced but not retained ${missing.join(", ")}`);
    if (extra.length > 0) diffs.push(`${id}: retained but not announced ${extra.join(", ")}`);
  }
  return diffs;
}
