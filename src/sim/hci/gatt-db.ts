/**
 * The attribute table one simulated Daly module exposes: a Generic Access service (so service
 * discovery sees more than one group, like on real hardware) and the vendor service.
 *
 *   layout "fff0" (classic Daly):  fff1 RX read|notify + CCCD, fff2 TX read|write|write-without-response
 *   layout "ff00" (newer modules): ff01 RX notify + CCCD,      ff02 TX write|write-without-response
 *
 * The second layout exists so the bridge's transport fallback (fff0 first, then ff00; see
 * style.md appendix "GATT UUIDs") can be tested against real noble discovery.
 */
import type { GattLayout } from "./types.js";

export const UUID_PRIMARY_SERVICE = 0x2800;
export const UUID_CHARACTERISTIC = 0x2803;
export const UUID_CCCD = 0x2902;
const UUID_GAP_SERVICE = 0x1800;
const UUID_DEVICE_NAME = 0x2a00;

export const PROP_READ = 0x02;
export const PROP_WRITE_NO_RESP = 0x04;
export const PROP_WRITE = 0x08;
export const PROP_NOTIFY = 0x10;

export interface Attribute {
  handle: number;
  /** 16-bit attribute type */
  type: number;
  value: Uint8Array;
  readable: boolean;
  writable: boolean;
  /** for primary service declarations: last handle of the group */
  groupEnd?: number;
}

export interface GattDb {
  attributes: Attribute[];
  serviceUuid: number;
  rxValueHandle: number;
  txValueHandle: number;
  cccdHandle: number;
}

interface CharDef {
  uuid: number;
  props: number;
  cccd: boolean;
}

function u16(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, v >> 8);
}

export function buildGattDb(layout: GattLayout, deviceName: string): GattDb {
  const attrs: Attribute[] = [];
  const add = (type: number, value: Uint8Array, readable: boolean, writable: boolean): Attribute => {
    const a: Attribute = { handle: attrs.length + 1, type, value, readable, writable };
    attrs.push(a);
    return a;
  };
  const service = (uuid: number, chars: CharDef[]): Map<number, { value: number; cccd?: number }> => {
    const decl = add(UUID_PRIMARY_SERVICE, u16(uuid), true, false);
    const handles = new Map<number, { value: number; cccd?: number }>();
    for (const c of chars) {
      const declHandle = attrs.length + 1;
      const v = Uint8Array.of(c.props, ...u16(declHandle + 1), ...u16(c.uuid));
      add(UUID_CHARACTERISTIC, v, true, false);
      const value = add(c.uuid, new Uint8Array(0), (c.props & PROP_READ) !== 0, (c.props & (PROP_WRITE | PROP_WRITE_NO_RESP)) !== 0);
      const entry: { value: number; cccd?: number } = { value: value.handle };
      if (c.cccd) entry.cccd = add(UUID_CCCD, u16(0), true, true).handle;
      handles.set(c.uuid, entry);
    }
    decl.groupEnd = attrs.length;
    return handles;
  };

  service(UUID_GAP_SERVICE, [{ uuid: UUID_DEVICE_NAME, props: PROP_READ, cccd: false }]);
  const nameAttr = attrs.find((a) => a.type === UUID_DEVICE_NAME);
  if (nameAttr) nameAttr.value = Buffer.from(deviceName, "utf8");

  const [svc, rx, tx, rxProps, txProps] =
    layout === "ff00"
      ? [0xff00, 0xff01, 0xff02, PROP_NOTIFY, PROP_WRITE | PROP_WRITE_NO_RESP]
      : [0xfff0, 0xfff1, 0xfff2, PROP_READ | PROP_NOTIFY, PROP_READ | PROP_WRITE | PROP_WRITE_NO_RESP];
  const handles = service(svc, [
    { uuid: rx, props: rxProps, cccd: true },
    { uuid: tx, props: txProps, cccd: false },
  ]);
  const rxH = handles.get(rx);
  const txH = handles.get(tx);
  if (!rxH?.cccd || !txH) throw new Error("gatt-db: layout construction failed");
  return { attributes: attrs, serviceUuid: svc, rxValueHandle: rxH.value, txValueHandle: txH.value, cccdHandle: rxH.cccd };
}
