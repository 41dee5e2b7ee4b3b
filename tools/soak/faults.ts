/**
 * The fault injector: before each poll window, clears expired faults and, with probability
 * `rate` per BMS, starts one (the simulated controller reads `spec.faults` live). Out-of-range
 * windows are long enough to take the BMS offline, sleeping ones long enough to be reported. A BMS
 * gets no new fault until it published a fresh state after its last one, so backoff stays bounded
 * and a silent BMS is the bridge's doing, not a pile-up of faults. It also keeps the fault log.
 */
import type { SimFaults, SimPeripheralSpec } from "../../src/sim/hci/types.js";
import { requiredWindowMs } from "./bounds.js";
import type { Rng } from "./rng.js";
import { FAULT_KINDS, type FaultEffect, type FaultKind, type FaultLog, type FaultWindow, type Outage, type SoakTiming } from "./types.js";

interface KindSpec {
  weight: number;
  effect: FaultEffect;
  /** Window length; `long` = bounds.requiredWindowMs for this kind (the length its rule needs). */
  durationMs(rng: Rng, long: number): number;
  faults(rng: Rng): SimFaults;
}

const SHORT = (lo: number, hi: number) => (rng: Rng): number => rng.int(lo, hi);
const LONG = (rng: Rng, long: number): number => long + rng.int(1000, 5000);

export const KINDS: Record<FaultKind, KindSpec> = {
  drop: { weight: 2, effect: "flaky", durationMs: SHORT(1000, 4000), faults: (r) => ({ dropNotifications: r.pick([0.2, 0.5, 1, 2]) }) },
  // garbled replies: the bridge sees no valid frame, as from a silent BMS (noted as garbled-as-sleeping)
  garbage: { weight: 2, effect: "silent", durationMs: SHORT(1000, 3000), faults: () => ({ garbleNotifications: true }) },
  split: { weight: 2, effect: "benign", durationMs: SHORT(2000, 6000), faults: (r) => ({ splitNotifications: r.int(1, 12) }) },
  merge: { weight: 2, effect: "benign", durationMs: SHORT(2000, 6000), faults: () => ({ mergeNotifications: true }) },
  linkLoss: { weight: 2, effect: "flaky", durationMs: SHORT(1000, 4000), faults: (r) => ({ linkLossAfterWrites: r.int(1, 4) }) },
  connectHang: { weight: 1, effect: "fails", durationMs: SHORT(1000, 4000), faults: () => ({ connectHang: true }) },
  attError: { weight: 1, effect: "silent", durationMs: SHORT(1000, 3000), faults: (r) => ({ attErrorOnWrite: r.pick([0x03, 0x0e, 0x80]) }) },
  mtuInvalid: { weight: 0.5, effect: "fails", durationMs: SHORT(1000, 3000), faults: () => ({ mtuInvalidPdu: true }) },
  outOfRange: { weight: 1, effect: "fails", durationMs: LONG, faults: () => ({ outOfRange: true }) },
  sleeping: { weight: 1, effect: "silent", durationMs: LONG, faults: () => ({ sleeping: true }) },
};

/** Share of out-of-range windows directly followed by a sleeping window. */
const CHAIN_SLEEP_AFTER_AWAY = 0.5;

export class FaultInjector implements FaultLog {
  readonly counts: Record<FaultKind, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  brokerRestarts = 0;
  haRestarts = 0;
  private readonly log = new Map<string, FaultWindow[]>();
  private readonly active = new Map<string, { window: FaultWindow; until: number }>();
  private readonly downs: Outage[] = [];

  private specs: readonly SimPeripheralSpec[] = [];

  constructor(
    private readonly rng: Rng,
    private readonly rate: number,
    private readonly timing: SoakTiming,
    /** Last fresh state per address, from the checker (the cool-down rule). */
    private readonly lastFresh: (address: string) => number | undefined,
  ) {}

  /** The simulated radio's live specs (known once the bridge runs). */
  attach(specs: readonly SimPeripheralSpec[]): void {
    this.specs = specs;
    for (const s of specs) this.log.set(s.address, []);
  }

  windows(address: string): readonly FaultWindow[] {
    return this.log.get(address) ?? [];
  }

  outages(): readonly Outage[] {
    return this.downs;
  }

  brokerUp(): boolean {
    return this.downs.every((o) => o.to !== Number.POSITIVE_INFINITY);
  }

  brokerDown(at: number): void {
    this.downs.push({ from: at, to: Number.POSITIVE_INFINITY });
  }

  brokerBack(at: number): void {
    const o = this.downs.find((d) => d.to === Number.POSITIVE_INFINITY);
    if (o) o.to = at;
    this.brokerRestarts += 1;
  }

  activeKind(address: string): FaultKind | undefined {
    return this.active.get(address)?.window.kind;
  }

  /** One step: end expired faults, maybe start new ones (none when `inject` is false). */
  tick(now: number, inject = true): void {
    for (const spec of this.specs) {
      const a = this.active.get(spec.address);
      if (a && (now >= a.until || !inject)) {
        this.end(spec, now);
        // a pack that comes back into range asleep (it idled while away): no cool-down between
        if (inject && a.window.kind === "outOfRange" && this.rng() < CHAIN_SLEEP_AFTER_AWAY) this.start(spec, "sleeping", now);
      }
      if (!inject || this.active.has(spec.address)) continue;
      const last = this.windows(spec.address).at(-1);
      if (last?.to !== undefined && (this.lastFresh(spec.address) ?? 0) < last.to) continue; // cool-down
      if (this.rng() >= this.rate) continue;
      this.start(spec, this.pickKind(), now);
    }
  }

  private pickKind(): FaultKind {
    const total = FAULT_KINDS.reduce((s, k) => s + KINDS[k].weight, 0);
    let x = this.rng() * total;
    for (const k of FAULT_KINDS) {
      x -= KINDS[k].weight;
      if (x < 0) return k;
    }
    return "drop";
  }

  private start(spec: SimPeripheralSpec, kind: FaultKind, now: number): void {
    const k = KINDS[kind];
    const window: FaultWindow = { address: spec.address, kind, from: now, effect: k.effect };
    spec.faults = k.faults(this.rng); // read live by the virtual controller
    this.log.get(spec.address)?.push(window);
    this.active.set(spec.address, { window, until: now + k.durationMs(this.rng, requiredWindowMs(this.timing, kind)) });
    this.counts[kind] += 1;
  }

  private end(spec: SimPeripheralSpec, now: number): void {
    const a = this.active.get(spec.address);
    if (!a) return;
    spec.faults = {};
    a.window.to = now;
    this.active.delete(spec.address);
  }
}
