/**
 * The one config schema (style.md §2(c) "Config"): every key's doc, format, default, `DALY_…`
 * environment variable, command-line flag (`arg`) and `sensitive` mark live here and nowhere
 * else. The env/flag tables, the strict validation, the README table (docs.ts) and redaction
 * (redact.ts) are all read from it.
 *
 * Keys are camelCase, in files and in dotted paths alike (`mqtt.baseTopic`, `bms[0].invertCurrent`),
 * matching the contract's `invertCurrent`. `Config` is written out explicitly and kept in sync by
 * `satisfies convict.Schema<Config>` (keys and default types) and a unit test comparing key trees.
 */
import convict from "convict";
import { BMS_PROTOCOLS, FORMATS, type BmsConfig, type BmsProtocolSetting, type LeafBounds, type ProxyConfig } from "./formats.js";

export { BMS_PROTOCOLS, type BmsConfig, type BmsProtocolSetting, type ProxyConfig };

export const TRANSPORTS = ["noble", "bluez", "simulator", "serial", "esphome"] as const;
export type Transport = (typeof TRANSPORTS)[number];
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["auto", "json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface Config {
  readonly bridgeId: string;
  readonly bms: readonly BmsConfig[];
  readonly transport: Transport;
  readonly simulation: { readonly scenario: string; readonly hciSocket: string };
  readonly ble: {
    readonly hciDeviceId: number;
    readonly adapter: string;
    readonly userChannel: boolean;
    readonly scanTimeout: number;
    readonly connectTimeout: number;
    readonly requestTimeout: number;
    readonly requestRetries: number;
  };
  readonly pollInterval: number;
  readonly keepConnected: boolean;
  readonly offlineAfterFailures: number;
  readonly mqtt: {
    readonly url: string;
    readonly username: string;
    readonly password: string;
    readonly clientId: string;
    readonly tls: { readonly ca: string; readonly cert: string; readonly key: string; readonly rejectUnauthorized: boolean };
    readonly baseTopic: string;
    readonly discoveryPrefix: string;
    readonly retain: boolean;
  };
  readonly log: { readonly level: LogLevel; readonly format: LogFormat };
  readonly stateDir: string;
  readonly metrics: { readonly port: number };
  readonly maxCurrent: number;
  readonly serial: { readonly path: string; readonly baudRate: number };
  readonly esphome: { readonly proxies: readonly ProxyConfig[] };
}

/** Dotted path of every leaf (`bms` is one leaf: the whole list). */
type Leaves<T, P extends string = ""> = {
  [K in keyof T & string]: T[K] extends readonly unknown[]
    ? `${P}${K}`
    : T[K] extends object
      ? Leaves<T[K], `${P}${K}.`>
      : `${P}${K}`;
}[keyof T & string];
export type ConfigKey = Leaves<Config>;

const str = (doc: string, env: string, extra: { arg?: string; sensitive?: boolean } = {}) =>
  ({ doc, format: "daly-string", default: "", env, ...extra }) as const;

