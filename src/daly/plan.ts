/**
 * Pure poll and probe plans: which read requests to send, in which order, and when a step's reply
 * is complete. No timers and no I/O; the poller (runtime/poller.ts) executes them.
 */
import type { A5HostAddress } from "./constants.js";
import type { DalyFields } from "./fields.js";
import type { RawFrame } from "./frame.js";
import { decodeA5Reply } from "./a5-decode.js";
import { decodeRegisters } from "./modbus-decode.js";
import { encodeRequest, MODBUS_BLOCKS, type ReadRequest } from "./requests.js";
import type { WireProtocol } from "./collect.js";

export type Expectation =
  | { family: "a5"; command: number; frames: number }
  | { family: "modbus"; protocol: "d2" | "p81"; start: number; count: number };

export interface Step {
  label: string;
  request: ReadRequest;
  bytes: Uint8Array;
  /** How many reply frames complete the step, given what this poll has collected so far. */
  expect: (soFar: DalyFields) => Expectation | "skip";
  /** An optional step that times out does not fail the poll (versions, MOS temperature). */
  optional: boolean;
}

/** What the poller knows about a device between polls. */
export interface DeviceProfile {
  protocol: WireProtocol;
  a5Host?: A5HostAddress;
  /** 0x81 on an RS485 line of several boards: this board's number (requests at 0x80 + n). */
  p81Board?: number;
  /** Ask for version strings (first poll after a connect). */
  wantVersion: boolean;
  /**
   * D2: false once the 0x3E×9 block proved unsupported (AIO PR #159: timeout or 0/FFFF): answered
   * without a MOS temperature, or never answered in MOS_BLOCK_MISSES polls in a row. A block that
   * answered once is never given up: lost replies must not cost a BMS its MOS temperature and
   * balancing entities for good.
   */
  mosBlock?: boolean;
  /** D2: polls in a row whose MOS block got no answer, while it never answered. */
  mosMisses?: number;
  /** D2: the MOS block answered with a MOS temperature at least once. */
  mosSeen?: boolean;
}

/** Timeouts of the optional D2 MOS block in a row after which it is no longer read. */
export const MOS_BLOCK_MISSES = 3;

function a5(label: string, command: ReadRequest & { protocol: "a5" }, expect: Step["expect"], optional = false): Step {
  return { label, request: command, bytes: encodeRequest(command), expect, optional };
}

function modbus(label: string, request: ReadRequest & { protocol: "d2" | "p81" }, optional = false): Step {
  const block: { start: number; count: number } = request.protocol === "d2" ? MODBUS_BLOCKS.d2[request.block] : MODBUS_BLOCKS.p81[request.block];
  return { label, request, bytes: encodeRequest(request), expect: () => ({ family: "modbus", protocol: request.protocol, start: block.start, count: block.count }), optional };
}

const one = (command: number) => (): Expectation => ({ family: "a5", command, frames: 1 });

/**
 * Legacy order (daly-protocol.md §9): 0x94 first (cell and sensor counts size the multi-frame
 * replies), then 0x90, 0x93, cells, temperatures, balancing, alarms. 0x91/0x92 are not asked:
 * min/max come from the cells and temperatures of the same poll, saving two round trips.
 */
export function pollPlan(dev: DeviceProfile): Step[] {
  switch (dev.protocol) {
    case "a5": {
      const host = dev.a5Host ?? 0x80;
      const steps: Step[] = [
        a5("counts", { protocol: "a5", command: 0x94, host }, one(0x94)),
        a5("pack", { protocol: "a5", command: 0x90, host }, one(0x90)),
        a5("status", { protocol: "a5", command: 0x93, host }, one(0x93)),
        a5("cells", { protocol: "a5", command: 0x95, host }, (f) => {
          const n = f.scalars.cell_count;
          return n ? { family: "a5", command: 0x95, frames: Math.ceil(n / 3) } : "skip";
        }),
        a5("temperatures", { protocol: "a5", command: 0x96, host }, (f) => {
          const n = f.scalars.temp_sensor_count;
          return n ? { family: "a5", command: 0x96, frames: Math.ceil(n / 7) } : "skip";
        }),
        a5("balancing", { protocol: "a5", command: 0x97, host }, one(0x97)),
        a5("alarms", { protocol: "a5", command: 0x98, host }, one(0x98)),
      ];
      if (dev.wantVersion) {
        steps.push(a5("firmware", { protocol: "a5", command: 0x62, host }, () => ({ family: "a5", command: 0x62, frames: 2 }), true));
        steps.push(a5("hardware", { protocol: "a5", command: 0x63, host }, () => ({ family: "a5", command: 0x63, frames: 2 }), true));
      }
      return steps;
    }
    case "d2": {
      const steps = [modbus("status", { protocol: "d2", block: "status" })];
      if (dev.mosBlock !== false) steps.push(modbus("mos", { protocol: "d2", block: "extra" }, true));
      if (dev.wantVersion) steps.push(modbus("version", { protocol: "d2", block: "version" }, true));
      return steps;
    }
    case "p81": {
      const board = dev.p81Board !== undefined ? { board: dev.p81Board } : {};
      const steps = [modbus("block1", { protocol: "p81", block: "block1", ...board }), modbus("block2", { protocol: "p81", block: "block2", ...board })];
      if (dev.wantVersion) steps.push(modbus("version", { protocol: "p81", block: "version", ...board }, true));
      return steps;
    }
  }
}

