/**
 * The layer rule, read from the imports. Data flows one way and the folders show it: transports
 * (src/transport/: the seam at its root, one folder per transport) → daly/ (pure codec) → bms/ (the
 * snapshot) → ha/ (pure catalogue) → mqtt/, wired only in runtime/ and commands/. Development tooling
 * lives in tools/ and may import the product; the product never imports it.
 * Every import of every file in src/ is checked (static, `export … from`, side-effect and dynamic
 * `import()`); a violation names the file, the import and the rule it breaks.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix, relative, sep } from "node:path";
import { ROOT } from "../helpers/paths.js";

const SRC = join(ROOT, "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** src/ as a map from repository-relative path ("src/daly/frame.ts") to source text. */
function readSources(): Map<string, string> {
  return new Map(files(SRC).map((f) => [relative(ROOT, f).split(sep).join("/"), readFileSync(f, "utf8")]));
}

interface Import {
  spec: string;
  /** `import type …`, `export type …` or every name marked `type`: erased at run time. */
  typeOnly: boolean;
}

const STATIC = /^\s*(import|export)\s([^"';]*?)\s*from\s+["']([^"']+)["']/gm;
const BARE = /^\s*import\s+["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

function isTypeOnly(clause: string): boolean {
  if (/^type\s/.test(clause)) return true;
  const names = /^\{([^}]*)\}$/.exec(clause.trim())?.[1];
  if (names === undefined) return false;
  const list = names.split(",").map((s) => s.trim()).filter(Boolean);
  return list.length > 0 && list.every((n) => n.startsWith("type "));
}

export function importsOf(text: string): Import[] {
  return [
    ...[...text.matchAll(STATIC)].map((m) => ({ spec: m[3] ?? "", typeOnly: isTypeOnly(m[2] ?? "") })),
    ...[...text.matchAll(BARE)].map((m) => ({ spec: m[1] ?? "", typeOnly: false })),
    ...[...text.matchAll(DYNAMIC)].map((m) => ({ spec: m[1] ?? "", typeOnly: false })),
  ];
}

/** Where an import leads: a repository path ("src/daly/frame.ts", "tools/mosquitto.ts"), "node:" or a package name. */
function resolve(file: string, spec: string): string {
  if (spec.startsWith("node:")) return "node:";
  if (!spec.startsWith(".")) return spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] ?? spec);
  return posix.join(posix.dirname(file), spec).replace(/\.js$/, ".ts");
}

/** The room of a path in src/: "daly", "bms", "transport", "transport/noble", … ("" outside src/). */
function room(path: string): string {
  const parts = path.split("/");
  if (parts[0] !== "src") return "";
  if (parts.length === 2) return (parts[1] ?? "").replace(/\.ts$/, "");
  if (parts[1] === "transport") return parts.length === 3 ? "transport" : `transport/${parts[2]}`;
  return parts[1] ?? "";
}

interface Edge {
  file: string;
  spec: string;
  typeOnly: boolean;
  /** resolve() of the spec */
  to: string;
  fromRoom: string;
  /** room() of the target, or "node:" / the package name */
  toRoom: string;
}

interface Rule {
  /** Files the rule is about. */
  applies(room: string): boolean;
  allows(e: Edge): boolean;
  says: string;
}

const TRANSPORT_FOLDER = /^transport\/[^/]+$/;
const DEV_PACKAGES = Object.keys((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies?: Record<string, string> }).devDependencies ?? {});

const RULES: Rule[] = [
  {
    applies: () => true,
    allows: (e) => !e.spec.startsWith(".") || e.to.startsWith("src/"),
    says: "nothing in src/ imports the tooling (tools/) or anything else outside src/",
  },
  {
    applies: () => true,
    allows: (e) => !DEV_PACKAGES.includes(e.toRoom),
    says: "the product imports no devDependency (they are not installed in the image)",
  },
  {
    applies: (r) => r === "util",
    allows: (e) => e.toRoom === "util",
    says: "util/ is pure helpers: no I/O, no other layer",
  },
  {
    applies: (r) => r === "daly",
    allows: (e) => e.toRoom === "daly" || e.toRoom === "util",
    says: "daly/ is the pure codec: itself and util/ only (no timers, logger, node:, noble or MQTT)",
  },
  {
    applies: (r) => r === "bms",
    // the energy counters persist to a file (node:fs); Daly vocabulary only in the one mapper
    allows: (e) => e.toRoom === "bms" || e.toRoom === "util" || e.toRoom === "node:" || (e.toRoom === "daly" && e.file.endsWith("/from-daly.ts")),
    says: "bms/ reads only daly/, and only in from-daly.ts",
  },
  {
    applies: (r) => r === "ha",
    allows: (e) => e.toRoom === "ha" || e.toRoom === "bms" || (e.toRoom === "daly" && e.typeOnly),
    says: "ha/ is pure: it reads only bms/ (and daly/ types)",
  },
  {
    applies: (r) => r === "mqtt",
    allows: (e) => e.toRoom === "mqtt" || e.toRoom === "node:",
    says: "mqtt/ is the MQTT client: no domain module",
  },
  {
    applies: (r) => r === "transport" || TRANSPORT_FOLDER.test(r),
    allows: (e) => !["runtime", "ha", "mqtt", "commands", "metrics", "config"].includes(e.toRoom),
    says: "transports never import runtime/, ha/ or mqtt/ (nor the wiring: commands/, metrics/, config/)",
  },
  {
    applies: (r) => r === "transport",
    allows: (e) => !TRANSPORT_FOLDER.test(e.toRoom),
    says: "the transport seam (src/transport/*.ts) knows no transport",
  },
  {
    applies: (r) => TRANSPORT_FOLDER.test(r),
    allows: (e) => !TRANSPORT_FOLDER.test(e.toRoom) || e.toRoom === e.fromRoom,
    says: "a transport imports no other transport, only the seam",
  },
];

