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
import { createRequire } from "node:module";
import { freshBindingsClass } from "./fresh-bindings.js";
import { adapterError, records, wrapInit, wrapPoll, type InstanceRecord } from "./instance-hooks.js";
import { isBindings, isCallable, isNobleLike } from "./noble-internals.js";
import type { HciSocketLike, NobleLike } from "./noble-types.js";

export { shutdown, type ShutdownOptions } from "./shutdown.js";

const require = createRequire(import.meta.url);

const WITH_BINDINGS_MODULE = "@abandonware/noble/with-bindings";

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

function resolveDeviceId(deviceId: number | undefined): number {
  if (deviceId !== undefined) return deviceId;
  const env = Number.parseInt(process.env["NOBLE_HCI_DEVICE_ID"] ?? "", 10);
  return Number.isNaN(env) ? 0 : env;
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
