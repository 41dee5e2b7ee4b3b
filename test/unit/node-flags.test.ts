/**
 * The bridge's node flags (no optimizing compilers, 1 MB young generation: README "Reliability and
 * performance") are set once, in the shebang of dist/cli.js, which the Docker image and the add-on
 * run as `daly-bms-bridge`; npm start and the benchmarks must use the same.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, ROOT } from "../helpers/paths.js";
import { bridgeNodeFlags, shebangFlags } from "../../tools/bench/child.js";

const EXPECTED = ["--no-opt", "--no-maglev", "--max-semi-space-size=1"];

test("shebang flags are parsed; a plain node shebang has none", () => {
  assert.deepEqual(shebangFlags("#!/usr/bin/env -S node --no-opt --no-maglev --max-semi-space-size=1"), EXPECTED);
  assert.deepEqual(shebangFlags("#!/usr/bin/env node"), []);
});

test("dist/cli.js, npm start and the benchmarks run node with the same flags", () => {
  assert.deepEqual(bridgeNodeFlags(), EXPECTED);
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start ?? "", new RegExp(`node ${EXPECTED.join(" ")} dist/cli\\.js run`));
  // the soak runs the bridge in-process: same V8 settings, so its memory figures are the bridge's
  assert.match(pkg.scripts.soak ?? "", new RegExp(`node ${EXPECTED.join(" ")} --expose-gc build-tools/tools/soak/main\\.js`));
  assert.match(readFileSync(join(ROOT, "scripts", "soak-ci.mjs"), "utf8"), new RegExp(`\\[${EXPECTED.map((f) => `"${f}"`).join(", ")}, "--expose-gc"`));
});

test("the shebang works as the kernel runs it (env -S) and node accepts the flags", () => {
  const line = readFileSync(CLI, "utf8").split("\n", 1)[0] ?? "";
  const [interp, ...rest] = line.slice(2).split(" ");
  assert.equal(interp, "/usr/bin/env");
  const r = spawnSync(interp, [rest.join(" "), CLI, "--version"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\d+\.\d+\.\d+/);
  // no V8 warning on every start (--lite-mode printed "disabling flag --expose_wasm" once the
  // ESM loader touched WebAssembly)
  assert.equal(r.stderr, "");
  const argv = spawnSync(process.execPath, [...EXPECTED, "-p", "JSON.stringify(process.execArgv)"], { encoding: "utf8" });
  assert.deepEqual((JSON.parse(argv.stdout) as string[]).slice(0, EXPECTED.length), EXPECTED);
});
