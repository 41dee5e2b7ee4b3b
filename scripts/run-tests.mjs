// Runs every compiled test file under build/test with node's built-in test runner.
// Usage: node scripts/run-tests.mjs [--containers] [substring-filter...]
// Without --containers the container suite (build/test/containers: builds and starts the Docker
// images, npm run test:containers) is left out; with it, only that suite runs.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}
const args = process.argv.slice(2);
const containers = args.includes("--containers");
const filters = args.filter((a) => a !== "--containers");
const inContainers = (f) => f.startsWith(join("build", "test", "containers"));
const files = walk("build/test")
  .filter((f) => inContainers(f) === containers)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
// the container suites share one Docker engine and image build: one file at a time
const r = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...(containers ? ["--test-concurrency=1"] : []), ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
