/**
 * Runtime state of one simulated peripheral around its spec: live fault/timing lookup, advertising
 * payloads, the notify function handed to the responder, counters and a seeded PRNG.
 */
import { adStructure, addressToBytes, normalizeAddress } from "./h4.js";
import type { PeripheralLink } from "./peripheral-link.js";
import type { GattLayout, PeripheralCounters, SimFaults, SimPeripheralSpec, SimTiming } from "./types.js";

export const DEFAULT_TIMING: Required<SimTiming> = {
  connectionIntervalMs: 30,
  replyDelayMs: 0,
  advertisingIntervalMs: 100,
};

const AD_FLAGS = 0x01;
const AD_UUID16_COMPLETE = 0x03;
const AD_NAME_COMPLETE = 0x09;
const AD_MANUFACTURER = 0xff;

export class PeripheralSim {
  readonly address: string;
  readonly counters: PeripheralCounters = {
    advertisingReports: 0,
    connections: 0,
    writes: 0,
    writesDelivered: 0,
    notificationsSent: 0,
    notificationsDropped: 0,
    notificationsSuppressed: 0,
    notificationsNoLink: 0,
    attOpcodes: [],
    mtu: 23,
  };
  /** The live link, if connected. */
  link: PeripheralLink | undefined;
  private prng: number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly spec: SimPeripheralSpec,
    private readonly timingDefaults: SimTiming,
    seed: number,
  ) {
    this.address = normalizeAddress(spec.address);
    this.prng = seed >>> 0;
  }

  get layout(): GattLayout {
    return this.spec.gattLayout ?? "fff0";
  }

  get addressType(): "public" | "random" {
    return this.spec.addressType ?? "public";
  }

  get rssi(): number {
    return this.spec.rssi ?? -60;
  }

  faults(): SimFaults {
    return this.spec.faults ?? {};
  }

  timing(): Required<SimTiming> {
    return { ...DEFAULT_TIMING, ...stripUndefined(this.timingDefaults), ...stripUndefined(this.spec.timing ?? {}) };
  }

  /** Deterministic uniform [0,1) (mulberry32), used for probabilistic notification drops. */
  random(): number {
    this.prng = (this.prng + 0x6d2b79f5) >>> 0;
    let t = this.prng;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** ADV_IND payload: flags, the vendor service UUID (unless disabled), manufacturer data. */
  advertisingData(): Buffer {
    const parts = [adStructure(AD_FLAGS, Uint8Array.of(0x06))];
    if (this.spec.advertiseServiceUuid !== false) {
      const uuid = this.layout === "ff00" ? 0xff00 : 0xfff0;
      parts.push(adStructure(AD_UUID16_COMPLETE, Uint8Array.of(uuid & 0xff, uuid >> 8)));
    }
    const mfr = this.spec.manufacturerData ?? Buffer.concat([Buffer.from([0x02, 0x01]), addressToBytes(this.address).reverse()]);
    parts.push(adStructure(AD_MANUFACTURER, mfr));
    return Buffer.concat(parts);
  }

  /** SCAN_RSP payload: the complete local name (e.g. "DL-C0D63C572A01"). */
  scanResponseData(): Buffer {
    return adStructure(AD_NAME_COMPLETE, Buffer.from(this.spec.name, "utf8"));
  }

  /**
   * The notify function given to the responder. A reply goes to whatever link the peripheral has
   * when it is queued — after a reconnect a late reply lands on the new link, as with a real BLE
   * module that forwards its UART to the current central.
   */
  readonly notify = (bytes: Uint8Array): void => {
    const copy = Uint8Array.from(bytes);
    const delay = this.timing().replyDelayMs;
    if (delay <= 0) {
      this.queueNotification(copy);
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.queueNotification(copy);
    }, delay);
    t.unref();
    this.timers.add(t);
  };

  private queueNotification(bytes: Uint8Array): void {
    if (!this.link) {
      this.counters.notificationsNoLink++;
      return;
    }
    this.link.enqueueNotification(bytes);
  }

  /** Clears pending reply timers (controller stop). */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

function stripUndefined(t: SimTiming): SimTiming {
  const out: SimTiming = {};
  if (t.connectionIntervalMs !== undefined) out.connectionIntervalMs = t.connectionIntervalMs;
  if (t.replyDelayMs !== undefined) out.replyDelayMs = t.replyDelayMs;
  if (t.advertisingIntervalMs !== undefined) out.advertisingIntervalMs = t.advertisingIntervalMs;
  return out;
}