export const schema = {
  bridgeId: {
    doc:
      "This bridge's id on the broker: its availability topic daly_bms/bridge/<id>/availability, last will, registry and info topics. " +
      "Letters, digits, _ and -. Empty = the id kept in <stateDir>/bridge-id, created once (see Scaling out). Two live bridges cannot share an id.",
    format: "bridge-id",
    default: "",
    env: "DALY_BRIDGE_ID",
    arg: "bridge-id",
  },
  bms: {
    doc:
      "The batteries to poll: a list of {address, name?, protocol? (auto|a5|d2|p81, default auto), invertCurrent? (default false), pollInterval? (seconds), board? (serial: RS485 board number 1–16, legacy A5 or 0x81), adapter? (hci1, or the adapter's Bluetooth address, e.g. 00:1A:7D:DA:71:13: BlueZ looks it up, noble asks each adapter for its address with the read-only HCI command Read BD_ADDR; default ble.adapter, else ble.hciDeviceId), proxy? (transport esphome: name or host of the proxy to use)}. " +
      "Env/flag: a JSON array, or comma-separated MAC addresses (a listed address keeps its settings from lower layers). " +
      "Empty with a simulation scenario: every BMS of the scenario.",
    format: "daly-bms-list",
    default: [] as BmsConfig[],
    env: "DALY_BMS",
    arg: "address",
  },
  transport: {
    doc: 'How to reach the BMS: "noble" (Bluetooth through the HCI socket; best on a dedicated adapter), "bluez" (Bluetooth through BlueZ over D-Bus; shares the adapter with the host and Home Assistant), "serial" (wired UART/RS485 adapter at serial.path), "esphome" (through ESPHome Bluetooth proxies listed in esphome.proxies) or "simulator". --simulate, --sim-scenario and a simulation.scenario set without an explicit transport select "simulator".',
    format: [...TRANSPORTS],
    default: "noble" as Transport,
    env: "DALY_TRANSPORT",
  },
  simulation: {
    scenario: str("Scenario file for the simulator; empty = the built-in demo scenario.", "DALY_SIM_SCENARIO", { arg: "sim-scenario" }),
    hciSocket: str(
      "Unix socket of a simulator running as its own process (node dist/sim/remote/main.js, same scenario): the radio is simulated there, the bridge process runs only the bridge (benchmarks). Empty = the simulator runs in-process.",
      "DALY_SIM_HCI_SOCKET",
    ),
  },
  ble: {
    hciDeviceId: { doc: "HCI adapter number (hci0 = 0).", format: "daly-int", min: 0, default: 0, env: "DALY_HCI_DEVICE", arg: "hci-device" },
    adapter: str('The default adapter (of BMS entries that name none): by name (hci1), or by Bluetooth address (00:1A:7D:DA:71:13, found again under whatever hciN it gets after a replug; noble finds it with the read-only HCI command Read BD_ADDR on each adapter). Empty: hci<ble.hciDeviceId>.', "DALY_BLE_ADAPTER"),
    userChannel: { doc: "Open the adapter as an HCI user channel (needs bluetoothd stopped for it and NET_ADMIN). Adapters are then named hciN, not by address (a user channel needs the adapter down, and a down adapter cannot tell its address).", format: "daly-bool", default: false, env: "DALY_HCI_USER_CHANNEL" },
    scanTimeout: { doc: "Seconds to look for a BMS before giving up on this attempt.", format: "daly-seconds", min: 1, default: 10, env: "DALY_BLE_SCAN_TIMEOUT" },
    connectTimeout: { doc: "Seconds allowed for connecting and GATT discovery.", format: "daly-seconds", min: 1, default: 15, env: "DALY_BLE_CONNECT_TIMEOUT" },
    requestTimeout: { doc: "Seconds to wait for the reply to one request.", format: "daly-seconds", min: 0.1, default: 3, env: "DALY_BLE_REQUEST_TIMEOUT" },
    requestRetries: { doc: "Extra attempts for a request that got no valid reply.", format: "daly-int", min: 0, default: 2, env: "DALY_BLE_REQUEST_RETRIES" },
  },
  pollInterval: { doc: "Seconds between polls of each BMS.", format: "daly-seconds", min: 1, default: 30, env: "DALY_POLL_INTERVAL", arg: "poll-interval" },
  keepConnected: {
    doc: "Keep the BLE link open between polls. Off by default: the link is released so the phone app can connect.",
    format: "daly-bool",
    default: false,
    env: "DALY_KEEP_CONNECTED",
    arg: "keep-connected",
  },
  offlineAfterFailures: { doc: "Consecutive failed polls after which a BMS is published offline.", format: "daly-int", min: 1, default: 3, env: "DALY_OFFLINE_AFTER_FAILURES" },
  mqtt: {
    url: { doc: 'Broker URL (mqtt://, mqtts://, ws://, wss://). Empty: no MQTT, snapshots are printed to stdout as JSON lines.', format: "mqtt-url", default: "", env: "DALY_MQTT_URL", arg: "mqtt-url" },
    username: str("Broker user name.", "DALY_MQTT_USERNAME"),
    password: str("Broker password.", "DALY_MQTT_PASSWORD", { sensitive: true }),
    clientId: str('MQTT client id; empty = "daly-bms-bridge-" + 8 random hex digits, chosen at load.', "DALY_MQTT_CLIENT_ID"),
    tls: {
      ca: str("CA certificate file (PEM) for mqtts/wss.", "DALY_MQTT_TLS_CA"),
      cert: str("Client certificate file (PEM); needs mqtt.tls.key.", "DALY_MQTT_TLS_CERT"),
      key: str("Client private key file (PEM); needs mqtt.tls.cert.", "DALY_MQTT_TLS_KEY"),
      rejectUnauthorized: { doc: "Verify the broker's certificate.", format: "daly-bool", default: true, env: "DALY_MQTT_TLS_REJECT_UNAUTHORIZED" },
    },
    baseTopic: { doc: "Root of the bridge's topics.", format: "mqtt-topic", default: "daly_bms", env: "DALY_MQTT_BASE_TOPIC" },
    discoveryPrefix: { doc: "Home Assistant discovery prefix.", format: "mqtt-topic", default: "homeassistant", env: "DALY_MQTT_DISCOVERY_PREFIX" },
    retain: { doc: "Publish state messages retained.", format: "daly-bool", default: true, env: "DALY_MQTT_RETAIN" },
  },
  log: {
    level: { doc: "Least severe level logged.", format: [...LOG_LEVELS], default: "info" as LogLevel, env: "DALY_LOG_LEVEL", arg: "log-level" },
    format: { doc: "Log output on stderr; auto = pretty when stderr is a terminal, else JSON lines.", format: [...LOG_FORMATS], default: "auto" as LogFormat, env: "DALY_LOG_FORMAT" },
  },
  stateDir: str("Directory for state kept between runs (energy counters); empty = $XDG_STATE_HOME/daly-bms-bridge or ~/.local/state/daly-bms-bridge (add-on: /data).", "DALY_STATE_DIR", { arg: "state-dir" }),
  metrics: {
    port: { doc: "Port of the Prometheus endpoint (GET /metrics, GET /healthz) on all interfaces; 0 = off.", format: "daly-int", min: 0, default: 0, env: "DALY_METRICS_PORT", arg: "metrics-port" },
  },
  maxCurrent: { doc: "Largest believable |current| in A (plausibility gate): samples above it are dropped.", format: "daly-number", min: 1, default: 1000, env: "DALY_MAX_CURRENT" },
  serial: {
    path: str('Serial device of a wired UART/RS485 adapter (transport "serial"), e.g. /dev/ttyUSB0.', "DALY_SERIAL_PATH", { arg: "serial-path" }),
    baudRate: { doc: "Serial speed (Daly UART/RS485: 9600).", format: "daly-int", min: 1200, default: 9600, env: "DALY_SERIAL_BAUD" },
  },
  esphome: {
    proxies: {
      doc:
        'ESPHome Bluetooth proxies (transport "esphome"): a list of {host, port? (default 6053), encryptionKey? (base64 api: encryption: key:, empty = plaintext API), name? (expected device name)}. ' +
        "Env/flag: a JSON array. Each proxy must be dedicated to the bridge, not adopted by Home Assistant (it serves one API client). Keys are hidden in logs.",
      format: "daly-proxy-list",
      default: [] as ProxyConfig[],
      env: "DALY_ESPHOME_PROXIES",
      arg: "esphome-proxies",
    },
  },
} satisfies convict.Schema<Config>;

