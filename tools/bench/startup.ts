/**
 * Time from start to the first published state: a fresh Mosquitto and a subscriber on `#` first,
 * then `node dist/cli.js run --sim-scenario <one D2 BMS> --mqtt-url …` is spawned, and the clock
 * runs from spawn() to the first state message on the broker. Two modes: protocol configured
 * (`--address [{address, protocol: "d2"}]`, no probe) and auto-probe (the scenario's BMS, protocol
 * auto). Phases from the child's log lines (arrival times): process start + imports + config
 * ("daly-bms-bridge starting"), MQTT connect, first poll done ("polling").
 */
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import type { SimTiming } from "../../src/sim/hci/types.js";
import { startMosquitto, Watch } from "./broker.js";
import { benchEnv, removeDir, runDir, spawnBridge, writeScenarioFile } from "./child.js";
import { classifyTopic, DEFAULT_SCHEME } from "./messages.js";
import { median, round1 } from "./stats.js";
import { scenarioBms } from "./variants.js";

export type StartMode = "configured" | "auto";

export interface StartupSample {
  totalMs: number | undefined;
  /** spawn → "daly-bms-bridge starting" (node boot, module imports, config, simulator set-up). */
  startingMs: number | undefined;
  /** spawn → "MQTT connected". */
  mqttConnectedMs: number | undefined;
  /** spawn → "polling" (the first poll finished). */
  firstPollMs: number | undefined;
  /** The first poll's own duration (open → poll → close), from the log line. */
  firstPollDurationMs: number | undefined;
  error?: string;
}

export interface StartupFigure {
  mode: StartMode;
  runs: number;
  medianMs: number | undefined;
  bestMs: number | undefined;
  phasesMedianMs: { starting: number | undefined; mqttConnected: number | undefined; firstPoll: number | undefined; firstPollDuration: number | undefined };
  samples: StartupSample[];
}

export interface StartupResult {
  figures: StartupFigure[];
  /** spawn → exit of `node -e 0`: the floor any Node program pays. */
  nodeBootMs: number;
}

async function once(mode: StartMode, timing: Required<SimTiming>, mosquitto: string, group: number): Promise<StartupSample> {
  const dir = runDir(`start-${mode}`);
  const b = scenarioBms("d2", group, 0, timing);
  const file = writeScenarioFile(dir, [b]);
  const broker = await startMosquitto(mosquitto);
  const watch = await Watch.connect(broker.url);
  const args = ["--sim-scenario", file, "--mqtt-url", broker.url];
  if (mode === "configured") args.push("--address", JSON.stringify([{ address: b.address, protocol: "d2" }]));
  const first = watch.next((m) => classifyTopic(m.topic, DEFAULT_SCHEME).kind === "state", 20_000);
  const child = spawnBridge(args, benchEnv(dir));
  try {
    const msg = await first;
    const rel = (msgName: string): number | undefined => {
      const l = child.lines.find((x) => x.msg === msgName);
      return l ? round1(l.atMs - child.spawnedAtMs) : undefined;
    };
    const polling = child.lines.find((x) => x.msg === "polling");
    const d = polling?.fields.durationMs;
    return {
      totalMs: msg ? round1(msg.atMs - child.spawnedAtMs) : undefined,
      startingMs: rel("daly-bms-bridge starting"),
      mqttConnectedMs: rel("MQTT connected"),
      firstPollMs: rel("polling"),
      firstPollDurationMs: typeof d === "number" ? d : undefined,
      ...(msg ? {} : { error: "no state within 20 s" }),
    };
  } finally {
    await child.stop();
    await watch.close();
    await broker.stop();
    removeDir(dir);
  }
}

async function nodeBoot(): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve) => spawn(process.execPath, ["-e", "0"], { stdio: "ignore" }).once("exit", () => resolve()));
  return performance.now() - t0;
}

const med = (xs: Array<number | undefined>): number | undefined => {
  const v = xs.filter((x): x is number => x !== undefined);
  return v.length ? round1(median(v)) : undefined;
};

export async function runStartup(timing: Required<SimTiming>, mosquitto: string, reps: number): Promise<StartupResult> {
  await nodeBoot(); // page cache warm
  const boots: number[] = [];
  for (let i = 0; i < 3; i++) boots.push(await nodeBoot());
  const figures: StartupFigure[] = [];
  let group = 20;
  for (const mode of ["configured", "auto"] as const) {
    const samples: StartupSample[] = [];
    for (let i = 0; i < reps; i++) samples.push(await once(mode, timing, mosquitto, group++));
    const totals = samples.map((s) => s.totalMs).filter((x): x is number => x !== undefined);
    figures.push({
      mode,
      runs: reps,
      medianMs: med(totals),
      bestMs: totals.length ? Math.min(...totals) : undefined,
      phasesMedianMs: {
        starting: med(samples.map((s) => s.startingMs)),
        mqttConnected: med(samples.map((s) => s.mqttConnectedMs)),
        firstPoll: med(samples.map((s) => s.firstPollMs)),
        firstPollDuration: med(samples.map((s) => s.firstPollDurationMs)),
      },
      samples,
    });
  }
  return { figures, nodeBootMs: round1(median(boots)) };
}
