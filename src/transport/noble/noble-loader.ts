/**
 * The only place that loads @abandonware/noble (1.9.2-26).
 *
 * Why this exists (ble-noble.md §0, §3.1): `require('@abandonware/noble')` opens an HCI socket at
 * import time and throws EAFNOSUPPORT on hosts without Bluetooth. So we load `with-bindings` and
 * build the Linux HCI bindings ourselves, either on the real native socket (errors turned into
 * "no Bluetooth adapter hci<N>: …") or, for tests and `--simulate`, on a virtual socket that
 * speaks HCI H4 bytes, so noble's real hci/gap/gatt/acl-stream code runs (§7.1).
 *
 * Importing this module never touches Bluetooth; only loadNoble() does.
 */
import Module, { createRequire } from "node:module";
import { dirname, sep } from "node:path";

const require = createRequire(import.meta.url);

const SOCKET_MODULE = "@abandonware/bluetooth-hci-socket";
const BINDINGS_MODULE = "@abandonware/noble/lib/hci-socket/bindings";
const WITH_BINDINGS_MODULE = "@abandonware/noble/with-bindings";

// ---- public types (the part of noble the bridge uses, typed by hand; §2.4) ---------------------
// Callback error types are what the library really passes (§2.3): `Error | null` from the
// bindings, a plain *string* from discoverSomeServicesAndCharacteristics.

export type AdapterState = "unknown" | "resetting" | "unsupported" | "unauthorized" | "poweredOff" | "poweredOn";

