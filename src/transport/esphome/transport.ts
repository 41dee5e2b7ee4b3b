/**
 * BleTransport through ESPHome Bluetooth proxies (native API). Each BMS goes to the proxy that heard
 * it best recently and has a free slot (or to the proxy it is pinned to); a proxy that drops loses
 * its links and its heard list, so the next open fails over to another one. One connect in flight
 * per address; polls wait (bounded) while no slot is free; no-slot and connection-cancel answers
 * hold that proxy back for a few seconds (bleak-retry-connector uses 4 s for both).
 */
import type { Advert, BleLink, BleTransport, LinkTarget } from "../link.js";
import { notFound, TransportError } from "../errors.js";
import type { ProxyEndpoint } from "./connection.js";
import { ProxySession, type Heard, type ProxyOptions, type ProxyState } from "./proxy.js";
import { connectDevice, discover, EsphomeLink, enableNotify, findDalyHandles } from "./gatt.js";
import { DEVICE_REQUEST, encodeDeviceRequest, macToNumber, MSG } from "./messages.js";

export interface EsphomeTransportOptions extends ProxyOptions {
  proxies: readonly ProxyEndpoint[];
  /** BMS address → proxy name or host it must use. */
  pins?: ReadonlyMap<string, string>;
  /** Waiting for an advertisement of a BMS not heard yet (default 15 s). */
  scanTimeoutMs?: number;
  /** Waiting for a free slot plus connect, MTU and discovery (default 20 s). */
  connectTimeoutMs?: number;
  /** Each GATT step (default 5 s). */
  gattTimeoutMs?: number;
  /** Hold a proxy back after a no-slot or connection-cancel answer (default 4 s). */
  slotBackoffMs?: number;
  /** An advertisement older than this does not count for routing (default 120 s). */
  heardFreshMs?: number;
}

export interface ProxyStatus {
  proxy: string;
  state: ProxyState;
  free: number;
  limit: number;
  heard: number;
  lastError?: string;
}

export class EsphomeTransport implements BleTransport {
  readonly kind = "esphome";
  private readonly sessions: ProxySession[];
  private readonly links = new Set<EsphomeLink>();
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private readonly t: { scan: number; connect: number; gatt: number; slotBackoff: number; fresh: number };

  constructor(private readonly o: EsphomeTransportOptions) {
    if (o.proxies.length === 0) throw new TransportError("transport esphome needs at least one entry in esphome.proxies", "adapter");
    this.t = { scan: o.scanTimeoutMs ?? 15_000, connect: o.connectTimeoutMs ?? 20_000, gatt: o.gattTimeoutMs ?? 5_000, slotBackoff: o.slotBackoffMs ?? 4_000, fresh: o.heardFreshMs ?? 120_000 };
    this.sessions = o.proxies.map((p) => new ProxySession(p, o));
  }

  status(): ProxyStatus[] {
    return this.sessions.map((s) => ({ proxy: s.label, state: s.state, free: s.free, limit: s.limit, heard: s.heard.size, ...(s.lastError ? { lastError: s.lastError.message } : {}) }));
  }

  private up(s: ProxySession): boolean {
    return s.state === "ready" || s.state === "silent";
  }

  /** Resolves when anything changes on any session, or after ms. */
  private changed(ms: number, signal?: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    return Promise.race(this.sessions.map((s) => s.changed(ms, ac.signal))).finally(() => {
      ac.abort();
      signal?.removeEventListener("abort", onAbort);
    });
  }

  /** Waits until a proxy is up or every proxy has finished its first attempt; throws when none is up. */
  private async anyUp(deadline: number, signal?: AbortSignal): Promise<void> {
    while (!this.sessions.some((s) => this.up(s)) && !this.sessions.every((s) => s.settled) && performance.now() < deadline && !signal?.aborted) {
      await this.changed(deadline - performance.now(), signal);
    }
    if (this.sessions.some((s) => this.up(s))) return;
    const why = this.sessions.map((s) => (s.lastError ? s.lastError.message : `ESPHome proxy ${s.label}: not connected yet`));
    throw new TransportError(why.join("; "), "adapter");
  }

  async scan(seconds: number, signal?: AbortSignal): Promise<Advert[]> {
    const start = performance.now();
    const end = start + seconds * 1000;
    await this.anyUp(end + (this.o.setupTimeoutMs ?? 10_000), signal);
    while (performance.now() < end && !signal?.aborted) await this.changed(end - performance.now(), signal);
    const best = new Map<string, { h: Heard; s: ProxySession }>();
    for (const s of this.sessions) {
      for (const h of s.heard.values()) {
        if (h.at < start) continue;
        const b = best.get(h.address);
        if (!b || h.rssi > b.h.rssi) best.set(h.address, { h, s });
      }
    }
    return [...best.values()].map(({ h, s }) => ({ address: h.address, rssi: h.rssi, serviceUuids: h.serviceUuids, via: s.label, ...(h.name ? { name: h.name } : {}) }));
  }

  private candidates(address: string): Array<{ s: ProxySession; h: Heard }> {
    const pin = this.o.pins?.get(address);
    const now = performance.now();
    return this.sessions
      .filter((s) => !pin || s.endpoint.name === pin || s.endpoint.host === pin)
      .filter((s) => this.up(s))
      .flatMap((s) => {
        const h = s.heard.get(address);
        return h && now - h.at <= this.t.fresh ? [{ s, h }] : [];
      })
      .sort((a, b) => Number(b.s.free > 0 && b.s.holdUntil <= now) - Number(a.s.free > 0 && a.s.holdUntil <= now) || b.h.rssi - a.h.rssi);
  }

