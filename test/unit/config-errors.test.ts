/** Contract §1: an invalid value is `ok: false` with a message naming the key and what was expected. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type LoadOptions } from "../../src/config/load.js";

const dir = mkdtempSync(join(tmpdir(), "daly-config-"));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
function failure(opts: Partial<LoadOptions>): string {
  const r = loadConfig({ argv: [], env: {}, ...opts });
  if (r.ok) assert.fail("expected the config to be rejected");
  return r.message;
}

const cases: Array<[string, Partial<LoadOptions>, RegExp]> = [
  [
    "bad MAC in bms[1] (YAML file)",
    { argv: ["--config", file("mac.yaml", "bms:\n  - C0:D6:3C:57:2A:01\n  - address: xx\n")] },
    /^bms\[1\]\.address: expected a MAC address like AA:BB:CC:DD:EE:FF, got "xx" \(from .*mac\.yaml\)$/,
  ],
  ["duplicate address", { env: { DALY_BMS: "aabbccddeeff,AA-BB-CC-DD-EE-FF" } }, /^bms\[1\]\.address: expected each address once/],
  ["unknown key in a bms entry", { env: { DALY_BMS: '[{"address":"aabbccddeeff","mac":1}]' } }, /^bms\[0\]\.mac: unknown key \(expected one of: address, /],
  ["bms adapter that is neither hciN nor an address", { env: { DALY_BMS: '[{"address":"aabbccddeeff","adapter":"usb1"}]' } }, /^bms\[0\]\.adapter: expected an adapter name like "hci1" or its address like 00:1A:7D:DA:71:13, got "usb1"/],
  ["bridgeId with a slash", { argv: ["--bridge-id", "shed/2"] }, /^bridgeId: expected 1-64 letters, digits, "_" or "-" \(it becomes one MQTT topic level\), got "shed\/2" \(from --bridge-id\)$/],
  ["pollInterval 0", { argv: ["--poll-interval", "0"] }, /^pollInterval: expected a number ≥ 1 \(seconds\), got 0 \(from --poll-interval\)$/],
  ["pollInterval not a number", { env: { DALY_POLL_INTERVAL: "30s" } }, /^pollInterval: expected a number ≥ 1 \(seconds\), got "30s" \(from DALY_POLL_INTERVAL\)$/],
  ["log.level loud", { env: { DALY_LOG_LEVEL: "loud" } }, /^log\.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", got "loud"/],
  ["boolean that is not one", { env: { DALY_KEEP_CONNECTED: "maybe" } }, /^keepConnected: expected true or false, got "maybe"/],
  ["mqtt.url http", { argv: ["--mqtt-url", "http://x"] }, /^mqtt\.url: expected an mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL.*got "http:\/\/x"/],
  ["topic with a wildcard", { env: { DALY_MQTT_BASE_TOPIC: "bms/+" } }, /^mqtt\.baseTopic: expected a topic without "\+", "#", empty levels/],
  ["topic with an empty level", { env: { DALY_MQTT_DISCOVERY_PREFIX: "home//assistant" } }, /^mqtt\.discoveryPrefix: expected a topic/],
  ["unknown key in a file", { argv: ["--config", file("k.json", '{"mqtt":{"host":"x"}}')] }, /^config file .*k\.json: unknown key "mqtt\.host" \(expected one of: url, /],
  ["section that is not a mapping", { argv: ["--config", file("s.yaml", "ble: 5\n")] }, /^config file .*s\.yaml: ble: expected a mapping of hciDeviceId, /],
  ["leaf given as a deep object", { argv: ["--config", file("d.json", '{"pollInterval":{"a":{"b":1}}}')] }, /^pollInterval: expected a number/],
  ["unknown flag", { argv: ["--pol-interval", "5"] }, /^unknown flag --pol-interval$/],
  ["value flag without a value", { argv: ["--mqtt-url"] }, /^--mqtt-url: expected a value/],
  ["malformed YAML", { argv: ["--config", file("bad.yaml", "mqtt:\n  url: [x\n")] }, /^config file .*bad\.yaml: invalid YAML: .*line \d+/],
  ["malformed JSON", { argv: ["--config", file("bad.json", '{"pollInterval": }')] }, /^config file .*bad\.json: invalid JSON/],
  ["unreadable file", { argv: ["--config", join(dir, "missing.yaml")] }, /^config file .*missing\.yaml: cannot read it \(ENOENT\)$/],
  ["a top level that is not a mapping", { argv: ["--config", file("list.yaml", "- 1\n")] }, /^config file .*list\.yaml: expected a mapping of config keys/],
  ["explicit noble with a scenario", { env: { DALY_TRANSPORT: "noble", DALY_SIM_SCENARIO: file("sc.json", "{}") } }, /^transport: expected "simulator" when simulation\.scenario is set/],
  ["missing scenario file", { argv: ["--sim-scenario", join(dir, "nope.json")] }, /^simulation\.scenario: expected a readable file/],
  ["TLS cert without key", { env: { DALY_MQTT_TLS_CERT: file("c.pem", "x") } }, /^mqtt\.tls\.cert and mqtt\.tls\.key: expected both or neither/],
];

for (const [name, opts, re] of cases) {
  test(`rejected: ${name}`, () => {
    assert.match(failure(opts), re);
  });
}

test("every invalid key is reported, not only the first", () => {
  const m = failure({ env: { DALY_POLL_INTERVAL: "0", DALY_LOG_LEVEL: "loud" } });
  assert.match(m, /^pollInterval: /m);
  assert.match(m, /^log\.level: /m);
});

test("a rejected URL or password is never echoed", () => {
  const m = failure({ argv: ["--mqtt-url", "http://bob:hunter2@x"] });
  assert.doesNotMatch(m, /hunter2/);
  assert.match(m, /bob:\*\*\*@x/);
});
