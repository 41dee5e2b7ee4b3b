/** The schema is the one source: the Config type, env names, the docs table and redaction follow it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { configDocs } from "../../src/config/docs.js";
import { loadConfig } from "../../src/config/load.js";
import { redactedConfig } from "../../src/config/redact.js";
import { newConvict, schemaLeaves, type Config } from "../../src/config/schema.js";

/** A value for every key of Config: the compiler rejects a missing or an extra key here. */
const SAMPLE: Config = {
  bridgeId: "garage",
  bms: [{ address: "C0:D6:3C:57:2A:01", protocol: "auto", invertCurrent: false }],
  transport: "noble",
  simulation: { scenario: "", hciSocket: "" },
  ble: { hciDeviceId: 0, adapter: "", userChannel: false, scanTimeout: 10, connectTimeout: 15, requestTimeout: 3, requestRetries: 2 },
  pollInterval: 30,
  keepConnected: false,
  offlineAfterFailures: 3,
  mqtt: {
    url: "mqtts://bob:hunter2@broker:8883",
    username: "bob",
    password: "hunter2",
    clientId: "x",
    tls: { ca: "", cert: "", key: "", rejectUnauthorized: true },
    baseTopic: "daly_bms",
    discoveryPrefix: "homeassistant",
    retain: true,
  },
  log: { level: "info", format: "auto" },
  stateDir: "",
  metrics: { port: 0 },
  maxCurrent: 1000,
  serial: { path: "", baudRate: 9600 },
  esphome: { proxies: [{ host: "192.168.1.50", port: 6053, encryptionKey: "px7tsbK3C7bpXHr2OevEV2ZMg/FrNBw2+O2pNPbedtA=", name: "garage" }] },
};

function leafPaths(o: object, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]: [string, unknown]) =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? leafPaths(v, `${prefix}${k}.`) : [prefix + k],
  );
}

test("the schema's keys are exactly the Config interface's keys", () => {
  const fromSchema = leafPaths(newConvict().getProperties()).sort();
  assert.deepEqual(fromSchema, leafPaths(SAMPLE).sort());
  assert.deepEqual(schemaLeaves().map((l) => l.path).sort(), fromSchema);
});

test("every key has a doc and its own DALY_ variable; flags are unique", () => {
  const envs = new Set<string>();
  const args = new Set<string>();
  for (const { path, spec } of schemaLeaves()) {
    assert.ok(spec.doc.length > 10, `${path} doc`);
    assert.match(spec.env, /^DALY_[A-Z0-9_]+$/, path);
    assert.ok(!envs.has(spec.env), `${spec.env} twice`);
    envs.add(spec.env);
    if (spec.arg) {
      assert.ok(!args.has(spec.arg), `--${spec.arg} twice`);
      args.add(spec.arg);
    }
  }
  for (const flag of ["sim-scenario", "mqtt-url", "poll-interval", "log-level", "address", "state-dir", "keep-connected", "hci-device"]) {
    assert.ok(args.has(flag), `--${flag}`);
  }
  assert.equal(schemaLeaves().find((l) => l.path === "mqtt.password")?.spec.sensitive, true);
});

test("loaded defaults are the schema defaults", () => {
  const r = loadConfig({ argv: [], env: {} });
  assert.ok(r.ok);
  const defaults = newConvict().getProperties();
  assert.deepEqual({ ...r.config, mqtt: { ...r.config.mqtt, clientId: "" } }, defaults);
});

test("configDocs has one row per key with env, flag and default", () => {
  const docs = configDocs();
  const rows = docs.split("\n").filter((l) => l.startsWith("| `"));
  assert.equal(rows.length, schemaLeaves().length);
  assert.ok(rows.some((r) => r.startsWith("| `pollInterval` | `DALY_POLL_INTERVAL` | `--poll-interval` | `30` |")));
  assert.ok(rows.some((r) => r.startsWith('| `mqtt.baseTopic` | `DALY_MQTT_BASE_TOPIC` |  | `"daly_bms"` |')));
  assert.ok(rows.some((r) => r.startsWith("| `transport` | `DALY_TRANSPORT` | `--simulate` |")));
  assert.match(docs, /\| `DALY_CONFIG` \| `--config` \|/);
  assert.match(docs, /auto\\\|a5/, "a | inside a doc is escaped");
});

test("redactedConfig hides the password and URL credentials, leaving the config untouched", () => {
  const red = redactedConfig(SAMPLE);
  assert.equal(red.mqtt.password, "***");
  assert.equal(red.mqtt.url, "mqtts://bob:***@broker:8883");
  assert.equal(red.mqtt.username, "bob");
  assert.doesNotMatch(JSON.stringify(red), /hunter2/);
  assert.equal(SAMPLE.mqtt.password, "hunter2");
  const none = redactedConfig({ ...SAMPLE, mqtt: { ...SAMPLE.mqtt, password: "", url: "mqtt://broker" } });
  assert.equal(none.mqtt.password, "", "an unset password stays visibly unset");
  assert.equal(none.mqtt.url, "mqtt://broker");
});

test("a password containing @ is masked up to the host", () => {
  const red = redactedConfig({ ...SAMPLE, mqtt: { ...SAMPLE.mqtt, url: "mqtt://bob:p@ss@broker/x" } });
  assert.equal(red.mqtt.url, "mqtt://bob:***@broker/x");
});
