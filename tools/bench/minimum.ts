/**
 * The simulated physical minimum of a poll, derived from the virtual controller's timing model
 * (src/sim/hci/link.ts, initiator.ts, advertiser.ts) — nothing here is measured. Pure functions;
 * the derivation is explained at the top of tools/bench/main.ts.
 *
 * Time unit: one connection interval CI. A link's events run at fixed times (setInterval(CI) from
 * LE Connection Complete). At each event the controller (1) snapshots the PDUs the peripheral had
 * queued before it, (2) hands the host's buffered ACL packets to the peripheral, (3) delivers the
 * snapshot. So a host packet written just after an event reaches the peripheral one CI later, and
 * whatever the peripheral queues in (2) or later leaves at a later event.
 */
import { A5_FRAME_LEN } from "../../src/daly/constants.js";
import { emptyFields } from "../../src/daly/fields.js";
import { type DeviceProfile, pollPlan } from "../../src/daly/plan.js";

export interface TimingModel {
  connectionIntervalMs: number;
  replyDelayMs: number;
  advertisingIntervalMs: number;
  /** Notification PDUs the controller delivers per connection event; link.ts has no cap (Infinity). */
  pdusPerEvent: number;
}

/** ATT_MTU noble 1.9.2-26 asks for in Exchange MTU (gatt.js `_desired_mtu`). */
export const NOBLE_CLIENT_MTU = 256;

/** Effective ATT_MTU: the server answers its Rx MTU, the link uses max(23, min(client, server)). */
export function effectiveMtu(serverMtu: number, clientMtu = NOBLE_CLIENT_MTU): number {
  return Math.max(23, Math.min(clientMtu, serverMtu));
}

/** Handle Value Notification PDUs for one notified value: ceil(len / (ATT_MTU − 3)), at least 1. */
export function notificationPdus(valueBytes: number, attMtu: number): number {
  return Math.max(1, Math.ceil(valueBytes / (attMtu - 3)));
}

/**
 * Connection events from the one that hands a request to the BMS to the one that delivers its reply.
 * The reply is queued replyDelayMs after event e; it leaves at the first event strictly after that:
 * e + (floor(replyDelay / CI) + 1)·CI. With no delay the reply is queued in step (2), after the
 * snapshot, so it still waits one event. A delay that is an exact multiple of CI ties with an event;
 * the model counts the tie as missed (the strict, larger value).
 */
export function replyEvents(t: TimingModel): number {
  return Math.floor(t.replyDelayMs / t.connectionIntervalMs) + 1;
}

/** Extra events for a reply of `pdus` notification PDUs when the controller caps PDUs per event. */
export function extraEvents(t: TimingModel, pdus: number): number {
  if (!Number.isFinite(t.pdusPerEvent)) return 0;
  return Math.max(0, Math.ceil(pdus / t.pdusPerEvent) - 1);
}

/**
 * One request/response exchange written just after an event: 1 CI until the next event hands it to
 * the BMS, replyEvents CIs until the reply event, plus extra events for PDUs beyond the per-event cap.
 */
export function exchangeMs(t: TimingModel, pdus: number): number {
  return (1 + replyEvents(t) + extraEvents(t, pdus)) * t.connectionIntervalMs;
}

/** A poll: its exchanges back to back, each started just after the previous reply's event. */
export function pollMinimumMs(t: TimingModel, pdusPerExchange: readonly number[]): number {
  return pdusPerExchange.reduce((sum, pdus) => sum + exchangeMs(t, pdus), 0);
}

export interface CycleMinimum {
  /** The scanner reports a BMS at setTimeout(0) after scan enable (advertiser.ts): 0 in this model. */
  scanMs: number;
  /** The initiator completes at its first setInterval(advertisingIntervalMs) tick (initiator.ts). */
  connectMs: number;
  /** ATT transactions (MTU, discovery, CCCD) × 2 CI: request at the next event, response one event later. */
  gattMs: number;
  pollMs: number;
  /** HCI Disconnect → Disconnection Complete at the link's next event: 1 CI. */
  closeMs: number;
  totalMs: number;
}

