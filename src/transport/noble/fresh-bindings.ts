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
