/**
 * Loads the config in contract order (§1): defaults < files < environment (`DALY_…`) < flags, then
 * validates every key strictly and returns a deep-frozen `Config`. Bad user input is a result
 * (`ok: false` with a message naming the key, what was expected and where the value came from),
 * never an exception and never process.exit: the caller prints it and exits with status 2.
 */
import { accessSync, constants } from "node:fs";
import { randomBytes } from "node:crypto";
import { ConfigValueError, FORMATS, checkOneOf, normaliseMac, parseBmsList, parseProxyList, show } from "./formats.js";
import { readConfigFile } from "./files.js";
import { parseFlags, type FlagSpec } from "./flags.js";
import { EXTRA_FLAGS, newConvict, schemaLeaves, type Config, type ConfigKey, type LeafSpec } from "./schema.js";

export type ConfigSource = "default" | "file" | "env" | "cli";

export interface ConfigSources {
  /** Config files read, in order (later ones win). */
  readonly files: readonly string[];
  /** Which layer each key's value came from. */
  readonly keys: Readonly<Record<ConfigKey, ConfigSource>>;
}

export interface LoadOptions {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Files read before `--config`/`DALY_CONFIG` ones, e.g. the add-on's /data/options.json. */
  readonly files?: readonly string[];
  /** Flags of one command (e.g. poll's `--protocol`), returned in `commandFlags` instead of being rejected. */
  readonly commandFlags?: Readonly<Record<string, FlagSpec>>;
}

export type LoadResult =
  | {
      ok: true;
      config: Readonly<Config>;
      sources: ConfigSources;
      /** Arguments that are not flags, in order (e.g. decode's hex). */
      positional: readonly string[];
      commandFlags: ReadonlyMap<string, readonly string[]>;
    }
  | { ok: false; message: string };

interface Origin {
  source: ConfigSource;
  /** File path, env variable or flag, for messages. */
  detail: string;
}

const LEAVES = schemaLeaves();
const STRING_FORMATS = new Set(["daly-string", "mqtt-url", "bridge-id"]);

function flagSpecs(commandFlags: Readonly<Record<string, FlagSpec>>): Map<string, FlagSpec> {
  const specs = new Map<string, FlagSpec>(Object.entries(commandFlags));
  for (const { spec } of LEAVES) {
    if (spec.arg) specs.set(spec.arg, { kind: spec.format === "daly-bool" ? "boolean" : "value", repeatable: spec.arg === "address" });
  }
  for (const [name, f] of Object.entries(EXTRA_FLAGS)) specs.set(name, f);
  return specs;
}

/** `--address`/`DALY_BMS` as bare addresses keep what a lower layer said about those batteries. */
function keepBmsSettings(prev: unknown, next: unknown): unknown {
  if (!Array.isArray(next) || !Array.isArray(prev) || !next.every((x) => typeof x === "string")) return next;
  return next.map((addr: string) => {
    const mac = normaliseMac(addr);
    const old: unknown = prev.find((p: unknown) => {
      const a: unknown = typeof p === "object" && p !== null && "address" in p ? p.address : p;
      return mac !== undefined && typeof a === "string" && normaliseMac(a) === mac;
    });
    return old ?? addr;
  });
}

function valueAt(tree: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((o, k) => (typeof o === "object" && o !== null ? (o as Record<string, unknown>)[k] : undefined), tree);
}

