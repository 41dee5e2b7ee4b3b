/**
 * The standalone image, built from the working tree and started as the README's `docker run`
 * does (host network, a state volume), against a real Mosquitto and a simulator scenario mounted
 * into the container: discovery and states equal the scenario, the health check follows the poll
 * loop, `docker stop` is clean, energy counters survive re-creation, and the bridge runs as a
 * non-root user that gets NET_RAW (and NET_ADMIN when added) through the image's launcher.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type Broker } from "../helpers/broker.js";
import { Watcher } from "../helpers/mqtt-watch.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";
import { FAST_TIMING, PACK } from "../helpers/bridge-run.js";
import type { ScenarioBms } from "../../src/sim/scenario.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import { IMAGE, bridgePid, buildImage, docker, dockerOk, eventually, health, removeContainers, skipUnlessEngine } from "../helpers/docker.js";

const skip = skipUnlessEngine();
const NAME = "daly-test-image";
const NAME_CAPS = "daly-test-image-caps";
const VOLUME = "daly-test-image-state";
const ID = "daly_bms_c0d63c572a01";
const BMS = { name: "Pack A", address: "C0:D6:3C:57:2A:01", protocol: "a5", ...PACK, out_of_range: false } as const;

let broker: Broker;
let scenarioDir: string;

/** A directory the container's `node` user (uid 1000) can read, holding the scenario. */
function scenarioMount(): string {
  const d = mkdtempSync(join(tmpdir(), "daly-ctr-scn-"));
  writeFileSync(join(d, "scenario.json"), JSON.stringify({ bms: [{ ...BMS, timing: FAST_TIMING }] }));
  chmodSync(d, 0o755);
  chmodSync(join(d, "scenario.json"), 0o644);
  return d;
}

/** `docker run` as the README says, plus the test's broker, scenario and a fast schedule. */
function runArgs(name: string, extra: string[] = []): string[] {
  return [
    "run", "-d", "--name", name, "--network", "host",
    "-v", `${VOLUME}:/data`,
    "-v", `${scenarioDir}:/scenario:ro`,
    "-e", "DALY_SIM_SCENARIO=/scenario/scenario.json",
    "-e", `DALY_MQTT_URL=${broker.url}`,
    "-e", "DALY_POLL_INTERVAL=1",
    // short timeouts: the health check's poll budget (time to notice a stop) is a few seconds
    "-e", "DALY_BLE_SCAN_TIMEOUT=1", "-e", "DALY_BLE_CONNECT_TIMEOUT=1", "-e", "DALY_BLE_REQUEST_TIMEOUT=0.3", "-e", "DALY_BLE_REQUEST_RETRIES=0",
    "--health-interval", "1s", "--health-timeout", "5s", "--health-retries", "1", "--health-start-period", "1s",
    ...extra,
    IMAGE,
  ];
}

/** Effective capability set of a host process. */
function capEff(pid: number): bigint {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("CapEff:"));
  return BigInt(`0x${(line ?? "CapEff: 0").split(/\s+/)[1] ?? "0"}`);
}
const CAP_NET_ADMIN = 12n;
const CAP_NET_RAW = 13n;
const has = (caps: bigint, bit: bigint): boolean => ((caps >> bit) & 1n) === 1n;

before(async () => {
  if (skip) return;
  broker = await startBroker();
  scenarioDir = scenarioMount();
  removeContainers(NAME, NAME_CAPS);
  docker(["volume", "rm", "-f", VOLUME]);
  await buildImage();
});

after(async () => {
  if (skip) return;
  removeContainers(NAME, NAME_CAPS);
  docker(["volume", "rm", "-f", VOLUME]);
  await broker.stop();
});

