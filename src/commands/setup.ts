/**
 * Shared wiring for the commands that touch a BMS: config → scenario (simulator) → transport →
 * targets. Returns errors as values with the exit code to use.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import { loadConfig, type LoadResult } from "../config/load.js";
import type { FlagSpec } from "../config/flags.js";
import { NobleTransport } from "../transport/noble/noble-transport.js";
import { nativeHciDevices } from "../transport/noble/adapter-address.js";
import { AdapterByAddress } from "../transport/noble/by-address.js";
import { SerialTransport, serialProfile } from "../transport/serial/serial-transport.js";
import type { BleTransport } from "../transport/link.js";
import { hciIndex, PerAdapterTransport } from "../transport/per-adapter.js";
import { maxBackoffMs } from "../runtime/backoff.js";
import type { SimRadio } from "../sim/radio.js";
import type { Scenario } from "../sim/scenario.js";
import type { BmsTarget, SupervisorOptions } from "../runtime/supervisor.js";

export type Fail = { ok: false; exitCode: number; message: string };

export function load(argv: readonly string[], env: NodeJS.ProcessEnv, commandFlags: Record<string, FlagSpec> = {}, files: string[] = []): Extract<LoadResult, { ok: true }> | Fail {
  const r = loadConfig({ argv, env, commandFlags, files });
  if (!r.ok) return { ok: false, exitCode: 2, message: r.message };
  return r;
}

export interface Radio {
  transport: BleTransport;
  /** The simulated radio, when used (tests and the soak drive its faults). */
  sim?: SimRadio;
  scenario?: Scenario;
  /** Why the simulator is used (for the start-up log). */
  simulated?: string;
}

export interface TransportChoice {
  simulateWhenNoBms: boolean;
  /** transport esphome: told on every proxy state change (run logs them). */
  onProxyState?: (proxy: string, state: string, why: string) => void;
}

export async function transportFor(config: Config, opts: TransportChoice): Promise<Radio | Fail> {
  const ms = (s: number): number => Math.round(s * 1000);
  const timing = {
    scanTimeoutMs: ms(config.ble.scanTimeout),
    connectTimeoutMs: ms(config.ble.connectTimeout),
    gattTimeoutMs: Math.max(ms(config.ble.requestTimeout), 2000),
  };
  const noBms = config.bms.length === 0 && opts.simulateWhenNoBms;
  if (config.transport === "simulator" || noBms) {
    // the simulator's modules are loaded only when it is used (a real bridge never compiles them)
    const { DEMO_SCENARIO, loadScenarioFile } = await import("../sim/scenario.js");
    let scenario = DEMO_SCENARIO;
    if (config.simulation.scenario) {
      const r = loadScenarioFile(config.simulation.scenario);
      if (!r.ok) return { ok: false, exitCode: 2, message: r.message };
      scenario = r.scenario;
    }
    const why = config.transport === "simulator" ? (config.simulation.scenario ? `scenario ${config.simulation.scenario}` : "built-in demo scenario") : "no BMS configured: built-in demo scenario";
    if (config.simulation.hciSocket) {
      // the radio simulated in another process (sim/remote): only the bridge runs here
      const { connectRemoteHci } = await import("../sim/remote/client.js");
      const remote = await connectRemoteHci(config.simulation.hciSocket).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
      if (remote instanceof Error) return { ok: false, exitCode: 1, message: `simulation.hciSocket: ${remote.message}` };
      const transport = new NobleTransport({ ...timing, cancelGraceMs: 300, socketFactory: remote.socketFactory, kind: "simulator" });
      return { transport, scenario, simulated: `${why}, radio in the simulator process at ${config.simulation.hciSocket}` };
    }
    const { createSimRadio } = await import("../sim/radio.js");
    const radio = createSimRadio(scenario, { ...timing, cancelGraceMs: 300 });
    return { transport: radio.bridgeTransport, scenario, simulated: why, sim: radio };
  }
  // ble.adapter (a name or an address) names the default adapter; else ble.hciDeviceId
  const defaultAdapter = config.ble.adapter || `hci${config.ble.hciDeviceId}`;
  if (!/^hci\d+$/.test(defaultAdapter) && !/^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/i.test(defaultAdapter)) {
    return { ok: false, exitCode: 2, message: `ble.adapter: expected an adapter name like hci1 or an address like 00:1A:7D:DA:71:13, got "${defaultAdapter}"` };
  }
  // several adapters: one transport instance per adapter (transport/per-adapter.ts)
  const several = config.bms.some((b) => b.adapter !== undefined && b.adapter !== defaultAdapter);
  if (config.transport === "bluez") {
    // BlueZ owns the adapter (HA OS, desktops): no raw socket, no capabilities, shares with HA
    // dbus-next and serialport are loaded only by the transport that uses them
    const { BluezTransport } = await import("../transport/bluez/transport.js");
    if (several) return { transport: new PerAdapterTransport("bluez", defaultAdapter, (adapter) => new BluezTransport({ ...timing, adapter })) };
    return { transport: new BluezTransport({ ...timing, adapter: defaultAdapter }) };
  }
  if (config.transport === "esphome") {
    const proxies = config.esphome.proxies;
    if (proxies.length === 0) return { ok: false, exitCode: 2, message: 'esphome.proxies: expected at least one proxy {host, port?, encryptionKey?, name?} with transport "esphome"' };
    const pins = new Map<string, string>();
    for (const [i, b] of config.bms.entries()) {
      if (!b.proxy) continue;
      if (!proxies.some((p) => p.name === b.proxy || p.host === b.proxy)) return { ok: false, exitCode: 2, message: `bms[${i}].proxy: expected the name or host of a proxy in esphome.proxies, got "${b.proxy}"` };
      pins.set(b.address, b.proxy);
    }
    // the native API client is loaded only when used
    const { EsphomeTransport } = await import("../transport/esphome/transport.js");
    return {
      transport: new EsphomeTransport({
        proxies: proxies.map((p) => ({ host: p.host, port: p.port, encryptionKey: p.encryptionKey, ...(p.name ? { name: p.name } : {}) })),
        pins,
        scanTimeoutMs: timing.scanTimeoutMs,
        connectTimeoutMs: timing.connectTimeoutMs,
        gattTimeoutMs: timing.gattTimeoutMs,
        ...(opts.onProxyState ? { onState: opts.onProxyState } : {}),
      }),
    };
  }
  if (config.transport === "serial") {
    if (!config.serial.path) return { ok: false, exitCode: 2, message: 'serial.path: expected the serial device of the adapter (e.g. /dev/serial/by-id/usb-…) with transport "serial"' };
    if (config.bms.length === 0) return { ok: false, exitCode: 2, message: 'bms: transport "serial" needs at least one BMS entry' };
    if (config.bms.length > 1) {
      // several boards on one RS485 line: each entry names its board, each board once
      const missing = config.bms.findIndex((b) => b.board === undefined);
      if (missing >= 0) return { ok: false, exitCode: 2, message: `bms[${missing}].board: several BMS on one serial line need a board number each (1–16, as set on the boards)` };
      const boards = config.bms.map((b) => b.board);
      const dup = boards.findIndex((b, i) => boards.indexOf(b) !== i);
      if (dup >= 0) return { ok: false, exitCode: 2, message: `bms[${dup}].board: board ${boards[dup]} appears twice on one serial line` };
    }
    return { transport: new SerialTransport({ path: config.serial.path, baudRate: config.serial.baudRate, openTimeoutMs: ms(config.ble.connectTimeout) }) };
  }
  // noble binds adapters by index: an adapter named by its address is looked up (read-only Read
  // BD_ADDR on each adapter) at first use and after a failure (transport/noble/by-address.ts)
  if (config.ble.userChannel) {
    // a user channel needs the adapter down, and a down adapter cannot answer Read BD_ADDR
    const named = [defaultAdapter, ...config.bms.map((b) => b.adapter ?? defaultAdapter)];
    const at = named.findIndex((a) => hciIndex(a) === undefined);
    if (at >= 0) {
      const key = at === 0 ? "ble.adapter" : `bms[${at - 1}].adapter`;
      return { ok: false, exitCode: 2, message: `${key}: with ble.userChannel name the adapter hciN: it is down then and cannot tell its address ${named[at] ?? ""} (see btmgmt info for its number)` };
    }
  }
  const perIndex = new Map<number, NobleTransport>();
  const noble = (hciDeviceId: number): NobleTransport => {
    let t = perIndex.get(hciDeviceId);
    if (!t) perIndex.set(hciDeviceId, (t = new NobleTransport({ ...timing, hciDeviceId, userChannel: config.ble.userChannel })));
    return t;
  };
  const onAdapter = (adapter: string): BleTransport => {
    const index = hciIndex(adapter);
    return index !== undefined ? noble(index) : new AdapterByAddress("noble", adapter, nativeHciDevices(), noble);
  };
  if (several) return { transport: new PerAdapterTransport("noble", defaultAdapter, onAdapter) };
  return { transport: onAdapter(defaultAdapter) };
}

