/**
 * The part of @abandonware/noble 1.9.2-26 the bridge uses, typed by hand (ble-noble.md §2.4).
 * Types only: importing this never loads noble.
 *
 * Callback error types are what the library really passes (§2.3): `Error | null` from the
 * bindings, a plain *string* from discoverSomeServicesAndCharacteristics.
 */
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
