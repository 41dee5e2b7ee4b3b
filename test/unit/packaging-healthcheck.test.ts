/**
 * docker/healthcheck.mjs, run as Docker runs it (a child process, exit status = health), against
 * health files written to a temp dir. The bridge's side of the contract: it rewrites
 * $DALY_HEALTH_FILE after every poll cycle with {"ok": boolean, "updated": epoch ms, ...}.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/paths.js";

const SCRIPT = join(ROOT, "docker", "healthcheck.mjs");
const DEFAULT_FILE = "/tmp/daly-bms-bridge.health";

const dir = mkdtempSync(join(tmpdir(), "daly-health-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

interface Run {
  status: number | null;
  out: string;
}

/** Writes `content` (object → JSON, string as is, undefined → no file) and runs the check. */
function check(content: unknown, env: Record<string, string> = {}, args: string[] = []): Run {
  const file = join(dir, `h${n++}.json`);
  if (content !== undefined) writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  // A clean environment: nothing inherited may change the outcome.
  const r = spawnSync(process.execPath, [SCRIPT, ...args], {
    env: { PATH: process.env.PATH ?? "", DALY_HEALTH_FILE: file, ...env },
    encoding: "utf8",
    timeout: 10_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const ago = (seconds: number): number => Date.now() - seconds * 1000;

test("fresh file with ok:true is healthy (exit 0)", () => {
  const r = check({ ok: true, updated: ago(1), bms: { daly_bms_c0d63c572a01: { online: true } } });
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /^healthy/);
});

test("stale file is unhealthy: older than the default 300 s", () => {
  assert.equal(check({ ok: true, updated: ago(299) }).status, 0);
  const r = check({ ok: true, updated: ago(301) });
  assert.equal(r.status, 1);
  assert.match(r.out, /max 300 s/);
});

test("DALY_HEALTH_MAX_AGE sets the staleness limit in seconds", () => {
  assert.equal(check({ ok: true, updated: ago(100) }, { DALY_HEALTH_MAX_AGE: "60" }).status, 1);
  assert.equal(check({ ok: true, updated: ago(100) }, { DALY_HEALTH_MAX_AGE: "200" }).status, 0);
  assert.equal(check({ ok: true, updated: ago(100) }, { DALY_HEALTH_MAX_AGE: "" }).status, 0, "empty = default 300");
});

test("an invalid DALY_HEALTH_MAX_AGE is reported, not silently defaulted", () => {
  for (const bad of ["abc", "0", "-5"]) {
    const r = check({ ok: true, updated: ago(1) }, { DALY_HEALTH_MAX_AGE: bad });
    assert.equal(r.status, 1, bad);
    assert.match(r.out, /DALY_HEALTH_MAX_AGE/);
  }
});

test("ok:false is unhealthy even when fresh, and the bridge's reason is shown", () => {
  const r = check({ ok: false, updated: ago(1), reason: "mqtt disconnected" });
  assert.equal(r.status, 1);
  assert.match(r.out, /ok=false: mqtt disconnected/);
});

test("missing file is unhealthy", () => {
  const r = check(undefined);
  assert.equal(r.status, 1);
  assert.match(r.out, /cannot read/);
});

test("malformed files are unhealthy: not JSON, not an object, no/odd updated, ok not exactly true", () => {
  const cases: unknown[] = [
    "{not json",
    "",
    "[]",
    "null",
    { ok: true },
    { ok: true, updated: String(Date.now()) },
    { ok: true, updated: null },
    { updated: ago(1) },
    { ok: "true", updated: ago(1) },
    { ok: 1, updated: ago(1) },
  ];
  for (const c of cases) assert.equal(check(c).status, 1, JSON.stringify(c));
});

test("an updated time far in the future is unhealthy; small clock skew is tolerated", () => {
  assert.equal(check({ ok: true, updated: Date.now() + 10 * 60_000 }).status, 1);
  assert.equal(check({ ok: true, updated: Date.now() + 5_000 }).status, 0);
});

test("a path argument overrides DALY_HEALTH_FILE", () => {
  const good = join(dir, "arg.json");
  writeFileSync(good, JSON.stringify({ ok: true, updated: ago(1) }));
  assert.equal(check(undefined, {}, [good]).status, 0, "the env file does not exist, the argument does");
});

test("the default health file path is the one the image, compose file and bridge agree on", () => {
  assert.ok(readFileSync(SCRIPT, "utf8").includes(`"${DEFAULT_FILE}"`));
  assert.ok(readFileSync(join(ROOT, "docker", "docker-compose.yml"), "utf8").includes(`DALY_HEALTH_FILE: ${DEFAULT_FILE}`));
});
