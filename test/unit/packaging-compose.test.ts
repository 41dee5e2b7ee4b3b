/**
 * docker/ checked statically (no Docker engine here): the compose file's Bluetooth access rules
 * (ble-noble.md §4, home-assistant.md §4.1), the Dockerfile's stages, user, health check and
 * capabilities, the build context filter, the example config against the real config loader, and
 * the build-time native-module check run for real on this machine.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import YAML from "yaml";
import { ROOT } from "../helpers/paths.js";
import { EXTRA_FLAGS, schemaLeaves } from "../../src/config/schema.js";
import { loadConfig } from "../../src/config/load.js";
import { dockerInstructions, type Instr } from "../helpers/dockerfile.js";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const DOCKER = join(ROOT, "docker");
const readText = (...p: string[]): string => readFileSync(join(ROOT, ...p), "utf8");
const pkg = JSON.parse(readText("package.json")) as { version: string; license: string };
const LEAVES = schemaLeaves();

const compose = YAML.parse(readText("docker", "docker-compose.yml")) as Obj;
const services = compose.services as Record<string, Obj>;
const service = Object.values(services)[0] as Obj;

/** Compose `environment` as a map (both the list and the map syntax). */
function envMap(s: Obj): Record<string, string | null> {
  const e = s.environment;
  if (Array.isArray(e)) {
    return Object.fromEntries(e.map((x: string) => (x.includes("=") ? [x.slice(0, x.indexOf("=")), x.slice(x.indexOf("=") + 1)] : [x, null])));
  }
  return Object.fromEntries(Object.entries((e ?? {}) as Obj).map(([k, v]) => [k, v === null ? null : String(v)]));
}

/** Short-syntax volumes → {source, target, mode}. */
function volumes(s: Obj): Array<{ source: string; target: string; mode: string }> {
  return ((s.volumes ?? []) as unknown[]).map((v) => {
    if (isObj(v)) return { source: String(v.source), target: String(v.target), mode: v.read_only ? "ro" : "rw" };
    const [source = "", target = "", mode = "rw"] = String(v).split(":");
    return { source, target, mode };
  });
}

