/**
 * Queries on BlueZ's object tree (GetManagedObjects): the adapter, devices by address, Daly
 * adverts, and the Daly GATT characteristics under a connected device.
 */
import { GATT_LAYOUTS } from "../daly/constants.js";
import type { Advert } from "../ble/link.js";
import { TransportError } from "../ble/errors.js";
import { ADAPTER1, bool, DEVICE1, GATT_CHAR1, GATT_SERVICE1, num, type ObjectTree, type Props, str, strings, under, uuid128, uuidShort } from "./values.js";

export interface DeviceObject {
  path: string;
  props: Props;
}

export interface GattPaths {
  layout: (typeof GATT_LAYOUTS)[number]["service"];
  notify: string;
  write: string;
  /** WriteValue "type": write-without-response where the characteristic allows it (§4.2). */
  writeType: "command" | "request";
}

/** The BlueZ name (`hci1`) of the adapter with this Bluetooth address; throws the adapter error if none. */
export function adapterByAddress(tree: ObjectTree, address: string): string {
  const adapters = [...tree.entries()].filter(([, i]) => i.has(ADAPTER1)).map(([p, i]) => ({ name: p.split("/").pop() ?? p, address: str(i.get(ADAPTER1) ?? new Map(), "Address")?.toUpperCase() }));
  const hit = adapters.find((a) => a.address === address.toUpperCase());
  if (hit) return hit.name;
  const have = adapters.map((a) => `${a.name} ${a.address ?? "?"}`).join(", ");
  throw new TransportError(`Bluetooth adapter with address ${address.toUpperCase()} not found in BlueZ (${have ? `available: ${have}` : "no adapters"})`, "adapter");
}

/** Throws the adapter error when `adapter` is missing from BlueZ or powered off. */
export function checkAdapter(tree: ObjectTree, adapter: string): void {
  const props = tree.get(`/org/bluez/${adapter}`)?.get(ADAPTER1);
  if (!props) {
    const have = [...tree.entries()].filter(([, i]) => i.has(ADAPTER1)).map(([p]) => p.split("/").pop() ?? p);
    throw new TransportError(`Bluetooth adapter ${adapter} not found in BlueZ (${have.length ? `available: ${have.join(", ")}` : "no adapters"})`, "adapter");
  }
  if (bool(props, "Powered") === false) throw new TransportError(`Bluetooth adapter ${adapter} is powered off`, "adapter");
}

/** The Device1 object with this address on this adapter. */
export function findDevice(tree: ObjectTree, adapter: string, address: string): DeviceObject | undefined {
  const want = address.toUpperCase();
  for (const [path, ifaces] of tree) {
    const props = ifaces.get(DEVICE1);
    if (props && deviceOn(path, adapter) && str(props, "Address")?.toUpperCase() === want) return { path, props };
  }
  return undefined;
}

export function deviceOn(path: string, adapter: string): boolean {
  return /^\/org\/bluez\/[^/]+\/dev_[0-9A-Fa-f_]+$/.test(path) && under(path, `/org/bluez/${adapter}`);
}

/** Named DL-/JHB- (Daly's module names) or advertising the fff0/ff00 service. */
export function isDaly(props: Props): boolean {
  const name = str(props, "Name") ?? str(props, "Alias") ?? "";
  const uuids = strings(props, "UUIDs").map(uuidShort);
  return /^(DL-|JHB-)/.test(name) || GATT_LAYOUTS.some((l) => uuids.includes(l.service));
}

export function advertOf(props: Props): Advert | undefined {
  const address = str(props, "Address");
  if (!address) return undefined;
  const a: Advert = { address: address.toUpperCase(), serviceUuids: strings(props, "UUIDs").map(uuidShort) };
  const name = str(props, "Name");
  const rssi = num(props, "RSSI");
  if (name) a.name = name;
  if (rssi !== undefined) a.rssi = rssi;
  return a;
}

/** Daly GATT layouts found under the device, fff0 first, then ff00. */
export function findGatt(tree: ObjectTree, device: string): GattPaths[] {
  const out: GattPaths[] = [];
  for (const l of GATT_LAYOUTS) {
    const service = [...tree].find(([p, i]) => under(p, device) && str(i.get(GATT_SERVICE1), "UUID")?.toLowerCase() === uuid128(l.service))?.[0];
    if (!service) continue;
    const char = (uuid: string): [string, Props] | undefined => {
      for (const [p, i] of tree) {
        const c = i.get(GATT_CHAR1);
        if (c && str(c, "Service") === service && str(c, "UUID")?.toLowerCase() === uuid128(uuid)) return [p, c];
      }
      return undefined;
    };
    const notify = char(l.notify);
    const write = char(l.write);
    if (!notify || !write) continue;
    const flags = strings(write[1], "Flags");
    out.push({ layout: l.service, notify: notify[0], write: write[0], writeType: flags.includes("write-without-response") ? "command" : "request" });
  }
  return out;
}
