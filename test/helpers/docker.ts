/**
 * A real Docker engine for the container tests (test/containers/): Debian's /usr/bin/docker
 * against $DOCKER_HOST (.ci/run starts a private engine with ../shared/tools/container-engine.sh
 * and exports it), builds with BuildKit and host networking, as the README's install sections do.
 * Where no engine answers, the suite skips and says why — except under CI, where that is an error.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync } from "node:fs";
import { ROOT } from "./paths.js";

export const DOCKER_BIN = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
export const COMPOSE_BIN = existsSync("/usr/bin/docker-compose") ? "/usr/bin/docker-compose" : "docker-compose";
/** The image the tests build from the working tree (the README's docker build command). */
export const IMAGE = "daly-bms-bridge:local";

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

// docker-compose 1.29 builds through the `docker` found on PATH: Debian's CLI first (a newer CLI
// elsewhere on PATH may refuse to build without the buildx plugin)
const BUILD_ENV = { ...process.env, DOCKER_BUILDKIT: "1", COMPOSE_DOCKER_CLI_BUILD: "1", PATH: `/usr/bin:${process.env.PATH ?? ""}` };

export function docker(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Result {
  const r: SpawnSyncReturns<string> = spawnSync(DOCKER_BIN, args, { encoding: "utf8", timeout: opts.timeoutMs ?? 120_000, env: opts.env ?? BUILD_ENV, cwd: opts.cwd ?? ROOT, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

/** docker …, failing the test with the command's output when it exits non-zero. */
export function dockerOk(args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): string {
  const r = docker(args, opts);
  if (r.status !== 0) throw new Error(`docker ${args.join(" ")} exited ${String(r.status)}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
}

/** Runs a long command (builds, compose) without blocking the event loop; output kept for errors. */
export function runAsync(bin: string, args: string[], opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const p = spawn(bin, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? BUILD_ENV });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 900_000);
    p.on("close", (status) => {
      clearTimeout(t);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Why the container tests cannot run here, or undefined when an engine answers. */
export function engineMissing(): string | undefined {
  const r = docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 20_000 });
  if (r.status === 0 && r.stdout.trim()) return undefined;
  return `no Docker engine answers (DOCKER_HOST=${process.env.DOCKER_HOST ?? "unset"}): ${r.stderr.trim().split("\n")[0] ?? ""}`;
}

/** Skip reason for the suite; under CI a missing engine fails instead. */
export function skipUnlessEngine(): string | false {
  const why = engineMissing();
  if (!why) return false;
  if (process.env.CI) throw new Error(`${why}; CI must run the container tests (.ci/run starts an engine)`);
  process.stderr.write(`# container tests skipped: ${why}\n`);
  return why;
}

let built: Promise<void> | undefined;
/** Builds docker/Dockerfile from the working tree once per test process. */
export function buildImage(tag = IMAGE): Promise<void> {
  built ??= runAsync(DOCKER_BIN, ["build", "--network", "host", "-f", "docker/Dockerfile", "-t", tag, "."]).then((r) => {
    if (r.status !== 0) throw new Error(`docker build failed (${String(r.status)}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  });
  return built;
}

/** Polls `fn` until it returns a value other than undefined; fails after `withinMs` saying `what`. */
export async function eventually<T>(fn: () => T | undefined, what: string, withinMs: number, everyMs = 250): Promise<T> {
  const end = Date.now() + withinMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${withinMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function health(container: string): string {
  return docker(["inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", container]).stdout.trim();
}

/** The host PID of the bridge's node process inside a container (child of tini). */
export function bridgePid(container: string): number {
  const out = dockerOk(["top", container, "-eo", "pid,args"]);
  const line = out.split("\n").find((l) => /\bnode\b.*cli\.js/.test(l));
  if (!line) throw new Error(`no node process in ${container}:\n${out}`);
  return Number(line.trim().split(/\s+/)[0]);
}

/** Removes containers by name, ignoring those that do not exist. */
export function removeContainers(...names: string[]): void {
  for (const n of names) docker(["rm", "-f", "-v", n], { timeoutMs: 60_000 });
}
