/**
 * The ESPHome native API messages this client uses, both directions (the test double encodes the
 * server side). Message ids and field numbers are facts from aioesphomeapi `api.proto`
 * (esphome-proxy.md §1); every other id is a value the client ignores.
 */
import { fields, ProtoWriter } from "./proto.js";

export const MSG = {
  HelloRequest: 1,
  HelloResponse: 2,
  AuthenticationRequest: 3, // "ConnectRequest" before 2026.1; needed by API < 1.12 devices even without password
  AuthenticationResponse: 4,
  DisconnectRequest: 5,
  DisconnectResponse: 6,
  PingRequest: 7,
  PingResponse: 8,
  DeviceInfoRequest: 9,
  DeviceInfoResponse: 10,
  GetTimeRequest: 36,
  SubscribeBluetoothLEAdvertisementsRequest: 66,
  BluetoothDeviceRequest: 68,
  BluetoothDeviceConnectionResponse: 69,
  BluetoothGATTGetServicesRequest: 70,
  BluetoothGATTGetServicesResponse: 71,
  BluetoothGATTGetServicesDoneResponse: 72,
  BluetoothGATTWriteRequest: 75,
  BluetoothGATTWriteDescriptorRequest: 77,
  BluetoothGATTNotifyRequest: 78,
  BluetoothGATTNotifyDataResponse: 79,
  SubscribeBluetoothConnectionsFreeRequest: 80,
  BluetoothConnectionsFreeResponse: 81,
  BluetoothGATTErrorResponse: 82,
  BluetoothGATTWriteResponse: 83,
  BluetoothGATTNotifyResponse: 84,
  UnsubscribeBluetoothLEAdvertisementsRequest: 87,
  BluetoothLERawAdvertisementsResponse: 93,
  BluetoothScannerStateResponse: 126,
} as const;

/** The API version this client implements (HelloRequest): 1.12 gets short_uuid in service lists. */
export const API_VERSION = { major: 1, minor: 12 } as const;

/** `BluetoothProxyFeature` (aioesphomeapi model.py). */
export const FEATURE = { PASSIVE_SCAN: 1, ACTIVE_CONNECTIONS: 2, REMOTE_CACHING: 4, RAW_ADVERTISEMENTS: 32, STATE_AND_MODE: 64 } as const;
/** `BluetoothDeviceRequestType` (api.proto). */
export const DEVICE_REQUEST = { DISCONNECT: 1, CONNECT_V3_WITH_CACHE: 4, CONNECT_V3_WITHOUT_CACHE: 5 } as const;
/** `BluetoothProxySubscriptionFlag.RAW_ADVERTISEMENTS`. */
export const SUBSCRIBE_RAW = 1;

const w = (): ProtoWriter => new ProtoWriter();

// ---- session --------------------------------------------------------------------------------
export interface Hello { clientInfo: string; major: number; minor: number }
export const encodeHelloRequest = (h: Hello): Uint8Array => w().string(1, h.clientInfo).uint(2, h.major).uint(3, h.minor).done();
export function decodeHelloRequest(b: Uint8Array): Hello | undefined {
  const f = fields(b);
  return f && { clientInfo: f.string(1), major: f.uint(2), minor: f.uint(3) };
}
export interface HelloReply { major: number; minor: number; serverInfo: string; name: string }
export const encodeHelloResponse = (h: HelloReply): Uint8Array => w().uint(1, h.major).uint(2, h.minor).string(3, h.serverInfo).string(4, h.name).done();
export function decodeHelloResponse(b: Uint8Array): HelloReply | undefined {
  const f = fields(b);
  return f && { major: f.uint(1), minor: f.uint(2), serverInfo: f.string(3), name: f.string(4) };
}
export const encodeAuthenticationResponse = (invalid: boolean): Uint8Array => w().bool(1, invalid).done();
export const decodeAuthenticationResponse = (b: Uint8Array): boolean | undefined => fields(b)?.bool(1);

export interface DeviceInfo { name: string; macAddress: string; esphomeVersion: string; legacyProxyVersion: number; proxyFlags: number; bluetoothMac: string }
export const encodeDeviceInfoResponse = (d: DeviceInfo): Uint8Array =>
  w().string(2, d.name).string(3, d.macAddress).string(4, d.esphomeVersion).uint(11, d.legacyProxyVersion).uint(15, d.proxyFlags).string(18, d.bluetoothMac).done();
export function decodeDeviceInfoResponse(b: Uint8Array): DeviceInfo | undefined {
  const f = fields(b);
  return f && { name: f.string(2), macAddress: f.string(3), esphomeVersion: f.string(4), legacyProxyVersion: f.uint(11), proxyFlags: f.uint(15), bluetoothMac: f.string(18) };
}

