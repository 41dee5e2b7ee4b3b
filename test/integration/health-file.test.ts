/**
 * The bridge's side of the container health check: a real bridge (simulated radio, real transport
 * code) writes the health file after every poll attempt, and docker/healthcheck.mjs — run as
 * Docker runs it — says healthy while polls happen and unhealthy once polling really stops while
 * the process lives on (no heartbeat keeps a stopped loop looking alive).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACK, runBridge, scenarioFile } from "../helpers/bridge-run.js";
import { ROOT } from "../helpers/paths.js";

const SCRIPT = join(ROOT, "docker", "healthcheck.mjs");

function healthcheck(file: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [SCRIPT], { env: { PATH: process.env.PATH ?? "", DALY_HEALTH_FILE: file }, encoding: "utf8", timeout: 10_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Runs the health check until `want` says yes; fails after `withinMs`. */
async function until(file: string, want: (r: { status: number | null; out: string }) => boolean, withinMs: number): Promise<{ status: number | null; out: string }> {
  const end = Date.now() + withinMs;
  let last = healthcheck(file);
  while (!want(last)) {
    if (Date.now() > end) assert.fail(`health check never reached the wanted result; last: ${last.out}`);
    await new Promise((r) => setTimeout(r, 200));
    last = healthcheck(file);
  }
  return last;
}

test("health file: rewritten after every poll; the check turns unhealthy when polling stops in a live process", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "daly-health-")), "health.json");
  const scenario = scenarioFile([{ name: "A", address: "C0:D6:3C:57:2A:01", protocol: "a5", ...PACK }]);
  // short timeouts: the poll budget (and so the time to notice a stop) is a few seconds
  const h = await runBridge(["--sim-scenario", scenario], { DALY_HEALTH_FILE: file, DALY_BLE_REQUEST_RETRIES: "0" });
  try {
    const sup = h.bridge.supervisors[0];
    assert.ok(sup);
    const nextPoll = (): Promise<void> => new Promise<void>((resolve) => sup.once("scheduled", () => resolve()));
    await nextPoll();
    const ok = await until(file, (r) => r.status === 0, 20_000);
    assert.match(ok.out, /^healthy: 1 BMS polled on schedule/);
    // after every poll: each rewrite moves the BMS's due time forward
    const first = JSON.parse(readFileSync(file, "utf8")) as { bms: Record<string, { state: string; due: number }> };
    const e1 = first.bms["C0:D6:3C:57:2A:01"];
    assert.ok(e1 && e1.state === "online", JSON.stringify(first));
    const polls = sup.polls;
    await nextPoll();
    const second = JSON.parse(readFileSync(file, "utf8")) as { bms: Record<string, { due: number }> };
    assert.ok((second.bms["C0:D6:3C:57:2A:01"]?.due ?? 0) > e1.due, "a new poll moved the due time");
    assert.ok(sup.polls > polls);
    // polling stops, the process lives on: unhealthy once the due time passes, naming the BMS
    await h.bridge.stop();
    const bad = await until(file, (r) => r.status === 1, 30_000);
    assert.match(bad.out, /BMS C0:D6:3C:57:2A:01: its poll was due .* the poll loop is stuck/);
  } finally {
    await h.stop();
  }
});
