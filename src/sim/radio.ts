/**
 * The simulated radio: every scenario BMS becomes a virtual BLE peripheral on a virtual HCI
 * controller, answering through the Daly responder. Only the radio is replaced: the bridge talks
 * to it through noble's real HCI/GAP/ATT code and our real NobleTransport.
 */
import { NobleTransport, type NobleTransportOptions } from "../transport/noble/noble-transport.js";
import { batteryAt } from "./battery.js";
import { createVirtualHci, type SimPeripheralSpec, type VirtualController } from "./hci/index.js";
import { createResponder } from "./responder.js";
import type { Scenario, ScenarioBms } from "./scenario.js";

export interface SimRadio {
  transport: NobleTransport;
  controller: VirtualController;
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

export function createSimRadio(scenario: Scenario, timing: SimTransportTiming, now: () => number = Date.now): SimRadio {
  const writes = new Map<string, number>();
  const specs = scenario.bms.map((b) => bmsToPeripheral(b, now, writes));
  const { socketFactory, controller } = createVirtualHci(specs);
  const transport = new NobleTransport({ ...timing, socketFactory, kind: "simulator" });
  return {
    transport,
    controller,
    specs,
    writes,
    async stop() {
      await transport.shutdown();
      controller.stop();
    },
  };
}