/** The configured BMS; with a scenario and no BMS in the config, every BMS of the scenario. */
export function targetsFor(config: Config, scenario: Scenario | undefined): BmsTarget[] {
  const interval = (s: number | undefined): number => Math.round((s ?? config.pollInterval) * 1000);
  if (config.bms.length > 0) {
    return config.bms.map((b) => ({
      address: b.address,
      ...(b.adapter ? { adapter: b.adapter } : {}),
      ...(b.name ? { name: b.name } : {}),
      protocol: b.protocol,
      invertCurrent: b.invertCurrent,
      pollIntervalMs: interval(b.pollInterval),
      ...(b.board !== undefined ? { board: b.board } : {}),
    }));
  }
  return (scenario?.bms ?? []).map((b) => ({ address: b.address, ...(b.name ? { name: b.name } : {}), ...(b.adapter ? { adapter: b.adapter } : {}), protocol: "auto" as const, invertCurrent: false, pollIntervalMs: interval(undefined) }));
}

/** Where state lives between runs: stateDir, else $XDG_STATE_HOME or ~/.local/state (add-on: /data). */
export function stateDir(config: Config, env: NodeJS.ProcessEnv = process.env): string {
  if (config.stateDir) return config.stateDir;
  const base = env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(base, "daly-bms-bridge");
}

export function supervisorOptions(config: Config, env: NodeJS.ProcessEnv = process.env): SupervisorOptions {
  const dir = stateDir(config, env);
  const serial = config.transport === "serial";
  return {
    energyFile: (bmsId) => join(dir, `energy-${bmsId}.json`),
    maxCurrentA: config.maxCurrent,
    // a serial port has no phone app to make room for: keep it open
    keepConnected: config.keepConnected || serial,
    ...(serial ? { initialProfile: (p: "a5" | "d2" | "p81", board?: number) => serialProfile(p, board) } : {}),
    requestTimeoutMs: Math.round(config.ble.requestTimeout * 1000),
    retries: config.ble.requestRetries,
    offlineAfter: config.offlineAfterFailures,
    maxBackoffMs: maxBackoffMs(config.pollInterval * 1000),
  };
}
