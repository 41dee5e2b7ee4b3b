/**
 * The Home Assistant add-on exactly as the Supervisor builds and starts it: build context
 * ha-addon/ with the build args BUILD_VERSION and BUILD_ARCH (FROM the standalone image, tagged
 * here with the name ha-addon/Dockerfile names, as the release pipeline publishes it), host
 * network, the capabilities config.yaml requests, /data holding options.json, SUPERVISOR_TOKEN,
 * and `http://supervisor` resolving to a fake Supervisor that hands out the credentials of a
 * password-protected Mosquitto. Bad options: one clear log line and an exit, not a crash loop.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { startBroker, type Broker } from "../helpers/broker.js";
import { Watcher } from "../helpers/mqtt-watch.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";
import { FAST_TIMING, PACK } from "../helpers/bridge-run.js";
import { ROOT } from "../helpers/paths.js";
import { dockerInstructions } from "../helpers/dockerfile.js";
import type { ScenarioBms } from "../../src/sim/scenario.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import { DOCKER_BIN, IMAGE, buildImage, docker, dockerOk, eventually, removeContainers, runAsync, skipUnlessEngine } from "../helpers/docker.js";

const skip = skipUnlessEngine();
const USER = "addons";
const PASS = "s3cret-from-supervisor";
const TOKEN = "test-supervisor-token";
const NAME = "addon_daly_bms_bridge_test";
const NAME_BAD = "addon_daly_bms_bridge_test_bad";
const ID = "daly_bms_c0d63c572a01";
const BMS = { name: "Pack A", address: "C0:D6:3C:57:2A:01", protocol: "p81", ...PACK, out_of_range: false } as const;

const config = YAML.parse(readFileSync(join(ROOT, "ha-addon", "config.yaml"), "utf8")) as {
  version: string;
  options: Record<string, unknown>;
  privileged?: string[];
  host_network?: boolean;
  host_dbus?: boolean;
};
const ADDON_IMAGE = `local/amd64-addon-daly_bms_bridge:${config.version}`;

let broker: Broker;
let supervisor: Server;
const supervisorCalls: string[] = [];
let scenarioDir: string;

/** The image name ha-addon/Dockerfile builds FROM, for this add-on version. */
function baseImageName(): string {
  const from = dockerInstructions(readFileSync(join(ROOT, "ha-addon", "Dockerfile"), "utf8")).find((i) => i.op === "FROM");
  assert.ok(from, "ha-addon/Dockerfile has a FROM");
  return from.args.replace("${BUILD_VERSION}", config.version);
}

/** /data as the Supervisor lays it out: options.json = the defaults plus what the user set. */
function dataDir(options: Record<string, unknown>): string {
  const d = mkdtempSync(join(tmpdir(), "daly-addon-data-"));
  writeFileSync(join(d, "options.json"), JSON.stringify({ ...config.options, ...options }));
  return d;
}

/** docker run as the Supervisor does for this add-on's config.yaml. */
function supervisorRun(name: string, data: string): string[] {
  assert.equal(config.host_network, true);
  return [
    "run", "-d", "--name", name,
    "--network", "host",
    ...(config.privileged ?? []).flatMap((c) => ["--cap-add", c]),
    ...(config.host_dbus && existsSync("/run/dbus") ? ["-v", "/run/dbus:/run/dbus:ro"] : []),
    "-v", `${data}:/data`,
    "-e", `SUPERVISOR_TOKEN=${TOKEN}`,
    "--add-host", "supervisor:127.0.0.1",
    // the test's radio: the simulator with a mounted scenario instead of the host's Bluetooth
    "-v", `${scenarioDir}:/scenario:ro`,
    "-e", "DALY_TRANSPORT=simulator",
    "-e", "DALY_SIM_SCENARIO=/scenario/scenario.json",
    ADDON_IMAGE,
  ];
}

