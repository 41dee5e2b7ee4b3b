/**
 * The Home Assistant add-on (ha-addon/, repository.yaml) checked statically against the rules of
 * home-assistant.md §3 and the Supervisor's own validators (apps/validate.py, apps/options.py),
 * and against the bridge: every add-on option maps (ha-addon/options-map.json) onto a real config
 * key of src/config/schema.ts, and the mapped defaults load through the real config loader.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { inflateSync } from "node:zlib";
import YAML from "yaml";
import { ROOT } from "../helpers/paths.js";
import { schemaLeaves } from "../../src/config/schema.js";
import { parseBmsList } from "../../src/config/formats.js";
import { loadConfig } from "../../src/config/load.js";
import { ADDON_OPTION_MAP, optionsToConfig } from "../../src/addon/options.js";
import { dockerInstructions, type Instr } from "../helpers/dockerfile.js";

const ADDON = join(ROOT, "ha-addon");
const readText = (...p: string[]): string => readFileSync(join(ROOT, ...p), "utf8");
const readYaml = (...p: string[]): unknown => YAML.parse(readText(...p));

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

const config = readYaml("ha-addon", "config.yaml") as Obj;
const pkg = JSON.parse(readText("package.json")) as { version: string; license: string };
const options = config.options as Obj;
const schema = config.schema as Obj;
const optionsMap = JSON.parse(readText("ha-addon", "options-map.json")) as {
  options: Record<string, string>;
  bmsFields: Record<string, string>;
  supervisorMqtt: Record<string, string>;
};
const LEAVES = new Map(schemaLeaves().map((l) => [l.path as string, l.spec]));

// ---- Supervisor rules (home-assistant.md §3.2/3.3; supervisor apps/validate.py, apps/options.py) ----

/** Top-level keys `_SCHEMA_APP_CONFIG` knows; anything else is silently dropped (REMOVE_EXTRA). */
const KNOWN_KEYS = new Set(
  (
    "name version slug description arch machine url startup boot init advanced stage ports ports_description watchdog webui " +
    "ingress ingress_port ingress_entry ingress_stream panel_icon panel_title panel_admin homeassistant host_network host_pid " +
    "host_ipc host_uts host_dbus devices udev tmpfs map environment privileged apparmor full_access audio video gpio usb uart " +
    "devicetree kernel_modules realtime hassio_api hassio_role homeassistant_api stdin legacy docker_api auth_api services " +
    "discovery backup_exclude backup_pre backup_post backup options schema image ulimits timeout journald breaking_versions"
  ).split(" "),
);
const REQUIRED_KEYS = ["name", "version", "slug", "description", "arch"];
/** Current add-on arches; armhf/armv7/i386 are deprecated (warning) and have no base images since 2025-11. */
const CURRENT_ARCHES = new Set(["aarch64", "amd64"]);
const CAPABILITIES = new Set([
  "BPF", "CHECKPOINT_RESTORE", "DAC_READ_SEARCH", "IPC_LOCK", "NET_ADMIN", "NET_RAW", "PERFMON",
  "SYS_ADMIN", "SYS_MODULE", "SYS_NICE", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME",
]);
const RE_SLUG = /^[-_.A-Za-z0-9]+$/;
const RE_SERVICE = /^(?<service>mqtt|mysql):(?<rights>provide|want|need)$/;
/** Port of RE_SCHEMA_ELEMENT (supervisor/apps/options.py). */
const RE_SCHEMA_ELEMENT = new RegExp(
  "^(?:" +
    "|bool" +
    "|email" +
    "|url" +
    "|port" +
    "|device(?:\\((?<filter>subsystem=[a-z]+)\\))?" +
    "|str(?:\\((?<s_min>\\d+)?,(?<s_max>\\d+)?\\))?" +
    "|password(?:\\((?<p_min>\\d+)?,(?<p_max>\\d+)?\\))?" +
    "|int(?:\\((?<i_min>-?\\d+)?,(?<i_max>-?\\d+)?\\))?" +
    "|float(?:\\((?<f_min>-?\\d*\\.?\\d+)?,(?<f_max>-?\\d*\\.?\\d+)?\\))?" +
    "|match\\((?<match>.*)\\)" +
    "|list\\((?<list>.+)\\)" +
    ")\\??$",
);