test("compose: exactly one service, host network, NET_ADMIN + NET_RAW, never privileged", () => {
  assert.equal(Object.keys(services).length, 1);
  assert.equal(service.network_mode, "host", "AF_BLUETOOTH only exists in the host network namespace");
  assert.deepEqual([...((service.cap_add ?? []) as string[])].sort(), ["NET_ADMIN", "NET_RAW"]);
  for (const [name, s] of Object.entries(services)) {
    assert.ok(!("privileged" in s), `${name}: privileged`);
    assert.ok(!("ports" in s), `${name}: ports are meaningless with host networking`);
    assert.ok(!("userns_mode" in s), `${name}: user namespaces break HCI capabilities and D-Bus auth`);
    const secOpt = ((s.security_opt ?? []) as string[]).join(" ");
    assert.doesNotMatch(secOpt, /no-new-privileges/, `${name}: no-new-privileges disables the node binary's file capabilities`);
  }
  assert.doesNotMatch(readText("docker", "docker-compose.yml").replace(/#.*$/gm, ""), /privileged/);
});

test("compose: restart policy, D-Bus socket read-only, config and state volumes", () => {
  assert.equal(service.restart, "unless-stopped");
  const vols = volumes(service);
  const dbus = vols.find((v) => v.target === "/run/dbus");
  assert.deepEqual(dbus, { source: "/run/dbus", target: "/run/dbus", mode: "ro" }, "BlueZ transport: the host's system bus");
  const cfg = vols.find((v) => v.target === "/config");
  assert.ok(cfg, "config volume");
  assert.equal(cfg.source, "./config");
  const env = envMap(service);
  assert.equal(env.DALY_CONFIG, "/config/config.yaml");
  const state = vols.find((v) => v.target === env.DALY_STATE_DIR);
  assert.ok(state && state.mode === "rw", "DALY_STATE_DIR is a writable volume");
  const declared = Object.keys((compose.volumes ?? {}) as Obj);
  for (const v of vols) if (!v.source.startsWith("/") && !v.source.startsWith(".")) assert.ok(declared.includes(v.source), `named volume ${v.source} declared`);
});

test("compose: every DALY_* variable is one the bridge or the health check reads", () => {
  const known = new Set<string>([
    ...LEAVES.map((l) => l.spec.env),
    ...Object.values(EXTRA_FLAGS).map((f) => f.env).filter(Boolean),
    "DALY_HEALTH_FILE",
    "DALY_HEALTH_MAX_AGE",
  ]);
  const env = envMap(service);
  for (const k of Object.keys(env)) if (k.startsWith("DALY_")) assert.ok(known.has(k), `unknown variable ${k}`);
  assert.ok("DALY_MQTT_URL" in env);
  // Pass-through variables must not be set to "" (an empty env value would override config.yaml).
  for (const k of ["DALY_MQTT_URL", "DALY_MQTT_USERNAME", "DALY_MQTT_PASSWORD"]) assert.equal(env[k], null, `${k}: pass-through (no value)`);
  // no fixed file age: the per-BMS due times decide (a long poll interval is not a stuck bridge)
  assert.ok(!("DALY_HEALTH_MAX_AGE" in env));
});

test("compose: builds from the repository with docker/Dockerfile; valid for docker-compose 1.29 and Compose v2", () => {
  const build = service.build as Obj;
  assert.ok(isObj(build));
  const context = resolve(DOCKER, String(build.context));
  assert.equal(context, ROOT);
  assert.ok(existsSync(join(context, String(build.dockerfile))));
  assert.equal(build.dockerfile, "docker/Dockerfile");
  // 1.29 rejects the Compose-v2-only top-level `name:`; both accept a file without `version:`
  assert.deepEqual(Object.keys(compose).sort(), ["services", "volumes"]);
  // the image's capability launcher works with and without NET_ADMIN: no per-build cap argument
  assert.equal((build.args as Obj | undefined)?.NODE_CAPS, undefined);
});

// ---- Dockerfile ----

interface Stage {
  from: string;
  name?: string;
  instrs: Instr[];
}
function parseDockerfile(text: string): { preamble: Instr[]; stages: Stage[] } {
  const instrs = dockerInstructions(text);
  const preamble: Instr[] = [];
  const stages: Stage[] = [];
  for (const i of instrs) {
    if (i.op === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args) as RegExpExecArray;
      stages.push({ from: m[1] as string, ...(m[2] ? { name: m[2] } : {}), instrs: [] });
    } else if (stages.length === 0) preamble.push(i);
    else (stages.at(-1) as Stage).instrs.push(i);
  }
  return { preamble, stages };
}
const dockerfileText = readText("docker", "Dockerfile");
const df = parseDockerfile(dockerfileText);
const build = df.stages.find((s) => s.name === "build");
const runtime = df.stages.at(-1) as Stage;
const ops = (s: Stage, op: string): string[] => s.instrs.filter((i) => i.op === op).map((i) => i.args);

/** ARG defaults from the preamble, to resolve ${...} in FROM lines. */
function expand(s: string, stage?: Stage): string {
  const args = new Map<string, string>();
  for (const a of [...df.preamble, ...(stage?.instrs ?? [])].filter((i) => i.op === "ARG")) {
    const [k, v] = a.args.split("=");
    if (v !== undefined) args.set(k as string, v);
  }
  return s.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? `\${${k}}`);
}