/** Subset of what the native `@abandonware/bluetooth-hci-socket` object offers, as used by noble's hci.js. */
export interface HciSocketLike {
  on(event: "data", listener: (packet: Buffer) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  removeListener(event: "data", listener: (packet: Buffer) => void): unknown;
  removeAllListeners(event?: string): unknown;
  bindRaw(deviceId?: number): unknown;
  bindUser(deviceId?: number): unknown;
  start(): void;
  stop(): void;
  /** Only the virtual socket has it; the native one is closed by GC. */
  close?(): void;
  isDevUp(): boolean;
  setFilter(filter: Buffer): void;
  write(packet: Buffer): void;
}

export interface AdvertisementLike {
  localName?: string;
  /** 16-bit UUIDs as lower-case hex without "0x", e.g. "fff0" */
  serviceUuids: string[];
  manufacturerData?: Buffer;
  txPowerLevel?: number;
  serviceData: { uuid: string; data: Buffer }[];
}

export type PeripheralState = "disconnected" | "connecting" | "connected" | "disconnecting" | "error";

export interface ConnectOptions {
  /** HCI units (1.25 ms) */
  minInterval?: number;
  maxInterval?: number;
  latency?: number;
  /** HCI units (10 ms) */
  timeout?: number;
}

export type CharacteristicProperty =
  | "broadcast"
  | "read"
  | "writeWithoutResponse"
  | "write"
  | "notify"
  | "indicate"
  | "authenticatedSignedWrites"
  | "extendedProperties";

export interface CharacteristicLike {
  readonly uuid: string;
  readonly properties: CharacteristicProperty[];
  subscribe(callback?: (error: Error | null) => void): void;
  unsubscribe(callback?: (error: Error | null) => void): void;
  /** noble accepts Buffer/Uint8Array; withoutResponse=true → ATT Write Command. */
  write(data: Uint8Array, withoutResponse: boolean, callback?: (error: Error | null) => void): void;
  read(callback?: (error: Error | null, data: Buffer) => void): void;
  on(event: "data", listener: (data: Buffer, isNotification: boolean) => void): this;
  once(event: "data", listener: (data: Buffer, isNotification: boolean) => void): this;
  removeListener(event: "data", listener: (data: Buffer, isNotification: boolean) => void): this;
  removeAllListeners(event?: string): this;
  listenerCount(event: string): number;
}

export interface ServiceLike {
  readonly uuid: string;
  readonly characteristics: CharacteristicLike[] | null;
}

export type DiscoverCallback = (
  error: Error | string | null,
  services: ServiceLike[] | null,
  characteristics: CharacteristicLike[] | null,
) => void;

export interface PeripheralLike {
  /** lower-case hex address without colons */
  readonly id: string;
  /** lower-case "aa:bb:cc:dd:ee:ff" */
  readonly address: string;
  readonly addressType: "public" | "random" | "unknown";
  readonly rssi: number;
  readonly advertisement: AdvertisementLike;
  readonly state: PeripheralState;
  /** set from the MTU exchange; null before */
  readonly mtu: number | null;
  connect(callback?: (error: Error | null) => void): void;
  connect(options: ConnectOptions | undefined, callback?: (error: Error | null) => void): void;
  disconnect(callback?: () => void): void;
  /** Emits connect(Error('connection canceled!')) at once when state is 'connecting'; see ble-noble.md §5 H2. */
  cancelConnect(): void;
  updateRssi(callback?: (error: Error | null, rssi: number) => void): void;
  discoverSomeServicesAndCharacteristics(serviceUuids: string[], characteristicUuids: string[], callback: DiscoverCallback): void;
  on(event: "connect", listener: (error: Error | null) => void): this;
  on(event: "disconnect", listener: (reason: number) => void): this;
  once(event: "connect", listener: (error: Error | null) => void): this;
  once(event: "disconnect", listener: (reason: number) => void): this;
  removeListener(event: "connect", listener: (error: Error | null) => void): this;
  removeListener(event: "disconnect", listener: (reason: number) => void): this;
  removeAllListeners(event?: string): this;
  listenerCount(event: string): number;
}

export interface NobleLike {
  /** Reading it runs the bindings' init() if it has not run yet (noble's lazy init, ble-noble.md §2.1). */
  readonly state: AdapterState;
  /** adapter address from Read BD_ADDR, "unknown" before */
  readonly address: string;
  on(event: "stateChange", listener: (state: AdapterState) => void): this;
  on(event: "discover", listener: (peripheral: PeripheralLike) => void): this;
  on(event: "scanStart" | "scanStop", listener: () => void): this;
  on(event: "warning", listener: (message: string) => void): this;
  once(event: "stateChange", listener: (state: AdapterState) => void): this;
  once(event: "discover", listener: (peripheral: PeripheralLike) => void): this;
  once(event: "scanStart" | "scanStop", listener: () => void): this;
  removeListener(event: "stateChange", listener: (state: AdapterState) => void): this;
  removeListener(event: "discover", listener: (peripheral: PeripheralLike) => void): this;
  removeListener(event: "scanStart" | "scanStop" | "warning", listener: (...args: never[]) => void): this;
  removeAllListeners(event?: string): this;
  listenerCount(event: string): number;
  /** Filtering by service UUID happens in the HCI binding; the callback fires on scanStart. */
  startScanning(serviceUuids: string[], allowDuplicates: boolean, callback?: (error: Error | null) => void): void;
  stopScanning(callback?: () => void): void;
}

export interface LoadNobleOptions {
  /** Gives noble's hci.js this object instead of the native socket (tests, simulator). */
  socketFactory?: () => HciSocketLike;
  /** Adapter number (hciN); same as NOBLE_HCI_DEVICE_ID, which noble reads when this is absent. */
  deviceId?: number;
  /**
   * HCI_CHANNEL_USER mode (exclusive adapter, §4.2). noble's own `userChannel` option is dead code
   * (§3.1), so the env var is set while the bindings are constructed. Undefined → the process env decides.
   * Limitation: signaling.js reads HCI_CHANNEL_USER at run time to answer connection-parameter
   * requests; set it in the process env too if a peripheral sends those.
   */
  userChannel?: boolean;
  /**
   * In user-channel mode noble 1.9.2-26 never sends LE Read Buffer Size (hci.js does that only in
   * the raw-mode pollIsDevUp path), so `writeAclDataPkt` awaits forever and no GATT request ever
   * leaves. When true (default) the loader sends it after Read Local Version. false = noble as is.
   */
  fixUserChannelBufferSize?: boolean;
}

// ---- internal views of noble objects (narrowed at runtime, never `any`) -----------------------

type Listener = (...args: unknown[]) => void;

interface HciInternals {
  _socket: HciSocketLike;
  _aclConnections: Map<number, unknown>;
  _aclBuffers?: unknown;
  _userChannel?: unknown;
  pollIsDevUp(): void;
  disconnect(handle: number): void;
  readLeBufferSize(): void;
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
}

interface BindingsInternals {
  _hci: HciInternals;
  /** keyed by ACL handle; only links that really completed (status 0) */
  _aclStreams: Record<string, unknown>;
  init(): void;
  emit(event: string, ...args: unknown[]): boolean;
}

type BindingsCtor = new (options: { deviceId?: number }) => unknown;
type LoadFn = (this: unknown, request: string, parent: unknown, isMain: boolean) => unknown;

function isRecord(x: unknown): x is Record<string, unknown> {
  return (typeof x === "object" || typeof x === "function") && x !== null;
}

function hasMethods(x: unknown, names: string[]): x is Record<string, unknown> {
  return isRecord(x) && names.every((n) => typeof x[n] === "function");
}

function isSocket(x: unknown): x is HciSocketLike {
  return hasMethods(x, ["on", "removeListener", "removeAllListeners", "bindRaw", "bindUser", "start", "stop", "isDevUp", "setFilter", "write"]);
}

function isHci(x: unknown): x is HciInternals {
  return (
    hasMethods(x, ["pollIsDevUp", "disconnect", "readLeBufferSize", "on", "removeListener"]) &&
    isSocket(x["_socket"]) &&
    x["_aclConnections"] instanceof Map
  );
}

function isBindings(x: unknown): x is BindingsInternals {
  return hasMethods(x, ["init", "emit", "startScanning", "connect"]) && isHci(x["_hci"]) && isRecord(x["_aclStreams"]);
}

function isNobleLike(x: unknown): x is NobleLike {
  return hasMethods(x, ["on", "once", "removeListener", "startScanning", "stopScanning"]);
}

function isConstructor(x: unknown): x is BindingsCtor {
  return typeof x === "function";
}

function isCallable(x: unknown): x is (arg: unknown) => unknown {
  return typeof x === "function";
}

function isLoadFn(x: unknown): x is LoadFn {
  return typeof x === "function";
}

// ---- per-instance bookkeeping for shutdown() --------------------------------------------------

interface InstanceRecord {
  bindings: BindingsInternals;
  hci: HciInternals;
  socket: HciSocketLike;
  initialized: boolean;
  closed: boolean;
  pollTimer: NodeJS.Timeout | undefined;
  processListeners: { event: "SIGINT" | "exit"; fn: Listener }[];
}

const records = new WeakMap<object, InstanceRecord>();

function resolveDeviceId(deviceId: number | undefined): number {
  if (deviceId !== undefined) return deviceId;
  const env = Number.parseInt(process.env["NOBLE_HCI_DEVICE_ID"] ?? "", 10);
  return Number.isNaN(env) ? 0 : env;
}

function adapterError(deviceId: number, cause: unknown): Error {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new Error(`no Bluetooth adapter hci${deviceId}: ${msg}`, { cause });
}

function withEnv<T>(name: string, value: string | undefined | null, fn: () => T): T {
  if (value === null) return fn(); // leave the env alone
  const prev = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return fn();
  } finally {
    if (prev === undefined) delete process.env[name];
    else process.env[name] = prev;
  }
}

