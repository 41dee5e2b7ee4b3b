/**
 * The independent checker's logic, without I/O: fed every MQTT message (topic, payload, arrival
 * time) and the injector's fault log, it checks states against the truth (truth.ts), availability
 * (availability.ts) and recovery after restarts (recovery.ts), and counts everything.
 * It knows the topic layout of the contract (§5), not the bridge's code.
 */
import type { ScenarioBms } from "../../src/sim/scenario.js";
import { sleepingCauses } from "./availability.js";
import { pollBoundMs, staleOnlineMs } from "./bounds.js";
import { type BmsTally, judgeTrack, type JudgeContext, type Problem, type Track } from "./checker-judge.js";
import { compareRetained, RecoveryTracker, type RecoveryResult, type RetainedRead } from "./recovery.js";
import { checkState, pollWindow, type Window, type WrongValue } from "./truth.js";
import type { FaultLog, SoakTiming } from "./types.js";

/** The soak runs its bridge as `--bridge-id soak` (its availability topic is judged). */
export const SOAK_BRIDGE_ID = "soak";

export type { BmsTally, Problem };

/** HA birth: re-publish after 0.3–1.5 s; broker back: after the reconnect (≤ 3 s here) + 0.3–1.5 s. */
const REPUBLISH_WINDOW_MS = 8000;
const OUTAGE_GRACE_MS = 10_000;
/**
 * After the bridge's first "online" following an outage, its client may still be flushing what it
 * queued: on reconnect mqtt.js (5.x) re-sends every unacknowledged message in the order it was
 * published, so an "online" published just before the drop arrives ahead of the states published
 * while the broker was down, and does not mark the end of the queued messages (the seed-4242
 * soak: two states queued during an outage arrived 9 ms apart, after such an "online").
 */
const FLUSH_GRACE_MS = 2000;
const RECOVERY_TIMEOUT_MS = 30_000;
/** The retained configs must equal the announced ones within this long after the event (or after a broker outage inside it). */
const RETAINED_SET_TIMEOUT_MS = 15_000;
/** Between two reads of the retained configs for one event. */
const RETAINED_READ_EVERY_MS = 2000;

/** The exact-set rule after one broker or HA restart (recovery.ts compareRetained). */
export interface RetainedCheck {
  kind: string;
  at: number;
  reads: number;
  lastReadAt?: number;
  /** ms from the event to the first read where retained = announced. */
  matchedMs?: number;
  /** Differences of the last read that did not match. */
  diff?: string[];
  failed?: boolean;
}
const KEEP_DETAILS = 10;

export class CheckerCore {
  readonly messages = { total: 0, state: 0, availability: 0, discovery: 0, other: 0 };
  wrongValues = 0;
  wrongStates = 0;
  checkedValues = 0;
  readonly wrongDetails: Array<WrongValue & { address: string; at: number; payload: string }> = [];
  readonly availabilityErrors: Problem[] = [];
  readonly hangs: Problem[] = [];
  /** Observations that are not errors (first few, and a count per rule). */
  readonly notes: Problem[] = [];
  readonly noteCounts: Record<string, number> = {};
  readonly recoveries: RecoveryTracker[] = [];
  readonly retainedChecks: RetainedCheck[] = [];
  private readonly tracks = new Map<string, Track>();
  private readonly configs = new Set<string>();
  private readonly republishAt: number[] = [];
  private readonly base = "daly_bms";
  private closed = false;
  private readonly bridgeOnlineAt: number[] = [];

  constructor(
    scenario: readonly ScenarioBms[],
    private readonly timing: SoakTiming,
    private readonly faults: FaultLog & { brokerUp(): boolean },
    private readonly startedAt: number,
    private readonly prefix = "homeassistant",
  ) {
    for (const b of scenario) {
      const tally: BmsTally = { address: b.address, fresh: 0, sleeping: 0, republished: 0, wrong: 0, offline: 0, maxAgeS: 0, gateRejected: 0 };
      this.tracks.set(bmsId(b.address), { bms: b, tally, sleepingAt: [], freshAt: [], avail: [], pendingOnline: [], judged: new Set() });
    }
  }

  lastFreshOf(address: string): number | undefined {
    return this.tracks.get(bmsId(address))?.lastFresh;
  }

  get tallies(): BmsTally[] {
    return [...this.tracks.values()].map((t) => t.tally);
  }

  /** HA birth or broker back: for a while, a repeat of an earlier payload is a re-publish. */
  markRepublish(at: number): void {
    this.republishAt.push(at);
  }

  /** `brokerLost`: the broker lost its retained messages (a restart of the soak's broker, no persistence). */
  startRecovery(kind: string, at: number, brokerLost = false): void {
    const ids = [...this.tracks.keys()];
    this.retainedChecks.push({ kind, at, reads: 0 });
    this.recoveries.push(
      new RecoveryTracker(kind, at, {
        // after an HA restart the broker still holds them: the bridge need not (and should not) re-send them
        configs: brokerLost ? [...this.configs] : [],
        availability: [`${this.base}/bridge/${SOAK_BRIDGE_ID}/availability`, ...ids.map((id) => `${this.base}/${id}/availability`)],
        states: [...this.tracks.entries()].filter(([, t]) => t.tally.fresh > 0).map(([id]) => `${this.base}/${id}/state`),
      }),
    );
  }