/** Does this frame answer the expectation? (Echoes are requests and never match.) */
export function answers(e: Expectation, f: RawFrame): boolean {
  if (e.family === "a5") return f.family === "a5" && f.direction === "reply" && f.command === e.command;
  return f.family === "modbus" && f.kind === "read-reply" && f.protocol === e.protocol && f.data.length === 2 * e.count;
}

/**
 * Does this frame answer the expectation with content the decoder accepts? A frame can pass its
 * checksum and still be corrupt — the A5 checksum is an 8-bit sum, so about 1 in 256 frames spliced
 * from the pieces of a lossy notification stream passes it — and then its frame number or values
 * are out of range. Such a frame is no answer (the step retries; counted as rejected), so a poll
 * never completes with a field silently missing. All-zero frames do answer: they mean "asleep".
 */
export function usableAnswer(e: Expectation, f: RawFrame): boolean {
  if (!answers(e, f)) return false;
  if (f.family === "a5" && e.family === "a5") {
    const r = decodeA5Reply(f.command, f.data);
    if (!r.ok) return r.reason === "zero-frame";
    const rep = r.reply;
    return !((rep.kind === "cells" || rep.kind === "temps" || rep.kind === "text") && rep.frameNo > e.frames);
  }
  if (f.family === "modbus" && f.kind === "read-reply" && e.family === "modbus") {
    const r = decodeRegisters(e.protocol, e.start, f.data);
    return r.ok || r.reason === "zero-frame";
  }
  return false;
}

/** A5 multi-frame replies are keyed by frame number (duplicates and extras do not count twice). */
export function frameKey(f: RawFrame): string {
  if (f.family === "a5") return f.command === 0x95 || f.command === 0x96 || f.command === 0x62 || f.command === 0x63 ? `${f.command}:${f.data[0]}` : `${f.command}`;
  return "modbus";
}

export interface ProbeCandidate {
  profile: DeviceProfile;
  step: Step;
}

/**
 * Protocol probe (§9; the official app probes at runtime too, §1): D2 first (most current modules),
 * then A5 from host 0x80 and from 0x40 (batmon-ha#416: some modules answer only 0x40), then 0x81.
 * A candidate is confirmed only by a valid reply of its own family; an echo is not an answer.
 */
export function probePlan(): ProbeCandidate[] {
  const cands: DeviceProfile[] = [
    { protocol: "d2", wantVersion: true },
    { protocol: "a5", a5Host: 0x80, wantVersion: true },
    { protocol: "a5", a5Host: 0x40, wantVersion: true },
    { protocol: "p81", wantVersion: true },
  ];
  return cands.map((profile) => {
    const first = pollPlan(profile)[0];
    const step =
      profile.protocol === "a5"
        ? a5("probe", { protocol: "a5", command: 0x90, host: profile.a5Host ?? 0x80 }, one(0x90))
        : (first as Step);
    return { profile, step };
  });
}

export type ProbeVerdict = "answer" | "echo" | "silent";

export function classifyProbe(c: ProbeCandidate, frames: readonly RawFrame[]): ProbeVerdict {
  const e = c.step.expect({ scalars: {}, cells: new Map(), temps: new Map(), text: {} });
  if (e !== "skip" && frames.some((f) => answers(e, f))) return "answer";
  const mine = c.step.bytes;
  if (frames.some((f) => f.bytes.length === mine.length && f.bytes.every((b, i) => b === mine[i]))) return "echo";
  return "silent";
}