/**
 * Requires noble's lib/hci-socket/bindings.js in a fresh module graph. hci.js binds the socket
 * class at module load (`const BluetoothHciSocket = require(...)`), so to hand each noble
 * instance its own socket the hci-socket modules are dropped from require.cache before and after,
 * and Module._load is hooked — for that one request, only during this synchronous require.
 */
function freshBindingsClass(factory: (() => HciSocketLike) | undefined): BindingsCtor {
  const dir = dirname(require.resolve(BINDINGS_MODULE)) + sep;
  const purge = (): void => {
    for (const key of Object.keys(require.cache)) if (key.startsWith(dir)) delete require.cache[key];
  };
  purge();
  const loader: unknown = Module;
  const original = isRecord(loader) ? loader["_load"] : undefined;
  if (!isRecord(loader) || !isLoadFn(original)) throw new Error("node:module has no _load (unsupported Node version)");
  if (factory) {
    // hci.js does `new BluetoothHciSocket()`; a constructor that returns an object yields that object
    const VirtualSocket = function VirtualHciSocketConstructor(): HciSocketLike {
      return factory();
    };
    const hookedLoad: LoadFn = function (this: unknown, request, parent, isMain) {
      return request === SOCKET_MODULE ? VirtualSocket : original.call(this, request, parent, isMain);
    };
    loader["_load"] = hookedLoad;
  }
  try {
    const ctor: unknown = require(BINDINGS_MODULE);
    if (!isConstructor(ctor)) throw new Error(`${BINDINGS_MODULE} did not export a constructor`);
    return ctor;
  } finally {
    loader["_load"] = original;
    purge();
  }
}