test("image: discovery and states equal the scenario; healthy while polling, unhealthy when polling stops; clean stop; energy survives re-creation; non-root", { skip }, async () => {
  const w = await Watcher.connect(broker.url);
  try {
    dockerOk(runArgs(NAME));
    const state = (m: { topic: string }): boolean => m.topic === `daly_bms/${ID}/state`;
    const first = await w.waitFor(state, "a state from the container", 60_000);
    assertScenarioValues(JSON.parse(first.payload) as Snapshot, BMS as unknown as ScenarioBms);
    for (const key of ["voltage", "current", "soc", "cell_1", "cell_4", "temperature_1", "temperature_2", "charge_mosfet"]) {
      const cfg = w.messages.find((m) => m.topic.endsWith(`/${ID}/${key}/config`) && m.retain !== undefined);
      assert.ok(cfg, `discovery for ${key}`);
      assert.equal((JSON.parse(cfg.payload) as { unique_id: string }).unique_id, `${ID}_${key}`);
    }
    await w.waitFor(w.topic(`daly_bms/${ID}/availability`, "online"), "BMS online", 10_000);

    // non-root, with NET_RAW from the launcher and nothing more (no cap_add)
    assert.equal(dockerOk(["exec", NAME, "id", "-u"]), "1000");
    const pid = bridgePid(NAME);
    assert.ok(has(capEff(pid), CAP_NET_RAW), "node has CAP_NET_RAW as the non-root user");
    assert.ok(!has(capEff(pid), CAP_NET_ADMIN), "no NET_ADMIN unless the container is given it");

    await eventually(() => (health(NAME) === "healthy" ? true : undefined), "healthy", 60_000);

    // polling really stops (the process frozen): unhealthy once the BMS's poll is overdue
    process.kill(pid, "SIGSTOP");
    try {
      await eventually(() => (health(NAME) === "unhealthy" ? true : undefined), "unhealthy after the poll loop stopped", 60_000);
      const log = dockerOk(["inspect", "-f", "{{range .State.Health.Log}}{{.Output}}{{end}}", NAME]);
      assert.match(log, /BMS C0:D6:3C:57:2A:01: its poll was due/);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await eventually(() => (health(NAME) === "healthy" ? true : undefined), "healthy again after polling resumed", 60_000);

    // energy integrates over a few polls
    const energy = (m: { topic: string; payload: string }): number | undefined => (state(m) ? (JSON.parse(m.payload) as Snapshot).energy_discharged_kWh : undefined);
    await w.waitFor((m) => (energy(m) ?? 0) >= 0.0002, "some discharged energy", 60_000);

    // docker stop: SIGTERM through tini, retained offline, exit 0, within 5 s
    const t0 = Date.now();
    dockerOk(["stop", "-t", "10", NAME]);
    const stopMs = Date.now() - t0;
    assert.ok(stopMs < 5000, `docker stop took ${stopMs} ms`);
    assert.equal(dockerOk(["inspect", "-f", "{{.State.ExitCode}}", NAME]), "0");
    const lastEnergy = Math.max(...w.messages.map((m) => energy(m) ?? 0));
    const after = await Watcher.connect(broker.url);
    try {
      await after.sync();
      const retained = (t: string): string | undefined => after.messages.filter((m) => m.topic === t).at(-1)?.payload;
      assert.equal(retained(`daly_bms/${ID}/availability`), "offline");
      const bridgeAvail = after.messages.filter((m) => /^daly_bms\/bridge(\/[^/]+)?\/availability$/.test(m.topic) && m.payload !== "");
      assert.ok(bridgeAvail.length > 0 && bridgeAvail.every((m) => m.payload === "offline"), `bridge availability offline: ${JSON.stringify(bridgeAvail)}`);
    } finally {
      await after.close();
    }

    // re-created container on the same state volume: the counters go on, not from zero
    removeContainers(NAME);
    const since = w.messages.length;
    dockerOk(runArgs(NAME));
    const again = await w.waitFor(state, "a state from the re-created container", 60_000, since);
    const resumed = (JSON.parse(again.payload) as Snapshot).energy_discharged_kWh ?? 0;
    assert.ok(resumed >= lastEnergy, `energy_discharged_kWh ${resumed} continues from ${lastEnergy}`);
  } finally {
    await w.close();
  }
});

test("image: carries the product only (no bench, soak, tools, sources or tests) and runs Node 24", { skip }, () => {
  const listing = dockerOk(["run", "--rm", "--network", "none", "--entrypoint", "sh", IMAGE, "-c", "cd /app && find . -path ./node_modules -prune -o -print && node --version"]);
  const files = listing.split("\n");
  assert.ok(files.includes("./dist/cli.js"), listing);
  for (const f of files) assert.doesNotMatch(f, /bench|soak|mosquitto|^\.\/(src|test|tools|build-tools|scripts)(\/|$)|\.ts$/, `tooling in the image: ${f}`);
  assert.match(files.at(-1) ?? "", /^v24\./, "Node 24 LTS");
});

test("image: with cap_add NET_ADMIN the non-root bridge gets NET_ADMIN and NET_RAW (HCI user channel)", { skip }, async () => {
  // stdout mode (no broker): only the process and its capabilities matter here
  dockerOk(["run", "-d", "--name", NAME_CAPS, "--network", "host", "--cap-add", "NET_ADMIN", "-v", `${scenarioDir}:/scenario:ro`, "-e", "DALY_SIM_SCENARIO=/scenario/scenario.json", IMAGE]);
  const pid = await eventually(() => {
    try {
      return bridgePid(NAME_CAPS);
    } catch {
      return undefined;
    }
  }, "the bridge process", 30_000);
  const caps = capEff(pid);
  assert.ok(has(caps, CAP_NET_ADMIN) && has(caps, CAP_NET_RAW), `CapEff ${caps.toString(16)}`);
  assert.equal(dockerOk(["exec", NAME_CAPS, "id", "-u"]), "1000");
});
