/**
 * Test rig for the virtual HCI controller: real noble (via loadNoble) on a virtual socket, plus
 * small promise helpers. Every wait is bounded and event-driven; "does not happen" checks use a
 * bounded wait that must run out (the only way to observe an absence).
 */
import { loadNoble, shutdown, type LoadNobleOptions } from "../../src/transport/noble/noble-loader.js";
import type { AdapterState, CharacteristicLike, NobleLike, PeripheralLike } from "../../src/transport/noble/noble-types.js";
import {
  createVirtualHci,
  type ControllerEvents,
  type SimPeripheralSpec,
  type VirtualController,
  type VirtualHciOptions,
} from "../../src/sim/hci/index.js";

export const ADDR = "C0:D6:3C:57:2A:01";
export const NAME = "DL-C0D63C572A01";
/** Daly A5 request for command 0x90 (13 bytes, daly-protocol.md). */
export const REQ_90 = Buffer.from("a58090080000000000000000bd", "hex");

/** Fast timing so the suite runs quickly; tests that look at timing set their own. */
export const FAST = { connectionIntervalMs: 2, advertisingIntervalMs: 10 } as const;

export function spec(overrides: Partial<SimPeripheralSpec> = {}): SimPeripheralSpec {
  return {
    address: ADDR,
    name: NAME,
    timing: { ...FAST },
    onWrite: (data, notify) => notify(data), // echo
    ...overrides,
  };
}

/** Rejects when `p` has not settled within `ms`; the timer is always cleared. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** true if `p` settles within `ms`, false if the bounded wait runs out. */
export async function settles(ms: number, p: Promise<unknown>): Promise<boolean> {
  return within(ms, "settle", p.then(
    () => true,
    () => true,
  )).catch(() => false);
}

export function controllerEvent<K extends keyof ControllerEvents>(
  c: VirtualController,
  event: K,
  ms: number,
): Promise<ControllerEvents[K]> {
  return within(
    ms,
    `controller ${event}`,
    new Promise<ControllerEvents[K]>((resolve) => {
      const listener = (...args: ControllerEvents[K]): void => resolve(args);
      c.once(event, listener as never);
    }),
  );
}

export function waitState(noble: NobleLike, wanted: AdapterState, ms = 2000): Promise<void> {
  return within(
    ms,
    `stateChange ${wanted}`,
    new Promise<void>((resolve) => {
      const on = (s: AdapterState): void => {
        if (s !== wanted) return;
        noble.removeListener("stateChange", on);
        resolve();
      };
      noble.on("stateChange", on);
    }),
  );
}

export interface Rig {
  noble: NobleLike;
  controller: VirtualController;
  close(): Promise<void>;
}

export async function startRig(
  specs: SimPeripheralSpec[],
  opts: VirtualHciOptions = {},
  load: Omit<LoadNobleOptions, "socketFactory"> = {},
): Promise<Rig> {
  const { socketFactory, controller } = createVirtualHci(specs, opts);
  const noble = loadNoble({ ...load, socketFactory });
  const rig: Rig = {
    noble,
    controller,
    close: async () => {
      await shutdown(noble);
      controller.stop();
    },
  };
  try {
    await waitState(noble, "poweredOn");
  } catch (error) {
    await rig.close();
    throw error;
  }
  return rig;
}

/** Registers `discover` before scanning (ble-noble.md §2.2 pitfall) and stops the scan when found. */
export function findPeripheral(noble: NobleLike, name: string, ms = 2000, uuids: string[] = []): Promise<PeripheralLike> {
  const found = new Promise<PeripheralLike>((resolve) => {
    const on = (p: PeripheralLike): void => {
      if (p.advertisement.localName !== name) return;
      noble.removeListener("discover", on);
      noble.stopScanning();
      resolve(p);
    };
    noble.on("discover", on);
    noble.startScanning(uuids, false);
  });
  return within(ms, `discover ${name}`, found);
}

export function connect(p: PeripheralLike, ms = 2000): Promise<void> {
  return within(
    ms,
    "connect",
    new Promise<void>((resolve, reject) => p.connect((e) => (e ? reject(e) : resolve()))),
  );
}

export function disconnect(p: PeripheralLike, ms = 2000): Promise<number> {
  return within(
    ms,
    "disconnect",
    new Promise<number>((resolve) => {
      p.once("disconnect", resolve);
      p.disconnect();
    }),
  );
}

export function nextDisconnect(p: PeripheralLike, ms = 2000): Promise<number> {
  return within(ms, "disconnect event", new Promise<number>((resolve) => p.once("disconnect", resolve)));
}

export interface DalyChars {
  rx: CharacteristicLike;
  tx: CharacteristicLike;
}

export function discover(p: PeripheralLike, uuids = ["fff0", "fff1", "fff2"], ms = 2000): Promise<DalyChars> {
  const [svc = "", rxU = "", txU = ""] = uuids;
  return within(
    ms,
    "discover services",
    new Promise<DalyChars>((resolve, reject) => {
      p.discoverSomeServicesAndCharacteristics([svc], [rxU, txU], (error, _s, chars) => {
        const rx = chars?.find((c) => c.uuid === rxU);
        const tx = chars?.find((c) => c.uuid === txU);
        if (error !== null || !rx || !tx) reject(new Error(`discovery failed: ${String(error)}`));
        else resolve({ rx, tx });
      });
    }),
  );
}

export function subscribe(c: CharacteristicLike, ms = 2000): Promise<void> {
  return within(ms, "subscribe", new Promise<void>((resolve, reject) => c.subscribe((e) => (e ? reject(e) : resolve()))));
}

export function write(c: CharacteristicLike, data: Uint8Array, withoutResponse: boolean, ms = 2000): Promise<void> {
  return within(
    ms,
    withoutResponse ? "write command" : "write request",
    new Promise<void>((resolve, reject) => c.write(data, withoutResponse, (e) => (e ? reject(e) : resolve()))),
  );
}

/** Collects 'data' events of a characteristic; waits for a byte count. */
export class DataCollector {
  readonly chunks: Buffer[] = [];
  readonly flags: boolean[] = [];
  private waiter: (() => void) | undefined;

  constructor(private readonly c: CharacteristicLike) {
    c.on("data", this.onData);
  }

  private readonly onData = (data: Buffer, isNotification: boolean): void => {
    this.chunks.push(data);
    this.flags.push(isNotification);
    this.waiter?.();
  };

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  waitBytes(n: number, ms = 2000): Promise<Buffer> {
    return within(
      ms,
      `${n} notified bytes (have ${this.bytes.length})`,
      new Promise<Buffer>((resolve) => {
        const check = (): void => {
          if (this.bytes.length < n) return;
          this.waiter = undefined;
          resolve(this.bytes);
        };
        this.waiter = check;
        check();
      }),
    );
  }

  stop(): void {
    this.c.removeListener("data", this.onData);
  }
}

/** Connects, discovers, subscribes: the bridge's path up to the first request. */
export async function session(rig: Rig, uuids?: string[]): Promise<{ p: PeripheralLike; rx: CharacteristicLike; tx: CharacteristicLike; data: DataCollector }> {
  const p = await findPeripheral(rig.noble, NAME);
  await connect(p);
  const { rx, tx } = await discover(p, uuids);
  const data = new DataCollector(rx);
  await subscribe(rx);
  return { p, rx, tx, data };
}
