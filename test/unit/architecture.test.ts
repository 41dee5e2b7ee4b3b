/**
 * The data flows one way and the folders show it (transport → daly → bms → ha → mqtt, wired only
 * in runtime/ and commands/). These rules read every import in src/ and fail on a forbidden edge.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "../helpers/paths.js";

const SRC = join(ROOT, "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

const IMPORT = /^\s*(?:import|export)\s[^"']*?from\s+["']([^"']+)["']/gm;

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(IMPORT)].map((m) => m[1] ?? "");
}

/** Folder of a relative import, seen from src/ ("daly", "util", …), or the package name. */
function target(from: string, spec: string): string {
  if (!spec.startsWith(".")) return spec.startsWith("node:") ? "node" : spec;
  const abs = join(from, "..", spec);
  const rel = relative(SRC, abs);
  return rel.includes("/") ? (rel.split("/")[0] ?? rel) : rel.replace(/\.js$/, "");
}

const RULES: Record<string, (to: string, file: string) => boolean> = {
  // pure codec: nothing but itself and util (no timers, logger, noble or MQTT)
  daly: (to) => to === "daly" || to === "util",
  // the snapshot domain: Daly vocabulary only in the one mapper
  bms: (to, file) => to === "bms" || to === "util" || to === "node" || (to === "daly" && file.endsWith("from-daly.ts")),
  // HA vocabulary: pure, reads only the snapshot
  ha: (to) => to === "ha" || to === "bms",
  // MQTT client: no domain module
  mqtt: (to) => to === "mqtt" || to === "node",
};

test("import rules between layers hold", () => {
  const bad: string[] = [];
  for (const f of files(SRC)) {
    const layer = relative(SRC, f).split("/")[0] ?? "";
    const rule = RULES[layer];
    if (!rule) continue;
    for (const spec of imports(f)) {
      const to = target(f, spec);
      if (to === layer) continue;
      if (!rule(to, f)) bad.push(`${relative(ROOT, f)} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("only the loader loads noble, so importing the project never touches Bluetooth", () => {
  const loaders = files(SRC).filter((f) => imports(f).some((s) => s.startsWith("@abandonware/noble")) || /require\(["']@abandonware\/noble/.test(readFileSync(f, "utf8")));
  assert.deepEqual(loaders.map((f) => relative(ROOT, f)), ["src/transport/noble/noble-loader.ts"]);
  assert.match(readFileSync(join(SRC, "transport", "noble", "noble-loader.ts"), "utf8"), /@abandonware\/noble\/with-bindings/);
});
