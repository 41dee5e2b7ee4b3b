/**
 * Virtual Bluetooth LE controller for noble 1.9.2-26 (ble-noble.md §7.1): `loadNoble({ socketFactory })`
 * with the factory from here runs noble's real HCI/GAP/GATT code against simulated Daly modules.
 *
 *   const { socketFactory, controller } = createVirtualHci([spec]);
 *   const noble = loadNoble({ socketFactory });
 *   …
 *   await shutdown(noble); controller.stop();
 */
import { VirtualController } from "./controller.js";
import { VirtualHciSocket } from "./socket.js";
import type { SimPeripheralSpec, VirtualHciOptions } from "./types.js";

export { VirtualController, type ControllerEvents } from "./controller.js";
export { VirtualHciSocket } from "./socket.js";
export { HCI_STATUS } from "./h4.js";
export { ATT, ATT_ERR } from "./att-pdu.js";
export type * from "./types.js";

export interface VirtualHci {
  /** Each call makes a new socket on the same controller (one per noble instance). */
  socketFactory: () => VirtualHciSocket;
  controller: VirtualController;
}

export function createVirtualHci(peripherals: SimPeripheralSpec[], opts: VirtualHciOptions = {}): VirtualHci {
  const controller = new VirtualController(peripherals, opts);
  return { controller, socketFactory: () => new VirtualHciSocket(controller) };
}
