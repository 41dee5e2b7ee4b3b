/**
 * One supervisor per BMS: polls on its schedule through the shared adapter queue, keeps or releases
 * the link between polls, remembers the probed protocol, backs off after failures, and reports
 * what happened as typed events. Stops promptly on abort (the poll in flight is aborted and the
 * link released).
 */
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { BleLink, BleTransport } from "../transport/link.js";
import type { DeviceProfile } from "../daly/plan.js";
import type { Snapshot } from "../bms/snapshot.js";
import { applyCurrentSign } from "../bms/invert.js";
import type { AdapterQueue } from "./adapter-queue.js";
import { nextDelayMs } from "./backoff.js";
import { pollOnce, type PollStats } from "./poller.js";
import { TransportError } from "../transport/errors.js";
import { PlausibilityGate, type GateRule } from "../bms/gate.js";
import { EnergyCounter } from "../bms/energy.js";
import { round } from "../daly/scales.js";
import { bmsIdFromMac } from "../ha/topics.js";

export interface BmsTarget {
  address: string;
  name?: string;
  protocol: "auto" | "a5" | "d2" | "p81";
  invertCurrent: boolean;
  pollIntervalMs: number;
  /** Serial: board number on a shared RS485 line (legacy A5 addressing). */
  board?: number;
  /** The adapter that reaches it (`hciN` or its address); absent = the transport's default adapter. */
  adapter?: string;
}

export interface SupervisorOptions {
  keepConnected: boolean;
  /** Profile for a configured protocol (serial: legacy A5 from host 0x40); default {protocol}. */
  initialProfile?: (p: "a5" | "d2" | "p81", board?: number) => DeviceProfile | undefined;
  /** Largest believable |current| [A] (plausibility gate). */
  maxCurrentA?: number;
  /** Where to persist the energy counters (one JSON file per BMS); absent = memory only. */
  energyFile?: (bmsId: string) => string;
  requestTimeoutMs: number;
  retries: number;
  offlineAfter: number;
  maxBackoffMs: number;
}

export interface SupervisorEvents {
  snapshot: [snapshot: Snapshot, stats: PollStats & { durationMs: number }];
  failure: [error: Error, consecutive: number];
  /** Fires on a change only: true after a successful poll, false after offlineAfter failures. */
  availability: [online: boolean];
  /** After every poll attempt, whatever its outcome: when the next one starts (epoch ms). */
  scheduled: [nextPollAt: number];
  /** A sample the plausibility gate dropped. */
  rejected: [rule: GateRule, total: number];
  /** The module answers the link but the BMS does not (asleep): entities keep their last values. */
  sleeping: [partial: Snapshot];
  /**
   * Reachable, but another client holds what the poll needs (BlueZ: notify/write acquired by
   * another D-Bus client): status "busy", entities keep their last values, retried at the interval.
   */
  busy: [partial: Snapshot, reason: Error];
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  private profile: DeviceProfile | undefined;
  private link: BleLink | undefined;
  private failures = 0;
  private online: boolean | undefined;
  /** Version strings are read once per connect; later snapshots repeat them (HA text sensors). */
  private sticky: Pick<Snapshot, "firmware_version" | "hardware_version"> = {};
  private stopped: Promise<void> | undefined;
  private readonly gate: PlausibilityGate;
  private readonly energy: EnergyCounter;
  polls = 0;
  /** The adapter is gone (bluetoothd stopped, unplugged, powered off): offline, polls wait for it. */
  private adapterGone = false;
  /** Ends the wait between polls early (adapter back). */
  private wakeUp: (() => void) | undefined;

  constructor(
    readonly target: BmsTarget,
    private readonly transport: BleTransport,
    private readonly queue: AdapterQueue,
    private readonly opts: SupervisorOptions,
  ) {
    super();
    // a board on a shared line is addressed from the first request: "auto" means legacy A5 there
    // (the probe's 0x80 would be answered by every board at once)
    const protocol = target.protocol === "auto" && target.board !== undefined ? "a5" : target.protocol;
    if (protocol !== "auto") this.profile = opts.initialProfile?.(protocol, target.board) ?? { protocol, wantVersion: true };
    this.gate = new PlausibilityGate({ maxCurrentA: opts.maxCurrentA ?? 1000 });
    const id = bmsIdFromMac(target.address);
    // integrate across at most three missed polls; a longer gap is not guessed
    this.energy = new EnergyCounter(3 * target.pollIntervalMs + 5000, opts.energyFile?.(id));
  }

  get isOnline(): boolean {
    return this.online === true;
  }

