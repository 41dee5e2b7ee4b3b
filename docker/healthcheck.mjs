#!/usr/bin/env node
// Container health check for daly-bms-bridge (Docker HEALTHCHECK; the add-on inherits it).
//
// The bridge rewrites a small JSON file (atomically: write + rename) after every poll attempt:
//   {"ok": true|false, "updated": <epoch ms>, "reason"?: "...",
//    "bms": {"<MAC>": {"state": "online"|"offline"|"sleeping"|"unknown", "due": <epoch ms>}, ...}}
// ok=false means the bridge itself is in trouble (MQTT down), not that a BMS is out of range.
// `due` is when that BMS's next poll attempt must have finished (its next scheduled start plus the
// longest a poll may take): a due time in the past means its poll loop has really stopped. The
// check exits 0 when the file exists, parses, says ok: true and no BMS is overdue; otherwise it
// prints one line saying why (Docker keeps it in `docker inspect`) and exits 1.
//
//   DALY_HEALTH_FILE     the file (default /tmp/daly-bms-bridge.health); argv[2] overrides it
//   DALY_HEALTH_MAX_AGE  optional: seconds after which the file counts as stale whatever it says
//                        (unset: only the per-BMS due times decide, so a long poll interval or a
//                        long backoff is not mistaken for a stuck bridge)
//
// Plain JavaScript, no dependencies, nothing but node:fs: it runs every 30 s inside the container.
import { readFileSync } from "node:fs";

const DEFAULT_FILE = "/tmp/daly-bms-bridge.health";
/** Tolerated clock difference for an `updated` in the future (ms). */
const FUTURE_SLACK_MS = 60_000;

function fail(reason) {
  process.stdout.write(`unhealthy: ${reason}\n`);
  process.exit(1);
}

const file = process.argv[2] || process.env.DALY_HEALTH_FILE || DEFAULT_FILE;

let maxAgeS;
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

const now = Date.now();
const ageMs = now - updated;
if (maxAgeS !== undefined && ageMs > maxAgeS * 1000) fail(`file written ${Math.round(ageMs / 1000)} s ago (max ${maxAgeS} s): the bridge stopped writing it`);
if (ageMs < -FUTURE_SLACK_MS) fail(`"updated" is ${Math.round(-ageMs / 1000)} s in the future`);
if (ok !== true) {
  const why = typeof health.reason === "string" && health.reason ? `: ${health.reason}` : "";
  fail(`bridge reports ok=${JSON.stringify(ok)}${why}${typeof health.mqtt === "string" ? ` (mqtt ${health.mqtt})` : ""}`);
}
const bms = health.bms;
if (typeof bms !== "object" || bms === null || Array.isArray(bms) || Object.keys(bms).length === 0) fail(`${file} lists no BMS with a poll schedule`);
for (const [address, entry] of Object.entries(bms)) {
  const due = entry && typeof entry === "object" ? entry.due : undefined;
  if (typeof due !== "number" || !Number.isFinite(due)) fail(`${file}: BMS ${address} has no "due" time`);
  if (now > due) fail(`BMS ${address}: its poll was due ${Math.round((now - due) / 1000)} s ago and has not finished: the poll loop is stuck or the bridge stopped`);
}

process.stdout.write(`healthy: ${Object.keys(bms).length} BMS polled on schedule, file written ${Math.max(0, Math.round(ageMs / 1000))} s ago\n`);
process.exit(0);