// ---- advertisements -------------------------------------------------------------------------
export const encodeSubscribeAdvertisements = (flags: number): Uint8Array => w().uint(1, flags).done();
export const decodeSubscribeAdvertisements = (b: Uint8Array): number | undefined => fields(b)?.uint(1);

export interface RawAdvertisement { address: number; rssi: number; addressType: number; data: Uint8Array }
export function encodeRawAdvertisements(list: readonly RawAdvertisement[]): Uint8Array {
  const out = w();
  for (const a of list) out.bytes(1, w().uint(1, a.address).sint(2, a.rssi).uint(3, a.addressType).bytes(4, a.data).done(), true);
  return out.done();
}
export function decodeRawAdvertisements(b: Uint8Array): RawAdvertisement[] | undefined {
  const f = fields(b);
  if (!f) return undefined;
  const out: RawAdvertisement[] = [];
  for (const m of f.messages(1)) {
    const a = fields(m);
    if (a) out.push({ address: a.uint(1), rssi: a.sint(2), addressType: a.uint(3), data: a.bytes(4) });
  }
  return out;
}

// ---- connections ----------------------------------------------------------------------------
export interface DeviceRequest { address: number; requestType: number; addressType: number }
export const encodeDeviceRequest = (r: DeviceRequest): Uint8Array =>
  w().uint(1, r.address).uint(2, r.requestType).bool(3, true).uint(4, r.addressType).done();
export function decodeDeviceRequest(b: Uint8Array): (DeviceRequest & { hasAddressType: boolean }) | undefined {
  const f = fields(b);
  return f && { address: f.uint(1), requestType: f.uint(2), hasAddressType: f.bool(3), addressType: f.uint(4) };
}
export interface ConnectionState { address: number; connected: boolean; mtu: number; error: number }
export const encodeConnectionResponse = (c: ConnectionState): Uint8Array => w().uint(1, c.address).bool(2, c.connected).uint(3, c.mtu).int32(4, c.error).done();
export function decodeConnectionResponse(b: Uint8Array): ConnectionState | undefined {
  const f = fields(b);
  return f && { address: f.uint(1), connected: f.bool(2), mtu: f.uint(3), error: f.int32(4) };
}
export interface ConnectionsFree { free: number; limit: number; allocated: number[] }
export const encodeConnectionsFree = (c: ConnectionsFree): Uint8Array => w().uint(1, c.free).uint(2, c.limit).packed(3, c.allocated).done();
export function decodeConnectionsFree(b: Uint8Array): ConnectionsFree | undefined {
  const f = fields(b);
  return f && { free: f.uint(1), limit: f.uint(2), allocated: f.uints(3).map(Number) };
}

// ---- GATT -----------------------------------------------------------------------------------
/** A UUID as the proxy sends it: [high, low] of the 128-bit value, or a 16/32-bit short_uuid (API ≥ 1.12). */
export interface GattUuid { uuid: bigint[]; shortUuid: number }
export interface GattDescriptor extends GattUuid { handle: number }
export interface GattCharacteristic extends GattUuid { handle: number; properties: number; descriptors: GattDescriptor[] }
export interface GattService extends GattUuid { handle: number; characteristics: GattCharacteristic[] }

/** "0000fff1-0000-1000-8000-00805f9b34fb" form → "fff1" when it is a Bluetooth base UUID, else 32 hex digits. */
export function uuidText(u: GattUuid): string {
  if (u.shortUuid !== 0) return u.shortUuid.toString(16).padStart(4, "0");
  const [hi = 0n, lo = 0n] = u.uuid;
  if ((hi & 0xffffffffn) === 0x1000n && lo === 0x800000805f9b34fbn) {
    return (hi >> 32n).toString(16).padStart(4, "0");
  }
  return hi.toString(16).padStart(16, "0") + lo.toString(16).padStart(16, "0");
}
/** "fff1" → [high, low] of the Bluetooth base UUID (0000xxxx-0000-1000-8000-00805f9b34fb). */
export function uuid128(short: number): bigint[] {
  return [(BigInt(short) << 32n) | 0x1000n, 0x800000805f9b34fbn];
}

const writeUuid = (out: ProtoWriter, u: GattUuid, shortNo: number): ProtoWriter => (u.shortUuid !== 0 ? out.uint(shortNo, u.shortUuid) : out.packed(1, u.uuid));
const readUuid = (f: NonNullable<ReturnType<typeof fields>>, shortNo: number): GattUuid => ({ uuid: f.uints(1), shortUuid: f.uint(shortNo) });

