/**
 * The shipped docker/docker-compose.yml itself, with Debian's docker-compose 1.29, as the README's
 * "Install with docker-compose" section runs it (config.example.yaml copied to config/config.yaml),
 * plus a test override that swaps the radio for a simulator scenario and points the bridge at
 * the test's Mosquitto: discovery and states equal the scenario, healthy, clean stop.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type Broker } from "../helpers/broker.js";
import { Watcher } from "../helpers/mqtt-watch.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";
import { FAST_TIMING, PACK } from "../helpers/bridge-run.js";
import { ROOT } from "../helpers/paths.js";
import type { ScenarioBms } from "../../src/sim/scenario.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import { COMPOSE_BIN, docker, eventually, health, runAsync, skipUnlessEngine } from "../helpers/docker.js";

const skip = skipUnlessEngine();
const PROJECT = "dalytest";
const CONTAINER = "daly-test-compose";
const ID = "daly_bms_c0d63c572a01";
// the BMS that docker/config.example.yaml lists (Pack A), served by the simulator
const BMS = { name: "Pack A", address: "C0:D6:3C:57:2A:01", protocol: "d2", ...PACK, out_of_range: false } as const;

let broker: Broker;
let dir: string;
let override: string;

function compose(args: string[], timeoutMs = 900_000): ReturnType<typeof runAsync> {
  return runAsync(COMPOSE_BIN, ["-p", PROJECT, "-f", join(ROOT, "docker", "docker-compose.yml"), "-f", override, ...args], { cwd: join(ROOT, "docker"), timeoutMs });
}

before(async () => {
  if (skip) return;
  broker = await startBroker();
  dir = mkdtempSync(join(tmpdir(), "daly-compose-"));
  chmodSync(dir, 0o755);
  // the README's step: mkdir -p config && cp config.example.yaml config/config.yaml
  mkdirSync(join(dir, "config"));
  copyFileSync(join(ROOT, "docker", "config.example.yaml"), join(dir, "config", "config.yaml"));
  mkdirSync(join(dir, "scenario"));
  writeFileSync(join(dir, "scenario", "scenario.json"), JSON.stringify({ bms: [{ ...BMS, timing: FAST_TIMING }] }));
  for (const d of ["config", "scenario"]) chmodSync(join(dir, d), 0o755);
  override = join(dir, "docker-compose.test.yml");
  // what a test changes: the radio (simulator), the broker, a fast schedule, the health probe
  // interval, and a container name of its own; volumes with the same target replace the shipped ones
  writeFileSync(
    override,
    [
      "services:",
      "  daly-bms-bridge:",
      `    container_name: ${CONTAINER}`,
      "    environment:",
      "      DALY_TRANSPORT: simulator",
      "      DALY_SIM_SCENARIO: /scenario/scenario.json",
      `      DALY_MQTT_URL: ${broker.url}`,
      '      DALY_POLL_INTERVAL: "1"',
      "    volumes:",
      `      - ${join(dir, "config")}:/config:ro`,
      `      - ${join(dir, "scenario")}:/scenario:ro`,
      "    healthcheck:",
      "      interval: 1s",
      "      retries: 1",
      "      start_period: 1s",
      "",
    ].join("\n"),
  );
  await compose(["down", "-v"], 120_000);
});

after(async () => {
  if (skip) return;
  await compose(["down", "-v"], 120_000);
  await broker.stop();
});

test("compose: the shipped file passes docker-compose 1.29's validation", { skip }, async () => {
  const r = await compose(["config", "-q"], 60_000);
  assert.equal(r.status, 0, r.stderr);
});

test("compose: up --build starts the bridge: discovery and states equal the scenario, healthy, stop publishes offline", { skip }, async () => {
  const w = await Watcher.connect(broker.url);
  try {
    const up = await compose(["up", "-d", "--build"]);
    assert.equal(up.status, 0, `${up.stdout}\n${up.stderr}`);
    const s = await w.waitFor((m) => m.topic === `daly_bms/${ID}/state`, "a state from the compose service", 60_000).catch((e: Error) => {
      throw new Error(`${e.message}; container log:\n${docker(["logs", "--tail", "20", CONTAINER]).stderr}`);
    });
    const snap = JSON.parse(s.payload) as Snapshot;
    assertScenarioValues(snap, BMS as unknown as ScenarioBms);
    const cfg = w.messages.find((m) => m.topic.endsWith(`/${ID}/voltage/config`));
    assert.ok(cfg, "voltage discovery");
    // the display name from config.example.yaml reached HA: the config file was read
    assert.equal((JSON.parse(cfg.payload) as { device: { name: string } }).device.name, "Pack A");
    assert.equal(docker(["exec", CONTAINER, "id", "-u"]).stdout.trim(), "1000", "non-root");
    await eventually(() => (health(CONTAINER) === "healthy" ? true : undefined), "healthy", 60_000);
    const stop = await compose(["stop"], 60_000);
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal(docker(["inspect", "-f", "{{.State.ExitCode}}", CONTAINER]).stdout.trim(), "0");
    await w.waitFor(w.topic(`daly_bms/${ID}/availability`, "offline"), "BMS offline on stop", 10_000);
  } finally {
    await w.close();
  }
});
