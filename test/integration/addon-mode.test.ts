/**
 * Add-on start path end to end (contract §6): a fake Supervisor on localhost hands out the broker
 * credentials, the options come from a temp options.json, and the bridge must connect to a real,
 * password-protected Mosquitto with them and publish discovery.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type Broker } from "../helpers/broker.js";
import { Watcher } from "../helpers/mqtt-watch.js";
import { FAST_ENV, PACK, scenarioFile } from "../helpers/bridge-run.js";
import { startRun } from "../../src/commands/run.js";

const USER = "addons";
const PASS = "s3cret-from-supervisor";
const TOKEN = "test-supervisor-token";
const A = "C0:D6:3C:57:2A:01";
const ID_A = "daly_bms_c0d63c572a01";

let broker: Broker;
let supervisor: Server;
let supervisorUrl = "";
const seenAuth: string[] = [];

before(async () => {
  broker = await startBroker({ username: USER, password: PASS });
  supervisor = createServer((req, res) => {
    seenAuth.push(req.headers.authorization ?? "");
    if (req.url === "/services/mqtt" && req.headers.authorization === `Bearer ${TOKEN}`) {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ result: "ok", data: { addon: "core_mosquitto", host: "127.0.0.1", port: broker.port, ssl: false, protocol: "3.1.1", username: USER, password: PASS } }));
    } else {
      res.statusCode = 401;
      res.end();
    }
  });
  await new Promise<void>((r) => supervisor.listen(0, "127.0.0.1", () => r()));
  const a = supervisor.address();
  supervisorUrl = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
});
after(async () => {
  await new Promise<void>((r) => supervisor.close(() => r()));
  await broker.stop();
});

function optionsFile(options: Record<string, unknown>): string {
  const f = join(mkdtempSync(join(tmpdir(), "daly-opts-")), "options.json");
  writeFileSync(f, JSON.stringify(options));
  return f;
}

describe("Home Assistant add-on mode", () => {
  it("takes the broker from the Supervisor and the options from options.json, and publishes discovery", async () => {
    const scn = scenarioFile([{ ...PACK, address: A, protocol: "d2" }]);
    const opts = optionsFile({ bms: [{ address: A, name: "Van battery", invert_current: false }], poll_interval: 1, log_level: "error" });
    const env = { ...FAST_ENV, SUPERVISOR_TOKEN: TOKEN, SUPERVISOR_URL: supervisorUrl, DALY_ADDON_OPTIONS: opts, DALY_SIM_SCENARIO: scn };
    const w = await Watcher.connectWith(broker.url, { username: USER, password: PASS });
    const h = await startRun([], env);
    assert.ok("bridge" in h, "message" in h ? h.message : "");
    try {
      const cfg = await w.waitFor((m) => m.topic === `homeassistant/sensor/${ID_A}/voltage/config` && m.payload.length > 0, "discovery");
      assert.equal((JSON.parse(cfg.payload) as { device: { name: string } }).device.name, "Van battery");
      const st = JSON.parse((await w.waitFor(w.topic(`daly_bms/${ID_A}/state`), "state")).payload) as Record<string, unknown>;
      assert.equal(st.soc_pct, PACK.soc_pct);
      assert.ok(seenAuth.includes(`Bearer ${TOKEN}`), "Supervisor called with the token");
    } finally {
      await h.stop();
      await w.close();
    }
  });

  it("a broker named in the options wins over the Supervisor's, and CLI flags win over options", async () => {
    const before = seenAuth.length;
    const scn = scenarioFile([{ ...PACK, address: A, protocol: "a5" }]);
    const opts = optionsFile({ bms: [{ address: A }], mqtt_url: `mqtt://127.0.0.1:${broker.port}`, mqtt_username: USER, mqtt_password: PASS, poll_interval: 600, log_level: "error" });
    const env = { ...FAST_ENV, SUPERVISOR_TOKEN: TOKEN, SUPERVISOR_URL: supervisorUrl, DALY_ADDON_OPTIONS: opts, DALY_SIM_SCENARIO: scn };
    const w = await Watcher.connectWith(broker.url, { username: USER, password: PASS });
    const h = await startRun(["--mqtt-url", broker.url, "--poll-interval", "1"], env);
    assert.ok("bridge" in h);
    try {
      await w.waitFor(w.topic(`daly_bms/${ID_A}/state`), "state");
      assert.equal(seenAuth.length, before, "Supervisor not asked");
      assert.equal(h.bridge.supervisors[0]?.target.pollIntervalMs, 1000, "--poll-interval beat poll_interval");
    } finally {
      await h.stop();
      await w.close();
    }
  });

  it("fails clearly when the Supervisor has no MQTT service, and never runs demo batteries", async () => {
    const opts = optionsFile({ bms: [{ address: A }] });
    const r = await startRun([], { SUPERVISOR_TOKEN: "wrong", SUPERVISOR_URL: supervisorUrl, DALY_ADDON_OPTIONS: opts });
    assert.ok("message" in r && !("bridge" in r));
    assert.match(r.message, /Supervisor|MQTT/);
    const none = await startRun([], { SUPERVISOR_TOKEN: TOKEN, SUPERVISOR_URL: supervisorUrl, DALY_ADDON_OPTIONS: optionsFile({ bms: [] }) });
    assert.ok("message" in none);
    assert.match(none.message, /add at least one BMS/);
  });
});
