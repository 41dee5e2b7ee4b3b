#!/usr/bin/env node
// Container health check for daly-bms-bridge (Docker HEALTHCHECK; the add-on inherits it).
//
// The bridge keeps a small JSON file up to date (atomically: write + rename) while its poll loop
// is alive, i.e. after every poll attempt and at least once a minute while it waits:
//   {"ok": true|false, "updated": <epoch ms>, "reason"?: "<why ok is false>", ...more, ignored}
// ok=false means the bridge itself is in trouble (MQTT down, adapter unusable), not that a BMS is
// out of range. This script exits 0 when the file exists, parses, says ok: true and is fresh;
// otherwise it prints one line saying why (Docker keeps it in `docker inspect`) and exits 1.
//
//   DALY_HEALTH_FILE     the file (default /tmp/daly-bms-bridge.health); argv[2] overrides it
//   DALY_HEALTH_MAX_AGE  seconds after which the file is stale (default 300). It must exceed the
//                        longest single poll attempt (scan + connect + requests, well under a
//                        minute with default timeouts) plus the bridge's 60 s idle heartbeat.
//
// Plain JavaScript, no dependencies, nothing but node:fs: it runs every 30 s inside the container.
import { readFileSync } from "node:fs";

const DEFAULT_FILE = "/tmp/daly-bms-bridge.health";
const DEFAULT_MAX_AGE_S = 300;
/** Tolerated clock difference for an `updated` in the future (ms). */
const FUTURE_SLACK_MS = 60_000;

function fail(reason) {
  process.stdout.write(`unhealthy: ${reason}\n`);
  process.exit(1);
}

const file = process.argv[2] || process.env.DALY_HEALTH_FILE || DEFAULT_FILE;

let maxAgeS = DEFAULT_MAX_AGE_S;
const rawMaxAge = process.env.DALY_HEALTH_MAX_AGE;
if (rawMaxAge !== undefined && rawMaxAge.trim() !== "") {
  maxAgeS = Number(rawMaxAge);
  if (!Number.isFinite(maxAgeS) || maxAgeS <= 0) fail(`DALY_HEALTH_MAX_AGE must be a positive number of seconds, got ${JSON.stringify(rawMaxAge)}`);
}

let text;
try {
  text = readFileSync(file, "utf8");
} catch (err) {
  fail(`cannot read ${file} (${err && err.code ? err.code : err}); the bridge has not finished a poll cycle yet or is not running`);
}

let health;
try {
  health = JSON.parse(text);
} catch {
  fail(`${file} is not JSON`);
}
if (typeof health !== "object" || health === null || Array.isArray(health)) fail(`${file} does not hold a JSON object`);

const { ok, updated } = health;
if (typeof updated !== "number" || !Number.isFinite(updated)) fail(`${file}: "updated" must be epoch milliseconds`);

const ageMs = Date.now() - updated;
if (ageMs > maxAgeS * 1000) fail(`last poll cycle ${Math.round(ageMs / 1000)} s ago (max ${maxAgeS} s): the poll loop is stuck or the bridge stopped`);
if (ageMs < -FUTURE_SLACK_MS) fail(`"updated" is ${Math.round(-ageMs / 1000)} s in the future`);
if (ok !== true) {
  const why = typeof health.reason === "string" && health.reason ? `: ${health.reason}` : "";
  fail(`bridge reports ok=${JSON.stringify(ok)}${why}`);
}

process.stdout.write(`healthy: last poll cycle ${Math.max(0, Math.round(ageMs / 1000))} s ago\n`);
process.exit(0);
