/**
 * One soak run: a private Mosquitto, the real bridge in-process (startRun: simulated radio under
 * noble's real HCI stack, the real transport, poller and MQTT code) on a generated drifting
 * scenario, the fault injector ticking once per poll interval, periodic broker and HA restarts,
 * the independent checker on its own MQTT client, and resource probes every 5 s.
 */
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startRun } from "../../src/commands/run.js";
import type { SoakArgs } from "./args.js";
import { CheckerCore, SOAK_BRIDGE_ID } from "./checker-core.js";
import { MqttChecker } from "./checker.js";
import { FaultInjector } from "./faults.js";
import { findMosquitto, startMosquitto } from "../mosquitto.js";
import { growth, Probes } from "./probes.js";
import { humanReport, maxRecovery, retainedSummary, type SoakReport, verdict } from "./report.js";
import { seededRng } from "./rng.js";
import { writeScenario } from "./scenario-gen.js";
import type { SoakTiming } from "./types.js";

/** The bridge's settings for the soak; the checker's bounds are derived from the same numbers. */
const BRIDGE = { pollIntervalS: 1, scanTimeoutS: 1, connectTimeoutS: 1, requestTimeoutS: 0.3, retries: 1, offlineAfter: 3 };
const SAMPLE_EVERY_MS = 5000;
/** No restart this close to the end: its recovery must be measurable. */
const RESTART_TAIL_MS = 20_000;

export class SetupError extends Error {}

