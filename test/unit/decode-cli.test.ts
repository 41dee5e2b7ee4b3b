/** `decode` exactly as contract §3: output shape and exit codes 0/1/2, through the built CLI. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { CLI } from "../helpers/paths.js";
import { VECTORS } from "../helpers/daly-fixtures.js";

function decode(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, "decode", ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("decode prints frames, snapshot and rejected; exit 0 with a valid reply", () => {
  const r = decode("a5", "01", "90", "08", "02", "10", "00", "00", "75", "30", "01", "f4", "ea");
  assert.equal(r.code, 0);
  const j = JSON.parse(r.out) as { frames: Array<Record<string, unknown>>; snapshot: Record<string, unknown>; rejected: number };
  assert.deepEqual(j.snapshot, { protocol: "a5", voltage_V: 52.8, current_A: 0, power_W: 0, soc_pct: 50 });
  assert.equal(j.frames[0]?.direction, "reply");
  assert.equal(j.frames[0]?.command, "0x90");
  assert.equal(j.rejected, 0);
});

test("colons, no separators and mixed requests/replies are one stream", () => {
  const s1 = VECTORS.find((v) => v.name === "S1")?.hex.replaceAll(" ", "") ?? "";
  const r = decode("d2:03:00:00:00:3e:d7:b9", s1.slice(0, 100), s1.slice(100));
  assert.equal(r.code, 0);
  const j = JSON.parse(r.out) as { frames: Array<Record<string, unknown>>; snapshot: Record<string, unknown> };
  assert.deepEqual(j.frames.map((f) => f.direction), ["request", "reply"]);
  assert.equal(j.frames[1]?.register, "0x0000");
  assert.deepEqual(j.snapshot.cells_mV, [4127, 4137, 4147, 4157]);
});

test("only an echo of our request: exit 1 and a message, the echo is not a reply", () => {
  const r = decode("a5 80 90 08 00 00 00 00 00 00 00 00 bd");
  assert.equal(r.code, 1);
  assert.match(r.err, /no valid reply/);
  const j = JSON.parse(r.out) as { snapshot: Record<string, unknown> };
  assert.deepEqual(j.snapshot, {});
});

test("bad checksum only: exit 1, rejected counted", () => {
  const r = decode("a5 01 90 08 02 10 00 00 75 30 01 f4 eb");
  assert.equal(r.code, 1);
  assert.equal((JSON.parse(r.out) as { rejected: number }).rejected, 1);
});

test("not hex: exit 2 with a clear message", () => {
  for (const bad of [["zz"], ["a5 0"], []]) {
    const r = decode(...bad);
    assert.equal(r.code, 2, bad.join(" "));
    assert.match(r.err, /hex/);
  }
});