  /** `retained`: delivered as a retained copy on (re)subscribe, not live. */
  onMessage(topic: string, payload: string, at: number, retained = false): void {
    if (this.closed) return; // the bridge's own shutdown (offline for all) is not judged
    this.messages.total += 1;
    for (const r of this.recoveries) r.seen(topic, payload, at);
    if (topic.startsWith(`${this.prefix}/`) && topic.endsWith("/config")) {
      this.messages.discovery += 1;
      if (payload === "") this.configs.delete(topic);
      else this.configs.add(topic);
      return;
    }
    const [root, id, leaf, ...rest] = topic.split("/");
    const track = id === undefined ? undefined : this.tracks.get(id);
    if (root !== this.base || !track || rest.length > 0) {
      const bridge = topic === `${this.base}/bridge/${SOAK_BRIDGE_ID}/availability`;
      // the bridge's client announces itself right after a reconnect, behind whatever it had queued
      if (bridge && payload === "online" && !retained) this.bridgeOnlineAt.push(at);
      this.messages[bridge ? "availability" : "other"] += 1;
      return;
    }
    if (leaf === "state") this.onState(track, payload, at, retained);
    else if (leaf === "availability") this.onAvailability(track, payload, at);
    else this.messages.other += 1;
  }

  private inRepublishWindow(at: number): boolean {
    return this.republishAt.some((t) => at >= t && at <= t + REPUBLISH_WINDOW_MS);
  }

  /** When a message arriving at `at` may have been published: since an outage it could have been queued across. */
  private queuedSince(at: number, retained: boolean): number | undefined {
    const outages = this.faults.outages().filter((o) => o.from <= at);
    const o = outages[outages.length - 1];
    if (retained) return o?.from ?? this.startedAt;
    if (!o) return undefined;
    const back = this.bridgeOnlineAt.find((b) => b >= o.to);
    return at <= (back !== undefined ? back + FLUSH_GRACE_MS : o.to + OUTAGE_GRACE_MS) ? o.from : undefined;
  }

  private onState(t: Track, payload: string, at: number, retained: boolean): void {
    this.messages.state += 1;
    if (payload === "") return; // a cleared retained state
    // a re-publish repeats the bridge's last state message exactly (a "sleeping" one too), nothing older
    const repeat = t.lastPayload === payload;
    t.lastPayload = payload;
    if (repeat && this.inRepublishWindow(at)) {
      t.tally.republished += 1;
      return;
    }
    let state: unknown;
    try {
      state = JSON.parse(payload);
    } catch {
      state = undefined;
    }
    // out of range, the link drops at once: a successful poll ran entirely after the window
    const away = this.faults.windows(t.bms.address).filter((w) => w.kind === "outOfRange" && w.to !== undefined && w.to <= at);
    const notBeforeMs = away.length > 0 ? Math.max(...away.map((w) => w.to ?? 0)) : undefined;
    const queuedSince = this.queuedSince(at, retained);
    // a queued previous state was published before it arrived: this poll may have started before that arrival
    const prevFreshMs = t.lastFreshQueued ? undefined : t.lastFresh;
    const window = pollWindow({ arrivalMs: at, prevFreshMs, pollBoundMs: pollBoundMs(this.timing), queuedSince, notBeforeMs });
    if (!isRecord(state)) {
      this.countWrong(t, [{ key: "(payload)", got: payload.slice(0, 80), expected: ["a JSON object"], window }], payload, at);
      return;
    }
    if (state.status === "sleeping") return this.onSleeping(t, state, payload, at, window);
    if (typeof state.rejected_samples === "number") t.tally.gateRejected = Math.max(t.tally.gateRejected, state.rejected_samples);
    const v = checkState(t.bms, state, window);
    if (state.status !== undefined && state.status !== "ok") v.wrong.push({ key: "status", got: state.status, expected: ['"ok" with values'], window });
    t.tally.fresh += 1;
    t.tally.maxAgeS = Math.max(t.tally.maxAgeS, v.maxAgeS);
    this.checkedValues += v.checked;
    this.countWrong(t, v.wrong, payload, at);
    t.lastFresh = at;
    t.lastFreshQueued = queuedSince !== undefined;
    t.lastAlive = at;
    t.freshAt.push(at);
    if (t.freshAt.length > 50) t.freshAt.shift();
  }

  private countWrong(t: Track, wrong: readonly WrongValue[], payload: string, at: number): void {
    if (wrong.length > 0) this.wrongStates += 1;
    this.wrongValues += wrong.length;
    t.tally.wrong += wrong.length;
    for (const w of wrong) if (this.wrongDetails.length < KEEP_DETAILS) this.wrongDetails.push({ ...w, address: t.bms.address, at, payload: payload.slice(0, 600) });
  }