const isOptionalType = (t: unknown): boolean => {
  const el = Array.isArray(t) ? t[0] : t;
  return typeof el === "string" && el.endsWith("?");
};

/** Port of AppOptions._validate_element for the types used here; throws like vol.Invalid. */
function validateElement(typ: unknown, value: unknown, key: string): void {
  if (Array.isArray(typ)) {
    if (!Array.isArray(value)) throw new Error(`Invalid list for option '${key}'`);
    for (const v of value) validateElement(typ[0], v, key);
    return;
  }
  if (isObj(typ)) {
    if (!isObj(value)) throw new Error(`Invalid dict for option '${key}'`);
    for (const [k, v] of Object.entries(value)) {
      if (!(k in typ)) throw new Error(`Unknown option '${k}' in '${key}' (the Supervisor would drop it)`);
      validateElement(typ[k], v, k);
    }
    for (const [k, t] of Object.entries(typ)) if (!(k in value) && !isOptionalType(t)) throw new Error(`Missing option '${k}' in ${key}`);
    return;
  }
  assert.equal(typeof typ, "string");
  const t = typ as string;
  const m = RE_SCHEMA_ELEMENT.exec(t);
  if (!m) throw new Error(`Unknown type '${t}'`);
  if (value === null || value === undefined) throw new Error(`Missing required option '${key}'`);
  const g = m.groups ?? {};
  const inRange = (x: number, min?: string, max?: string): boolean =>
    (min === undefined || x >= Number(min)) && (max === undefined || x <= Number(max));
  if (t.startsWith("int")) {
    if (!Number.isInteger(value) || !inRange(value as number, g.i_min, g.i_max)) throw new Error(`'${key}': ${String(value)} is not ${t}`);
  } else if (t.startsWith("float")) {
    if (typeof value !== "number" || !inRange(value, g.f_min, g.f_max)) throw new Error(`'${key}': ${String(value)} is not ${t}`);
  } else if (t.startsWith("bool")) {
    if (typeof value !== "boolean") throw new Error(`'${key}': ${String(value)} is not a bool`);
  } else if (t.startsWith("match")) {
    // vol.Match uses Python's re.match: anchored at the start only.
    if (!new RegExp(`^(?:${g.match ?? ""})`).test(String(value))) throw new Error(`'${key}': ${String(value)} does not match ${t}`);
  } else if (t.startsWith("list")) {
    if (!(g.list ?? "").split("|").includes(String(value))) throw new Error(`'${key}': ${String(value)} is not one of ${t}`);
  } else if (t.startsWith("str") || t.startsWith("password")) {
    if (typeof value !== "string") throw new Error(`'${key}': expected a string`);
  }
}

function validateOptions(opts: Obj): void {
  validateElement(schema, opts, "root");
}

/** Every schema element, with its path, for type checks. */
function schemaElements(node: unknown, path: string, depth = 0): Array<{ path: string; type: string; depth: number }> {
  if (Array.isArray(node)) {
    assert.equal(node.length, 1, `${path}: a schema list holds exactly one element type`);
    assert.ok(!Array.isArray(node[0]), `${path}: a list may not directly contain another list`);
    return schemaElements(node[0], `${path}[]`, depth + 1);
  }
  if (isObj(node)) return Object.entries(node).flatMap(([k, v]) => schemaElements(v, path ? `${path}.${k}` : k, depth + 1));
  assert.equal(typeof node, "string", `${path}: schema types are strings`);
  return [{ path, type: node as string, depth }];
}