export function encodeServicesResponse(address: number, services: readonly GattService[]): Uint8Array {
  const out = w().uint(1, address);
  for (const s of services) {
    const sw = writeUuid(w(), s, 4).uint(2, s.handle);
    for (const c of s.characteristics) {
      const cw = writeUuid(w(), c, 5).uint(2, c.handle).uint(3, c.properties);
      for (const d of c.descriptors) cw.bytes(4, writeUuid(w(), d, 3).uint(2, d.handle).done(), true);
      sw.bytes(3, cw.done(), true);
    }
    out.bytes(2, sw.done(), true);
  }
  return out.done();
}
export function decodeServicesResponse(b: Uint8Array): { address: number; services: GattService[] } | undefined {
  const f = fields(b);
  if (!f) return undefined;
  const services: GattService[] = [];
  for (const sm of f.messages(2)) {
    const s = fields(sm);
    if (!s) return undefined;
    const characteristics: GattCharacteristic[] = [];
    for (const cm of s.messages(3)) {
      const c = fields(cm);
      if (!c) return undefined;
      const descriptors: GattDescriptor[] = [];
      for (const dm of c.messages(4)) {
        const d = fields(dm);
        if (d) descriptors.push({ ...readUuid(d, 3), handle: d.uint(2) });
      }
      characteristics.push({ ...readUuid(c, 5), handle: c.uint(2), properties: c.uint(3), descriptors });
    }
    services.push({ ...readUuid(s, 4), handle: s.uint(2), characteristics });
  }
  return { address: f.uint(1), services };
}

/** address (1), handle (2): the shape shared by 70, 72, 83, 84 and the heads of 73-79, 82. */
export interface GattRef { address: number; handle: number }
export const encodeRef = (r: { address: number; handle?: number }): Uint8Array => w().uint(1, r.address).uint(2, r.handle ?? 0).done();
export function decodeRef(b: Uint8Array): GattRef | undefined {
  const f = fields(b);
  return f && { address: f.uint(1), handle: f.uint(2) };
}
export interface GattWrite extends GattRef { response: boolean; data: Uint8Array }
export const encodeGattWrite = (r: GattWrite): Uint8Array => w().uint(1, r.address).uint(2, r.handle).bool(3, r.response).bytes(4, r.data).done();
export function decodeGattWrite(b: Uint8Array): GattWrite | undefined {
  const f = fields(b);
  return f && { address: f.uint(1), handle: f.uint(2), response: f.bool(3), data: f.bytes(4) };
}
/** 77 WriteDescriptor and 79 NotifyData share address(1), handle(2), data(3). */
export interface GattData extends GattRef { data: Uint8Array }
export const encodeGattData = (r: GattData): Uint8Array => w().uint(1, r.address).uint(2, r.handle).bytes(3, r.data).done();
export function decodeGattData(b: Uint8Array): GattData | undefined {
  const f = fields(b);
  return f && { address: f.uint(1), handle: f.uint(2), data: f.bytes(3) };
}
export interface GattNotify extends GattRef { enable: boolean }
export const encodeGattNotify = (r: GattNotify): Uint8Array => w().uint(1, r.address).uint(2, r.handle).bool(3, r.enable).done();
export function decodeGattNotify(b: Uint8Array): GattNotify | undefined {
  const f = fields(b);
  return f && { address: f.uint(1), handle: f.uint(2), enable: f.bool(3) };
}
export interface GattError extends GattRef { error: number }
export const encodeGattError = (r: GattError): Uint8Array => w().uint(1, r.address).uint(2, r.handle).int32(3, r.error).done();
export function decodeGattError(b: Uint8Array): GattError | undefined {
  const f = fields(b);
  return f && { address: f.uint(1), handle: f.uint(2), error: f.int32(3) };
}

/** "AA:BB:CC:DD:EE:FF" ↔ the uint64 the API carries (MAC as a big-endian integer). */
export function macToNumber(mac: string): number {
  return parseInt(mac.replaceAll(":", ""), 16);
}
export function numberToMac(n: number): string {
  return (n.toString(16).padStart(12, "0").toUpperCase().match(/../g) ?? []).join(":");
}

/** GATT error codes in 82 (aioesphomeapi `core.py` ESPHOME_GATT_ERRORS). */
const GATT_ERRORS: Record<number, string> = {
  [-1]: "not connected",
  1: "invalid handle",
  2: "read not permitted",
  3: "write not permitted",
  5: "insufficient authentication",
  8: "insufficient authorization",
  15: "insufficient encryption",
  133: "GATT error",
};
/** Connection error codes in 69 (aioesphomeapi `ble_defs.py`). */
const CONNECT_ERRORS: Record<number, string> = {
  0x08: "connection timeout",
  0x13: "terminated by the peer",
  0x16: "terminated by the local host",
  0x22: "LMP timeout",
  0x3e: "connection failed to establish",
  0x85: "GATT error",
  0x100: "connection cancelled (slot race)",
  0x101: "no connection",
};
export const gattErrorText = (code: number): string => `${GATT_ERRORS[code] ?? "GATT error"} (code ${code})`;
export const connectErrorText = (code: number): string => `${CONNECT_ERRORS[code] ?? "connection error"} (code ${code})`;
export const CONN_CANCEL = 0x100;
