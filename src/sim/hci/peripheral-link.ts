/**
 * What a simulated peripheral and the controller's address lookups see of the peripheral's live
 * link. SimLink (link.ts) implements it; peripheral.ts depends on this, not on link.ts, so the
 * two files do not import each other (link.ts reads the peripheral's spec, faults and counters).
 */
export interface PeripheralLink {
  /** ACL handle of the connection. */
  readonly handle: number;
  /** Queues a notification for the next connection event. */
  enqueueNotification(value: Uint8Array): void;
  /** Ends the link from the peripheral's side (0x13) or as a supervision timeout (0x08). */
  terminate(reason: number): void;
}
