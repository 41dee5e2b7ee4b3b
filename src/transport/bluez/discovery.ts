/**
 * BlueZ discovery sessions: LE filter + StartDiscovery, devices reported through ObjectManager
 * InterfacesAdded, and StopDiscovery always (BlueZ counts sessions per D-Bus client, so ours never
 * stops Home Assistant's scanning).
 */
import { setTimeout as sleep } from "node:timers/promises";
import dbus from "dbus-next";
import type { Advert } from "../link.js";
import { bounded, TransportError } from "../errors.js";
import { abortPromise } from "./abort.js";
import type { BluezBus } from "./bus.js";
import { dbusName } from "./errors.js";
import { advertOf, deviceOn, type DeviceObject, findDevice, isDaly } from "./objects.js";
import { ADAPTER1, bool, DEVICE1, interfacesOf, num, OBJECT_MANAGER, type ObjectTree, type Props, str } from "./values.js";

export interface DiscoveryContext {
  bus: BluezBus;
  adapter: string;
  gattMs: number;
  tree: () => Promise<ObjectTree>;
  signal?: AbortSignal;
}

/** Runs `body` while discovering; `onDevice` sees every Device1 added on the adapter meanwhile. */
async function discovering<T>(ctx: DiscoveryContext, onDevice: (path: string, props: Props) => void, body: () => Promise<T>): Promise<T> {
  const adapter = `/org/bluez/${ctx.adapter}`;
  const off = await ctx.bus.subscribe(
    { iface: OBJECT_MANAGER, member: "InterfacesAdded", path: "/" },
    (_p, b) => {
      const path = b[0];
      const props = interfacesOf(b[1]).get(DEVICE1);
      if (typeof path === "string" && props && deviceOn(path, ctx.adapter)) onDevice(path, props);
    },
    ctx.gattMs,
  );
  const call = (member: string, signature = "", body: unknown[] = []): Promise<unknown[]> =>
    ctx.bus.call({ path: adapter, iface: ADAPTER1, member, signature, body, step: member, fallback: "adapter" }, ctx.gattMs);
  try {
    await call("SetDiscoveryFilter", "a{sv}", [{ Transport: new dbus.Variant("s", "le") }]).catch((e: unknown) => {
      if (e instanceof TransportError && e.kind === "adapter") throw e; // NotReady, no BlueZ; else best effort
    });
    await call("StartDiscovery").catch((e: unknown) => {
      if (dbusName(e) !== "org.bluez.Error.InProgress") throw e;
    });
    return await body();
  } finally {
    off();
    await call("StopDiscovery").catch(() => undefined); // "No discovery started" after a failed start
  }
}

/** Discovers one device by address; undefined when it does not show up within `ms`. */
export async function discover(ctx: DiscoveryContext, address: string, ms: number): Promise<DeviceObject | undefined> {
  const want = address.toUpperCase();
  let found: DeviceObject | undefined;
  let wake = (): void => undefined;
  const appeared = new Promise<void>((resolve) => (wake = resolve));
  const aborted = abortPromise(ctx.signal);
  try {
    return await discovering(
      ctx,
      (path, props) => {
        if (str(props, "Address")?.toUpperCase() !== want) return;
        found = { path, props };
        wake();
      },
      async () => {
        // it may have been added between the caller's GetManagedObjects and our subscription
        found ??= findDevice(await ctx.tree(), ctx.adapter, address);
        if (found) return found;
        try {
          await bounded(appeared, ms, "scan", aborted.promise);
        } catch (e) {
          if (ctx.signal?.aborted || !(e instanceof TransportError && e.kind === "timeout")) throw e;
        }
        return found;
      },
    );
  } finally {
    aborted.dispose();
  }
}

/** scan(): Daly-looking devices seen during a `ms` discovery window (name DL-/JHB-, fff0/ff00). */
export async function withDiscovery(ctx: DiscoveryContext, ms: number): Promise<Advert[]> {
  const seen = new Map<string, Advert>();
  const add = (props: Props): void => {
    const a = isDaly(props) ? advertOf(props) : undefined;
    if (!a) return;
    const prev = seen.get(a.address);
    const name = a.name ?? prev?.name;
    const rssi = a.rssi ?? prev?.rssi;
    seen.set(a.address, { ...a, ...(name ? { name } : {}), ...(rssi !== undefined ? { rssi } : {}) });
  };
  return discovering(
    ctx,
    (_path, props) => add(props),
    async () => {
      // the scan window is what scan() is asked for; an abort ends it early with what was seen
      await sleep(ms, undefined, ctx.signal ? { signal: ctx.signal } : {}).catch(() => undefined);
      for (const [path, ifaces] of await ctx.tree()) {
        const p = ifaces.get(DEVICE1);
        // BlueZ keeps cached devices: only those heard now (RSSI) or connected are in range
        if (p && deviceOn(path, ctx.adapter) && (num(p, "RSSI") !== undefined || bool(p, "Connected") === true)) add(p);
      }
      return [...seen.values()];
    },
  );
}
