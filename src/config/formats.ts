/**
 * The value rules behind the config schema. Each named format validates (throwing
 * `ConfigValueError`, which says what was expected) and, where values arrive as strings from the
 * environment or the command line, coerces them strictly: "30s" is not 30 and "yes please" is not
 * `true` — an unparseable string is left as is so that validation names it.
 */

export const BMS_PROTOCOLS = ["auto", "a5", "d2", "p81"] as const;
export type BmsProtocolSetting = (typeof BMS_PROTOCOLS)[number];

/** One battery, as the loaded config holds it (normalised, defaults filled in). */
export interface BmsConfig {
  /** Upper-case, colon-separated: `C0:D6:3C:57:2A:01`. */
  readonly address: string;
  /** Display name only; IDs and topics come from the address. */
  readonly name?: string;
  readonly protocol: BmsProtocolSetting;
  /** Flip the sign of current_A and power_W for this BMS. */
  readonly invertCurrent: boolean;
  /** Seconds; overrides the global pollInterval for this BMS. */
  readonly pollInterval?: number;
  /** Transport "serial": board number 1–16 on a shared RS485 line (A5: request 0x3F + board, reply from board; 0x81: 0x80 + board / 0x50 + board). */
  readonly board?: number;
  /** The adapter that reaches it: `hciN` or the adapter's address (upper case); absent = ble.hciDeviceId. */
  readonly adapter?: string;
  /** transport "esphome": the proxy (name or host) this BMS must use. */
  readonly proxy?: string;
}

/** One ESPHome Bluetooth proxy (transport "esphome"). */
export interface ProxyConfig {
  readonly host: string;
  /** Native API port (ESPHome default 6053). */
  readonly port: number;
  /** Base64 API encryption key (api: encryption: key:); "" = plaintext API. */
  readonly encryptionKey: string;
  /** Expected device name; also what bms[].proxy may refer to. */
  readonly name?: string;
}

/** `hci1`, or an adapter's Bluetooth address. */
export const ADAPTER_RE = /^hci\d{1,3}$/;

/**
 * A rejected value. `subPath` locates it inside the key (`[1].address`); `text` is the sentence
 * after "key: ", by default `expected <expected>, got <value>`.
 */
export class ConfigValueError extends Error {
  readonly text: string;
  constructor(
    readonly expected: string,
    readonly got: unknown,
    readonly subPath = "",
    text?: string,
  ) {
    const t = text ?? `expected ${expected}, got ${show(got)}`;
    super(subPath ? `${subPath}: ${t}` : t);
    this.name = "ConfigValueError";
    this.text = t;
  }
}

/**
 * `mqtt://user:secret@host:1883` → `mqtt://user:***@host:1883`. The user name stays (it helps
 * support and is not a secret); anything else is returned unchanged. Works on strings that are
 * not valid URLs too, and takes a password containing a raw "@" up to the last "@" of the authority.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*):[^/]*@/i, "$1:***@");
}

/** A short, single-line rendering of a value for messages. */
export function show(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "string") return JSON.stringify(v);
  try {
    const s = JSON.stringify(v);
    return s.length > 80 ? s.slice(0, 77) + "..." : s;
  } catch {
    return String(v);
  }
}

/** What a schema leaf may carry besides convict's own fields. */
export interface LeafBounds {
  readonly min?: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;

function coerceNumber(s: string): unknown {
  const t = s.trim();
  return NUMBER_RE.test(t) ? Number(t) : s;
}

const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);

function coerceBoolean(s: string): unknown {
  const t = s.trim().toLowerCase();
  if (TRUE_WORDS.has(t)) return true;
  if (FALSE_WORDS.has(t)) return false;
  return s;
}

function checkNumber(v: unknown, bounds: LeafBounds, integer: boolean, unit = ""): number {
  const min = bounds.min ?? Number.NEGATIVE_INFINITY;
  const what = `${integer ? "an integer" : "a number"}${Number.isFinite(min) ? ` ≥ ${min}` : ""}${unit}`;
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min) {
    throw new ConfigValueError(what, v);
  }
  return v;
}

// Six hex pairs, separated consistently by ":" or "-", or not at all (\1 repeats the separator).
const MAC_RE = /^[0-9a-f]{2}([:-]?)(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}$/i;

/** `aa-bb-cc-dd-ee-ff`, `aabbccddeeff`, … → `AA:BB:CC:DD:EE:FF`; undefined if not a MAC. */
export function normaliseMac(s: string): string | undefined {
  const t = s.trim();
  if (!MAC_RE.test(t)) return undefined;
  return (t.replace(/[:-]/g, "").toUpperCase().match(/../g) ?? []).join(":");
}

const BMS_KEYS = ["address", "name", "protocol", "invertCurrent", "pollInterval", "board", "adapter", "proxy"] as const;
const BMS_LIST_EXPECTED =
  "a list of BMS entries {address, name?, protocol?, invertCurrent?, pollInterval?, board?, adapter?, proxy?} (JSON array) or comma-separated MAC addresses";

