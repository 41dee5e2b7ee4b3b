/**
 * docker/healthcheck.mjs, run as Docker runs it (a child process, exit status = health), against
 * health files written to a temp dir. The bridge's side of the contract: it rewrites
 * $DALY_HEALTH_FILE after every poll attempt with {"ok", "updated", "mqtt", "bms": {MAC: {state, due}}}.
 * test/integration/health-file.test.ts checks the bridge's side with a real bridge process.
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
const inS = (seconds: number): number => Date.now() + seconds * 1000;
/** A health file as the bridge writes it: one BMS whose next poll must end by `due`. */
const file = (over: Record<string, unknown> = {}, due = inS(30)): Record<string, unknown> => ({
  ok: true,
  updated: ago(1),
  mqtt: "connected",
  bms: { "C0:D6:3C:57:2A:01": { state: "online", due } },
  ...over,
});

test("ok:true and every BMS within its due time is healthy (exit 0)", () => {
  const r = check(file());
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /^healthy: 1 BMS polled on schedule/);
});

test("a BMS whose poll is overdue is unhealthy, naming the BMS: the poll loop stopped", () => {
  const r = check(file({ bms: { "C0:D6:3C:57:2A:01": { state: "online", due: inS(60) }, "C0:D6:3C:57:2A:02": { state: "offline", due: ago(5) } } }));
  assert.equal(r.status, 1);
  assert.match(r.out, /BMS C0:D6:3C:57:2A:02: its poll was due 5 s ago/);
});

test("an old file is healthy while every due time is ahead (long poll interval or backoff)", () => {
  assert.equal(check(file({ updated: ago(3600) }, inS(600))).status, 0);
});

test("DALY_HEALTH_MAX_AGE, when set, also bounds the file's age", () => {
  assert.equal(check(file({ updated: ago(100) }), { DALY_HEALTH_MAX_AGE: "60" }).status, 1);
  assert.equal(check(file({ updated: ago(100) }), { DALY_HEALTH_MAX_AGE: "200" }).status, 0);
  assert.equal(check(file({ updated: ago(100) }), { DALY_HEALTH_MAX_AGE: "" }).status, 0, "empty = unset");
});

test("an invalid DALY_HEALTH_MAX_AGE is reported, not silently defaulted", () => {
  for (const bad of ["abc", "0", "-5"]) {
    const r = check(file(), { DALY_HEALTH_MAX_AGE: bad });
    assert.equal(r.status, 1, bad);
    assert.match(r.out, /DALY_HEALTH_MAX_AGE/);
  }
});

test("ok:false is unhealthy even when on schedule, and the bridge's reason is shown", () => {
  const r = check(file({ ok: false, mqtt: "disconnected", reason: "broker unreachable" }));
  assert.equal(r.status, 1);
  assert.match(r.out, /ok=false: broker unreachable \(mqtt disconnected\)/);
});

test("missing file is unhealthy", () => {
  const r = check(undefined);
  assert.equal(r.status, 1);
  assert.match(r.out, /cannot read/);
});

test("malformed files are unhealthy: not JSON, not an object, no/odd updated, ok not exactly true, no schedule", () => {
  const cases: unknown[] = [
    "{not json",
    "",
    "[]",
    "null",
    { ok: true },
    file({ updated: String(Date.now()) }),
    file({ updated: null }),
    file({ ok: undefined }),
    file({ ok: "true" }),
    file({ ok: 1 }),
    file({ bms: {} }),
    file({ bms: { "C0:D6:3C:57:2A:01": "online" } }),
    file({ bms: { "C0:D6:3C:57:2A:01": { state: "online" } } }),
  ];
  for (const c of cases) assert.equal(check(c).status, 1, JSON.stringify(c));
});

test("an updated time far in the future is unhealthy; small clock skew is tolerated", () => {
  assert.equal(check(file({ updated: Date.now() + 10 * 60_000 })).status, 1);
  assert.equal(check(file({ updated: Date.now() + 5_000 })).status, 0);
});

test("a path argument overrides DALY_HEALTH_FILE", () => {
  const good = join(dir, "arg.json");
  writeFileSync(good, JSON.stringify(file()));
  assert.equal(check(undefined, {}, [good]).status, 0, "the env file does not exist, the argument does");
});

test("the default health file path is the one the image, compose file and bridge agree on", () => {
  assert.ok(readFileSync(SCRIPT, "utf8").includes(`"${DEFAULT_FILE}"`));
  assert.ok(readFileSync(join(ROOT, "docker", "docker-compose.yml"), "utf8").includes(`DALY_HEALTH_FILE: ${DEFAULT_FILE}`));
  assert.ok(readFileSync(join(ROOT, "src", "commands", "run.ts"), "utf8").includes(`"daly-bms-bridge.health"`));
});
