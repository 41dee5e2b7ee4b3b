/**
 * One poll over an open link: (probe the protocol the first time) → read requests one at a time,
 * each bounded by a timeout with retries → snapshot. Replies are matched to the step by command /
 * block size; late extra frames of an earlier step are ignored; bad frames are counted and dropped.
 * Every listener this poll adds is removed when it ends, whatever happens.
 *
 * Stale replies. A module that answers after our timeout still sends its reply, to whatever central
 * holds the link by then: the next request of this poll, the next poll on a kept link, or a new
 * link after a reconnect (the simulator does the same, sim/hci/peripheral.ts `notify`). Daly
 * frames carry no sequence number, so the poller guarantees only this:
 * - bytes that arrive while no request is outstanding (before the first request of a poll, between
 *   steps, between a timeout and its retry) are discarded, including a partial frame: every request
 *   starts a fresh assembler, so a stale fragment can never be completed by, or checksum-collide
 *   with, the bytes of the new reply (A5's 8-bit sum would accept 1 in 256 such splices);
 * - a stale frame that arrives after a request was written is taken only if it answers that same
 *   request (same A5 command, same Modbus protocol and block size), so its values are never read as
 *   other fields.
 * Residual risk, accepted: a late reply to an identical earlier request (the previous attempt of a
 * retried step, or the same step of a previous poll/link) that arrives after the new request was
 * written is indistinguishable from the fresh reply and is used. Its values are the BMS's genuine
 * answer to the same read, older than a fresh one by at most the module's reply delay; for A5
 * multi-frame replies (cells, temperatures) such a late frame can be combined by frame number with
 * the fresh answer's. The frames of the poller's own timed-out attempt are dropped at the retry.
 */
import { FrameAssembler } from "../daly/assembler.js";
import { Collector } from "../daly/collect.js";
import type { RawFrame } from "../daly/frame.js";
import { answers, classifyProbe, type DeviceProfile, frameKey, MOS_BLOCK_MISSES, pollPlan, probePlan, type Step, usableAnswer } from "../daly/plan.js";
import { snapshotFromDaly } from "../bms/from-daly.js";
import type { Snapshot } from "../bms/snapshot.js";
import type { BleLink } from "../transport/link.js";
import { linkLost, TransportError } from "../transport/errors.js";

export interface PollOptions {
  requestTimeoutMs: number;
  /** Extra attempts per request after a timeout. */
  retries: number;
  signal?: AbortSignal;
}

export interface PollStats {
  requests: number;
  retries: number;
  rejectedFrames: number;
}

export interface PollResult {
  snapshot: Snapshot;
  profile: DeviceProfile;
  stats: PollStats;
}

/** A real module answers within 60–500 ms (daly-protocol.md §4.4); a wrong protocol gets silence. */
const PROBE_TIMEOUT_MS = 1500;

type Wake = "frame-done" | "timeout" | "closed" | "aborted";

/** Routes a link's frames to the current waiter; one per poll, detached when the poll ends. */
class Receiver {
  /** Assembler of the outstanding request; undefined while none is (bytes are then discarded). */
  private asm: FrameAssembler | undefined;
  private onFrame: ((f: RawFrame) => void) | undefined;
  private wake: ((w: Wake) => void) | undefined;
  readonly stats: PollStats = { requests: 0, retries: 0, rejectedFrames: 0 };
  private readonly offData: () => void;
  private readonly offClose: () => void;
  private closed = false;
  /** Why the link closed, when it said (e.g. a GATT error from a proxy): kept in the poll's error. */
  closeReason: Error | undefined;

  constructor(
    private readonly link: BleLink,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.offData = link.onData((chunk) => {
      // no request outstanding: a late reply to an earlier one (or a fragment of it), see above
      if (this.asm) this.feed(this.asm.push(chunk));
    });
    this.offClose = link.onClose((reason) => {
      this.closed = true;
      this.closeReason = reason;
      this.wake?.("closed");
    });
    signal?.addEventListener("abort", this.onAbort);
  }
  private readonly onAbort = (): void => this.wake?.("aborted");

  private feed(items: ReturnType<FrameAssembler["push"]>): void {
    for (const it of items) {
      if (!it.ok) this.stats.rejectedFrames += 1;
      else this.onFrame?.(it.frame);
    }
  }

  /** Writes a request and waits until `accept` says done, the timeout, link loss or abort. */
  async exchange(bytes: Uint8Array, timeoutMs: number, accept: (f: RawFrame) => boolean, p81Board?: number): Promise<Wake> {
    if (this.closed || !this.link.isOpen) return "closed";
    if (this.signal?.aborted) return "aborted";
    this.stats.requests += 1;
    let timer: NodeJS.Timeout | undefined;
    // a fresh assembler from the moment this request is written: nothing buffered before it (a
    // stale fragment) is joined to its reply. Frames that arrive while the write is in flight are
    // accepted: a reply can share a radio event with the write's acknowledgement.
    // a 0x81 board n of an RS485 line answers from 0x50 + n (serial-bus.ts)
    const asm = new FrameAssembler(p81Board !== undefined ? { p81Boards: [p81Board] } : {});
    this.asm = asm;
    const result = new Promise<Wake>((resolve) => {
      this.wake = resolve;
      this.onFrame = (f) => {
        if (accept(f)) resolve("frame-done");
      };
      timer = setTimeout(() => {
        // a false frame header can hold real frames behind it: resolve the buffer before giving up
        this.feed(asm.end());
        resolve("timeout");
      }, timeoutMs);
    });
    try {
      await this.link.write(bytes);
      return await result;
    } finally {
      clearTimeout(timer);
      this.onFrame = undefined;
      this.wake = undefined;
      this.asm = undefined;
    }
  }

