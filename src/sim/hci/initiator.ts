/**
 * The controller's LE initiator: one LE Create Connection at a time (a second one gets Command
 * Disallowed, as on hardware), completed when the target next advertises, cancelled by LE Create
 * Connection Cancel.
 *
 * There is no timeout here on purpose: a controller keeps initiating until the host cancels
 * (BlueZ's 20 s limit lives in the kernel, ble-noble.md §4.3). A target that is out of range or
 * has `connectHang` therefore keeps the attempt pending, which is exactly H2. The target is
 * re-checked every advertising interval, so a fault cleared while pending lets the attempt
 * complete later (what makes H2b's orphan link reproducible).
 */
import * as h4 from "./h4.js";
import { HCI_STATUS, OP } from "./h4.js";
import type { PeripheralSim } from "./peripheral.js";

export interface InitiatorHost {
  find(address: string): PeripheralSim | undefined;
  /** advertising interval used when the target is unknown */
  defaultAdvertisingIntervalMs(): number;
  toHost(packet: Buffer): void;
  /** creates the link and sends LE Connection Complete (status 0) */
  establish(sim: PeripheralSim, latency: number, supervisionTimeout: number): void;
  pending(address: string): void;
}

interface Pending {
  address: string;
  latency: number;
  supervisionTimeout: number;
  timer: NodeJS.Timeout;
}

export class Initiator {
  private current: Pending | undefined;

  constructor(private readonly host: InitiatorHost) {}

  get pendingAddress(): string | undefined {
    return this.current?.address;
  }

  /** LE Create Connection; `p` are the 25 parameter bytes noble's createLeConn writes. */
  create(p: Buffer): void {
    if (this.current) {
      this.host.toHost(h4.commandStatus(OP.LE_CREATE_CONN, HCI_STATUS.COMMAND_DISALLOWED));
      return;
    }
    const address = h4.bytesToAddress(p.subarray(6, 12));
    if (this.host.find(address)?.faults().connectedElsewhere) {
      this.host.toHost(h4.commandStatus(OP.LE_CREATE_CONN, HCI_STATUS.CONNECTION_ALREADY_EXISTS));
      return;
    }
    const period = this.host.find(address)?.timing().advertisingIntervalMs ?? this.host.defaultAdvertisingIntervalMs();
    const timer = setInterval(() => {
      const sim = this.host.find(address);
      if (sim && reachable(sim)) this.complete(sim);
    }, Math.max(1, period));
    timer.unref();
    this.current = { address, latency: p.readUInt16LE(17), supervisionTimeout: p.readUInt16LE(19), timer };
    this.host.toHost(h4.commandStatus(OP.LE_CREATE_CONN, 0));
    this.host.pending(address);
  }

  /** LE Create Connection Cancel: Command Complete, then LE Connection Complete 0x02. */
  cancel(): void {
    const pending = this.current;
    if (!pending) {
      this.host.toHost(h4.commandComplete(OP.LE_CREATE_CONN_CANCEL, Buffer.from([HCI_STATUS.COMMAND_DISALLOWED])));
      return;
    }
    this.reset();
    this.host.toHost(h4.commandComplete(OP.LE_CREATE_CONN_CANCEL, Buffer.from([0])));
    this.host.toHost(
      h4.leConnectionComplete({
        status: HCI_STATUS.UNKNOWN_CONN_ID,
        handle: 0,
        peerAddressType: this.host.find(pending.address)?.addressType ?? "public",
        address: pending.address,
        interval: 0,
        latency: 0,
        supervisionTimeout: 0,
      }),
    );
  }

  /** Forgets a pending attempt without any event (HCI Reset, power off, stop). */
  reset(): void {
    if (this.current) clearInterval(this.current.timer);
    this.current = undefined;
  }

  private complete(sim: PeripheralSim): void {
    const pending = this.current;
    if (!pending) return;
    this.reset();
    this.host.establish(sim, pending.latency, pending.supervisionTimeout);
  }
}

function reachable(sim: PeripheralSim): boolean {
  const f = sim.faults();
  return !f.outOfRange && !f.connectHang && !sim.link; // a connected Daly module does not advertise
}