  /** Status "sleeping": no values (entities keep theirs); it needs a silencing fault behind it. */
  private onSleeping(t: Track, state: Record<string, unknown>, payload: string, at: number, window: Window): void {
    t.tally.sleeping += 1;
    t.sleepingAt.push(at);
    if (t.sleepingAt.length > 200) t.sleepingAt.shift();
    t.lastAlive = at;
    this.checkedValues += 1;
    if (state.protocol !== undefined && state.protocol !== t.bms.protocol) this.countWrong(t, [{ key: "protocol", got: state.protocol, expected: [t.bms.protocol], window }], payload, at);
    // README: "Sleeping is not offline … the BMS stays available". One sleeping poll of grace.
    const last = t.avail[t.avail.length - 1];
    if (last && !last.online && t.asleepOfflineReported !== last.at && t.sleepingAt.some((s) => s > last.at && s < at)) {
      t.asleepOfflineReported = last.at;
      this.availabilityErrors.push({ at, address: t.bms.address, rule: "asleep-but-offline", detail: 'status "sleeping" (reachable, asleep) for two polls while availability stays offline' });
    }
    const cause = sleepingCauses(at, pollBoundMs(this.timing), this.faults.windows(t.bms.address))[0];
    if (!cause) this.availabilityErrors.push({ at, address: t.bms.address, rule: "sleeping-cause", detail: 'status "sleeping" published while no fault silenced this BMS (it answered)' });
    // the BMS did answer, with frames the link corrupted: README's "sleeping" is a BMS that does not answer
    else if (cause.kind === "garbage") this.note({ at, address: t.bms.address, rule: "garbled-as-sleeping", detail: 'every reply failed its checksum and the bridge reported status "sleeping"' });
  }

  private note(p: Problem): void {
    this.noteCounts[p.rule] = (this.noteCounts[p.rule] ?? 0) + 1;
    if (this.notes.length < 20) this.notes.push(p);
  }

  private onAvailability(t: Track, payload: string, at: number): void {
    this.messages.availability += 1;
    if (payload !== "online" && payload !== "offline") return;
    const online = payload === "online";
    const prev = t.avail[t.avail.length - 1];
    t.avail.push({ at, online });
    if (online && prev?.online !== true && !this.inRepublishWindow(at)) t.pendingOnline.push(at);
    if (!online && prev?.online === true) {
      t.tally.offline += 1;
      const recent = this.faults.windows(t.bms.address).some((f) => (f.to ?? at) >= at - staleOnlineMs(this.timing) && f.from <= at);
      if (!recent) this.note({ at, address: t.bms.address, rule: "offline-without-own-fault", detail: "went offline with no fault injected on it recently (adapter shared with a faulty BMS?)" });
    }
  }

  /** Periodic rules; `final` at the end of the run. */
  tick(now: number, final = false): void {
    for (const r of this.recoveries) {
      const was = r.result.timedOut === true;
      r.check(now, RECOVERY_TIMEOUT_MS, final);
      if (r.result.timedOut && !was) {
        this.availabilityErrors.push({ at: r.result.at, address: "*", rule: "recovery", detail: `${r.result.kind}: not recovered within ${RECOVERY_TIMEOUT_MS / 1000} s; missing ${(r.result.missing ?? []).join(", ")}` });
      }
    }
    const ctx: JudgeContext = { timing: this.timing, faults: this.faults, startedAt: this.startedAt, errors: this.availabilityErrors, hangs: this.hangs };
    for (const t of this.tracks.values()) judgeTrack(t, now, final, ctx);
    if (final) this.closed = true;
  }

  /** The next event whose retained configs are due for a read (its recovery is done, the last read is a while ago). */
  retainedCheckDue(now: number): RetainedCheck | undefined {
    return this.retainedChecks.find((c, i) => {
      if (c.matchedMs !== undefined || c.failed) return false;
      if (c.lastReadAt !== undefined && now - c.lastReadAt < RETAINED_READ_EVERY_MS) return false;
      return this.recoveries[i]?.done === true || now - c.at > RETAINED_READ_EVERY_MS;
    });
  }

  /** One read of the broker's retained configs and registry for `check`, completed at `now`. */
  retainedRead(check: RetainedCheck, read: RetainedRead, now: number): void {
    check.reads += 1;
    check.lastReadAt = now;
    const diff = compareRetained(read, [...this.tracks.keys()]);
    if (diff.length === 0) {
      check.matchedMs = now - check.at;
      check.diff = undefined;
      return;
    }
    check.diff = diff;
    const outageEnd = Math.max(0, ...this.faults.outages().filter((o) => o.to >= check.at).map((o) => o.to));
    if (now > Math.max(check.at, outageEnd) + RETAINED_SET_TIMEOUT_MS) {
      check.failed = true;
      this.availabilityErrors.push({ at: check.at, address: "*", rule: "retained-configs", detail: `${check.kind}: the broker's discovery configs differ from the announced ones ${RETAINED_SET_TIMEOUT_MS / 1000} s later: ${diff.slice(0, 4).join("; ")}` });
    }
  }

  recoverySummary(): RecoveryResult[] {
    return this.recoveries.map((r) => r.result);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function bmsId(address: string): string {
  return `daly_bms_${address.replaceAll(":", "").toLowerCase()}`;
}