  detach(): void {
    this.offData();
    this.offClose();
    this.signal?.removeEventListener("abort", this.onAbort);
  }
}

export async function pollOnce(link: BleLink, known: DeviceProfile | undefined, opts: PollOptions): Promise<PollResult> {
  const rx = new Receiver(link, opts.signal);
  try {
    const profile = known ?? (await probe(rx, opts));
    const col = new Collector();
    const next: DeviceProfile = { ...profile, wantVersion: false };
    for (const step of pollPlan(profile)) {
      const ok = await runStep(rx, step, col, opts, profile.p81Board);
      if (step.label === "mos") {
        // answered without a MOS temperature: unsupported; no answer: maybe a lost reply, count it
        // unless the block has answered before
        const hasTemp = ok && col.fields.scalars.mos_temp_C !== undefined;
        if (hasTemp) next.mosSeen = true;
        const misses = ok || next.mosSeen ? 0 : (profile.mosMisses ?? 0) + 1;
        next.mosMisses = misses;
        if ((ok && !hasTemp) || misses >= MOS_BLOCK_MISSES) next.mosBlock = false;
      }
      if (!ok && !step.optional) {
        // frames came but none passed its checksum: the link corrupts, the BMS is not asleep
        if (rx.stats.rejectedFrames > 0) throw new TransportError(`only corrupt replies to ${profile.protocol} ${step.label} request (${rx.stats.rejectedFrames} rejected)`, "corrupt");
        throw new TransportError(`no reply to ${profile.protocol} ${step.label} request`, "no-reply");
      }
    }
    return { snapshot: snapshotFromDaly(col.fields, profile.protocol), profile: next, stats: rx.stats };
  } finally {
    rx.detach();
  }
}

async function runStep(rx: Receiver, step: Step, col: Collector, opts: PollOptions, p81Board?: number): Promise<boolean> {
  const e = step.expect(col.fields);
  if (e === "skip") return true;
  const needed = e.family === "a5" ? e.frames : 1;
  const got = new Map<string, RawFrame>();
  // optional steps (versions, MOS block) get one try: a module that never answers them must not
  // cost retries × timeout on every poll
  const tries = step.optional ? 0 : opts.retries;
  for (let attempt = 0; attempt <= tries; attempt++) {
    if (attempt > 0) rx.stats.retries += 1;
    // a multi-frame reply is one sample: frames of an incomplete earlier answer are not combined
    // with the retry's (cells from two moments would make a pack that never existed; the soak found it)
    got.clear();
    const wake = await rx.exchange(step.bytes, opts.requestTimeoutMs, (f) => {
      if (!answers(e, f)) return false; // stale extra frames, other commands, echoes
      if (!usableAnswer(e, f)) {
        rx.stats.rejectedFrames += 1; // checksum fine, content corrupt: retry rather than publish a gap
        return false;
      }
      got.set(frameKey(f), f);
      return got.size >= needed;
    }, p81Board);
    if (wake === "closed") throw lostDuring(rx, step.label);
    if (wake === "aborted") throw new TransportError("poll aborted", "timeout");
    if (wake === "frame-done" || got.size >= needed) {
      col.add(requestFrame(step)); // Modbus replies take their register block from the request
      for (const f of [...got.values()].sort(byFrameNo)) col.add(f);
      return true;
    }
  }
  return false;
}

/** link lost during a step, with the link's own reason when it gave one that says more. */
function lostDuring(rx: Receiver, what: string): TransportError {
  const r = rx.closeReason;
  const detail = r && !/^link lost: (closed by the bridge|already closed)$/.test(r.message) && r.message !== "link lost" ? `: ${r.message.replace(/^link lost: /, "")}` : "";
  return linkLost(`during ${what}${detail}`);
}

function byFrameNo(a: RawFrame, b: RawFrame): number {
  return a.family === "a5" && b.family === "a5" ? (a.data[0] ?? 0) - (b.data[0] ?? 0) : 0;
}

function requestFrame(step: Step): RawFrame {
  const r = step.request;
  if (r.protocol === "a5") return { family: "a5", direction: "request", address: r.host, command: r.command, data: new Uint8Array(8), bytes: step.bytes };
  const reg = ((step.bytes[2] ?? 0) << 8) | (step.bytes[3] ?? 0);
  const count = ((step.bytes[4] ?? 0) << 8) | (step.bytes[5] ?? 0);
  return { family: "modbus", protocol: r.protocol, kind: "read-request", register: reg, count, bytes: step.bytes };
}

/** Tries each protocol candidate in turn; the first that answers is the device's protocol. */
async function probe(rx: Receiver, opts: PollOptions): Promise<DeviceProfile> {
  for (const c of probePlan()) {
    const seen: RawFrame[] = [];
    const wake = await rx.exchange(c.step.bytes, Math.min(opts.requestTimeoutMs, PROBE_TIMEOUT_MS), (f) => {
      seen.push(f);
      return classifyProbe(c, seen) === "answer";
    });
    if (wake === "closed") throw lostDuring(rx, "protocol probe");
    if (wake === "aborted") throw new TransportError("poll aborted", "timeout");
    if (classifyProbe(c, seen) === "answer") return c.profile;
  }
  throw new TransportError("no protocol answered (tried D2, A5 from 0x80 and 0x40, 0x81)", "no-reply");
}