  open(target: LinkTarget, signal?: AbortSignal): Promise<BleLink> {
    // one connect in flight per address: a second open waits for the first to settle
    const before = this.inFlight.get(target.address) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.openNow(target.address, signal));
    const settled = run.catch(() => undefined);
    this.inFlight.set(target.address, settled);
    void settled.then(() => {
      if (this.inFlight.get(target.address) === settled) this.inFlight.delete(target.address);
    });
    return run;
  }

  private async openNow(address: string, signal?: AbortSignal): Promise<BleLink> {
    if (signal?.aborted) throw new TransportError("aborted", "timeout");
    const t0 = performance.now();
    await this.anyUp(t0 + (this.o.setupTimeoutMs ?? 10_000), signal);
    // heard by someone recently?
    const scanEnd = performance.now() + this.t.scan;
    while (this.candidates(address).length === 0) {
      if (performance.now() >= scanEnd || signal?.aborted) {
        const pin = this.o.pins?.get(address);
        const pinned = pin ? this.sessions.filter((s) => s.endpoint.name === pin || s.endpoint.host === pin) : [];
        if (pin && pinned.length === 0) throw new TransportError(`bms ${address}: no proxy named "${pin}" in esphome.proxies`, "adapter");
        const down = pinned.find((s) => !this.up(s));
        if (down && !pinned.some((s) => this.up(s))) down.session(); // throws: the pinned proxy is not connected, and why
        throw notFound(address, this.t.scan / 1000);
      }
      await this.changed(scanEnd - performance.now(), signal);
    }
    // a proxy with a free slot (queued, bounded, while none is free)
    const slotEnd = performance.now() + this.t.connect;
    let lastNoSlot: TransportError | undefined;
    for (;;) {
      const now = performance.now();
      const c = this.candidates(address).find((x) => x.s.free > 0 && x.s.holdUntil <= now);
      if (c) {
        const r = await this.connectVia(c.s, c.h, signal);
        if (r instanceof EsphomeLink) return r;
        lastNoSlot = r;
      }
      if (performance.now() >= slotEnd || signal?.aborted) {
        const now2 = performance.now();
        const all = this.candidates(address).map((x) => `${x.s.label} ${x.s.free}/${x.s.limit} free${x.s.holdUntil > now2 ? ", resting after a refused connect" : ""}`);
        throw lastNoSlot ?? new TransportError(`${address}: no free connection slot on any proxy that hears it (${all.join(", ") || "none"}); waited ${Math.round(this.t.connect / 1000)} s. Release links elsewhere (keepConnected), raise bluetooth_proxy connection_slots, or add a proxy near this BMS`, "adapter");
      }
      const holds = this.candidates(address).map((x) => x.s.holdUntil - now).filter((d) => d > 0);
      await this.changed(Math.min(slotEnd - now, ...(holds.length ? holds : [slotEnd - now])), signal);
    }
  }

  /** One attempt on one proxy: a link, or a TransportError for a slot problem (the caller retries). */
  private async connectVia(s: ProxySession, h: Heard, signal?: AbortSignal): Promise<EsphomeLink | TransportError> {
    const conn = s.session();
    const num = macToNumber(h.address);
    // booked until the proxy's next 81 says otherwise (no double booking by a concurrent open)
    const before = { free: s.free, seq: s.freeSeq };
    s.free = Math.max(0, s.free - 1);
    const unbook = (): void => {
      if (s.freeSeq === before.seq) s.free = before.free;
    };
    let r: Awaited<ReturnType<typeof connectDevice>>;
    try {
      r = await connectDevice(conn, num, h.addressType, h.address, s.label, { connectMs: this.t.connect, gattMs: this.t.gatt });
    } catch (e) {
      unbook();
      throw e;
    }
    if (typeof r !== "number") {
      unbook();
      if (r.kind === "other") throw r.error;
      s.holdUntil = performance.now() + this.t.slotBackoff;
      return r.error;
    }
    let ok = false;
    try {
      if (signal?.aborted) throw new TransportError("aborted", "timeout");
      const services = await discover(conn, num, this.t.gatt, h.address);
      const handles = findDalyHandles(services);
      if (!handles) throw new TransportError(`no Daly GATT service (fff0/fff1/fff2 or ff00/ff01/ff02) on ${h.address}`, "gatt-missing");
      await enableNotify(conn, num, handles, this.t.gatt, h.address);
      const link: EsphomeLink = new EsphomeLink(h.address, num, h.addressType, conn, handles, r, this.t.gatt, () => this.links.delete(link));
      this.links.add(link);
      ok = true;
      return link;
    } finally {
      if (!ok && conn.isOpen) {
        // release the ESP-side link so its slot comes back
        conn.send(MSG.BluetoothDeviceRequest, encodeDeviceRequest({ address: num, requestType: DEVICE_REQUEST.DISCONNECT, addressType: h.addressType }));
      }
    }
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.links].map((l) => l.close()));
    await Promise.all(this.sessions.map((s) => s.stop()));
  }
}
