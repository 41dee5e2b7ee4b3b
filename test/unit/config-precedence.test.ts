/** Contract §1: CLI > env > file > defaults, for files in JSON and in YAML. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type LoadResult } from "../../src/config/load.js";

const dir = mkdtempSync(join(tmpdir(), "daly-config-"));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
function ok(r: LoadResult): Extract<LoadResult, { ok: true }> {
  if (!r.ok) assert.fail(r.message);
  return r;
}

const FILES = {
  json: file("c.json", JSON.stringify({ pollInterval: 10, mqtt: { url: "mqtt://file" } })),
  yaml: file("c.yaml", "pollInterval: 10\nmqtt:\n  url: mqtt://file\n"),
};
const ENV = { DALY_POLL_INTERVAL: "20", DALY_MQTT_URL: "mqtt://env" };
const CLI = ["--poll-interval", "40", "--mqtt-url=mqtt://cli"];

test("defaults when nothing is given", () => {
  const r = ok(loadConfig({ argv: [], env: {} }));
  assert.equal(r.config.pollInterval, 30);
  assert.equal(r.config.mqtt.url, "");
  assert.equal(r.sources.keys.pollInterval, "default");
});

for (const [kind, path] of Object.entries(FILES)) {
  test(`${kind} file beats defaults, env beats file, CLI beats env`, () => {
    const layers: Array<[string[], NodeJS.ProcessEnv, number, string, string]> = [
      [["--config", path], {}, 10, "mqtt://file", "file"],
      [["--config", path], ENV, 20, "mqtt://env", "env"],
      [["--config", path, ...CLI], ENV, 40, "mqtt://cli", "cli"],
      [[...CLI], {}, 40, "mqtt://cli", "cli"],
    ];
    for (const [argv, env, poll, url, source] of layers) {
      const r = ok(loadConfig({ argv, env }));
      assert.equal(r.config.pollInterval, poll, `${kind} ${source}`);
      assert.equal(r.config.mqtt.url, url, `${kind} ${source}`);
      assert.equal(r.sources.keys["mqtt.url"], source);
    }
  });
}

test("DALY_CONFIG names a file; --config replaces it; options.files come first", () => {
  const other = file("other.yaml", "pollInterval: 11\n");
  assert.equal(ok(loadConfig({ argv: [], env: { DALY_CONFIG: FILES.yaml } })).config.pollInterval, 10);
  assert.equal(ok(loadConfig({ argv: ["--config", other], env: { DALY_CONFIG: FILES.yaml } })).config.pollInterval, 11);
  const r = ok(loadConfig({ argv: ["--config", other], env: {}, files: [FILES.json] }));
  assert.deepEqual(r.sources.files, [FILES.json, other]);
  assert.equal(r.config.pollInterval, 11);
  assert.equal(r.config.mqtt.url, "mqtt://file");
});

test("bms: MACs normalised, defaults filled; --address keeps a listed battery's file settings", () => {
  const p = file("bms.yaml", "bms:\n  - address: c0-d6-3c-57-2a-01\n    name: Pack A\n    invertCurrent: true\n  - AABBCCDDEEFF\n");
  const fromFile = ok(loadConfig({ argv: ["--config", p], env: {} })).config.bms;
  assert.deepEqual(fromFile, [
    { address: "C0:D6:3C:57:2A:01", name: "Pack A", protocol: "auto", invertCurrent: true },
    { address: "AA:BB:CC:DD:EE:FF", protocol: "auto", invertCurrent: false },
  ]);
  const cli = ok(loadConfig({ argv: ["--config", p, "--address", "c0:d6:3c:57:2a:01,11:22:33:44:55:66"], env: {} })).config.bms;
  assert.deepEqual(cli, [
    { address: "C0:D6:3C:57:2A:01", name: "Pack A", protocol: "auto", invertCurrent: true },
    { address: "11:22:33:44:55:66", protocol: "auto", invertCurrent: false },
  ]);
  const env = ok(loadConfig({ argv: [], env: { DALY_BMS: '[{"address":"aa:bb:cc:dd:ee:ff","protocol":"d2"}]' } })).config.bms;
  assert.deepEqual(env, [{ address: "AA:BB:CC:DD:EE:FF", protocol: "d2", invertCurrent: false }]);
  // the adapter that reaches it: hciN as given, an adapter address normalised like a BMS's
  const adapters = ok(loadConfig({ argv: [], env: { DALY_BMS: '[{"address":"aabbccddeeff","adapter":"hci1"},{"address":"aabbccddee00","adapter":"00-1a-7d-da-71-13"}]' } })).config.bms;
  assert.deepEqual(adapters.map((b) => b.adapter), ["hci1", "00:1A:7D:DA:71:13"]);
});

test("--simulate and --sim-scenario select the simulator; a scenario from env does when transport is unset", () => {
  const scenario = file("scenario.json", '{"bms":[]}');
  assert.equal(ok(loadConfig({ argv: [], env: {} })).config.transport, "noble");
  assert.equal(ok(loadConfig({ argv: ["--simulate"], env: { DALY_TRANSPORT: "noble" } })).config.transport, "simulator");
  const r = ok(loadConfig({ argv: ["--sim-scenario", scenario], env: {} }));
  assert.equal(r.config.transport, "simulator");
  assert.equal(r.config.simulation.scenario, scenario);
  const implied = ok(loadConfig({ argv: [], env: { DALY_SIM_SCENARIO: scenario } }));
  assert.equal(implied.config.transport, "simulator");
  assert.equal(implied.sources.keys.transport, "env");
});

test("flags: --flag=value, bare booleans, positionals and command flags are returned", () => {
  const r = ok(
    loadConfig({
      argv: ["decode", "--keep-connected", "a5", "--protocol=d2", "--hci-device", "1", "--", "--not-a-flag"],
      env: { DALY_KEEP_CONNECTED: "false" },
      commandFlags: { protocol: { kind: "value" } },
    }),
  );
  assert.equal(r.config.keepConnected, true);
  assert.equal(r.config.ble.hciDeviceId, 1);
  assert.deepEqual(r.positional, ["decode", "a5", "--not-a-flag"]);
  assert.deepEqual([...r.commandFlags], [["protocol", ["d2"]]]);
});

test("env: strict booleans/numbers; an empty variable leaves a non-string key alone", () => {
  const r = ok(loadConfig({ argv: [], env: { DALY_MQTT_RETAIN: "off", DALY_BLE_REQUEST_TIMEOUT: "0.5", DALY_POLL_INTERVAL: "" } }));
  assert.equal(r.config.mqtt.retain, false);
  assert.equal(r.config.ble.requestTimeout, 0.5);
  assert.equal(r.config.pollInterval, 30);
});

test("the config is deeply frozen and gets a client id", () => {
  const r = ok(loadConfig({ argv: [], env: {} }));
  assert.ok(Object.isFrozen(r.config.mqtt.tls));
  assert.throws(() => {
    (r.config.mqtt as { url: string }).url = "x";
  }, TypeError);
  assert.match(r.config.mqtt.clientId, /^daly-bms-bridge-[0-9a-f]{8}$/);
  assert.equal(ok(loadConfig({ argv: [], env: { DALY_MQTT_CLIENT_ID: "me" } })).config.mqtt.clientId, "me");
});