before(async () => {
  if (skip) return;
  broker = await startBroker({ username: USER, password: PASS });
  // the Supervisor's API at http://supervisor (port 80), answering only the add-on's token
  supervisor = createServer((req, res) => {
    supervisorCalls.push(`${req.method ?? ""} ${req.url ?? ""} ${req.headers.authorization ?? ""}`);
    if (req.url === "/services/mqtt" && req.headers.authorization === `Bearer ${TOKEN}`) {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ result: "ok", data: { addon: "core_mosquitto", host: "127.0.0.1", port: broker.port, ssl: false, protocol: "3.1.1", username: USER, password: PASS } }));
    } else {
      res.statusCode = 401;
      res.end(JSON.stringify({ result: "error", message: "unauthorized" }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    supervisor.once("error", (e) => reject(new Error(`the fake Supervisor needs port 80 on 127.0.0.1: ${e.message}`)));
    supervisor.listen(80, "127.0.0.1", () => resolve());
  });
  scenarioDir = mkdtempSync(join(tmpdir(), "daly-addon-scn-"));
  writeFileSync(join(scenarioDir, "scenario.json"), JSON.stringify({ bms: [{ ...BMS, timing: FAST_TIMING }] }));
  chmodSync(scenarioDir, 0o755);
  removeContainers(NAME, NAME_BAD);
  await buildImage();
  dockerOk(["tag", IMAGE, baseImageName()]);
  const b = await runAsync(DOCKER_BIN, ["build", "--network", "host", "--build-arg", `BUILD_VERSION=${config.version}`, "--build-arg", "BUILD_ARCH=amd64", "-t", ADDON_IMAGE, join(ROOT, "ha-addon")]);
  assert.equal(b.status, 0, `add-on build failed:\n${b.stdout.slice(-3000)}\n${b.stderr.slice(-3000)}`);
});

after(async () => {
  if (skip) return;
  removeContainers(NAME, NAME_BAD);
  await new Promise<void>((r) => supervisor.close(() => r()));
  await broker.stop();
});

test("add-on: takes the broker from the Supervisor, publishes discovery and states equal to the scenario, as root, state in /data", { skip }, async () => {
  // the broker really wants the password: an anonymous client is refused
  await assert.rejects(Watcher.connectWith(broker.url, {}, ["#"]).then((w) => w.close()));
  const w = await Watcher.connectWith(broker.url, { username: USER, password: PASS });
  const data = dataDir({ bms: [{ address: BMS.address, name: "House bank" }], poll_interval: 1 });
  try {
    dockerOk(supervisorRun(NAME, data));
    const s = await w.waitFor((m) => m.topic === `daly_bms/${ID}/state`, "a state from the add-on", 60_000).catch((e: Error) => {
      throw new Error(`${e.message}; add-on log:\n${docker(["logs", "--tail", "20", NAME]).stderr}`);
    });
    assertScenarioValues(JSON.parse(s.payload) as Snapshot, BMS as unknown as ScenarioBms);
    const cfg = w.messages.find((m) => m.topic.endsWith(`/${ID}/voltage/config`));
    assert.ok(cfg, "voltage discovery");
    assert.equal((JSON.parse(cfg.payload) as { device: { name: string } }).device.name, "House bank", "the name from options.json");
    assert.ok(supervisorCalls.includes(`GET /services/mqtt Bearer ${TOKEN}`), JSON.stringify(supervisorCalls));
    assert.equal(dockerOk(["exec", NAME, "id", "-u"]), "0", "add-ons run as root (/data is root's)");
    await eventually(() => (readdirSync(data).some((f) => f.startsWith("energy-")) ? true : undefined), "energy counters in /data", 30_000);
    const logs = docker(["logs", NAME]);
    assert.match(logs.stdout + logs.stderr, /running as a Home Assistant add-on/);
    assert.doesNotMatch(logs.stdout + logs.stderr, new RegExp(PASS), "the broker password is never logged");
    dockerOk(["stop", "-t", "20", NAME]);
    assert.equal(dockerOk(["inspect", "-f", "{{.State.ExitCode}}", NAME]), "0");
  } finally {
    await w.close();
  }
});

test("add-on: bad options give one clear log line and an exit, not a crash loop", { skip }, async () => {
  const data = dataDir({ bms: [{ address: "not-a-mac" }], poll_interval: 1 });
  dockerOk(supervisorRun(NAME_BAD, data));
  await eventually(() => (dockerOk(["inspect", "-f", "{{.State.Status}}", NAME_BAD]) === "exited" ? true : undefined), "the add-on to exit", 30_000);
  const code = Number(dockerOk(["inspect", "-f", "{{.State.ExitCode}}", NAME_BAD]));
  assert.ok(code === 1 || code === 2, `exit status ${code}`);
  const logs = docker(["logs", NAME_BAD]);
  const text = `${logs.stdout}${logs.stderr}`.trim();
  assert.match(text, /bms\[0\]\.address/, text);
  assert.doesNotMatch(text, /^\s+at /m, "no stack trace");
  assert.ok(text.split("\n").length <= 3, `a short message, got:\n${text}`);
  assert.equal(dockerOk(["inspect", "-f", "{{.RestartCount}}", NAME_BAD]), "0");
});
