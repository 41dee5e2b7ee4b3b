/**
 * The simulated radio: every scenario BMS becomes a virtual BLE peripheral on a virtual HCI
 * controller, answering through the Daly responder. Only the radio is replaced: the bridge talks
 * to it through noble's real HCI/GAP/ATT code and our real NobleTransport.
 *
 * Several adapters: a BMS with `adapter: "hci1"` in the scenario is in range of virtual controller
 * hci1 only; each controller has its own noble instance, as real adapters do (transport/per-adapter.ts).
 * Controller hciN has its own address (simAdapterAddress), so BMS may name their adapter by address.
 */
import type { BleTransport } from "../transport/link.js";
import { NobleTransport, type NobleTransportOptions } from "../transport/noble/noble-transport.js";
import { hciIndex, PerAdapterTransport } from "../transport/per-adapter.js";
import type { HciDevices } from "../transport/noble/adapter-address.js";
import { AdapterByAddress } from "../transport/noble/by-address.js";
import { batteryAt } from "./battery.js";
import { createVirtualHci, type SimPeripheralSpec, type VirtualController } from "./hci/index.js";
import { createResponder } from "./responder.js";
import type { Scenario, ScenarioBms } from "./scenario.js";

export interface SimRadio {
  /** The default adapter's (hci0) transport. */
  transport: NobleTransport;
  /** What the bridge uses: `transport`, or one per adapter when the scenario names several. */
  bridgeTransport: BleTransport;
  /** The default adapter's (hci0) controller. */
  controller: VirtualController;
  /** Every virtual controller by adapter name (hci0 first). */
  controllers: Map<string, VirtualController>;
  specs: SimPeripheralSpec[];
  /** Replies written per BMS address (for tests and the soak's truth checks). */
  writes: Map<string, number>;
  stop(): Promise<void>;
}

export type SimTransportTiming = Omit<NobleTransportOptions, "socketFactory" | "kind">;

export function bmsToPeripheral(b: ScenarioBms, now: () => number, writes: Map<string, number>): SimPeripheralSpec {
  const respond = createResponder(() => batteryAt(b, now()), {
    protocol: b.protocol,
    ...(b.a5_hosts ? { a5Hosts: b.a5_hosts } : {}),
    ...(b.a5_all_frames ? { a5AllFrames: true } : {}),
  });
  const spec: SimPeripheralSpec = {
    address: b.address,
    name: `DL-${b.address.replaceAll(":", "")}`,
    onWrite(data, notify) {
      writes.set(b.address, (writes.get(b.address) ?? 0) + 1);
      for (const reply of respond(data)) notify(reply);
    },
    faults: { ...(b.faults ?? {}), ...(b.out_of_range ? { outOfRange: true } : {}) },
    timing: { connectionIntervalMs: 15, advertisingIntervalMs: 20, ...(b.timing ?? {}) },
  };
  if (b.mtu !== undefined) spec.mtu = b.mtu;
  if (b.gatt_layout) spec.gattLayout = b.gatt_layout;
  return spec;
}

export const SIM_DEFAULT_ADAPTER = "hci0";

/**
 * The Bluetooth address of virtual controller hciN: 00:11:22:33:44:55 + N (hci1 is
 * 00:11:22:33:44:56), so a config can name a simulated adapter by its address too.
 */
export function simAdapterAddress(adapter: string): string {
  const n = 0x4455 + (hciIndex(adapter) ?? 0);
  return `00:11:22:33:${((n >> 8) & 0xff).toString(16).padStart(2, "0")}:${(n & 0xff).toString(16).padStart(2, "0")}`.toUpperCase();
}

export function createSimRadio(scenario: Scenario, timing: SimTransportTiming, now: () => number = Date.now): SimRadio {
  const writes = new Map<string, number>();
  const specs = scenario.bms.map((b) => bmsToPeripheral(b, now, writes));
  const adapterOf = (i: number): string => scenario.bms[i]?.adapter ?? SIM_DEFAULT_ADAPTER;
  const names = [SIM_DEFAULT_ADAPTER, ...new Set(scenario.bms.map((_, i) => adapterOf(i)).filter((a) => a !== SIM_DEFAULT_ADAPTER))];
  const hcis = new Map(names.map((a) => [a, createVirtualHci(specs.filter((_, i) => adapterOf(i) === a), { address: simAdapterAddress(a) })]));
  const controllers = new Map([...hcis].map(([a, h]) => [a, h.controller]));
  const transports = new Map<string, NobleTransport>();
  // the simulator's adapters as the kernel would list them: for adapters named by address
  const devices: HciDevices = {
    list: () => [...hcis.keys()].flatMap((a) => {
      const devId = hciIndex(a);
      return devId === undefined ? [] : [{ devId, devUp: hcis.get(a)?.controller.isPowered ?? false }];
    }),
    socket: (devId) => {
      const h = hcis.get(`hci${devId}`);
      if (!h) throw new Error(`no virtual controller hci${devId}`);
      return h.socketFactory();
    },
  };
  const byAddress = new Map<string, AdapterByAddress>();
  const adapterTransport = (a: string): BleTransport => {
    if (hciIndex(a) !== undefined) return transportOf(a);
    let t = byAddress.get(a);
    if (!t) byAddress.set(a, (t = new AdapterByAddress("simulator", a, devices, (i) => transportOf(`hci${i}`), { lookupTimeoutMs: 1000 })));
    return t;
  };
  const transportOf = (a: string): NobleTransport => {
    let t = transports.get(a);
    if (!t) {
      // an adapter the scenario does not name: a controller with nothing in range
      let h = hcis.get(a);
      if (!h) {
        hcis.set(a, (h = createVirtualHci([], { address: simAdapterAddress(a) })));
        controllers.set(a, h.controller);
      }
      transports.set(a, (t = new NobleTransport({ ...timing, socketFactory: h.socketFactory, kind: "simulator" })));
    }
    return t;
  };
  const transport = transportOf(SIM_DEFAULT_ADAPTER);
  // always routed: a BMS configured on an adapter whose controller does not have it in range is not found
  const bridgeTransport = new PerAdapterTransport("simulator", SIM_DEFAULT_ADAPTER, adapterTransport);
  const controller = controllers.get(SIM_DEFAULT_ADAPTER);
  if (!controller) throw new Error("no default controller"); // made above
  return {
    transport,
    bridgeTransport,
    controller,
    controllers,
    specs,
    writes,
    async stop() {
      await Promise.all([...transports.values()].map((t) => t.shutdown()));
      for (const c of controllers.values()) c.stop();
    },
  };
}
