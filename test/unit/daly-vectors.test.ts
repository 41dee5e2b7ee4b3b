/** Every vector of daly-protocol.md §7 decodes to the values its source states. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameAssembler } from "../../src/daly/assembler.js";
import { Collector } from "../../src/daly/collect.js";
import { snapshotFromDaly } from "../../src/bms/from-daly.js";
import { encodeRequest, type A5ReadCommand, type D2Block, type P81Block } from "../../src/daly/requests.js";
import { toHex } from "../../src/util/hex.js";
import { bytesOf, REQUESTS, VECTORS } from "../helpers/daly-fixtures.js";
import type { A5HostAddress } from "../../src/daly/constants.js";

function decodeAll(bytes: Uint8Array): Collector {
  const asm = new FrameAssembler();
  const col = new Collector();
  col.addItems(asm.push(bytes));
  col.addItems(asm.end());
  return col;
}

for (const v of VECTORS) {
  test(`vector ${v.name} (${v.source})`, () => {
    const col = decodeAll(bytesOf(v.hex));
    const snap = snapshotFromDaly(col.fields, col.protocol) as Record<string, unknown>;
    for (const [k, want] of Object.entries(v.expected ?? {})) {
      assert.deepEqual(snap[k], want, `${v.name}: ${k}`);
    }
    if (v.expectedExit === 1) assert.equal(col.validReplies, 0, "no valid reply expected");
    else assert.ok(col.validReplies > 0, "at least one valid reply");
    if (v.frames !== undefined) assert.equal(col.reports.length, v.frames);
    if (v.rejected !== undefined) assert.equal(col.rejected, v.rejected);
  });
}

test("A5 request vectors encode byte-exact and parse back as requests, never replies", () => {
  for (const [, cmd, host, hex] of REQUESTS.a5) {
    const bytes = encodeRequest({ protocol: "a5", command: cmd as A5ReadCommand, host: host as A5HostAddress });
    assert.equal(toHex(bytes), hex);
    const col = decodeAll(bytes);
    assert.equal(col.validReplies, 0);
    assert.equal(col.reports[0]?.direction, "request");
    assert.equal(col.reports[0]?.command, "0x" + cmd.toString(16));
  }
});

test("Modbus request vectors encode byte-exact and parse back as read requests", () => {
  for (const [protocol, block, hex] of REQUESTS.modbus) {
    const bytes = protocol === "d2" ? encodeRequest({ protocol, block: block as D2Block }) : encodeRequest({ protocol, block: block as P81Block });
    assert.equal(toHex(bytes), hex, `${protocol} ${block}`);
    const col = decodeAll(bytes);
    assert.equal(col.validReplies, 0);
    assert.equal(col.reports[0]?.direction, "request");
    assert.equal(col.reports[0]?.function, "read");
  }
});

test("S1 reply after an unrelated pending request still takes its block from the matching request", () => {
  const s1 = VECTORS.find((v) => v.name === "S1");
  assert.ok(s1);
  // a version request that was never answered, then the status request and its reply
  const stream = "d2 03 00 a9 00 20 87 91 d2 03 00 00 00 3e d7 b9 " + s1.hex;
  const col = decodeAll(bytesOf(stream));
  const snap = snapshotFromDaly(col.fields, col.protocol);
  assert.equal(snap.voltage_V, 14);
  assert.equal(col.reports.at(-1)?.register, "0x0000");
});

test("a sleeping module's all-zero 0x90 reply is rejected, not published as 0 V / −3000 A", () => {
  const col = decodeAll(bytesOf("a5 01 90 08 00 00 00 00 00 00 00 00 3e"));
  assert.equal(col.validReplies, 0);
  assert.equal(col.reports[0]?.status, "zero-frame");
  assert.equal(snapshotFromDaly(col.fields, col.protocol).voltage_V, undefined);
});

test("16 cell frames (BLE 'all frames' padding) are cut to the cell count from 0x94", () => {
  // 4 cells: frames 1–2 carry data, frames 3–16 are zero padding as python-daly-bms#28 shows
  const frames: string[] = ["a5 01 94 08 04 01 00 00 00 00 01 00"];
  const cells = [3301, 3302, 3300, 3305];
  for (let n = 1; n <= 16; n++) {
    const vals = [0, 1, 2].map((k) => cells[(n - 1) * 3 + k] ?? (n === 2 ? 3999 : 0)); // 3999 = stale byte pattern
    frames.push(["a5 01 95 08", hx(n), ...vals.flatMap((x) => [hx(x >> 8), hx(x & 255)]), "20"].join(" "));
  }
  const withSums = frames.map((f) => {
    const b = bytesOf(f);
    const s = b.reduce((a, x) => a + x, 0) & 255;
    return f + " " + hx(s);
  });
  const col = decodeAll(bytesOf(withSums.join(" ")));
  const snap = snapshotFromDaly(col.fields, col.protocol);
  assert.deepEqual(snap.cells_mV, cells);
  assert.equal(snap.delta_cell_mV, 5);
  assert.equal(snap.min_cell_index, 3);
});

function hx(n: number): string {
  return n.toString(16).padStart(2, "0");
}
