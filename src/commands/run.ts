/**
 * `run` (the default command): the bridge. MQTT when `mqtt.url` is set, else one snapshot JSON
 * line per poll per BMS on stdout (logs on stderr). No BMS configured → the built-in simulator,
 * so a new user sees it work. SIGINT/SIGTERM: abort polls, release BLE, publish offline, exit ≤ 5 s.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { createLogger } from "../log.js";
import { redactedConfig } from "../config/redact.js";
import type { Config } from "../config/schema.js";
import { Publisher } from "../mqtt/publisher.js";
import { Bridge } from "../runtime/bridge.js";
import { MqttSink } from "../runtime/mqtt-sink.js";
import { type Sink, StdoutSink } from "../runtime/sink.js";
import type { BmsTarget } from "../runtime/supervisor.js";
import { bridgeAvailabilityTopic, bridgePingTopic, bridgePongTopic } from "../ha/topics.js";
import { type BrokerSettings } from "../mqtt/publisher.js";
import { probePresence } from "../mqtt/presence.js";
import { resolveBridgeId } from "../runtime/bridge-id.js";
import { PAYLOAD_OFFLINE } from "../ha/discovery.js";
import { VERSION } from "../version.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HealthFile } from "../runtime/health.js";
import type { BridgeMetrics } from "../metrics/index.js";
import { addonLayer, type AddonLayer } from "../addon/supervisor.js";
import { load, type Radio, stateDir, supervisorOptions, targetsFor, transportFor } from "./setup.js";

export interface RunHandle {
  bridge: Bridge;
  metrics?: BridgeMetrics;
  radio: Radio;
  sink: Sink;
  stop(): Promise<void>;
}

function brokerSettings(config: Config): BrokerSettings {
  const tls = config.mqtt.tls;
  return {
    url: config.mqtt.url,
    ...(config.mqtt.username ? { username: config.mqtt.username } : {}),
    ...(config.mqtt.password ? { password: config.mqtt.password } : {}),
    clientId: config.mqtt.clientId || `daly-bms-bridge-${randomBytes(4).toString("hex")}`,
    ...(tls.ca || tls.cert || tls.key || !tls.rejectUnauthorized ? { tls: { ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}), rejectUnauthorized: tls.rejectUnauthorized } } : {}),
  };
}

export function sinkFor(config: Config, targets: readonly BmsTarget[], log: Logger, bridgeId: string): Sink {
  if (!config.mqtt.url || !bridgeId) return new StdoutSink();
  const pub = new Publisher({
    ...brokerSettings(config),
    will: { topic: bridgeAvailabilityTopic(bridgeId, { baseTopic: config.mqtt.baseTopic }), payload: PAYLOAD_OFFLINE },
  });
  let up: boolean | undefined;
  pub.on("connected", () => {
    if (up !== true) log.info({ url: redactedConfig(config).mqtt.url }, "MQTT connected");
    up = true;
  });
  pub.on("disconnected", (reason) => {
    if (up !== false) log.warn({ reason }, "MQTT disconnected; reconnecting with backoff");
    up = false;
  });
  return new MqttSink(pub, targets, {
    topics: { baseTopic: config.mqtt.baseTopic, discoveryPrefix: config.mqtt.discoveryPrefix },
    bridgeId,
    retainState: config.mqtt.retain,
    bridgeVersion: VERSION,
    republishDelayMs: [300, 1500],
  }, log.child({ component: "mqtt" }));
}

/** Starts the bridge; resolves once it runs. Errors are values for the CLI (exit code + message). */
export async function startRun(argv: readonly string[], env: NodeJS.ProcessEnv, files: string[] = []): Promise<RunHandle | { exitCode: number; message: string }> {
  // add-on mode (contract §6): options and the Supervisor's broker become the lowest config layer
  let addon: AddonLayer | undefined;
  if (env.SUPERVISOR_TOKEN) {
    const a = await addonLayer(env);
    if ("error" in a) return { exitCode: 1, message: a.error };
    addon = a;
  }
  const c = load(argv, env, {}, addon ? [addon.file, ...files] : files);
  if (!c.ok) return { exitCode: c.exitCode, message: c.message };
  const config = c.config;
  const log = createLogger({ level: config.log.level, format: config.log.format });
  if (addon) log.info({ broker: addon.broker, ...(addon.unknownOptions.length ? { ignoredOptions: addon.unknownOptions } : {}) }, "running as a Home Assistant add-on");
  // an add-on must never fill Home Assistant with demo batteries: there, no BMS is an error
  // proxy states: logged at once, and kept for the metrics (which start later)
  const proxyStates = new Map<string, string>();
  let recordProxy: ((proxy: string, state: string) => void) | undefined;
  const radio = await transportFor(config, {
    simulateWhenNoBms: !addon,
    onProxyState: (proxy, state, why) => {
      proxyStates.set(proxy, state);
      recordProxy?.(proxy, state);
      if (state === "down" || state === "silent") log.warn({ proxy, state, why }, "ESPHome proxy state changed");
      else log.info({ proxy, state, why }, "ESPHome proxy state changed");
    },
  });
  if ("ok" in radio) return { exitCode: radio.exitCode, message: radio.message };
  // the demo shows live data: every 5 s unless a poll interval was set on purpose
  const demo = radio.simulated !== undefined && c.sources.keys.pollInterval === "default";
  const targets = targetsFor(demo ? { ...config, pollInterval: 5 } : config, radio.scenario);
  if (targets.length === 0 && addon) return { exitCode: 2, message: "bms: add at least one BMS address in the add-on configuration" };
  if (targets.length === 0) return { exitCode: 2, message: "bms: no BMS to poll (the scenario lists none)" };
  if (radio.simulated) log.info({ simulation: radio.simulated, bms: targets.map((t) => t.address) }, "using the simulated radio");
  // the bridge id names this bridge on the broker: stdout mode has none
  const bid = config.mqtt.url ? resolveBridgeId(config.bridgeId, stateDir(config, env)) : undefined;
  if (bid && "error" in bid) return { exitCode: 2, message: bid.error };
  if (bid?.warning) log.warn({ bridgeId: bid.id }, bid.warning);
  log.info({ version: VERSION, ...(bid ? { bridgeId: bid.id, bridgeIdFrom: bid.from } : {}), config: redactedConfig(config) }, "daly-bms-bridge starting");
  if (bid) {
    // before anything is published, and on a connection without a last will (mqtt/presence.ts)
    const held = await bridgeIdHeld(config, bid.id, log);
    if (held) {
      for (const c of radio.sim?.controllers.values() ?? []) c.stop();
      await radio.transport.shutdown().catch(() => undefined);
      return { exitCode: 1, message: held };
    }
  }
  const sink = sinkFor(config, targets, log, bid?.id ?? "");
  const bridge = new Bridge({ targets, transport: radio.transport, sink, log, supervisor: supervisorOptions(config, env), defaultAdapter: radio.sim ? "hci0" : config.ble.adapter || `hci${config.ble.hciDeviceId}` });
  // the longest one poll attempt may take: scan, connect (twice, a cancelled connect rests the
  // adapter), every request with its retries; times the BMS that may be ahead of it in the queue,
  // plus one more as slack
  const pollMs = 2 * (config.ble.scanTimeout + config.ble.connectTimeout) * 1000 + 10 * config.ble.requestTimeout * 1000 * (config.ble.requestRetries + 1);
  const health = new HealthFile(env.DALY_HEALTH_FILE || join(tmpdir(), "daly-bms-bridge.health"), () => sink.mqttState(), pollMs * (bridge.supervisors.length + 1));
  for (const s of bridge.supervisors) {
    const a = s.target.address;
    health.add(a);
    s.on("snapshot", () => health.set(a, "online"));
    s.on("sleeping", () => health.set(a, "sleeping"));
    s.on("busy", () => health.set(a, "busy"));
    s.on("failure", () => health.set(a, s.isOnline ? "online" : "offline"));
    s.on("scheduled", (at) => health.scheduled(a, at));
  }
  health.write();
  let metrics: BridgeMetrics | undefined;
  if (config.metrics.port > 0) {
    try {
      // before start(), so the first poll is counted
      const { startBridgeMetrics } = await import("../metrics/index.js"); // prom-client only when asked for
      metrics = await startBridgeMetrics(bridge.supervisors, { port: config.metrics.port });
      const m = metrics.metrics;
      recordProxy = (proxy, state) => {
        m.proxyUp.set({ proxy }, state === "ready" ? 1 : 0);
        m.proxyStateChanges.inc({ proxy, state });
      };
      for (const [proxy, state] of proxyStates) m.proxyUp.set({ proxy }, state === "ready" ? 1 : 0);
    } catch (e) {
      for (const c of radio.sim?.controllers.values() ?? []) c.stop();
      await radio.transport.shutdown().catch(() => undefined);
      return { exitCode: 1, message: `metrics.port: cannot listen on ${config.metrics.port}: ${e instanceof Error ? e.message : String(e)}` };
    }
    log.info({ port: metrics.port }, "Prometheus metrics on /metrics");
  }
  await bridge.start();
  let stopping: Promise<void> | undefined;
  return {
    bridge,
    ...(metrics ? { metrics } : {}),
    radio,
    sink,
    stop: () =>
      (stopping ??= bridge.stop().then(async () => {
        await metrics?.close();
        for (const c of radio.sim?.controllers.values() ?? []) c.stop();
        log.info("stopped");
      })),
  };
}

