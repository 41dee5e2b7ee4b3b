/**
 * `poll` and `scan` as a user runs them (the real CLI, --config FILE) through ESPHome proxies:
 * (1) a stand-in proxy that shares no code with the bridge (test/fixtures/esphome/replay-proxy.py:
 * hand-encoded API messages, API 1.10, 128-bit UUIDs, real Daly captures split into 20-byte
 * notifications; Noise through Python's `cryptography` when installed), and (2) the fake proxy
 * serving the simulator's d2 and p81 BMS, with no free slot.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, FIXTURES } from "../helpers/paths.js";
import { FakeProxy } from "../helpers/fake-proxy.js";
import { parseScenario } from "../../src/sim/scenario.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";
import type { Snapshot } from "../../src/bms/snapshot.js";

const DIR = mkdtempSync(join(tmpdir(), "daly-esphome-"));
const VECTORS = join(FIXTURES, "daly", "vectors.json");

function runCli(args: string[], timeoutMs = 30_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? "", DALY_STATE_DIR: DIR }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("close", (status) => {
      clearTimeout(t);
      resolve({ status, stdout, stderr });
    });
  });
}

function configFile(name: string, proxies: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): string {
  const f = join(DIR, `${name}.json`);
  writeFileSync(f, JSON.stringify({ transport: "esphome", esphome: { proxies }, ble: { requestTimeout: 0.5, scanTimeout: 3, connectTimeout: 3 }, ...extra }));
  return f;
}

/** Starts the Python proxy; resolves with its port (first stdout line). */
function startReplay(key?: string): Promise<{ port: number; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(key ? (noisePython ?? "python3") : "python3", [join(FIXTURES, "esphome", "replay-proxy.py"), VECTORS, ...(key ? [key] : [])], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve({ port: Number(m[1]), child });
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`replay proxy exited with ${String(code)}`)));
  });
}

interface Vector { name: string; expected?: Record<string, unknown> }
const vectors = JSON.parse(readFileSync(VECTORS, "utf8")) as Vector[];
const expected = (name: string): Record<string, unknown> => vectors.find((v) => v.name === name)?.expected ?? {};

function assertCapturedPack(s: Record<string, unknown>): void {
  // every value from the real captures the replay proxy sends (daly-protocol.md §7.1 L1, L4, L5+L6, L5+L7, L8)
  for (const name of ["L1", "L4", "L5+L6", "L5+L7", "L8"]) {
    for (const [k, v] of Object.entries(expected(name))) {
      if (k === "state" || k === "protocol") continue;
      assert.deepEqual(s[k], v, `${k} (from ${name})`);
    }
  }
}

/** A python3 whose `cryptography` can do the proxy's Noise side (CI: apt python3-cryptography for /usr/bin/python3). */
const noisePython = ["python3", "/usr/bin/python3"].find((exe) => spawnSync(exe, ["-c", "import cryptography"]).status === 0);
if (!noisePython && process.env.CI) throw new Error("no python3 with the cryptography package (CI installs python3-cryptography): the Noise replay proxy cannot run");
const hasCryptography = noisePython !== undefined;