function parseBmsItem(item: unknown, at: string): BmsConfig {
  if (typeof item !== "string" && !isRecord(item)) {
    throw new ConfigValueError("a MAC address or an object {address, name?, protocol?, invertCurrent?, pollInterval?, board?, adapter?, proxy?}", item, at);
  }
  const raw: Record<string, unknown> = typeof item === "string" ? { address: item } : item;
  for (const k of Object.keys(raw)) {
    if (!(BMS_KEYS as readonly string[]).includes(k)) {
      throw new ConfigValueError(BMS_KEYS.join(", "), k, `${at}.${k}`, `unknown key (expected one of: ${BMS_KEYS.join(", ")})`);
    }
  }
  const address = typeof raw.address === "string" ? normaliseMac(raw.address) : undefined;
  if (address === undefined) throw new ConfigValueError("a MAC address like AA:BB:CC:DD:EE:FF", raw.address, `${at}.address`);
  const out: { -readonly [K in keyof BmsConfig]: BmsConfig[K] } = { address, protocol: "auto", invertCurrent: false };
  if (raw.name !== undefined) {
    if (typeof raw.name !== "string" || raw.name.trim() === "") throw new ConfigValueError("a non-empty string", raw.name, `${at}.name`);
    out.name = raw.name.trim();
  }
  if (raw.protocol !== undefined) {
    const p = BMS_PROTOCOLS.find((x) => x === raw.protocol);
    if (p === undefined) throw new ConfigValueError(`one of ${BMS_PROTOCOLS.map((x) => `"${x}"`).join(", ")}`, raw.protocol, `${at}.protocol`);
    out.protocol = p;
  }
  if (raw.invertCurrent !== undefined) {
    if (typeof raw.invertCurrent !== "boolean") throw new ConfigValueError("true or false", raw.invertCurrent, `${at}.invertCurrent`);
    out.invertCurrent = raw.invertCurrent;
  }
  if (raw.proxy !== undefined) {
    if (typeof raw.proxy !== "string" || raw.proxy.trim() === "") throw new ConfigValueError("a proxy name or host from esphome.proxies", raw.proxy, `${at}.proxy`);
    out.proxy = raw.proxy.trim();
  }
  if (raw.pollInterval !== undefined) {
    try {
      out.pollInterval = checkNumber(raw.pollInterval, { min: 1 }, false, " (seconds)");
    } catch (e) {
      if (e instanceof ConfigValueError) throw new ConfigValueError(e.expected, e.got, `${at}.pollInterval`);
      throw e;
    }
  }
  if (raw.board !== undefined) {
    if (typeof raw.board !== "number" || !Number.isInteger(raw.board) || raw.board < 1 || raw.board > 16) throw new ConfigValueError("an RS485 board number, an integer 1–16", raw.board, `${at}.board`);
    if (out.protocol === "d2") {
      throw new ConfigValueError(`protocol a5, p81 or auto: D2 has no board address (it is always D2)`, raw.board, `${at}.board`);
    }
    out.board = raw.board;
  }
  if (raw.adapter !== undefined) {
    const a = typeof raw.adapter === "string" ? raw.adapter.trim() : undefined;
    const mac = a !== undefined ? normaliseMac(a) : undefined;
    if (a !== undefined && ADAPTER_RE.test(a)) out.adapter = a;
    else if (mac !== undefined) out.adapter = mac;
    else throw new ConfigValueError('an adapter name like "hci1" or its address like 00:1A:7D:DA:71:13', raw.adapter, `${at}.adapter`);
  }
  return out;
}

/** Validates and normalises a `bms` value; throws ConfigValueError naming the item (`[1].address`). */
export function parseBmsList(v: unknown): BmsConfig[] {
  if (!Array.isArray(v)) throw new ConfigValueError(BMS_LIST_EXPECTED, v);
  const list = v.map((item: unknown, i) => parseBmsItem(item, `[${i}]`));
  list.forEach((b, i) => {
    const first = list.findIndex((o) => o.address === b.address);
    if (first !== i) throw new ConfigValueError(`each address once (also in [${first}])`, b.address, `[${i}].address`);
  });
  return list;
}

/** `DALY_BMS` / `--address`: a JSON array, or comma-separated MAC addresses. */
function coerceBmsList(s: string): unknown {
  const t = s.trim();
  if (t.startsWith("[")) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return s;
    }
  }
  return t === "" ? [] : t.split(",").map((x) => x.trim());
}

const PROXY_KEYS = ["host", "port", "encryptionKey", "name"] as const;
const PROXY_LIST_EXPECTED = "a list of proxies {host, port? (default 6053), encryptionKey? (base64, empty = plaintext), name?} (JSON array)";

/** A 32-byte key in base64, as ESPHome prints it; the value itself is never echoed in errors. */
function checkApiKey(v: unknown, at: string): string {
  if (v === undefined || v === "") return "";
  const ok = typeof v === "string" && /^[A-Za-z0-9+/]{43}=$/.test(v.trim()) && Buffer.from(v.trim(), "base64").length === 32;
  if (!ok) {
    const what = typeof v === "string" ? `a value of ${v.length} characters` : show(v);
    throw new ConfigValueError("the base64 API key of the proxy (44 characters, from api: encryption: key:) or \"\" for plaintext", what, at, `expected the base64 API key of the proxy (44 characters, from api: encryption: key:) or "" for plaintext, got ${what}`);
  }
  return v.trim();
}