  start(signal: AbortSignal): Promise<void> {
    this.stopped ??= this.loop(signal);
    return this.stopped;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    // the interval is a period, counted from when a poll was due, not from when it ended: with the
    // link released, a poll takes ~1 s and "sleep after" would stretch every period by that (bench)
    let due = performance.now();
    while (!signal.aborted) {
      await this.queue.run(() => this.pollCycle(signal));
      if (signal.aborted) break;
      const delay = nextDelayMs(this.failures, { intervalMs: this.target.pollIntervalMs, offlineAfter: this.opts.offlineAfter, maxMs: this.opts.maxBackoffMs });
      const now = performance.now();
      due = this.failures === 0 ? Math.max(due + delay, now) : now + delay; // never catch up in a burst
      // while the adapter is gone nothing is polled until it is back (wake()), or at the backoff
      // cap in case that news was missed
      const wait = this.adapterGone ? Math.max(this.opts.maxBackoffMs, due - now) : due - now;
      this.emit("scheduled", Date.now() + wait);
      await this.pause(wait, signal);
      if (this.woken) {
        this.woken = false;
        due = performance.now();
      }
    }
    this.energy.flush();
    await this.release();
  }

  private woken = false;

  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    if (this.woken) return;
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.wakeUp = onAbort;
    try {
      await sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined);
    } finally {
      this.wakeUp = undefined;
      signal.removeEventListener("abort", onAbort);
    }
  }

  /**
   * The adapter went away: the BMS goes offline once (no failures counted, no per-poll errors) and
   * polling waits for `adapterBack()`.
   */
  adapterLost(): void {
    this.adapterGone = true;
    this.setOnline(false);
  }

  /** The adapter is usable again: poll now, on the normal schedule from here. */
  adapterBack(): void {
    this.adapterGone = false;
    this.failures = 0;
    this.woken = true;
    this.wakeUp?.();
  }

  /** One poll; never throws (failures become events). */
  async pollCycle(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    await this.pollCycleInner(signal);
  }

  private async pollCycleInner(signal?: AbortSignal): Promise<void> {
    const t0 = performance.now();
    try {
      if (!this.link?.isOpen) {
        // versions are read once (probe or first poll), not on every connect: with the link
        // released between polls that would cost 1–2 requests per cycle (bench)
        this.link = await this.transport.open({ address: this.target.address, ...(this.target.board !== undefined ? { board: this.target.board } : {}), ...(this.target.adapter ? { adapter: this.target.adapter } : {}) }, signal);
      }
      const r = await pollOnce(this.link, this.profile, { requestTimeoutMs: this.opts.requestTimeoutMs, retries: this.opts.retries, ...(signal ? { signal } : {}) });
      this.profile = r.profile;
      this.polls += 1;
      if (r.snapshot.firmware_version) this.sticky.firmware_version = r.snapshot.firmware_version;
      if (r.snapshot.hardware_version) this.sticky.hardware_version = r.snapshot.hardware_version;
      const snap = applyCurrentSign({ ...this.sticky, ...r.snapshot }, this.target.invertCurrent);
      this.failures = 0;
      if (!this.opts.keepConnected) await this.release();
      const verdict = this.gate.check(snap);
      if (!verdict.accept) {
        this.emit("rejected", verdict.rule, this.gate.rejected);
        if (verdict.rule === "incomplete") this.asleep(snap);
        return;
      }
      const e = this.energy.add(Date.now(), snap.power_W ?? 0);
      const out: Snapshot = { ...snap, status: "ok", rejected_samples: this.gate.rejected, energy_charged_kWh: round(e.charged_kWh, 4), energy_discharged_kWh: round(e.discharged_kWh, 4) };
      this.emit("snapshot", out, { ...r.stats, durationMs: performance.now() - t0 });
      this.setOnline(true);
    } catch (e) {
      const hadLink = this.link !== undefined;
      await this.release();
      if (signal?.aborted) return;
      // connected, but the BMS behind the module is silent: asleep, not gone (distinct from offline)
      if (hadLink && e instanceof TransportError && e.kind === "no-reply" && this.polls > 0) {
        this.asleep(this.profile ? { protocol: this.profile.protocol } : {});
        return;
      }
      // held by another client: not a failure (no backoff, no offline), the next poll is at the interval
      if (e instanceof TransportError && e.kind === "busy") {
        this.failures = 0;
        this.emit("busy", { ...(this.profile ? { protocol: this.profile.protocol } : {}), ...this.sticky, status: "busy", rejected_samples: this.gate.rejected }, e);
        this.setOnline(true);
        return;
      }
      // the adapter is gone: the BMS went offline once already; no per-poll failures until it is back
      if (this.adapterGone) return;
      this.failures += 1;
      this.emit("failure", e instanceof Error ? e : new Error(String(e)), this.failures);
      if (this.failures >= this.opts.offlineAfter) this.setOnline(false);
    }
  }

  private asleep(partial: Snapshot): void {
    // the module answered the link: reachable, so neither a failure nor offline (README "Sleeping is
    // not offline"); a BMS back in range but asleep must come online again (found by the soak)
    this.failures = 0;
    this.emit("sleeping", { ...(partial.protocol ? { protocol: partial.protocol } : {}), ...this.sticky, status: "sleeping", rejected_samples: this.gate.rejected });
    this.setOnline(true);
  }

  private setOnline(v: boolean): void {
    if (this.online === v) return;
    this.online = v;
    this.emit("availability", v);
  }

  private async release(): Promise<void> {
    const l = this.link;
    this.link = undefined;
    if (l) await l.close();
  }
}
