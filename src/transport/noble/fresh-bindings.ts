/**
 * noble's HCI bindings class, required in a fresh module graph so that each noble instance gets
 * its own HCI socket: the native one, or the virtual socket a factory hands out (tests, simulator).
 */
import Module, { createRequire } from "node:module";
import { dirname, sep } from "node:path";
import { isConstructor, isLoadFn, isRecord, type BindingsCtor, type LoadFn } from "./noble-internals.js";
import type { HciSocketLike } from "./noble-types.js";

const require = createRequire(import.meta.url);

const SOCKET_MODULE = "@abandonware/bluetooth-hci-socket";
const BINDINGS_MODULE = "@abandonware/noble/lib/hci-socket/bindings";

/**
 * Requires noble's lib/hci-socket/bindings.js in a fresh module graph. hci.js binds the socket
 * class at module load (`const BluetoothHciSocket = require(...)`), so to hand each noble
 * instance its own socket the hci-socket modules are dropped from require.cache before and after,
 * and Module._load is hooked — for that one request, only during this synchronous require.
 */
export function freshBindingsClass(factory: (() => HciSocketLike) | undefined): BindingsCtor {
  const dir = dirname(require.resolve(BINDINGS_MODULE)) + sep;
  const purge = (): void => {
    for (const key of Object.keys(require.cache)) if (key.startsWith(dir)) delete require.cache[key];
  };
  purge();
  const loader: unknown = Module;
  const original = isRecord(loader) ? loader["_load"] : undefined;
  if (!isRecord(loader) || !isLoadFn(original)) throw new Error("node:module has no _load (unsupported Node version)");
  // hci.js does `new BluetoothHciSocket()`; a constructor that returns an object yields that object
  const VirtualSocket = factory
    ? function VirtualHciSocketConstructor(): HciSocketLike {
        return factory();
      }
    : undefined;
  const hookedLoad: LoadFn = function (this: unknown, request, parent, isMain) {
    if (request !== SOCKET_MODULE) return original.call(this, request, parent, isMain);
    return VirtualSocket ?? guardedNativeSocket(original.call(this, request, parent, isMain));
  };
  loader["_load"] = hookedLoad;
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
 * The native socket class as noble gets it (the same guarded construction), for the adapter
 * address lookup (adapter-address.ts). Loading it opens nothing; each construction opens a socket.
 */
export function nativeSocketClass(): new () => unknown {
  const loaded: unknown = require(SOCKET_MODULE);
  const guarded = guardedNativeSocket(loaded);
  if (typeof guarded !== "function") throw new Error(`${SOCKET_MODULE} did not export a constructor`);
  return guarded as new () => unknown;
}

/**
 * The native socket class, wrapped so that a failed construction (no Bluetooth in this kernel or
 * network namespace, no CAP_NET_RAW) cannot abort the process at exit: the native destructor of
 * such an object calls uv_close on a poll handle it never initialised, and Node 24 runs that
 * destructor during the teardown of a natural exit (uv_close assertion, exit status 134, after the
 * bridge already printed its clear "no Bluetooth adapter" error). Once a construction has failed,
 * the process leaves through process.exit() from its 'exit' event, which skips that teardown.
 */
function guardedNativeSocket(native: unknown): unknown {
  if (typeof native !== "function") return native;
  // hci.js constructs it without arguments
  const Native = native as new () => unknown;
  return function GuardedHciSocket(): unknown {
    try {
      return new Native();
    } catch (e) {
      exitWithoutTeardown();
      throw e;
    }
  };
}

let exitGuarded = false;
function exitWithoutTeardown(): void {
  if (exitGuarded) return;
  exitGuarded = true;
  // inside 'exit', process.exit() goes straight to the C++ exit with the same code
  process.once("exit", (code) => process.exit(code));
}
