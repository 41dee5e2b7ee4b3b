/**
 * Collector: consumes assembled frames in stream order, decodes the replies and merges their
 * fields. A Modbus reply takes its register block from the oldest pending request of the same
 * protocol whose size matches (pipelined requests and lost replies both occur, §3.1), else from
 * its length (standard blocks). An echo of a request is never a reply: requests only give context.
 */
import { decodeA5Reply } from "./a5-decode.js";
import type { DalyFields } from "./fields.js";
import { emptyFields } from "./fields.js";
import type { AssemblerItem, ModbusProtocol, RawFrame } from "./frame.js";
import { decodeRegisters } from "./modbus-decode.js";
import { BLOCK_BY_LENGTH } from "./modbus-layouts.js";

export type WireProtocol = "a5" | ModbusProtocol;

/** One line of `decode` output per frame. */
export interface FrameReport {
  protocol: WireProtocol;
  direction: "request" | "reply";
  command?: string;
  register?: string;
  count?: number;
  function?: "read" | "write" | "exception";
  address?: string;
  frame?: number;
  /** "ok", or why the reply's content was not used. */
  status: string;
}

export class Collector {
  readonly fields: DalyFields = emptyFields();
  readonly reports: FrameReport[] = [];
  protocol: WireProtocol | undefined;
  validReplies = 0;
  rejected = 0;
  private readonly pending: Record<ModbusProtocol, Array<{ register: number; count: number }>> = { d2: [], p81: [] };

  addItems(items: readonly AssemblerItem[]): void {
    for (const it of items) {
      if (it.ok) this.add(it.frame);
      else this.rejected += 1;
    }
  }

  /** Adds one frame; returns true when it was a valid reply whose content was used. */
  add(frame: RawFrame): boolean {
    if (frame.family === "a5") return this.addA5(frame);
    const p = frame.protocol;
    switch (frame.kind) {
      case "read-request":
        this.pending[p].push({ register: frame.register, count: frame.count });
        if (this.pending[p].length > 16) this.pending[p].shift();
        this.reports.push({ protocol: p, direction: "request", function: "read", register: hex4(frame.register), count: frame.count, status: "ok" });
        return false;
      case "write":
        this.reports.push({ protocol: p, direction: "request", function: "write", register: hex4(frame.register), status: "ignored" });
        return false;
      case "exception":
        this.reports.push({ protocol: p, direction: "reply", function: "exception", status: `exception-${frame.code}` });
        return false;
      case "read-reply":
        return this.addModbusReply(p, frame.data);
    }
  }

  private addA5(frame: Extract<RawFrame, { family: "a5" }>): boolean {
    const base = { protocol: "a5" as const, command: hex2(frame.command), address: hex2(frame.address) };
    if (frame.direction === "request") {
      this.reports.push({ ...base, direction: "request", status: "ok" });
      return false;
    }
    const r = decodeA5Reply(frame.command, frame.data);
    if (!r.ok) {
      this.rejected += 1;
      this.reports.push({ ...base, direction: "reply", status: r.reason });
      return false;
    }
    const rep = r.reply;
    const f = this.fields;
    switch (rep.kind) {
      case "fields":
        Object.assign(f.scalars, rep.fields);
        break;
      case "cells":
        rep.mV.forEach((v, k) => {
          if (v !== 0) f.cells.set((rep.frameNo - 1) * 3 + k + 1, v);
        });
        break;
      case "temps":
        rep.C.forEach((t, k) => {
          if (!Number.isNaN(t)) f.temps.set((rep.frameNo - 1) * 7 + k + 1, t);
        });
        break;
      case "balance":
        f.balancingCells = new Set(rep.cells);
        f.scalars.balancing_active = rep.active ? 1 : 0;
        break;
      case "alarms":
        f.alarmBytes = rep.bytes;
        f.scalars.fault_code = rep.faultCode;
        break;
      case "text": {
        // multi-frame ASCII: frame n holds characters 7(n−1)…; assemble in frame order
        const parts = (this.textParts[rep.key] ??= []);
        parts[rep.frameNo] = rep.text;
        const joined = parts.filter((s) => s !== undefined).join("").trim();
        if (joined.length > 0) f.text[rep.key] = joined;
        break;
      }
      case "other":
        break;
    }
    this.protocol = "a5";
    this.validReplies += 1;
    this.reports.push({ ...base, direction: "reply", ...(rep.kind === "cells" || rep.kind === "temps" ? { frame: rep.frameNo } : {}), status: "ok" });
    return true;
  }

  private readonly textParts: Partial<Record<string, string[]>> = {};

  private addModbusReply(p: ModbusProtocol, data: Uint8Array): boolean {
    const regs = data.length / 2;
    const q = this.pending[p];
    const idx = q.findIndex((r) => r.count === regs);
    let start: number | undefined;
    if (idx >= 0) {
      start = q[idx]?.register;
      q.splice(0, idx + 1); // older unmatched requests were not answered
    } else {
      start = BLOCK_BY_LENGTH[p][data.length];
    }
    const base = { protocol: p, direction: "reply" as const, function: "read" as const, count: regs };
    if (start === undefined) {
      this.reports.push({ ...base, status: "unknown-block" });
      return false;
    }
    const r = decodeRegisters(p, start, data);
    if (!r.ok) {
      this.rejected += 1;
      this.reports.push({ ...base, register: hex4(start), status: r.reason });
      return false;
    }
    mergeFields(this.fields, r.fields);
    this.protocol = p;
    this.validReplies += 1;
    this.reports.push({ ...base, register: hex4(start), status: "ok" });
    return true;
  }
}

export function mergeFields(into: DalyFields, from: DalyFields): void {
  Object.assign(into.scalars, from.scalars);
  for (const [k, v] of from.cells) into.cells.set(k, v);
  for (const [k, v] of from.temps) into.temps.set(k, v);
  if (from.balancingCells) into.balancingCells = from.balancingCells;
  if (from.alarmBytes) into.alarmBytes = from.alarmBytes;
  Object.assign(into.text, from.text);
}

function hex2(n: number): string {
  return "0x" + n.toString(16).padStart(2, "0");
}
function hex4(n: number): string {
  return "0x" + n.toString(16).padStart(4, "0");
}
