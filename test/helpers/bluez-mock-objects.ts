/**
 * BlueZ's D-Bus interfaces for the mock, on dbus-next's service API (Interface + configureMembers;
 * no decorators). Each object keeps its property signatures so the ObjectManager can report it, and
 * `set()` changes properties with a PropertiesChanged signal as bluetoothd does. Method behaviour is
 * delegated to the mock (bluez-mock.ts).
 */
import dbus, { type Variant } from "dbus-next";

type Sigs = Readonly<Record<string, string>>;
type MethodOpts = { inSignature?: string; outSignature?: string };

export abstract class MockIface extends dbus.interface.Interface {
  protected abstract readonly sigs: Sigs;

  /** Current properties as Variants (GetManagedObjects, InterfacesAdded). */
  variants(): Record<string, Variant> {
    const self = this as unknown as Record<string, unknown>;
    const out: Record<string, Variant> = {};
    for (const [k, sig] of Object.entries(this.sigs)) out[k] = new dbus.Variant(sig, self[k]);
    return out;
  }

  /** Sets properties and emits PropertiesChanged (when exported). */
  set(changes: Record<string, unknown>): void {
    Object.assign(this, changes);
    dbus.interface.Interface.emitPropertiesChanged(this, changes, []);
  }
}

/** configureMembers with read-only properties; returns the signature table. */
function define(klass: Pick<typeof dbus.interface.Interface, "configureMembers">, props: Sigs, methods: Record<string, MethodOpts> = {}, signals: Record<string, string> = {}): Sigs {
  const properties = Object.fromEntries(Object.entries(props).map(([k, signature]) => [k, { signature, access: "read" as const }]));
  const sigs = Object.fromEntries(Object.entries(signals).map(([k, signature]) => [k, { signature }]));
  klass.configureMembers({ properties, methods, signals: sigs });
  return props;
}

export interface AdapterHooks {
  startDiscovery(): void;
  stopDiscovery(): void;
  setFilter(filter: Record<string, unknown>): void;
}

export class Adapter1 extends MockIface {
  static readonly SIGS = define(Adapter1, { Address: "s", Name: "s", Powered: "b", Discovering: "b" }, { StartDiscovery: {}, StopDiscovery: {}, SetDiscoveryFilter: { inSignature: "a{sv}" } });
  protected readonly sigs = Adapter1.SIGS;
  Address = "00:1A:7D:DA:71:13";
  Name = "mock";
  Powered = true;
  Discovering = false;
  constructor(private readonly hooks: AdapterHooks) {
    super("org.bluez.Adapter1");
  }
  StartDiscovery(): void {
    this.hooks.startDiscovery();
  }
  StopDiscovery(): void {
    this.hooks.stopDiscovery();
  }
  SetDiscoveryFilter(filter: Record<string, unknown>): void {
    this.hooks.setFilter(filter);
  }
}

export interface DeviceHooks {
  connect(): Promise<void> | void;
  disconnect(): void;
}

export class Device1 extends MockIface {
  static readonly SIGS = define(
    Device1,
    { Address: "s", AddressType: "s", Name: "s", Alias: "s", Adapter: "o", RSSI: "n", UUIDs: "as", Paired: "b", Connected: "b", ServicesResolved: "b" },
    { Connect: {}, Disconnect: {} },
  );
  protected readonly sigs = Device1.SIGS;
  AddressType = "public";
  Alias: string;
  RSSI = -62;
  Paired = false;
  Connected = false;
  ServicesResolved = false;
  constructor(
    readonly Address: string,
    readonly Name: string,
    readonly Adapter: string,
    readonly UUIDs: string[],
    private readonly hooks: DeviceHooks,
  ) {
    super("org.bluez.Device1");
    this.Alias = Name;
  }
  Connect(): Promise<void> | void {
    return this.hooks.connect();
  }
  Disconnect(): void {
    this.hooks.disconnect();
  }
}

export class GattService1 extends MockIface {
  static readonly SIGS = define(GattService1, { UUID: "s", Primary: "b", Device: "o" });
  protected readonly sigs = GattService1.SIGS;
  Primary = true;
  constructor(
    readonly UUID: string,
    readonly Device: string,
  ) {
    super("org.bluez.GattService1");
  }
}

export interface CharHooks {
  startNotify(c: GattCharacteristic1): void;
  stopNotify(c: GattCharacteristic1): void;
  write(c: GattCharacteristic1, value: Buffer, options: Record<string, unknown>): void;
}

export class GattCharacteristic1 extends MockIface {
  static readonly SIGS = define(
    GattCharacteristic1,
    { UUID: "s", Service: "o", Flags: "as", Value: "ay", Notifying: "b" },
    { StartNotify: {}, StopNotify: {}, WriteValue: { inSignature: "aya{sv}" } },
  );
  protected readonly sigs = GattCharacteristic1.SIGS;
  Value: Buffer = Buffer.alloc(0);
  Notifying = false;
  constructor(
    readonly UUID: string,
    readonly Service: string,
    readonly Flags: string[],
    private readonly hooks: CharHooks,
  ) {
    super("org.bluez.GattCharacteristic1");
  }
  StartNotify(): void {
    this.hooks.startNotify(this);
  }
  StopNotify(): void {
    this.hooks.stopNotify(this);
  }
  WriteValue(value: Buffer, options: Record<string, unknown>): void {
    this.hooks.write(this, value, options);
  }
}

export type ManagedObjects = Record<string, Record<string, Record<string, Variant>>>;

export class ObjectManager extends MockIface {
  static readonly SIGS = define(ObjectManager, {}, { GetManagedObjects: { outSignature: "a{oa{sa{sv}}}" } }, { InterfacesAdded: "oa{sa{sv}}", InterfacesRemoved: "oas" });
  protected readonly sigs = ObjectManager.SIGS;
  constructor(private readonly all: () => ManagedObjects) {
    super("org.freedesktop.DBus.ObjectManager");
  }
  GetManagedObjects(): ManagedObjects {
    return this.all();
  }
  InterfacesAdded(path: string, ifaces: Record<string, Record<string, Variant>>): [string, Record<string, Record<string, Variant>>] {
    return [path, ifaces];
  }
  InterfacesRemoved(path: string, names: string[]): [string, string[]] {
    return [path, names];
  }
}