export async function runSoak(args: SoakArgs, progress: (line: string) => void): Promise<SoakReport> {
  const bin = findMosquitto();
  if (!bin) throw new SetupError("mosquitto not found (apt-get install mosquitto): the soak needs a real broker");
  const rng = seededRng(args.seed);
  const scenario = writeScenario(rng, args.bms);
  const broker = await startMosquitto(bin);
  const timing: SoakTiming = {
    pollIntervalMs: BRIDGE.pollIntervalS * 1000,
    offlineAfter: BRIDGE.offlineAfter,
    scanTimeoutMs: BRIDGE.scanTimeoutS * 1000,
    connectTimeoutMs: BRIDGE.connectTimeoutS * 1000,
    requestTimeoutMs: BRIDGE.requestTimeoutS * 1000,
    retries: BRIDGE.retries,
    bmsCount: args.bms,
    hangMs: args.hangS * 1000,
  };
  const t0 = Date.now();
  const durationMs = args.minutes * 60_000;
  const settleMs = Math.min(10_000, durationMs * 0.2);
  let core: CheckerCore | undefined;
  const injector = new FaultInjector(rng, args.faultRate, timing, (a) => core?.lastFreshOf(a));
  core = new CheckerCore(scenario.bms, timing, injector, t0);
  const checker = await MqttChecker.connect(broker.url, core);
  const h = await startRun(
    ["--sim-scenario", scenario.file, "--mqtt-url", broker.url, "--bridge-id", SOAK_BRIDGE_ID, "--poll-interval", String(BRIDGE.pollIntervalS), "--log-level", args.logLevel],
    {
      DALY_BLE_SCAN_TIMEOUT: String(BRIDGE.scanTimeoutS),
      DALY_BLE_CONNECT_TIMEOUT: String(BRIDGE.connectTimeoutS),
      DALY_BLE_REQUEST_TIMEOUT: String(BRIDGE.requestTimeoutS),
      DALY_BLE_REQUEST_RETRIES: String(BRIDGE.retries),
      DALY_OFFLINE_AFTER_FAILURES: String(BRIDGE.offlineAfter),
      DALY_LOG_FORMAT: "json",
      // the soak's own files: never a real bridge's energy counters or health file
      DALY_STATE_DIR: dirname(scenario.file),
      DALY_HEALTH_FILE: join(dirname(scenario.file), "health.json"),
    },
  );
  if (!("bridge" in h)) {
    await checker.close();
    await broker.dispose();
    throw new SetupError(`the bridge did not start: ${h.message}`);
  }
  const sim = h.radio.sim;
  if (!sim) throw new SetupError("the bridge did not use the simulated radio");
  injector.attach(sim.specs);
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
  };
  // Ctrl-C or kill: stop early, still report, and take the private Mosquitto down with it
  process.once("SIGINT", onSigint);
  process.once("SIGTERM", onSigint);
  const probes = new Probes(sim.transport, t0);
  probes.sample(Date.now(), true);
  const restarts: Array<Promise<void>> = [];
  const every = args.restartEveryS * 1000;
  const first = Math.min(20_000, durationMs / 4);
  let nextBroker = every > 0 ? t0 + first : Infinity;
  let nextHa = every > 0 ? t0 + first + Math.min(every / 2, 15_000) : Infinity;
  let nextSample = t0 + SAMPLE_EVERY_MS;
  let nextProgress = t0 + 30_000;
  // V8 sizes its heap over the first minutes (RSS follows its committed heap): growth counts after that
  const warmupS = Math.min(300, Math.round((durationMs / 1000) * 0.25));
  let warmed = false;
  let brokerFailure: string | undefined;
  let readingRetained = false;
  const c = core;
  for (;;) {
    const now = Date.now();
    if (now - t0 >= durationMs || interrupted || brokerFailure) break;
    const injecting = now - t0 < durationMs - settleMs;
    injector.tick(now, injecting);
    c.tick(now);
    const restartOk = injecting && t0 + durationMs - now > RESTART_TAIL_MS;
    if (now >= nextBroker && restartOk) {
      nextBroker = now + every;
      restarts.push(
        (async () => {
          injector.brokerDown(Date.now());
          await broker.stop();
          await sleep(rng.int(200, 1500));
          await broker.start();
          const up = Date.now();
          injector.brokerBack(up);
          c.markRepublish(up);
          c.startRecovery("broker restart", up, true);
        })().catch((e: unknown) => {
          brokerFailure = `mosquitto did not come back on port ${broker.port}: ${String(e)} ${broker.stderrTail()}`;
        }),
      );
    }
    if (now >= nextHa && restartOk && injector.brokerUp()) {
      nextHa = now + every;
      injector.haRestarts += 1;
      c.markRepublish(now);
      c.startRecovery("HA restart", now);
      await checker.homeAssistantBirth().catch(() => undefined);
    }
    const due = readingRetained || !injector.brokerUp() ? undefined : c.retainedCheckDue(now);
    if (due) {
      readingRetained = true;
      restarts.push(
        MqttChecker.readRetained(broker.url, SOAK_BRIDGE_ID)
          .then((r) => c.retainedRead(due, r, Date.now()))
          .catch(() => undefined) // the broker went away meanwhile: read again later
          .finally(() => {
            readingRetained = false;
          }),
      );
    }
    if (now >= nextSample) {
      nextSample += SAMPLE_EVERY_MS;
      const warm: boolean = !warmed && now - t0 >= warmupS * 1000;
      warmed ||= warm;
      probes.sample(now, warm);
    }
    if (now >= nextProgress) {
      nextProgress += 30_000;
      progress(`soak: ${Math.round((now - t0) / 1000)} s, ${c.tallies.reduce((a, t) => a + t.fresh, 0)} states, ${c.wrongValues} wrong, ${c.availabilityErrors.length} availability errors, ${c.hangs.length} hangs`);
    }
    await sleep(timing.pollIntervalMs - ((Date.now() - t0) % timing.pollIntervalMs));
  }
  await Promise.allSettled(restarts);
  const end = Date.now();
  injector.tick(end, false);
  c.tick(end, true);
  probes.sample(end, true);
  probes.stop();
  process.removeListener("SIGINT", onSigint);
  process.removeListener("SIGTERM", onSigint);
  const bridgeCounted = h.bridge.supervisors.reduce((a, s) => a + s.polls, 0);
  const nobleRestarts = sim.transport.restarts;
  await h.stop();
  await checker.close();
  await broker.dispose();
  rmSync(dirname(scenario.file), { recursive: true, force: true });
  if (brokerFailure) throw new SetupError(brokerFailure);

  const events = c.recoverySummary();
  const tallies = c.tallies;
  const body: Omit<SoakReport, "ok" | "exitCode" | "failures"> = {
    soak: "fault-soak-with-truth-checking",
    seed: args.seed,
    minutes: args.minutes,
    durationS: Math.round((end - t0) / 100) / 10,
    faultRate: args.faultRate,
    bms: scenario.bms.map((b) => ({ address: b.address, protocol: b.protocol, ...(b.name ? { name: b.name } : {}) })),
    polls: { fresh: tallies.reduce((a, t) => a + t.fresh, 0), sleeping: tallies.reduce((a, t) => a + t.sleeping, 0), republished: tallies.reduce((a, t) => a + t.republished, 0), bridgeCounted, perBms: tallies },
    faults: { total: Object.values(injector.counts).reduce((a, x) => a + x, 0), byKind: injector.counts, brokerRestarts: injector.brokerRestarts, haRestarts: injector.haRestarts, nobleRestarts },
    values: { checked: c.checkedValues, wrong: c.wrongValues, wrongStates: c.wrongStates, first: c.wrongDetails },
    availability: { errors: c.availabilityErrors.length, first: c.availabilityErrors.slice(0, 10), offlineTransitions: tallies.reduce((a, t) => a + t.offline, 0), notes: c.notes, noteCounts: c.noteCounts },
    hangs: c.hangs,
    recovery: { events, maxBrokerMs: maxRecovery(events, "broker restart"), maxHaMs: maxRecovery(events, "HA restart") },
    retained: retainedSummary(c.retainedChecks),
    resources: { ...growth(probes.samples, warmupS), samples: probes.samples, warnings: probes.warnings, stalls: probes.stalls, warmupS },
    mqtt: { ...c.messages },
    faultLog: scenario.bms.flatMap((b) => injector.windows(b.address)).map((w) => ({ ...w, from: w.from - t0, to: (w.to ?? end) - t0 })),
    outages: injector.outages().map((o) => ({ from: o.from - t0, to: o.to - t0 })),
    startedAt: t0,
  };
  return { ...body, ...verdict(body) };
}

export { humanReport };
