/**
 * Another BlueZ client on the mock's bus (Home Assistant's Bluetooth integration, in the tests):
 * its own D-Bus connection that connects a device, starts its own notify session, writes and
 * receives notifications, exactly as a second process would.
 */
import dbus, { type Message, type MessageBus } from "dbus-next";

export class OtherClient {
  private readonly values: Array<(v: Buffer) => void> = [];
  private constructor(private readonly bus: MessageBus) {}

  static async connect(address: string): Promise<OtherClient> {
    const bus = dbus.sessionBus({ busAddress: address });
    const c = new OtherClient(bus);
    bus.on("message", (m: Message) => c.onMessage(m));
    await c.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", ["type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'"], "org.freedesktop.DBus");
    return c;
  }

  /** This client's unique bus name (BlueZ tells its clients apart by it). */
  get name(): string {
    return (this.bus as unknown as { name?: string | null }).name ?? "";
  }

  private onMessage(m: Message): void {
    if (m.type !== dbus.MessageType.SIGNAL || m.member !== "PropertiesChanged" || m.body[0] !== "org.bluez.GattCharacteristic1") return;
    const changed = m.body[1] as Record<string, dbus.Variant> | undefined;
    const v = changed?.Value?.value as unknown;
    if (Buffer.isBuffer(v)) for (const l of [...this.values]) l(v);
  }

  async call(path: string, iface: string, member: string, signature = "", body: unknown[] = [], destination = "org.bluez"): Promise<unknown[]> {
    const reply = await this.bus.call(new dbus.Message({ destination, path, interface: iface, member, signature, body }));
    return (reply?.body ?? []) as unknown[];
  }

  /** Writes `request` and resolves with the notification bytes received until `done(bytes)` holds. */
  async exchange(charWrite: string, request: Uint8Array, done: (b: Buffer) => boolean, ms = 2000): Promise<Buffer> {
    let got = Buffer.alloc(0);
    let listener: (v: Buffer) => void = () => undefined;
    let timer: NodeJS.Timeout | undefined;
    const p = new Promise<Buffer>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`other client: no complete notification within ${ms} ms (got ${got.toString("hex")})`)), ms);
      listener = (v) => {
        got = Buffer.concat([got, v]);
        if (done(got)) resolve(got);
      };
      this.values.push(listener);
    });
    try {
      await this.call(charWrite, "org.bluez.GattCharacteristic1", "WriteValue", "aya{sv}", [Buffer.from(request), { type: new dbus.Variant("s", "command") }]);
      return await p;
    } finally {
      clearTimeout(timer);
      this.values.splice(this.values.indexOf(listener), 1);
    }
  }

  close(): void {
    this.bus.disconnect();
  }
}