test("config.yaml: required keys, only keys the Supervisor knows, valid enums", () => {
  for (const k of REQUIRED_KEYS) assert.ok(config[k] !== undefined && config[k] !== "", `missing ${k}`);
  for (const k of Object.keys(config)) assert.ok(KNOWN_KEYS.has(k), `unknown key ${k} (the Supervisor drops it silently)`);
  assert.equal(typeof config.name, "string");
  assert.equal(typeof config.description, "string");
  assert.match(config.slug as string, RE_SLUG);
  assert.match(config.slug as string, /^[a-z][a-z0-9_]*$/, "slug: lower-case snake_case");
  assert.equal(config.slug, "daly_bms_bridge");
  assert.ok(["initialize", "system", "services", "application", "once"].includes(config.startup as string));
  assert.ok(["auto", "manual", "manual_only"].includes(config.boot as string));
  if (config.stage !== undefined) assert.ok(["stable", "experimental", "deprecated"].includes(config.stage as string));
  if (config.timeout !== undefined) assert.ok(Number.isInteger(config.timeout) && (config.timeout as number) >= 10 && (config.timeout as number) <= 300);
  for (const k of ["init", "host_network", "host_dbus", "apparmor"]) {
    if (config[k] !== undefined) assert.equal(typeof config[k], "boolean", k);
  }
  assert.match(String(config.url), /^https:\/\//);
});

test("config.yaml: version is a string equal to package.json's", () => {
  assert.equal(typeof config.version, "string", "quote the version: YAML may read 1.0 as a number");
  assert.equal(config.version, pkg.version);
});

test("config.yaml: arch lists only current, non-deprecated add-on arches", () => {
  const arch = config.arch as unknown[];
  assert.ok(Array.isArray(arch) && arch.length > 0);
  assert.equal(new Set(arch).size, arch.length, "no duplicates");
  for (const a of arch) assert.ok(CURRENT_ARCHES.has(a as string), `arch ${String(a)} is not current (aarch64, amd64)`);
  assert.deepEqual([...arch].sort(), ["aarch64", "amd64"]);
});

test("config.yaml: image names pre-built per-arch images under the repository's owner", () => {
  // Pushed by .github/workflows/release.yml (test/unit/packaging-release.test.ts checks the names agree).
  const image = /^ghcr\.io\/([a-z0-9-]+)\/\{arch\}-daly-bms-bridge-addon$/.exec(String(config.image));
  assert.ok(image, `image: ${String(config.image)} is not ghcr.io/<owner>/{arch}-daly-bms-bridge-addon`);
  assert.equal(new URL(String(config.url)).pathname.toLowerCase(), `/${image[1] as string}/daly-bms-bridge`);
});

test("config.yaml: services use service:role syntax and want (not need) MQTT", () => {
  const services = config.services as unknown[];
  assert.ok(Array.isArray(services));
  for (const s of services) assert.match(String(s), RE_SERVICE);
  assert.ok(services.includes("mqtt:want"), "mqtt:want (need would block start without Mosquitto, home-assistant.md §3.4)");
});

test("config.yaml: Bluetooth access matches the transports offered (home-assistant.md §3.6)", () => {
  const transports = /^list\((.*)\)$/.exec(schema.transport as string)?.[1]?.split("|") ?? [];
  assert.ok(transports.includes("bluez"));
  assert.equal(options.transport, "bluez", "BlueZ over D-Bus is the add-on default: it shares the adapter with HA");
  assert.equal(config.host_dbus, true, "bluez needs host_dbus");
  const privileged = (config.privileged ?? []) as unknown[];
  for (const c of privileged) assert.ok(CAPABILITIES.has(c as string), `capability ${String(c)} not allowed in privileged`);
  if (transports.includes("noble")) {
    assert.equal(config.host_network, true, "noble: AF_BLUETOOTH only exists in the host network namespace");
    assert.ok(privileged.includes("NET_RAW") && privileged.includes("NET_ADMIN"), "noble: NET_RAW (raw HCI) and NET_ADMIN (user channel)");
  } else {
    assert.notEqual(config.host_network, true, "no host network without the noble transport");
  }
  assert.notEqual(config.full_access, true);
  assert.equal(config.init, false, "the image's ENTRYPOINT is tini already");
});

test("schema: every type is a valid add-on schema type, nesting depth <= 2", () => {
  const els = schemaElements(schema, "");
  assert.ok(els.length > 0);
  for (const { path, type, depth } of els) {
    assert.match(type, RE_SCHEMA_ELEMENT, `${path}: ${type}`);
    // option (1) → list (2) → dict field (3): the deepest shape the add-on UI supports
    assert.ok(depth <= 3, `${path}: nested too deep`);
  }
  // Spot checks: these would slip through a lax regex.
  for (const bad of ["integer", "int(1)", "list()", "string?", "bool??", "str(a,b)"]) assert.doesNotMatch(bad, RE_SCHEMA_ELEMENT, bad);
  for (const good of ["int(1,)", "int(0,)?", "list(a|b)", "match(^x$)", "password?", "str?", "float(0.5,2)"]) assert.match(good, RE_SCHEMA_ELEMENT, good);
});

test("options ⇄ schema: every option has a schema entry; every schema-only key is optional", () => {
  for (const k of Object.keys(options)) assert.ok(k in schema, `option ${k} has no schema entry`);
  for (const [k, t] of Object.entries(schema)) {
    if (!(k in options)) assert.ok(isOptionalType(t), `schema key ${k} is neither in options (default) nor optional ("?")`);
    else assert.ok(!isOptionalType(t), `${k}: an option with a default is required; mark optional ones schema-only (home-assistant.md §3.3)`);
  }
});

test("options: the defaults validate against the schema (Supervisor semantics), bad values do not", () => {
  validateOptions(options);
  const good = {
    ...options,
    bms: [
      { address: "C0:D6:3C:57:2A:01" },
      { address: "c0:d6:3c:57:2a:02", name: "Camper", protocol: "d2", invert_current: true, poll_interval: 60 },
    ],
    mqtt_url: "mqtt://192.168.1.10:1883",
    mqtt_password: "secret",
  };
  validateOptions(good);
  const bad: Obj[] = [
    { ...options, bms: [{ address: "C0:D6:3C:57:2A" }] },
    { ...options, bms: [{ address: "C0-D6-3C-57-2A-01" }] },
    { ...options, bms: [{ address: "C0:D6:3C:57:2A:01:FF" }] },
    { ...options, bms: [{ name: "no address" }] },
    { ...options, bms: [{ address: "C0:D6:3C:57:2A:01", protocol: "modbus" }] },
    { ...options, bms: [{ address: "C0:D6:3C:57:2A:01", poll_interval: 0 }] },
    { ...options, transport: "usb" },
    { ...options, poll_interval: 0 },
    { ...options, hci_device: -1 },
    { ...options, request_timeout: 0.05 },
    { ...options, log_level: "verbose" },
  ];
  for (const b of bad) assert.throws(() => validateOptions(b), Error, JSON.stringify(b));
});

test("translations/en.yaml: name and description for every option and every bms field, nothing stale", () => {
  const tr = readYaml("ha-addon", "translations", "en.yaml") as { configuration: Record<string, Obj> };
  assert.ok(isObj(tr.configuration));
  for (const [k, t] of Object.entries(schema)) {
    const e = tr.configuration[k];
    assert.ok(isObj(e), `no translation for ${k}`);
    assert.ok(typeof e.name === "string" && e.name.length > 0, `${k}.name`);
    assert.ok(typeof e.description === "string" && e.description.length > 0, `${k}.description`);
    const item = Array.isArray(t) ? t[0] : t;
    if (isObj(item)) {
      const fields = e.fields as Record<string, Obj> | undefined;
      assert.ok(isObj(fields), `${k}.fields`);
      for (const f of Object.keys(item)) {
        assert.ok(isObj(fields[f]) && typeof fields[f].name === "string" && typeof fields[f].description === "string", `${k}.fields.${f}`);
      }
      for (const f of Object.keys(fields)) assert.ok(f in item, `stale translation ${k}.fields.${f}`);
    }
  }
  for (const k of Object.keys(tr.configuration)) assert.ok(k in schema, `stale translation ${k}`);
});

test("options-map.json: every option (and bms field) maps to a real config key of src/config/schema.ts", () => {
  assert.deepEqual(Object.keys(optionsMap.options).sort(), Object.keys(schema).sort(), "the map covers exactly the add-on's options");
  assert.deepEqual(optionsMap.options, { ...ADDON_OPTION_MAP }, "options-map.json mirrors the bridge's ADDON_OPTION_MAP (src/addon/options.ts)");
  for (const [opt, key] of Object.entries(optionsMap.options)) assert.ok(LEAVES.has(key), `${opt} → ${key}: not a config key`);
  assert.equal(new Set(Object.values(optionsMap.options)).size, Object.keys(optionsMap.options).length, "no two options set one key");
  const bmsItem = (schema.bms as Obj[])[0] as Obj;
  assert.deepEqual(Object.keys(optionsMap.bmsFields).sort(), Object.keys(bmsItem).sort());
  for (const key of Object.keys(optionsMap.supervisorMqtt)) assert.ok(LEAVES.has(key), `supervisorMqtt ${key}: not a config key`);
});

test("options-map.json: option types, bounds and defaults agree with the config schema", () => {
  // Deliberate differences from the bridge's defaults, with the reason.
  const ADDON_DEFAULTS = { transport: "bluez" }; // BlueZ shares the adapter with HA's Bluetooth (home-assistant.md §3.7)
  for (const [opt, key] of Object.entries(optionsMap.options)) {
    const spec = LEAVES.get(key);
    assert.ok(spec);
    const t = (Array.isArray(schema[opt]) ? "list" : schema[opt]) as string;
    const fmt = spec.format;
    if (t.startsWith("int")) {
      assert.ok(fmt === "daly-int" || fmt === "daly-seconds", `${opt}: int option for ${String(fmt)}`);
      const min = /^int\((-?\d+)?,/.exec(t)?.[1];
      assert.equal(min === undefined ? undefined : Number(min), spec.min, `${opt}: lower bound`);
    } else if (t.startsWith("float")) {
      assert.ok(fmt === "daly-number" || fmt === "daly-seconds", `${opt}: float option for ${String(fmt)}`);
      const min = /^float\((-?\d*\.?\d+)?,/.exec(t)?.[1];
      assert.equal(min === undefined ? undefined : Number(min), spec.min, `${opt}: lower bound`);
    } else if (t.startsWith("bool")) assert.equal(fmt, "daly-bool", opt);
    else if (t.startsWith("str") || t.startsWith("password") || t.startsWith("url")) {
      assert.ok(["daly-string", "mqtt-url", "mqtt-topic"].includes(String(fmt)), `${opt}: string option for ${String(fmt)}`);
      assert.equal(t.startsWith("password"), spec.sensitive === true, `${opt}: password type iff the key is sensitive`);
    } else if (t.startsWith("list(")) {
      assert.ok(Array.isArray(fmt), `${opt}: list option for an enum key`);
      const values = t.replace(/^list\(|\)\??$/g, "").split("|");
      for (const v of values) {
        assert.ok((fmt as readonly string[]).includes(v), `${opt}: ${v} is not a value of ${key}`);
      }
    }
    if (opt in options) {
      const expected = opt in ADDON_DEFAULTS ? ADDON_DEFAULTS[opt as keyof typeof ADDON_DEFAULTS] : spec.default;
      if (opt === "bms") assert.deepEqual(options[opt], [], "no batteries by default");
      else assert.deepEqual(options[opt], expected, `${opt}: default`);
    }
  }
});

/** Reference implementation of the mapping the bridge applies to /data/options.json. */
function mapOptions(opts: Obj): Obj {
  const out: Obj = {};
  for (const [opt, value] of Object.entries(opts)) {
    const key = optionsMap.options[opt];
    assert.ok(key, `unmapped option ${opt}`);
    if (value === null || value === "") continue; // a cleared optional value = unset
    const v =
      opt === "bms"
        ? (value as Obj[]).map((item) =>
            Object.fromEntries(Object.entries(item).filter(([, fv]) => fv !== null && fv !== "").map(([f, fv]) => [optionsMap.bmsFields[f], fv])),
          )
        : value;
    const parts = key.split(".");
    let node = out;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Obj;
    node[parts.at(-1) as string] = v;
  }
  return out;
}

test("mapped options load through the bridge's real config loader with the values intact", () => {
  const dir = mkdtempSync(join(tmpdir(), "daly-addon-"));
  try {
    const opts: Obj = {
      ...options,
      bms: [
        { address: "c0:d6:3c:57:2a:01", name: "House bank" },
        { address: "C0:D6:3C:57:2A:02", protocol: "d2", invert_current: true, poll_interval: 60 },
      ],
      poll_interval: 45,
      hci_device: 1,
      request_timeout: 4.5,
      log_level: "debug",
      mqtt_url: "mqtt://192.168.1.10:1883",
      mqtt_username: "daly",
      mqtt_password: "secret",
      base_topic: "daly_test",
      discovery_prefix: "ha",
    };
    validateOptions(opts);
    // The bridge's converter and the documented table (options-map.json) give the same config.
    const conv = optionsToConfig(opts);
    assert.ok(conv.ok);
    assert.deepEqual(conv.unknown, [], "every add-on option is known to the bridge");
    assert.deepEqual(conv.config, mapOptions(opts));
    const file = join(dir, "options.json");
    writeFileSync(file, JSON.stringify(conv.config));
    const r = loadConfig({ argv: [], env: {}, files: [file] });
    assert.ok(r.ok, r.ok ? "" : r.message);
    const c = r.config;
    assert.equal(c.transport, "bluez");
    assert.equal(c.pollInterval, 45);
    assert.equal(c.keepConnected, options.keep_connected);
    assert.equal(c.offlineAfterFailures, options.offline_after_failures);
    assert.equal(c.ble.hciDeviceId, 1);
    assert.equal(c.ble.requestTimeout, 4.5);
    assert.equal(c.ble.userChannel, options.user_channel);
    assert.equal(c.log.level, "debug");
    assert.equal(c.mqtt.url, "mqtt://192.168.1.10:1883");
    assert.equal(c.mqtt.username, "daly");
    assert.equal(c.mqtt.password, "secret");
    assert.equal(c.mqtt.baseTopic, "daly_test");
    assert.equal(c.mqtt.discoveryPrefix, "ha");
    assert.equal(c.bms.length, 2);
    assert.equal(c.bms[0]?.address, "C0:D6:3C:57:2A:01");
    assert.equal(c.bms[0]?.name, "House bank");
    assert.equal(c.bms[1]?.protocol, "d2");
    assert.equal(c.bms[1]?.invertCurrent, true);
    assert.equal(c.bms[1]?.pollInterval, 60);
    for (const [, v] of Object.entries(r.sources.keys)) assert.ok(v === "file" || v === "default");

    // The bare defaults (no battery configured yet) are valid too.
    const bare = join(dir, "bare.json");
    writeFileSync(bare, JSON.stringify(mapOptions(options)));
    const r2 = loadConfig({ argv: [], env: {}, files: [bare] });
    assert.ok(r2.ok, r2.ok ? "" : r2.message);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bms fields map onto the bridge's BMS entry keys (parseBmsList accepts every field)", () => {
  const item = { address: "C0:D6:3C:57:2A:01", name: "A", protocol: "p81", invert_current: true, poll_interval: 5 };
  validateElement((schema.bms as unknown[])[0], item, "bms");
  const mapped = Object.fromEntries(Object.entries(item).map(([k, v]) => [optionsMap.bmsFields[k], v]));
  const [b] = parseBmsList([mapped]);
  assert.deepEqual({ ...b }, { address: "C0:D6:3C:57:2A:01", name: "A", protocol: "p81", invertCurrent: true, pollInterval: 5 });
  // protocol values: the add-on list equals the bridge's
  const list = /^list\((.*)\)\?$/.exec(((schema.bms as Obj[])[0] as Obj).protocol as string)?.[1]?.split("|");
  assert.deepEqual(list, ["auto", "a5", "d2", "p81"]);
});

test("DOCS.md documents every option, the transports and the Bluetooth coexistence rule", () => {
  const docs = readText("ha-addon", "DOCS.md");
  for (const k of Object.keys(schema)) assert.ok(docs.includes(`\`${k}\``), `DOCS.md does not mention ${k}`);
  const bmsItem = (schema.bms as Obj[])[0] as Obj;
  for (const f of Object.keys(bmsItem)) assert.ok(docs.includes(`\`${f}\``), `DOCS.md does not mention bms field ${f}`);
  assert.match(docs, /dedicated adapter/i);
  assert.match(docs, /share/i);
  assert.ok(docs.includes(String(config.url)), "DOCS.md gives the repository URL to add");
});

test("CHANGELOG.md has an entry for the current version; README.md exists", () => {
  assert.match(readText("ha-addon", "CHANGELOG.md"), new RegExp(`^## \\[?${String(config.version).replace(/\./g, "\\.")}\\]?`, "m"));
  assert.ok(readText("ha-addon", "README.md").length > 100);
});

// ---- PNG ----

function readPng(file: string): { width: number; height: number; colorType: number; bitDepth: number } {
  const b = readFileSync(file);
  assert.deepEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file}: PNG signature`);
  let off = 8;
  const chunks: Array<{ type: string; data: Buffer }> = [];
  while (off < b.length) {
    const len = b.readUInt32BE(off);
    const type = b.toString("ascii", off + 4, off + 8);
    const data = b.subarray(off + 8, off + 8 + len);
    const crc = b.readUInt32BE(off + 8 + len);
    assert.equal(crc, crc32(b.subarray(off + 4, off + 8 + len)), `${file}: CRC of ${type}`);
    chunks.push({ type, data });
    off += 12 + len;
  }
  assert.equal(off, b.length, `${file}: trailing bytes`);
  assert.equal(chunks[0]?.type, "IHDR", `${file}: IHDR first`);
  assert.equal(chunks.at(-1)?.type, "IEND", `${file}: IEND last`);
  const ihdr = chunks[0].data;
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const bitDepth = ihdr[8] as number;
  const colorType = ihdr[9] as number;
  // Decompress and check the scanline size (8-bit, non-interlaced images).
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  assert.ok(channels, `${file}: colour type ${colorType}`);
  const raw = inflateSync(Buffer.concat(chunks.filter((c) => c.type === "IDAT").map((c) => c.data)));
  if (bitDepth === 8 && ihdr[12] === 0) assert.equal(raw.length, (width * channels + 1) * height, `${file}: image data size`);
  return { width, height, colorType, bitDepth };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of buf) c = (CRC_TABLE[(c ^ x) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

test("icon.png is a valid 128×128 PNG, logo.png a valid 250×100 PNG (home-assistant.md §3.1)", () => {
  const icon = readPng(join(ADDON, "icon.png"));
  assert.deepEqual([icon.width, icon.height], [128, 128]);
  const logo = readPng(join(ADDON, "logo.png"));
  assert.deepEqual([logo.width, logo.height], [250, 100]);
});

// ---- repository, Dockerfile, layout ----

test("repository.yaml: name, url and maintainer; url matches the add-on's", () => {
  const repo = readYaml("repository.yaml") as Obj;
  assert.ok(typeof repo.name === "string" && repo.name.length > 0);
  assert.ok(typeof repo.url === "string" && new URL(repo.url).protocol === "https:");
  assert.ok(typeof repo.maintainer === "string" && repo.maintainer.length > 0);
  assert.equal(repo.url, config.url);
});

const parseDockerfile = dockerInstructions;

test("ha-addon/Dockerfile names its base image explicitly, tagged with the add-on version", () => {
  const instrs = parseDockerfile(readText("ha-addon", "Dockerfile"));
  const froms = instrs.filter((i) => i.op === "FROM");
  assert.equal(froms.length, 1);
  const preArgs = instrs.slice(0, instrs.indexOf(froms[0] as Instr)).filter((i) => i.op === "ARG");
  assert.ok(!preArgs.some((a) => /^BUILD_FROM\b/.test(a.args)), "BUILD_FROM is no longer passed (Supervisor 2026.04)");
  const versionArg = preArgs.find((a) => a.args.startsWith("BUILD_VERSION="));
  assert.ok(versionArg, "ARG BUILD_VERSION=<version> before FROM");
  assert.equal(versionArg.args.split("=")[1], config.version, "default tag = add-on version");
  const from = (froms[0] as Instr).args;
  assert.match(from, /^ghcr\.io\/[a-z0-9-]+\/daly-bms-bridge:\$\{BUILD_VERSION\}$/);
  // The image lives where the repository does (same owner/name placeholder everywhere).
  const [, owner] = /^ghcr\.io\/([^/]+)\//.exec(from) as RegExpExecArray;
  assert.equal(new URL(String(config.url)).pathname.toLowerCase(), `/${owner}/daly-bms-bridge`, "GHCR names are lower case, GitHub URLs are not");
  assert.ok(!existsSync(join(ADDON, "build.yaml")), "build.yaml is retired (home-assistant.md §3.5)");

  const entry = instrs.filter((i) => i.op === "ENTRYPOINT").at(-1);
  const cmd = instrs.filter((i) => i.op === "CMD").at(-1);
  assert.deepEqual(JSON.parse(entry?.args ?? "null"), ["/usr/bin/tini", "--", "daly-bms-bridge"]);
  assert.deepEqual(JSON.parse(cmd?.args ?? "null"), ["run"]);
  assert.equal(instrs.filter((i) => i.op === "USER").at(-1)?.args, "root", "add-on runs as root: /data is root's");
  const labels = instrs.filter((i) => i.op === "LABEL").map((i) => i.args).join(" ");
  for (const l of ["io.hass.version", "io.hass.type", "io.hass.arch"]) assert.ok(labels.includes(l), l);
  // COPY sources are inside the add-on folder (its build context)
  for (const c of instrs.filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))) {
    const parts = c.args.split(/\s+/).filter((p) => !p.startsWith("--"));
    for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(ADDON, src)), `COPY ${src}: not in ha-addon/`);
  }
  const env = instrs.filter((i) => i.op === "ENV").map((i) => i.args).join(" ");
  assert.match(env, /DALY_STATE_DIR=\/data\b/);
  // No add-on option may be overridden by an ENV in the image (env beats options.json).
  for (const key of Object.values(optionsMap.options)) {
    const envName = LEAVES.get(key)?.env;
    assert.ok(envName && !env.includes(`${envName}=`), `ENV ${String(envName)} would override the add-on option`);
  }
});

test("no other file named config.yaml/.yml/.json in the repository (the Supervisor searches recursively)", () => {
  const skip = new Set(["node_modules", ".git", "build", "dist"]);
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      if (skip.has(name)) continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/^config\.(ya?ml|json)$/.test(name)) found.push(relative(ROOT, p));
    }
  };
  walk(ROOT);
  assert.deepEqual(found, [join("ha-addon", "config.yaml")]);
});
