/** `scan` and `poll` as a user runs them, against the simulated radio (real noble HCI stack). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { CLI } from "../helpers/paths.js";
import { FAST_ENV, PACK, scenarioFile } from "../helpers/bridge-run.js";

const ENV = { PATH: process.env.PATH ?? "", ...FAST_ENV };
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { env: ENV, encoding: "utf8", timeout: 30000 });

describe("scan and poll", () => {
  const file = scenarioFile([
    { ...PACK, address: "C0:D6:3C:57:2A:01", protocol: "a5" },
    { ...PACK, address: "C0:D6:3C:57:2A:02", protocol: "p81", cells_mV: [3400, 3401, 3402] },
    { ...PACK, address: "C0:D6:3C:57:2A:03", protocol: "d2", out_of_range: true },
    { ...PACK, address: "C0:D6:3C:57:2A:04", protocol: "d2", adapter: "hci1" },
  ]);

  it("scan lists the advertising Daly BMS with name, address and RSSI", () => {
    const r = run(["scan", "--seconds", "1", "--sim-scenario", file]);
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { name: string; address: string; rssi: number });
    assert.deepEqual(rows.map((x) => x.address).sort(), ["C0:D6:3C:57:2A:01", "C0:D6:3C:57:2A:02"]);
    assert.ok(rows.every((x) => x.name === `DL-${x.address.replaceAll(":", "")}` && typeof x.rssi === "number"));
  });

  it("poll --address prints the snapshot of that BMS, probing its protocol", () => {
    const r = run(["poll", "--address", "c0-d6-3c-57-2a-02", "--sim-scenario", file]);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(s.protocol, "p81");
    assert.deepEqual(s.cells_mV, [3400, 3401, 3402]);
    assert.equal(s.soc_pct, PACK.soc_pct);
    assert.equal(s.current_A, PACK.current_A);
  });

  it("poll of a BMS on another simulated adapter goes through that adapter; scan shows the default adapter's", () => {
    const r = run(["poll", "--address", "C0:D6:3C:57:2A:04", "--sim-scenario", file]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Record<string, unknown>).protocol, "d2");
    // configured on hci0, which does not reach it
    const wrong = run(["poll", "--address", '[{"address":"C0:D6:3C:57:2A:04","adapter":"hci0"}]', "--sim-scenario", file]);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /not found/i);
  });

  it("poll --protocol forces the protocol; a wrong one fails with exit 1", () => {
    const ok = run(["poll", "--address", "C0:D6:3C:57:2A:01", "--protocol", "a5", "--sim-scenario", file]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual((JSON.parse(ok.stdout) as { cells_mV: number[] }).cells_mV, PACK.cells_mV);
    const wrong = run(["poll", "--address", "C0:D6:3C:57:2A:01", "--protocol", "d2", "--sim-scenario", file]);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /no reply/);
  });

  it("poll of a BMS that is out of range fails with exit 1 and says not found", () => {
    const r = run(["poll", "--address", "C0:D6:3C:57:2A:03", "--sim-scenario", file]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not found/);
  });

  it("poll without an address and a bad --protocol exit 2", () => {
    assert.equal(run(["poll", "--protocol", "x", "--address", "C0:D6:3C:57:2A:01"]).status, 2);
    const r = run(["poll"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--address/);
  });

  it("on a machine without Bluetooth, real-hardware commands fail with a clear error, not a crash", () => {
    const r = run(["poll", "--address", "C0:D6:3C:57:2A:01"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no Bluetooth adapter hci0/);
  });
});
