/**
 * BlueZ's D-Bus object model as plain typed values. dbus-next hands back loosely typed bodies
 * (`any`); everything from the bus passes through these narrowing helpers as `unknown`.
 */
import dbus from "dbus-next";

export const BLUEZ = "org.bluez";
export const OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager";
export const PROPERTIES = "org.freedesktop.DBus.Properties";
export const ADAPTER1 = "org.bluez.Adapter1";
export const DEVICE1 = "org.bluez.Device1";
export const GATT_SERVICE1 = "org.bluez.GattService1";
export const GATT_CHAR1 = "org.bluez.GattCharacteristic1";

/** Property values of one interface, Variants already unwrapped. */
export type Props = ReadonlyMap<string, unknown>;
/** path → interface → properties (GetManagedObjects / InterfacesAdded). */
export type ObjectTree = Map<string, Map<string, Props>>;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function unwrap(v: unknown): unknown {
  return v instanceof dbus.Variant ? (v.value as unknown) : v;
}

/** `a{sv}` → Map with unwrapped values. */
export function propsOf(v: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (isRecord(v)) for (const [k, x] of Object.entries(v)) out.set(k, unwrap(x));
  return out;
}

/** `a{sa{sv}}` → interface → properties. */
export function interfacesOf(v: unknown): Map<string, Props> {
  const out = new Map<string, Props>();
  if (isRecord(v)) for (const [iface, props] of Object.entries(v)) out.set(iface, propsOf(props));
  return out;
}

/** GetManagedObjects reply body → ObjectTree. */
export function treeOf(body: readonly unknown[]): ObjectTree {
  const out: ObjectTree = new Map();
  const root = body[0];
  if (isRecord(root)) for (const [path, ifaces] of Object.entries(root)) out.set(path, interfacesOf(ifaces));
  return out;
}

export const str = (p: Props | undefined, k: string): string | undefined => {
  const v = p?.get(k);
  return typeof v === "string" ? v : undefined;
};
export const bool = (p: Props | undefined, k: string): boolean | undefined => {
  const v = p?.get(k);
  return typeof v === "boolean" ? v : undefined;
};
export const num = (p: Props | undefined, k: string): number | undefined => {
  const v = p?.get(k);
  return typeof v === "number" ? v : undefined;
};
export const strings = (p: Props | undefined, k: string): string[] => {
  const v = p?.get(k);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
};
export const bytes = (v: unknown): Uint8Array | undefined => {
  if (Buffer.isBuffer(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v) && v.every((x) => typeof x === "number")) return Uint8Array.from(v);
  return undefined;
};

/** 16-bit UUID ("fff1") → BlueZ's 128-bit form ("0000fff1-0000-1000-8000-00805f9b34fb"). */
export function uuid128(short: string): string {
  return short.length === 4 ? `0000${short.toLowerCase()}-0000-1000-8000-00805f9b34fb` : short.toLowerCase();
}

/** 128-bit Bluetooth base UUID → its 16-bit short form; anything else unchanged (lower case). */
export function uuidShort(uuid: string): string {
  const m = /^0000([0-9a-f]{4})-0000-1000-8000-00805f9b34fb$/i.exec(uuid);
  return m?.[1] ? m[1].toLowerCase() : uuid.toLowerCase();
}

/** BlueZ's object path for a device: /org/bluez/hci0/dev_C0_D6_3C_57_2A_01. */
export function devicePath(adapter: string, address: string): string {
  return `/org/bluez/${adapter}/dev_${address.toUpperCase().replaceAll(":", "_")}`;
}

/** True when `path` is `ns` or below it. */
export function under(path: string, ns: string): boolean {
  return path === ns || path.startsWith(ns + "/");
}
