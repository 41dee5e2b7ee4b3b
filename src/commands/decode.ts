/**
 * `daly-bms-bridge decode HEX...` (contract §3): all arguments are one byte stream; prints
 * {"frames":[…],"snapshot":{…},"rejected":N}. Exit 0 with at least one valid reply, 1 with none,
 * 2 when the input is not hex.
 */
import { FrameAssembler } from "../daly/assembler.js";
import { Collector } from "../daly/collect.js";
import { snapshotFromDaly } from "../bms/from-daly.js";
import { parseHex } from "../util/hex.js";

export interface CommandResult {
  exitCode: number;
  stdout?: string;
  stderr?: string;
}

export function decodeCommand(args: readonly string[]): CommandResult {
  if (args.length === 0) return { exitCode: 2, stderr: "decode: give the frames as hex, e.g. decode a5 01 90 08 02 10 00 00 75 30 01 f4 ea\n" };
  const bytes = parseHex(args.join(" "));
  if (!bytes) return { exitCode: 2, stderr: "decode: input is not hex (expected byte pairs separated by spaces, colons or nothing)\n" };
  const asm = new FrameAssembler();
  const col = new Collector();
  col.addItems(asm.push(bytes));
  col.addItems(asm.end());
  const snapshot = snapshotFromDaly(col.fields, col.protocol);
  const out = JSON.stringify({ frames: col.reports, snapshot, rejected: col.rejected });
  if (col.validReplies === 0) {
    return { exitCode: 1, stdout: out + "\n", stderr: `decode: no valid reply in ${bytes.length} bytes (${col.reports.length} frames, ${col.rejected} rejected)\n` };
  }
  return { exitCode: 0, stdout: out + "\n" };
}
