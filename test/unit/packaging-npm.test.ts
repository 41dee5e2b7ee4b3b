/**
 * The npm package holds the product only: `npm run build` compiles src/ into dist/, the development
 * tooling (tools/: bench, soak, the Mosquitto launcher) is built by tools/tsconfig.json elsewhere
 * and never lands in dist/. Checked on what `npm pack` would really publish (after `npm run build`,
 * which `npm test` runs first).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { ROOT } from "../helpers/paths.js";

interface PackEntry {
  files: { path: string }[];
}

function packedFiles(): string[] {
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as PackEntry[];
  assert.equal(out.length, 1);
  return (out[0]?.files ?? []).map((f) => f.path);
}

const TOOLING = [/^tools\//, /^build(-tools)?\//, /(^|\/)bench\//, /(^|\/)soak\//, /mosquitto/, /^(src|test|scripts)\//];

test("npm pack lists the built product and no tooling", () => {
  const files = packedFiles();
  for (const f of ["dist/cli.js", "dist/main.js", "dist/transport/noble/noble-loader.js", "dist/sim/remote/main.js", "README.md", "package.json"]) {
    assert.ok(files.includes(f), `${f} is in the package`);
  }
  assert.deepEqual(
    files.filter((f) => TOOLING.some((re) => re.test(f))),
    [],
    "no file of the development tooling (tools/, bench, soak, the Mosquitto launcher) is packed",
  );
});