/** The expectation a leaf's value fails, or undefined when it is valid. */
function check(spec: LeafSpec, v: unknown): ConfigValueError | undefined {
  try {
    if (Array.isArray(spec.format)) checkOneOf(v, spec.format);
    else FORMATS[String(spec.format)]?.validate(v, spec);
    return undefined;
  } catch (e) {
    if (e instanceof ConfigValueError) return e;
    throw e;
  }
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function deepFreeze<T>(o: T): T {
  if (typeof o === "object" && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export function loadConfig(opts: LoadOptions): LoadResult {
  try {
    return load(opts);
  } catch (e) {
    // Only a bug gets here (all user input is checked); still a result, not a crash.
    return { ok: false, message: `config: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function load(opts: LoadOptions): LoadResult {
  const parsed = parseFlags(opts.argv, flagSpecs(opts.commandFlags ?? {}));
  if (!parsed.ok) return parsed;
  const cli = parsed.values;
  const conf = newConvict();
  const origin = new Map<ConfigKey, Origin>();
  const setFrom = (path: ConfigKey, raw: unknown, o: Origin): void => {
    const prev = valueAt(conf.getProperties(), path);
    conf.set(path as string, raw);
    if (path === "bms") conf.set(path as string, keepBmsSettings(prev, valueAt(conf.getProperties(), path)));
    origin.set(path, o);
  };

  // Files
  const envFile = opts.env.DALY_CONFIG ? [opts.env.DALY_CONFIG] : [];
  const files = [...(opts.files ?? []), ...(cli.get("config") ?? envFile)];
  for (const file of files) {
    const r = readConfigFile(file);
    if (!r.ok) return r;
    // Leaf by leaf (not convict's load(), whose merge trips over an object where a value belongs).
    for (const k of r.keys) setFrom(k, valueAt(r.data, k), { source: "file", detail: file });
  }

  // Environment, then flags
  for (const { path, spec } of LEAVES) {
    const v = opts.env[spec.env];
    if (v !== undefined && (v !== "" || STRING_FORMATS.has(String(spec.format)))) setFrom(path, v, { source: "env", detail: spec.env });
  }
  for (const { path, spec } of LEAVES) {
    const v = spec.arg ? cli.get(spec.arg) : undefined;
    if (v !== undefined) setFrom(path, v.join(","), { source: "cli", detail: `--${spec.arg ?? ""}` });
  }
  const simulate = cli.get("simulate")?.at(-1);
  if (simulate !== undefined) {
    const on = FORMATS["daly-bool"]?.coerce?.(simulate);
    if (typeof on !== "boolean") return { ok: false, message: `--simulate: expected true or false, got ${show(simulate)}` };
    if (on) setFrom("transport", "simulator", { source: "cli", detail: "--simulate" });
  }
  if (cli.has("sim-scenario")) setFrom("transport", "simulator", { source: "cli", detail: "--sim-scenario" });

  // Every key against its format, with where the value came from
  const props: unknown = conf.getProperties();
  const from = (path: ConfigKey): string => {
    const o = origin.get(path);
    return o ? ` (from ${o.detail})` : "";
  };
  const errors: string[] = [];
  for (const { path, spec } of LEAVES) {
    const e = check(spec, valueAt(props, path));
    if (e) errors.push(`${path}${e.subPath}: ${spec.sensitive ? `expected ${e.expected}` : e.text}${from(path)}`);
  }
  if (errors.length > 0) return { ok: false, message: errors.join("\n") };

  // Rules across keys
  const c = props as Config; // every leaf was validated just above
  if (c.simulation.scenario !== "" && c.transport === "noble") {
    if (origin.has("transport")) {
      return { ok: false, message: `transport: expected "simulator" when simulation.scenario is set, got "noble"${from("transport")}` };
    }
    conf.set("transport", "simulator");
    const o = origin.get("simulation.scenario");
    if (o) origin.set("transport", o);
  }
  if ((c.mqtt.tls.cert === "") !== (c.mqtt.tls.key === "")) {
    return { ok: false, message: `mqtt.tls.cert and mqtt.tls.key: expected both or neither, got only ${c.mqtt.tls.cert ? "cert" : "key"}` };
  }
  for (const path of ["mqtt.tls.ca", "mqtt.tls.cert", "mqtt.tls.key", "simulation.scenario"] as const) {
    const file = valueAt(c, path);
    if (typeof file === "string" && file !== "" && !readable(file)) {
      return { ok: false, message: `${path}: expected a readable file, got ${show(file)}${from(path)}` };
    }
  }
  conf.validate({ allowed: "strict", output: () => undefined }); // the safety net: throws only on a bug above

  const final = conf.getProperties();
  const config: Config = {
    ...final,
    bms: parseBmsList(final.bms),
    esphome: { proxies: parseProxyList(final.esphome.proxies) },
    mqtt: { ...final.mqtt, clientId: final.mqtt.clientId || `daly-bms-bridge-${randomBytes(4).toString("hex")}` },
  };
  const keys = Object.fromEntries(LEAVES.map(({ path }) => [path, origin.get(path)?.source ?? "default"])) as Record<ConfigKey, ConfigSource>;
  return {
    ok: true,
    config: deepFreeze(config),
    sources: deepFreeze({ files, keys }),
    positional: parsed.positional,
    commandFlags: new Map([...cli].filter(([name]) => Object.hasOwn(opts.commandFlags ?? {}, name))),
  };
}