/**
 * Runs noble's pollIsDevUp with setTimeout observed, so shutdown() can clear the 1 s poll timer
 * hci.js never exposes. hci.js re-arms that ref'd timer forever, so without this a discarded
 * instance keeps the event loop alive; the `closed` guard ends the chain, clearing lets the
 * process exit at once.
 */
function wrapPoll(hci: HciInternals, rec: InstanceRecord): void {
  const poll = hci.pollIsDevUp;
  hci.pollIsDevUp = function pollIsDevUpTracked(): void {
    if (rec.closed) return;
    const realSetTimeout = globalThis.setTimeout;
    const tracking = (callback: () => void, ms?: number): NodeJS.Timeout => {
      const t = realSetTimeout(callback, ms);
      rec.pollTimer = t;
      return t;
    };
    // hci.js only calls setTimeout(fn, 1000) inside pollIsDevUp; the override lives for this synchronous call
    Object.assign(globalThis, { setTimeout: tracking });
    try {
      poll.call(hci);
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
  };
}

/**
 * Wraps bindings.init (noble calls it lazily, §2.1) to record the SIGINT/exit handlers it adds
 * (§5 last row; the exit one is an anonymous bind, so only a before/after diff finds it) and to
 * turn adapter failures (ENODEV at bind) into the same clear error plus stateChange 'unsupported'.
 */
function wrapInit(bindings: BindingsInternals, rec: InstanceRecord, deviceId: number): void {
  const init = bindings.init;
  bindings.init = function initTracked(): void {
    if (rec.closed) throw new Error("noble instance was shut down");
    rec.initialized = true;
    const before = new Set<unknown>([...process.listeners("SIGINT"), ...process.listeners("exit")]);
    try {
      init.call(bindings);
    } catch (error) {
      // noble itself would stay in 'unknown' forever (§1.1 "no adapter" row)
      process.nextTick(() => bindings.emit("stateChange", "unsupported"));
      throw adapterError(deviceId, error);
    } finally {
      for (const fn of process.listeners("SIGINT")) {
        if (!before.has(fn)) rec.processListeners.push({ event: "SIGINT", fn: fn as Listener });
      }
      for (const fn of process.listeners("exit")) {
        if (!before.has(fn)) rec.processListeners.push({ event: "exit", fn: fn as Listener });
      }
    }
  };
}

/** Builds an independent Noble instance with its own bindings and HCI socket. */
export function loadNoble(opts: LoadNobleOptions = {}): NobleLike {
  const deviceId = resolveDeviceId(opts.deviceId);
  const bindingsOptions = opts.deviceId === undefined ? {} : { deviceId: opts.deviceId };
  const userEnv = opts.userChannel === undefined ? null : opts.userChannel ? "1" : undefined;
  let bindings: unknown;
  try {
    const Bindings = freshBindingsClass(opts.socketFactory);
    bindings = withEnv("HCI_CHANNEL_USER", userEnv, () => new Bindings(bindingsOptions));
  } catch (error) {
    // native path: MODULE_NOT_FOUND (addon not built) or EAFNOSUPPORT/EPERM from socket()
    if (opts.socketFactory) throw error;
    throw adapterError(deviceId, error);
  }
  if (!isBindings(bindings)) throw new Error("unexpected shape of noble's HCI bindings (version mismatch?)");
  const hci = bindings._hci;
  const rec: InstanceRecord = {
    bindings,
    hci,
    socket: hci._socket,
    initialized: false,
    closed: false,
    pollTimer: undefined,
    processListeners: [],
  };
  wrapPoll(hci, rec);
  wrapInit(bindings, rec, deviceId);
  if (hci._userChannel && opts.fixUserChannelBufferSize !== false) {
    hci.on("readLocalVersion", () => {
      if (hci._aclBuffers === undefined) hci.readLeBufferSize();
    });
  }

  const withBindings: unknown = require(WITH_BINDINGS_MODULE);
  if (!isCallable(withBindings)) throw new Error(`${WITH_BINDINGS_MODULE} did not export a function`);
  const noble = withBindings(bindings);
  if (!isNobleLike(noble)) throw new Error("unexpected shape of the Noble object (version mismatch?)");
  records.set(noble, rec);
  return noble;
}

export interface ShutdownOptions {
  /** How long to wait for Disconnection Complete of open links. Default 1000 ms. */
  timeoutMs?: number;
}

/**
 * Discards a Noble instance made by loadNoble(): stops scanning, disconnects open links (waiting
 * for Disconnection Complete up to timeoutMs, so no orphan link survives the instance), clears
 * the adapter poll timer, removes the process SIGINT/exit handlers the bindings added, and stops
 * (and, for the virtual socket, closes) the HCI socket. Idempotent.
 */
export async function shutdown(noble: NobleLike, opts: ShutdownOptions = {}): Promise<void> {
  const rec = records.get(noble);
  if (!rec) {
    noble.stopScanning();
    return;
  }
  if (rec.closed) return;
  if (rec.initialized) {
    try {
      noble.stopScanning();
    } catch {
      // adapter already gone: nothing to stop
    }
    // not hci._aclConnections: hci.js also files handle 0 there after a *failed* connection complete
    const handles = Object.keys(rec.bindings._aclStreams).map(Number);
    if (handles.length > 0 && noble.state === "poweredOn") await disconnectAll(rec, handles, opts.timeoutMs ?? 1000);
  }
  rec.closed = true;
  if (rec.pollTimer) clearTimeout(rec.pollTimer);
  for (const { event, fn } of rec.processListeners.splice(0)) {
    if (event === "exit") process.removeListener("exit", fn);
    else process.removeListener("SIGINT", fn);
  }
  try {
    rec.socket.stop();
    rec.socket.close?.();
  } catch {
    // a native socket that was never started may refuse stop(); it is released by GC
  }
}

const DISCONNECT_OPCODE = 0x0406;

/**
 * Sends HCI Disconnect for each handle and waits for each Disconnection Complete — or for a
 * failed Command Status (e.g. 0x02 after an adapter reset, when noble still believes in a link
 * the controller has forgotten), after which no Disconnection Complete will come. Command Status
 * events return in command order; on a shared raw adapter another process's Disconnect could
 * interleave, which at worst ends the wait early for one handle.
 */
function disconnectAll(rec: InstanceRecord, handles: number[], timeoutMs: number): Promise<void> {
  const { hci, socket } = rec;
  return new Promise((resolve) => {
    const left = new Set(handles);
    const order = [...handles];
    const check = (): void => {
      if (left.size > 0) return;
      clearTimeout(timer);
      hci.removeListener("disconnComplete", onDisconnect);
      socket.removeListener("data", onData);
      resolve();
    };
    const onDisconnect: Listener = (handle) => {
      if (typeof handle === "number") left.delete(handle);
      check();
    };
    const onData = (packet: Buffer): void => {
      // H4 event 0x0f = Command Status: status, num packets, opcode
      if (packet.length < 7 || packet[0] !== 0x04 || packet[1] !== 0x0f || packet.readUInt16LE(5) !== DISCONNECT_OPCODE) return;
      const handle = order.shift();
      if (handle !== undefined && packet[3] !== 0) left.delete(handle);
      check();
    };
    const timer = setTimeout(() => {
      left.clear();
      check();
    }, timeoutMs);
    hci.on("disconnComplete", onDisconnect);
    socket.on("data", onData);
    for (const h of handles) hci.disconnect(h);
  });
}
