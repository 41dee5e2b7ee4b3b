/**
 * The real bridge in a child process, exactly as a user starts it (`node dist/cli.js run …`), with
 * its stderr log lines timestamped on arrival (JSON logs: the bench reads their `msg`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { ScenarioBms } from "../../src/sim/scenario.js";

/**
 * The product's dist/cli.js (`npm run build`), reached from this file compiled to
 * build-tools/tools/bench/ (npm run bench) or build/tools/bench/ (tests): the tools spawn the built product.
 */
export const CLI_PATH = fileURLToPath(new URL("../../../dist/cli.js", import.meta.url));

export interface LogLine {
  atMs: number;
  msg: string | undefined;
  fields: Record<string, unknown>;
}

export interface BridgeChild {
  pid: number;
  /** performance.now() just before spawn(). */
  spawnedAtMs: number;
  lines: LogLine[];
  stdoutLines: number;
  /** Resolves on exit with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** SIGINT (the bridge stops gracefully, --cpu-prof writes its profile), SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
  /** The first log line (already seen or future) whose msg is `msg`. */
  waitForLog(msg: string, timeoutMs: number): Promise<LogLine | undefined>;
}

/** A temp dir for one run: scenario, state dir (energy counters), health file, profiles. */
export function runDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `daly-bench-${tag}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function writeScenarioFile(dir: string, bms: readonly ScenarioBms[]): string {
  const file = join(dir, "scenario.json");
  writeFileSync(file, JSON.stringify({ bms }));
  return file;
}

/** Environment of a bench bridge: its own state dir and health file, JSON logs. */
export function benchEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DALY_STATE_DIR: join(dir, "state"), DALY_HEALTH_FILE: join(dir, "health.json"), DALY_LOG_FORMAT: "json", ...extra };
}

/**
 * The node flags of the `daly-bms-bridge` command: its shebang (`#!/usr/bin/env -S node FLAGS`) is
 * the one place they are set (npm start and the Docker image run the same; packaging tests check).
 */
export function shebangFlags(firstLine: string): string[] {
  const m = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)\s*$/.exec(firstLine);
  return m?.[1] ? m[1].trim().split(/\s+/) : [];
}

/** What `daly-bms-bridge` runs with (read from dist/cli.js). */
export function bridgeNodeFlags(): string[] {
  return shebangFlags(readFileSync(CLI_PATH, "utf8").split("\n", 1)[0] ?? "");
}

/** Spawns `node <the command's flags> <extra flags> dist/cli.js run ARGS`: the bridge as users run it. */
export function spawnBridge(args: readonly string[], env: Record<string, string>, nodeFlags: readonly string[] = []): BridgeChild {
  // the bench's own DALY_* settings must not leak into the child
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("DALY_") && k !== "NODE_OPTIONS"));
  const spawnedAtMs = performance.now();
  const proc: ChildProcess = spawn(process.execPath, [...bridgeNodeFlags(), ...nodeFlags, CLI_PATH, "run", ...args], { env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  if (proc.pid === undefined) throw new Error("could not spawn the bridge");
  const lines: LogLine[] = [];
  let waiters: Array<{ msg: string; resolve: (l: LogLine) => void }> = [];
  let buf = "";
  proc.stderr?.setEncoding("utf8");
  proc.stderr?.on("data", (chunk: string) => {
    const atMs = performance.now();
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let fields: Record<string, unknown> = {};
      try {
        const v: unknown = JSON.parse(text);
        if (typeof v === "object" && v !== null && !Array.isArray(v)) fields = v as Record<string, unknown>;
      } catch {
        fields = { text };
      }
      const line: LogLine = { atMs, msg: typeof fields.msg === "string" ? fields.msg : undefined, fields };
      lines.push(line);
      const ready = waiters.filter((w) => w.msg === line.msg);
      waiters = waiters.filter((w) => w.msg !== line.msg);
      for (const w of ready) w.resolve(line);
    }
  });
  const child: BridgeChild = {
    pid: proc.pid,
    spawnedAtMs,
    lines,
    stdoutLines: 0,
    exited: new Promise((resolve) => proc.once("exit", (code) => resolve(code))),
    async stop(graceMs = 8000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGINT");
      const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await child.exited;
      clearTimeout(t);
    },
    waitForLog(msg, timeoutMs) {
      const seen = lines.find((l) => l.msg === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          waiters = waiters.filter((w) => w.resolve !== done);
          resolve(undefined);
        }, timeoutMs);
        const done = (l: LogLine): void => {
          clearTimeout(t);
          resolve(l);
        };
        waiters.push({ msg, resolve: done });
      });
    },
  };
  proc.stdout?.on("data", (d: Buffer) => {
    for (const b of d) if (b === 0x0a) child.stdoutLines += 1;
  });
  return child;
}

/** dist/sim/remote/main.js (the built product, as CLI_PATH): the simulated radio as its own process. */
export const SIM_MAIN_PATH = fileURLToPath(new URL("../../../dist/sim/remote/main.js", import.meta.url));

export interface SimProcess {
  pid: number;
  /** Pass as DALY_SIM_HCI_SOCKET to the bridge. */
  socket: string;
  stop(): Promise<void>;
}

/**
 * Starts the simulator for `scenarioFile` in its own process (like a real controller, outside the
 * bridge), so a bridge child measured by the bench contains only the bridge. Resolves on "ready".
 */
export function startSimProcess(scenarioFile: string, dir: string, timeoutMs = 20_000): Promise<SimProcess> {
  const socket = join(dir, "hci.sock");
  const proc = spawn(process.execPath, [SIM_MAIN_PATH, "--sim-scenario", scenarioFile, "--hci-socket", socket], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr?.on("data", (d: Buffer) => void (err += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`simulator process not ready within ${timeoutMs} ms: ${err.trim()}`));
    }, timeoutMs);
    proc.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`simulator process exited (${String(code)}): ${err.trim()}`));
    });
    proc.stdout?.once("data", () => {
      clearTimeout(t);
      if (proc.pid === undefined) return reject(new Error("could not spawn the simulator"));
      resolve({
        pid: proc.pid,
        socket,
        async stop() {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          proc.kill("SIGTERM");
          await exited;
        },
      });
    });
  });
}