test("Dockerfile: multi-stage, build on node:24 bookworm with the toolchain, slim node:24 runtime", () => {
  assert.ok(df.stages.length >= 2, "multi-stage");
  assert.ok(build, 'a stage named "build"');
  assert.match(expand(build.from), /^node:24-bookworm(-slim)?$/);
  assert.match(expand(runtime.from), /^node:24-bookworm-slim$/);
  // no BuildKit-only syntax: the classic builder (and docker-compose 1.29 without BuildKit) builds it
  assert.doesNotMatch(dockerfileText, /^# *syntax=/m);
  assert.doesNotMatch(dockerfileText.replace(/#.*$/gm, ""), /RUN\s+--mount/);
  assert.notEqual(runtime, build);
  const runs = ops(build, "RUN").join("\n");
  assert.match(runs, /apt-get install[^\n]*\bpython3\b[^\n]*\bmake\b[^\n]*\bg\+\+/);
  assert.match(runs, /\bnpm ci\b/);
  assert.match(runs, /\bnpm run build\b/);
  assert.match(runs, /\bnpm prune --omit=dev\b/);
  assert.match(runs, /node docker\/verify-native\.cjs/, "build-time native module check");
  assert.ok(runs.indexOf("npm prune") < runs.indexOf("verify-native"), "checked after pruning: what ships is what loads");
  assert.match(ops(build, "ENV").join(" "), /npm_config_nodedir=\/usr\/local/, "node-gyp uses the image's headers");
  // The runtime stage must not compile anything.
  assert.doesNotMatch(ops(runtime, "RUN").join("\n"), /\b(g\+\+|make|python3|npm (ci|install))\b/);
  const copied = ops(runtime, "COPY").join("\n");
  for (const p of ["/app/dist", "/app/node_modules", "/app/package.json", "/app/docker/healthcheck.mjs"]) {
    assert.match(copied, new RegExp(`--from=build\\s+${p.replace(/\//g, "\\/")}\\b`), `runtime copies ${p} from build`);
  }
});

test("Dockerfile: non-root user, tini, daly-bms-bridge run, no privileged", () => {
  const user = ops(runtime, "USER").at(-1);
  assert.ok(user && !/^(root|0)(:|$)/.test(user), `runtime USER is non-root (got ${String(user)})`);
  assert.match(ops(runtime, "RUN").join("\n"), /apt-get install[^\n]*\btini\b/);
  assert.deepEqual(JSON.parse(ops(runtime, "ENTRYPOINT").at(-1) ?? "null"), ["/usr/bin/tini", "--", "daly-bms-bridge"]);
  assert.deepEqual(JSON.parse(ops(runtime, "CMD").at(-1) ?? "null"), ["run"]);
  assert.match(ops(runtime, "COPY").join("\n"), /--from=build \/app\/docker\/daly-bms-bridge \/usr\/local\/bin\/daly-bms-bridge/, "the launcher is the command");
  const code = dockerfileText.replace(/#.*$/gm, "");
  assert.doesNotMatch(code, /privileged/);
  assert.match(ops(runtime, "ENV").join(" "), /DBUS_SYSTEM_BUS_ADDRESS=unix:path=\/run\/dbus\/system_bus_socket/, "matches the compose /run/dbus mount");
});

test("Dockerfile: HEALTHCHECK runs docker/healthcheck.mjs", () => {
  const hc = ops(runtime, "HEALTHCHECK");
  assert.equal(hc.length, 1);
  const h = hc[0] as string;
  assert.match(h, /--interval=\d+s/);
  assert.match(h, /--start-period=\d+s/);
  assert.match(h, /CMD \["node", "\/app\/docker\/healthcheck\.mjs"\]/);
  assert.ok(existsSync(join(DOCKER, "healthcheck.mjs")));
});

test("Dockerfile: file capabilities only on the launcher, permitted set only (never on node)", () => {
  const runs = ops(runtime, "RUN").join("\n");
  const setcaps = [...runs.matchAll(/setcap\s+(\S+)\s+(\S+)/g)];
  assert.equal(setcaps.length, 1, "one setcap");
  const [, caps, target] = setcaps[0] as RegExpMatchArray;
  assert.equal(target, "/usr/local/bin/daly-bms-bridge");
  // +p without e: the kernel grants what the bounding set allows and never refuses the exec
  assert.equal(caps, "cap_net_raw,cap_net_admin+p");
  // the launcher execs the bridge's fixed entry point, nothing chosen by its caller
  const c = readText("docker", "cap-launcher.c");
  assert.match(c, /#define BRIDGE_ENTRY "\/app\/dist\/cli\.js"/);
  assert.match(c, /execv\(BRIDGE_ENTRY, argv\)/);
  assert.match(ops(build as Stage, "RUN").join("\n"), /gcc [^\n]*-o docker\/daly-bms-bridge docker\/cap-launcher\.c/);
});

test("Dockerfile: OCI labels, version and license agree with package.json", () => {
  const labels = ops(runtime, "LABEL").join(" ");
  for (const k of ["title", "description", "version", "revision", "created", "source", "licenses"]) {
    assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${k}=`), k);
  }
  assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.licenses="${pkg.license}"`));
  assert.equal(expand("${VERSION}", runtime), pkg.version, "ARG VERSION default = package.json version");
  assert.match(labels, /org\.opencontainers\.image\.source="\$\{SOURCE_URL\}"/, "the release workflow passes the repository URL");
});

test("the root .dockerignore (classic builder) holds the same whitelist as docker/Dockerfile.dockerignore", () => {
  const rules = (t: string): string[] => t.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  assert.deepEqual(rules(readText(".dockerignore")), rules(readText("docker", "Dockerfile.dockerignore")));
});

test("Dockerfile: every COPY from the context exists and passes Dockerfile.dockerignore", () => {
  const ignore = readText("docker", "Dockerfile.dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  assert.equal(ignore[0], "**", "allow-list: everything else stays out of the context");
  const allowed = ignore.filter((l) => l.startsWith("!")).map((l) => l.slice(1));
  for (const st of df.stages) {
    for (const c of st.instrs.filter((i) => i.op === "COPY" && !/--from=/.test(i.args))) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith("--"));
      for (const src of parts.slice(0, -1)) {
        assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: missing`);
        assert.ok(allowed.some((a) => src === a || src.startsWith(`${a}/`)), `COPY ${src}: excluded by Dockerfile.dockerignore`);
      }
    }
  }
});

// ---- verify-native.cjs (runs for real: the native module is built in this checkout) ----

const VERIFY = join(DOCKER, "verify-native.cjs");

test("verify-native.cjs passes where the HCI binary is built (this checkout)", () => {
  const r = spawnSync(process.execPath, [VERIFY, ROOT], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /bluetooth_hci_socket\.node loaded/);
});

test("verify-native.cjs fails the build when the optional HCI module did not compile", () => {
  const app = mkdtempSync(join(tmpdir(), "daly-verify-"));
  try {
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "x", version: "0.0.0" }));
    // The package is there (npm ci succeeded) but its build/Release is not (compile failed).
    const pkgDir = join(app, "node_modules", "@abandonware", "bluetooth-hci-socket");
    mkdirSync(join(pkgDir, "lib"), { recursive: true });
    writeFileSync(join(pkgDir, "package.json"), JSON.stringify({ name: "@abandonware/bluetooth-hci-socket", version: "0.5.3-12", main: "index.js" }));
    writeFileSync(join(pkgDir, "lib", "native.js"), "module.exports = require('../build/Release/bluetooth_hci_socket.node');");
    const r = spawnSync(process.execPath, [VERIFY, app], { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /FAIL @abandonware\/bluetooth-hci-socket native binary/);
    assert.match(r.stderr, /bluetooth_hci_socket\.node/);
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});

// ---- config.example.yaml ----

function leafPaths(o: Obj, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) => (isObj(v) ? leafPaths(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

test("config.example.yaml uses only real config keys and loads through the bridge's loader", () => {
  const text = readText("docker", "config.example.yaml");
  const example = YAML.parse(text) as Obj;
  const keys = new Set(LEAVES.map((l) => l.path as string));
  for (const p of leafPaths(example)) assert.ok(keys.has(p), `${p}: not a config key`);
  const r = loadConfig({ argv: [], env: {}, files: [join(DOCKER, "config.example.yaml")] });
  assert.ok(r.ok, r.ok ? "" : r.message);
  assert.equal(r.config.transport, "bluez", "the compose setup mounts /run/dbus for the BlueZ transport");
  assert.equal(r.config.bms[0]?.address, "C0:D6:3C:57:2A:01");
});