function edges(sources: Map<string, string>): Edge[] {
  return [...sources].flatMap(([file, text]) =>
    importsOf(text).map(({ spec, typeOnly }) => {
      const to = resolve(file, spec);
      return { file, spec, typeOnly, to, fromRoom: room(file), toRoom: to.startsWith("src/") ? room(to) : to };
    }),
  );
}

export function violations(sources: Map<string, string>): string[] {
  const bad: string[] = [];
  for (const e of edges(sources)) {
    for (const rule of RULES) {
      if (rule.applies(e.fromRoom) && !rule.allows(e)) bad.push(`${e.file} imports "${e.spec}": ${rule.says}`);
    }
  }
  return bad;
}

/** Import cycles among files (type-only imports count: a cycle is a knot in the design either way). */
export function cycles(sources: Map<string, string>): string[][] {
  const graph = new Map<string, string[]>();
  for (const e of edges(sources)) if (sources.has(e.to)) graph.set(e.file, [...(graph.get(e.file) ?? []), e.to]);
  // Tarjan's strongly connected components
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v) ?? 0);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w);
      scc.push(w);
      if (w === v) break;
    }
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
  };
  for (const v of [...sources.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

test("the layer rule holds in src/", () => {
  assert.deepEqual(violations(readSources()), []);
});

test("the layer rule names the file, the import and the rule it breaks", () => {
  const fake = new Map([
    ["src/daly/frame.ts", 'import { log } from "../log.js";\nimport { readFileSync } from "node:fs";'],
    ["src/bms/gate.ts", 'import { crc } from "../daly/checksum.js";'],
    ["src/ha/catalogue.ts", 'import type { DalyFields } from "../daly/fields.js";\nimport { pollPlan } from "../daly/plan.js";\nimport { publish } from "../mqtt/publisher.js";'],
    ["src/transport/serial/serial-link.ts", 'import type {\n  Poller,\n} from "../../runtime/poller.js";\nimport { LinkEvents } from "../link-events.js";\nimport { x } from "../noble/guard.js";'],
    ["src/transport/link.ts", 'const m = await import("./bluez/transport.js");'],
    ["src/commands/run.ts", 'import { startMosquitto } from "../../tools/mosquitto.js";\nimport { Aedes } from "aedes";'],
  ]);
  assert.deepEqual(violations(fake).sort(), [
    'src/bms/gate.ts imports "../daly/checksum.js": bms/ reads only daly/, and only in from-daly.ts',
    'src/commands/run.ts imports "../../tools/mosquitto.js": nothing in src/ imports the tooling (tools/) or anything else outside src/',
    'src/commands/run.ts imports "aedes": the product imports no devDependency (they are not installed in the image)',
    'src/daly/frame.ts imports "../log.js": daly/ is the pure codec: itself and util/ only (no timers, logger, node:, noble or MQTT)',
    'src/daly/frame.ts imports "node:fs": daly/ is the pure codec: itself and util/ only (no timers, logger, node:, noble or MQTT)',
    'src/ha/catalogue.ts imports "../daly/plan.js": ha/ is pure: it reads only bms/ (and daly/ types)',
    'src/ha/catalogue.ts imports "../mqtt/publisher.js": ha/ is pure: it reads only bms/ (and daly/ types)',
    'src/transport/link.ts imports "./bluez/transport.js": the transport seam (src/transport/*.ts) knows no transport',
    'src/transport/serial/serial-link.ts imports "../../runtime/poller.js": transports never import runtime/, ha/ or mqtt/ (nor the wiring: commands/, metrics/, config/)',
    'src/transport/serial/serial-link.ts imports "../noble/guard.js": a transport imports no other transport, only the seam',
  ]);
});

test("no import cycle in src/ (the simulator's link and peripheral included)", () => {
  const src = readSources();
  assert.deepEqual(cycles(src), []);
  // the check sees a type-only cycle like the one link.ts and peripheral.ts had
  const knot = new Map([
    ["src/sim/hci/link.ts", 'import type { PeripheralSim } from "./peripheral.js";'],
    ["src/sim/hci/peripheral.ts", 'import type { SimLink } from "./link.js";'],
    ["src/sim/hci/h4.ts", ""],
  ]);
  assert.deepEqual(cycles(knot), [["src/sim/hci/link.ts", "src/sim/hci/peripheral.ts"]]);
});

test("only the noble loader loads noble, so importing the project never touches Bluetooth", () => {
  const src = readSources();
  const named = [...src].filter(([, text]) => /["']@abandonware\//.test(text)).map(([f]) => f);
  assert.deepEqual(named.sort(), ["src/transport/noble/fresh-bindings.ts", "src/transport/noble/noble-loader.ts"]);
  assert.match(src.get("src/transport/noble/noble-loader.ts") ?? "", /@abandonware\/noble\/with-bindings/);
  const importers = edges(src).filter((e) => e.toRoom.startsWith("@abandonware/"));
  assert.deepEqual(importers, [], "noble is only require()d lazily, never imported");
});