for (const mode of ["plaintext", "noise"] as const) {
  describe(`CLI through a proxy not written against this code (${mode})`, { skip: mode === "noise" && !hasCryptography ? "python3 cryptography package not installed" : false }, () => {
    const key = mode === "noise" ? randomBytes(32).toString("base64") : undefined;
    let proxy: { port: number; child: ChildProcess } | undefined;
    before(async () => {
      proxy = await startReplay(key);
    });
    after(() => {
      proxy?.child.removeAllListeners("exit");
      proxy?.child.kill();
    });

    it("scan lists the Daly module with the proxy that heard it and its RSSI", async () => {
      const cfg = configFile(`scan-${mode}`, [{ host: "127.0.0.1", port: proxy?.port, encryptionKey: key ?? "", name: "replay-proxy" }]);
      const r = await runCli(["scan", "--seconds", "1", "--config", cfg]);
      assert.equal(r.status, 0, r.stderr);
      const rows = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(rows, [{ name: "DL-C0D63C572A01", address: "C0:D6:3C:57:2A:01", rssi: -67, services: ["fff0"], proxy: `replay-proxy (127.0.0.1:${proxy?.port})` }]);
    });

    it("poll --address returns the values of the real captures, reassembled from 20-byte notifications", async () => {
      const cfg = configFile(`poll-${mode}`, [{ host: "127.0.0.1", port: proxy?.port, encryptionKey: key ?? "" }]);
      const r = await runCli(["poll", "--address", "C0:D6:3C:57:2A:01", "--protocol", "a5", "--config", cfg]);
      assert.equal(r.status, 0, r.stderr);
      assertCapturedPack(JSON.parse(r.stdout) as Record<string, unknown>);
    });

    if (mode === "noise") {
      it("a wrong key fails with one line naming the cause", async () => {
        const cfg = configFile("wrong-key", [{ host: "127.0.0.1", port: proxy?.port, encryptionKey: randomBytes(32).toString("base64") }]);
        const r = await runCli(["scan", "--seconds", "1", "--config", cfg]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^scan: ESPHome proxy 127\.0\.0\.1:\d+: wrong encryption key/);
        assert.equal(r.stderr.trim().split("\n").length, 1);
      });
    }
  });
}

describe("CLI through the fake proxy serving the simulator", () => {
  const list = parseScenario({
    bms: [
      { address: "C0:D6:3C:57:2A:02", protocol: "d2", cells_mV: [3300, 3310, 3320, 3330], temperatures_C: [20, 21], current_A: 4.2, soc_pct: 71.5, remaining_Ah: 120.3, cycles: 33, charge_mosfet: true, discharge_mosfet: true },
      { address: "C0:D6:3C:57:2A:03", protocol: "p81", cells_mV: [3400, 3401, 3402], temperatures_C: [25], current_A: -1.5, soc_pct: 40, remaining_Ah: 60, cycles: 7, charge_mosfet: false, discharge_mosfet: true },
    ],
  });
  assert.ok(list.ok);
  const bms = list.scenario.bms;
  const key = randomBytes(32).toString("base64");
  const proxy = new FakeProxy({ bms, key, name: "garage" });
  const full = new FakeProxy({ bms, slots: 0 });
  before(async () => {
    await proxy.start();
    await full.start();
  });
  after(async () => {
    await proxy.stop();
    await full.stop();
  });

  it("poll of d2 and p81 through an encrypted proxy equals the scenario; the link is released", async () => {
    for (const b of bms) {
      const cfg = configFile(`sim-${b.protocol}`, [{ host: "127.0.0.1", port: proxy.port, encryptionKey: key, name: "garage" }], { bms: [{ address: b.address, proxy: "garage" }] });
      const r = await runCli(["poll", "--config", cfg]);
      assert.equal(r.status, 0, r.stderr);
      assertScenarioValues(JSON.parse(r.stdout) as Snapshot, b);
    }
    assert.equal(proxy.allocated.size, 0);
  });

  it("a proxy with no free slot gives a bounded error that says so", async () => {
    const cfg = configFile("full", [{ host: "127.0.0.1", port: full.port }]);
    const t0 = Date.now();
    const r = await runCli(["poll", "--address", "C0:D6:3C:57:2A:02", "--config", cfg]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no free connection slot/);
    assert.ok(Date.now() - t0 < 15_000, "bounded by the connect timeout");
  });

  it("config errors: a pin to an unknown proxy and transport esphome without proxies exit 2", async () => {
    const pin = configFile("pin", [{ host: "127.0.0.1", port: proxy.port, encryptionKey: key }], { bms: [{ address: "C0:D6:3C:57:2A:02", proxy: "attic" }] });
    const r = await runCli(["poll", "--config", pin]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bms\[0\]\.proxy: .*"attic"/);
    const none = configFile("none", []);
    const n = await runCli(["scan", "--config", none]);
    assert.equal(n.status, 2);
    assert.match(n.stderr, /esphome\.proxies: expected at least one proxy/);
  });
});