/** One line naming the id when a live bridge holds it; undefined when this bridge may start. */
async function bridgeIdHeld(config: Config, bridgeId: string, log: Logger): Promise<string | undefined> {
  const topics = { baseTopic: config.mqtt.baseTopic };
  const p = await probePresence(brokerSettings(config), {
    availability: bridgeAvailabilityTopic(bridgeId, topics),
    ping: bridgePingTopic(bridgeId, topics),
    pong: bridgePongTopic(bridgeId, topics),
  });
  if (p.state === "held") return `bridgeId: bridge id "${bridgeId}" is held by a live bridge on ${redactedConfig(config).mqtt.url}; give this bridge another id (--bridge-id, DALY_BRIDGE_ID, add-on bridge_id)`;
  if (p.state === "stale") log.warn({ bridgeId }, "a retained online for this bridge id got no answer: taking over from a bridge that is gone");
  if (p.state === "unknown") log.warn({ bridgeId, reason: p.reason }, "could not check on the broker whether this bridge id is in use; starting anyway");
  return undefined;
}

export async function runCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const h = await startRun(argv, env);
  if (!("bridge" in h)) {
    process.stderr.write(h.message + "\n");
    return h.exitCode;
  }
  return await new Promise<number>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
      // a hard limit: whatever hangs, the process is gone within 5 s
      setTimeout(() => process.exit(sig === "SIGINT" ? 130 : 143), 5000).unref();
      void h.stop().then(() => resolve(0));
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    // stdout mode piped into a reader that quits (`| head -1`): stop like Ctrl-C, BLE released
    if (h.sink instanceof StdoutSink) void h.sink.closed.then(() => onSignal("SIGTERM"));
  });
}