function parseProxyItem(item: unknown, at: string): ProxyConfig {
  if (!isRecord(item)) throw new ConfigValueError("an object {host, port?, encryptionKey?, name?}", item === undefined ? item : "(not an object)", at);
  for (const k of Object.keys(item)) {
    if (!(PROXY_KEYS as readonly string[]).includes(k)) throw new ConfigValueError(PROXY_KEYS.join(", "), k, `${at}.${k}`, `unknown key (expected one of: ${PROXY_KEYS.join(", ")})`);
  }
  const host = item.host;
  if (typeof host !== "string" || !/^[A-Za-z0-9._:\[\]-]+$/.test(host.trim())) throw new ConfigValueError("a host name or IP address", host, `${at}.host`);
  const port = item.port ?? 6053;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigValueError("a TCP port 1…65535", port, `${at}.port`);
  const out: { -readonly [K in keyof ProxyConfig]: ProxyConfig[K] } = { host: host.trim(), port, encryptionKey: checkApiKey(item.encryptionKey, `${at}.encryptionKey`) };
  if (item.name !== undefined) {
    if (typeof item.name !== "string" || item.name.trim() === "") throw new ConfigValueError("a non-empty string", item.name, `${at}.name`);
    out.name = item.name.trim();
  }
  return out;
}

/** Validates and normalises `esphome.proxies`; throws ConfigValueError naming the item. */
export function parseProxyList(v: unknown): ProxyConfig[] {
  if (!Array.isArray(v)) throw new ConfigValueError(PROXY_LIST_EXPECTED, v);
  const list = v.map((item: unknown, i) => parseProxyItem(item, `[${i}]`));
  list.forEach((p, i) => {
    const first = list.findIndex((o) => o.host === p.host && o.port === p.port);
    if (first !== i) throw new ConfigValueError(`each host:port once (also in [${first}])`, `${p.host}:${p.port}`, `[${i}].host`);
  });
  return list;
}

function coerceJsonList(s: string): unknown {
  const t = s.trim();
  if (t === "") return [];
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return s;
  }
}

const MQTT_PROTOCOLS = ["mqtt:", "mqtts:", "ws:", "wss:"];

function checkMqttUrl(v: unknown): void {
  const expected = 'an mqtt://, mqtts://, ws:// or wss:// URL with a host, or "" for no MQTT';
  if (typeof v !== "string") throw new ConfigValueError(expected, v);
  if (v === "") return;
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    url = undefined;
  }
  // The value may carry a password: never echo it.
  if (!url || !MQTT_PROTOCOLS.includes(url.protocol) || url.hostname === "") throw new ConfigValueError(expected, redactUrl(v));
}

function checkTopic(v: unknown): void {
  const expected = 'a topic without "+", "#", empty levels or a leading "$"';
  if (typeof v !== "string" || v === "" || v.startsWith("$") || /[+#\u0000]/.test(v) || v.split("/").includes("")) {
    throw new ConfigValueError(expected, v);
  }
}

/** Letters, digits, "_" and "-" (one MQTT topic level, safe everywhere); empty = derive the default. */
export const BRIDGE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

function checkBridgeId(v: unknown): void {
  if (typeof v !== "string" || (v !== "" && !BRIDGE_ID_RE.test(v))) {
    throw new ConfigValueError('1-64 letters, digits, "_" or "-" (it becomes one MQTT topic level)', v);
  }
}

export interface NamedFormat {
  validate(v: unknown, bounds: LeafBounds): void;
  coerce?(s: string): unknown;
}

/** Registered with convict under these names; load.ts runs the same validators to word errors. */
export const FORMATS: Readonly<Record<string, NamedFormat>> = {
  "daly-string": {
    validate: (v) => {
      if (typeof v !== "string") throw new ConfigValueError("a string", v);
    },
  },
  "daly-int": { validate: (v, b) => void checkNumber(v, b, true), coerce: coerceNumber },
  "daly-seconds": { validate: (v, b) => void checkNumber(v, b, false, " (seconds)"), coerce: coerceNumber },
  "daly-number": { validate: (v, b) => void checkNumber(v, b, false), coerce: coerceNumber },
  "daly-bool": {
    validate: (v) => {
      if (typeof v !== "boolean") throw new ConfigValueError("true or false", v);
    },
    coerce: coerceBoolean,
  },
  "daly-bms-list": { validate: (v) => void parseBmsList(v), coerce: coerceBmsList },
  "daly-proxy-list": { validate: (v) => void parseProxyList(v), coerce: coerceJsonList },
  "mqtt-url": { validate: checkMqttUrl },
  "mqtt-topic": { validate: checkTopic },
  "bridge-id": { validate: checkBridgeId },
};

/** Validates a value against an enumeration leaf (`format: [...]`). */
export function checkOneOf(v: unknown, values: readonly unknown[]): void {
  if (!values.includes(v)) throw new ConfigValueError(`one of ${values.map((x) => show(x)).join(", ")}`, v);
}
