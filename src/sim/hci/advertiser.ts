/**
 * Scanning side of the controller: while the host has LE scanning enabled, every reachable and
 * unconnected peripheral produces an ADV_IND report every advertisingIntervalMs, followed by a
 * SCAN_RSP with the local name when the scan is active.
 *
 * noble's gap.js emits `discover` for a connectable device only after its scan response
 * (ble-noble.md §2.2), so both reports matter. With filter-duplicates on (noble's default for
 * allowDuplicates=false) each address/report type is reported once per scan session, like a real
 * controller: a BMS that reappears during the same session is not reported again.
 */
import { ADV_IND, leAdvertisingReport, SCAN_RSP } from "./h4.js";
import type { PeripheralSim } from "./peripheral.js";

export interface ScannerHost {
  peripherals(): Iterable<PeripheralSim>;
  toHost(packet: Buffer): void;
  reported(peripheral: PeripheralSim, type: number): void;
}

export class Scanner {
  private enabled = false;
  private filterDuplicates = false;
  /** LE Set Scan Parameters: active scanning (scan requests → scan responses). */
  active = true;
  private readonly seen = new Set<string>();
  private readonly timers = new Map<PeripheralSim, NodeJS.Timeout>();

  constructor(private readonly host: ScannerHost) {}

  get scanning(): boolean {
    return this.enabled;
  }

  setEnabled(enable: boolean, filterDuplicates: boolean): void {
    this.filterDuplicates = filterDuplicates;
    if (enable === this.enabled) return;
    this.enabled = enable;
    if (!enable) {
      this.clearTimers();
      return;
    }
    this.seen.clear(); // the duplicate filter is reset by every enable
    for (const p of this.host.peripherals()) this.track(p);
  }

  /** Starts advertising timers for a peripheral added while scanning. */
  track(p: PeripheralSim): void {
    if (!this.enabled || this.timers.has(p)) return;
    const loop = (): void => {
      this.fire(p);
      const t = setTimeout(loop, Math.max(1, p.timing().advertisingIntervalMs));
      t.unref();
      this.timers.set(p, t);
    };
    // the first advert is caught right away; later ones follow the (live) advertising interval
    const first = setTimeout(loop, 0);
    first.unref();
    this.timers.set(p, first);
  }

  untrack(p: PeripheralSim): void {
    const t = this.timers.get(p);
    if (t) clearTimeout(t);
    this.timers.delete(p);
  }

  stop(): void {
    this.enabled = false;
    this.clearTimers();
  }

  private clearTimers(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private fire(p: PeripheralSim): void {
    if (!this.enabled || p.faults().outOfRange || p.link) return; // Daly modules stop advertising while connected
    this.report(p, ADV_IND, p.advertisingData());
    if (this.active) this.report(p, SCAN_RSP, p.scanResponseData());
  }

  private report(p: PeripheralSim, type: number, data: Buffer): void {
    const key = `${p.address}/${type}`;
    if (this.filterDuplicates && this.seen.has(key)) return;
    this.seen.add(key);
    p.counters.advertisingReports++;
    this.host.toHost(leAdvertisingReport(type, p.addressType, p.address, data, p.rssi));
    this.host.reported(p, type);
  }
}
