import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostPart, resolveBridgeId } from "../../src/runtime/bridge-id.js";

const dir = (): string => mkdtempSync(join(tmpdir(), "daly-bid-"));

test("a configured bridgeId wins and nothing is written", () => {
  const d = dir();
  assert.deepEqual(resolveBridgeId("garage", d), { id: "garage", from: "config" });
  assert.throws(() => readFileSync(join(d, "bridge-id")));
});

test("the default is created once in <stateDir>/bridge-id and kept across restarts; two state dirs differ", () => {
  const d = dir();
  const first = resolveBridgeId("", d, { host: "Garage Pi.local" });
  assert.ok(!("error" in first));
  assert.equal(first.from, "new state file");
  assert.match(first.id, /^garage-pi-local-[0-9a-f]{6}$/);
  assert.equal(readFileSync(join(d, "bridge-id"), "utf8"), `${first.id}\n`);
  const again = resolveBridgeId("", d, { host: "another-container-name" });
  assert.deepEqual(again, { id: first.id, from: "state file" });
  // another machine with the same host name (or a baked-in image) still gets its own id
  const other = resolveBridgeId("", dir(), { host: "Garage Pi.local" });
  assert.ok(!("error" in other));
  assert.notEqual(other.id, first.id);
});

test("a hand-edited id file is used; an invalid one is a clear error", () => {
  const d = dir();
  writeFileSync(join(d, "bridge-id"), "van\n");
  assert.deepEqual(resolveBridgeId("", d), { id: "van", from: "state file" });
  writeFileSync(join(d, "bridge-id"), "my van/2\n");
  const r = resolveBridgeId("", d);
  assert.ok("error" in r);
  assert.match(r.error, /^bridgeId: .*bridge-id holds "my van\/2", expected 1-64 letters/);
});

test("state dir not writable: derived from machine-id (stable), else random with a warning", () => {
  const d = dir();
  // a state dir below a regular file cannot be created, not even by root
  writeFileSync(join(d, "sub"), "");
  const mid = join(dir(), "machine-id");
  writeFileSync(mid, "0123456789abcdef0123456789abcdef\n");
  const a = resolveBridgeId("", join(d, "sub", "state"), { machineIdFiles: [mid] });
  const b = resolveBridgeId("", join(d, "sub", "state"), { machineIdFiles: [mid] });
  assert.ok(!("error" in a) && !("error" in b));
  assert.equal(a.from, "machine-id");
  assert.match(a.id, /^bridge-[0-9a-f]{8}$/);
  assert.equal(a.id, b.id);
  assert.match(a.warning ?? "", /cannot keep the bridge id/);
  const c = resolveBridgeId("", join(d, "sub", "state"), { machineIdFiles: [join(d, "none")] });
  assert.ok(!("error" in c));
  assert.equal(c.from, "random");
  assert.match(c.warning ?? "", /changes on every start/);
});

test("host part is one safe topic level", () => {
  assert.equal(hostPart("A0D7B954-daly-bms-bridge"), "a0d7b954-daly-bms-br");
  assert.equal(hostPart("---"), "bridge");
  assert.equal(hostPart("büro"), "b-ro");
});