/** open (scan + connect + GATT setup) → poll → close, every step started just after an event. */
export function cycleMinimum(t: TimingModel, attTransactions: number, pdusPerExchange: readonly number[]): CycleMinimum {
  const ci = t.connectionIntervalMs;
  const scanMs = 0;
  const connectMs = t.advertisingIntervalMs;
  const gattMs = 2 * ci * attTransactions;
  const pollMs = pollMinimumMs(t, pdusPerExchange);
  const closeMs = ci;
  return { scanMs, connectMs, gattMs, pollMs, closeMs, totalMs: scanMs + connectMs + gattMs + pollMs + closeMs };
}

/**
 * ATT transactions noble 1.9.2-26 runs from LE Connection Complete to a subscribed RX characteristic
 * on the simulated GATT table (gatt-db.ts: GAP service 1–3, vendor service 4–9), all serialised by
 * gatt.js's command queue: Exchange MTU (bindings.js onLeConnComplete); Read By Group Type from 1
 * (both services) and from 10 (Attribute Not Found ends the loop); Read By Type 0x2803 once per
 * service; Read By Type 0x2902 + Write Request to the CCCD (gatt.js notify). The bench cross-checks
 * this against the controller's ATT opcode counter.
 */
export const NOBLE_SETUP_TRANSACTIONS = 1 + 2 + 2 + 2;

/** What the simulated BMS sends per poll step: frame sizes of each reply, from the real poll plan. */
export function replyFrames(profile: DeviceProfile, cells: number, temps: number): number[][] {
  const f = emptyFields();
  f.scalars.cell_count = cells;
  f.scalars.temp_sensor_count = temps;
  const out: number[][] = [];
  for (const step of pollPlan(profile)) {
    const e = step.expect(f);
    if (e === "skip") continue;
    if (e.family === "a5") out.push(Array.from({ length: e.frames }, () => A5_FRAME_LEN));
    else out.push([5 + 2 * e.count]); // address, 03, byte count, 2·count data bytes, CRC16
  }
  return out;
}

/** Notification PDUs per exchange: every frame is a separate notify() and is chunked on its own. */
export function pdusPerExchange(frames: readonly (readonly number[])[], attMtu: number): number[] {
  return frames.map((step) => step.reduce((n, len) => n + notificationPdus(len, attMtu), 0));
}

/**
 * ATT transactions of GATT service discovery the bench's fake ESPHome proxy models for the ESP32
 * (test/helpers/fake-proxy.ts, GAP service 1–3, vendor service 0x10–0x14): Read By Group Type ×2
 * (both services, then Attribute Not Found), Read By Type 0x2803 once per service ×2, Find
 * Information for the notify characteristic's CCCD ×1. A model choice (ESP-IDF's exact sequence is
 * not observed here), written down so the minimum and the fake use the same number.
 */
export const PROXY_DISCOVERY_TRANSACTIONS = 2 + 2 + 1;

export interface ProxyCycleMinimum {
  /** Advertising interval (the proxy's initiator catches the next advert) + Exchange MTU (2 CI). */
  connectMs: number;
  /** GetServices: PROXY_DISCOVERY_TRANSACTIONS × 2 CI. */
  servicesMs: number;
  /** NotifyRequest (local to the ESP32: 0) + CCCD Write Request (2 CI). */
  notifyMs: number;
  pollMs: number;
  /** Disconnect: Disconnection Complete at the next event, 1 CI. */
  closeMs: number;
  totalMs: number;
}

/**
 * open → poll → close through an ESPHome proxy, each step started just after an event (the client's
 * reaction over loopback TCP is far shorter than a CI). The proxy already heard the BMS (its adverts
 * are cached by the transport), so no scan term; TCP/API time counts as zero.
 */
export function proxyCycleMinimum(t: TimingModel, discoveryTransactions: number, pdusPerExchange: readonly number[]): ProxyCycleMinimum {
  const ci = t.connectionIntervalMs;
  const connectMs = t.advertisingIntervalMs + 2 * ci;
  const servicesMs = 2 * ci * discoveryTransactions;
  const notifyMs = 2 * ci;
  const pollMs = pollMinimumMs(t, pdusPerExchange);
  const closeMs = ci;
  return { connectMs, servicesMs, notifyMs, pollMs, closeMs, totalMs: connectMs + servicesMs + notifyMs + pollMs + closeMs };
}
