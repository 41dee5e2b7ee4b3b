/**
 * Fuzz (seeded, reproducible): random streams and mutated real frames never throw from the
 * assembler, decoders or mapper, and never yield a value outside physical ranges.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameAssembler } from "../../src/daly/assembler.js";
import { Collector } from "../../src/daly/collect.js";
import { snapshotFromDaly } from "../../src/bms/from-daly.js";
import { sum8, crc16modbus } from "../../src/daly/checksum.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import { bytesOf, VECTORS } from "../helpers/daly-fixtures.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function inside(v: number | undefined, lo: number, hi: number): boolean {
  return v === undefined || (Number.isFinite(v) && v >= lo && v <= hi);
}

export function assertPhysical(s: Snapshot, ctx: string): void {
  assert.ok(inside(s.voltage_V, 0.1, 250), `${ctx} voltage ${s.voltage_V}`);
  assert.ok(inside(s.current_A, -1000, 1000), `${ctx} current ${s.current_A}`);
  assert.ok(inside(s.soc_pct, 0, 100), `${ctx} soc ${s.soc_pct}`);
  assert.ok(inside(s.remaining_Ah, 0, 10000), `${ctx} remaining ${s.remaining_Ah}`);
  for (const c of s.cells_mV ?? []) assert.ok(inside(c, 1, 5000), `${ctx} cell ${c}`);
  for (const t of s.temperatures_C ?? []) assert.ok(inside(t, -40, 150), `${ctx} temp ${t}`);
  for (const t of [s.mos_temp_C, s.board_temp_C, s.max_temp_C, s.min_temp_C]) assert.ok(inside(t, -40, 150), `${ctx} temp ${t}`);
  assert.ok(inside(s.cell_count, 1, 48), `${ctx} cell_count`);
  assert.ok(inside(s.max_cell_index, 1, 48) && inside(s.min_cell_index, 1, 48), `${ctx} index`);
  assert.ok(s.state === undefined || ["idle", "charging", "discharging"].includes(s.state), `${ctx} state`);
  assert.ok((s.cells_mV?.length ?? 0) <= 48 && (s.temperatures_C?.length ?? 0) <= 16, `${ctx} lengths`);
}

function run(bytes: Uint8Array, chunk: number): Snapshot {
  const asm = new FrameAssembler();
  const col = new Collector();
  for (let i = 0; i < bytes.length; i += chunk) col.addItems(asm.push(bytes.subarray(i, i + chunk)));
  col.addItems(asm.end());
  return snapshotFromDaly(col.fields, col.protocol);
}

test("random byte streams (0–512 bytes) never throw and stay physical", () => {
  const r = rng(0xda1);
  for (let n = 0; n < 3000; n++) {
    const len = Math.floor(r() * 513);
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256);
    assertPhysical(run(b, 1 + Math.floor(r() * 40)), `random #${n}`);
  }
});

test("mutated real frames with repaired checksums never throw and stay physical", () => {
  const r = rng(42);
  const seeds = VECTORS.map((v) => bytesOf(v.hex));
  let accepted = 0;
  for (let n = 0; n < 20000; n++) {
    const src = seeds[Math.floor(r() * seeds.length)] ?? new Uint8Array(0);
    const b = Uint8Array.from(src);
    const flips = 1 + Math.floor(r() * 4);
    for (let k = 0; k < flips; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    // repair integrity so the decoders (not only the checksum) are exercised
    if (b[0] === 0xa5) for (let i = 0; i + 13 <= b.length; i += 13) b[i + 12] = sum8(b.subarray(i, i + 12));
    else if (b.length > 4) {
      const c = crc16modbus(b, 0, b.length - 2);
      b[b.length - 2] = c & 0xff;
      b[b.length - 1] = c >> 8;
    }
    const s = run(b, 1 + Math.floor(r() * 30));
    if (Object.keys(s).length > 1) accepted++;
    assertPhysical(s, `mutant #${n}`);
  }
  assert.ok(accepted > 1000, `decoders were exercised (${accepted} snapshots)`);
});
