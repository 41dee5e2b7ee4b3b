/**
 * Internal views of noble's bindings and HCI objects, narrowed at runtime (never `any`): what the
 * loader and shutdown() reach into, and the guards that check their shape.
 */
import type { HciSocketLike, NobleLike } from "./noble-types.js";

export type Listener = (...args: unknown[]) => void;

export interface HciInternals {
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

export interface BindingsInternals {
  _hci: HciInternals;
  /** keyed by ACL handle; only links that really completed (status 0) */
  _aclStreams: Record<string, unknown>;
  init(): void;
  emit(event: string, ...args: unknown[]): boolean;
}

export type BindingsCtor = new (options: { deviceId?: number }) => unknown;
export type LoadFn = (this: unknown, request: string, parent: unknown, isMain: boolean) => unknown;

export function isRecord(x: unknown): x is Record<string, unknown> {
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

export function isBindings(x: unknown): x is BindingsInternals {
  return hasMethods(x, ["init", "emit", "startScanning", "connect"]) && isHci(x["_hci"]) && isRecord(x["_aclStreams"]);
}

export function isNobleLike(x: unknown): x is NobleLike {
  return hasMethods(x, ["on", "once", "removeListener", "startScanning", "stopScanning"]);
}

export function isConstructor(x: unknown): x is BindingsCtor {
  return typeof x === "function";
}

export function isCallable(x: unknown): x is (arg: unknown) => unknown {
  return typeof x === "function";
}

export function isLoadFn(x: unknown): x is LoadFn {
  return typeof x === "function";
}