/** A schema leaf as the walkers see it. */
export interface LeafSpec extends LeafBounds {
  readonly doc: string;
  readonly format: string | readonly string[];
  readonly default: unknown;
  readonly env: string;
  readonly arg?: string;
  readonly sensitive?: boolean;
}

export function isLeaf(node: object): node is LeafSpec {
  return "default" in node;
}

/** Every leaf with its dotted path, in schema order. */
export function schemaLeaves(): Array<{ path: ConfigKey; spec: LeafSpec }> {
  const out: Array<{ path: ConfigKey; spec: LeafSpec }> = [];
  const walk = (node: object, prefix: string): void => {
    for (const [k, child] of Object.entries(node)) {
      if (typeof child !== "object" || child === null) continue;
      // The walk follows the schema, whose paths are exactly ConfigKey (checked by a unit test).
      if (isLeaf(child)) out.push({ path: (prefix + k) as ConfigKey, spec: child });
      else walk(child, `${prefix}${k}.`);
    }
  };
  walk(schema, "");
  return out;
}

let registered = false;

/**
 * A fresh convict instance over the schema, with defaults only: it reads neither process.env nor
 * process.argv (load.ts applies files, env and flags itself, in contract order).
 */
export function newConvict(): convict.Config<Config> {
  if (!registered) {
    for (const [name, f] of Object.entries(FORMATS)) {
      convict.addFormat({
        name,
        validate: (v: unknown, item: convict.SchemaObj) => f.validate(v, { min: typeof item.min === "number" ? item.min : undefined }),
        ...(f.coerce ? { coerce: f.coerce } : {}),
      });
    }
    registered = true;
  }
  return convict<Config>(schema, { env: {}, args: [] });
}

/** Flags that are not the value of one key; load.ts handles them, docs.ts lists them. */
export const EXTRA_FLAGS = {
  config: {
    kind: "value",
    repeatable: true,
    env: "DALY_CONFIG",
    doc: "Config file, JSON (.json) or YAML (otherwise); may be repeated, later files win. --config replaces DALY_CONFIG.",
  },
  simulate: { kind: "boolean", env: "", sets: "transport", doc: 'Sets transport to "simulator" (the built-in demo scenario unless simulation.scenario is set).' },
} as const;
