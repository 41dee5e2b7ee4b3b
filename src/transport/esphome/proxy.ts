/**
 * One configured proxy: a native API session kept up with backoff, its advertisement subscription
 * (which claims the proxy's single API-client slot, esphome-proxy.md §0), the Daly devices it
 * hears, and its free connection slots (81). A dropped TCP session drops every BLE link on it.
 */
import { TransportError } from "../errors.js";
import { ApiConnection, endpointLabel, type ProxyEndpoint } from "./connection.js";
import type { ApiMessage } from "./frame.js";
import { decodeConnectionsFree, decodeRawAdvertisements, encodeSubscribeAdvertisements, FEATURE, MSG, numberToMac, SUBSCRIBE_RAW } from "./messages.js";
import { looksDaly, parseAdData } from "./adverts.js";

export type ProxyState = "connecting" | "ready" | "silent" | "down" | "stopped";

export interface Heard {
  address: string;
  name?: string;
  rssi: number;
  addressType: number;
  serviceUuids: string[];
  /** performance.now() of the last advertisement. */
  at: number;
}

export interface ProxyOptions {
  /** TCP connect + handshake + Hello + DeviceInfo (default 10 s). */
  setupTimeoutMs?: number;
  /** No advertisement for this long after subscribing: the subscription was refused or stolen (default 30 s). */
  silenceMs?: number;
  /** Firmware with the scanner-state feature (flag 64) answers a subscription with 126 at once; none within this time = refused (default 5 s). */
  scannerStateMs?: number;
  /** Keepalive: a PingRequest this often; no answer within the same time ends the session (default 20 s; a half-open TCP link is noticed). */
  pingMs?: number;
  /** Reconnect backoff bounds (default 1 s … 30 s). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  onState?: (proxy: string, state: ProxyState, why: string) => void;
}

export class ProxySession {
  readonly label: string;
  state: ProxyState = "connecting";
  lastError: Error | undefined;
  conn: ApiConnection | undefined;
  free = 0;
  limit = 0;
  /** Counts 81 messages: a local booking is undone only if none came since. */
  freeSeq = 0;
  /** No connect before this performance.now() (after no-slot / connection-cancel answers). */
  holdUntil = 0;
  readonly heard = new Map<string, Heard>();
  private stopped = false;
  private readonly waiters = new Set<() => void>();
  private silenceTimer: NodeJS.Timeout | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wakeSleep: () => void = () => undefined;
  private attempts = 0;
  private readonly loop: Promise<void>;
  private readonly abort = new AbortController();

  constructor(readonly endpoint: ProxyEndpoint, private readonly o: ProxyOptions = {}) {
    this.label = endpointLabel(endpoint);
    this.loop = this.run();
  }

  /** Has the first connection attempt finished (success or failure)? */
  get settled(): boolean {
    return this.attempts > 0 || this.state === "ready" || this.state === "silent";
  }

  private setState(s: ProxyState, why: string): void {
    if (this.state === s) return;
    this.state = s;
    this.o.onState?.(this.label, s, why);
    this.notify();
  }

  /** Wakes everyone waiting for a change (state, slots, advertisements). */
  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves at the next change of this session, or after ms. */
  changed(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  private async run(): Promise<void> {
    let backoff = this.o.backoffMinMs ?? 1000;
    while (!this.stopped) {
      this.setState("connecting", "opening the API session");
      try {
        const conn = await ApiConnection.open(this.endpoint, this.o.setupTimeoutMs ?? 10_000, this.abort.signal);
        if (this.stopped) {
          await conn.close();
          break;
        }
        this.conn = conn;
        this.lastError = undefined;
        backoff = this.o.backoffMinMs ?? 1000;
        const lost = new Promise<Error>((resolve) => conn.onClose(resolve));
        conn.onMessage((m) => this.onMessage(m));
        conn.send(MSG.SubscribeBluetoothLEAdvertisementsRequest, encodeSubscribeAdvertisements(SUBSCRIBE_RAW));
        conn.send(MSG.SubscribeBluetoothConnectionsFreeRequest, new Uint8Array(0));
        this.attempts += 1;
        this.setState("ready", `session up (${conn.info?.name ?? "?"}, ESPHome ${conn.info?.esphomeVersion ?? "?"}, API ${conn.info?.apiMajor}.${conn.info?.apiMinor})`);
        this.armSilence();
        if (((conn.info?.flags ?? 0) & FEATURE.STATE_AND_MODE) !== 0) this.expectScannerState(conn);
        const keepalive = this.keepalive(conn);
        const why = await lost;
        clearInterval(keepalive);
        clearTimeout(this.silenceTimer);
        this.conn = undefined;
        this.heard.clear();
        this.free = 0;
        this.lastError = why;
        if (this.stopped) break;
        this.setState("down", why.message);
      } catch (e) {
        this.lastError = e instanceof Error ? e : new Error(String(e));
        this.attempts += 1;
        if (this.stopped) break;
        this.setState("down", this.lastError.message);
        this.notify();
      }
      await new Promise<void>((resolve) => {
        this.wakeSleep = resolve;
        this.sleepTimer = setTimeout(resolve, backoff);
      });
      backoff = Math.min(backoff * 2, this.o.backoffMaxMs ?? 30_000);
    }
  }

  /** bleak-esphome's check (esphome-proxy.md §3): a subscription that is not answered with 126 was not granted. */
  private expectScannerState(conn: ApiConnection): void {
    const ms = this.o.scannerStateMs ?? 5_000;
    conn.next(MSG.BluetoothScannerStateResponse, () => true, ms, "BluetoothScannerStateResponse").then(
      () => undefined,
      () => {
        if (conn.isOpen && this.conn === conn) this.setState("silent", `the proxy did not confirm the advertisement subscription within ${Math.round(ms / 1000)} s: it is probably adopted by Home Assistant (it serves one API client); disable its ESPHome entry in HA or use a dedicated proxy`);
      },
    );
  }

  private keepalive(conn: ApiConnection): NodeJS.Timeout {
    const every = this.o.pingMs ?? 20_000;
    let waiting = false;
    return setInterval(() => {
      if (waiting || !conn.isOpen) return;
      waiting = true;
      const pong = conn.next(MSG.PingResponse, () => true, every, "PingResponse");
      try {
        conn.send(MSG.PingRequest, new Uint8Array(0));
      } catch {
        // closed meanwhile
      }
      pong.then(
        () => (waiting = false),
        () => {
          if (conn.isOpen) conn.fail(`no answer to a ping within ${Math.round(every / 1000)} s (Wi-Fi lost or the proxy hangs)`);
        },
      );
    }, every);
  }

  /** No advertisement for silenceMs: say so once, resubscribe, and keep watching. */
  private armSilence(): void {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      if (!this.conn?.isOpen) return;
      this.setState(
        "silent",
        `no advertisements for ${Math.round((this.o.silenceMs ?? 30_000) / 1000)} s after subscribing: the proxy is probably adopted by Home Assistant (it serves one API client); disable its ESPHome entry in HA or use a dedicated proxy`,
      );
      try {
        this.conn.send(MSG.SubscribeBluetoothLEAdvertisementsRequest, encodeSubscribeAdvertisements(SUBSCRIBE_RAW));
      } catch {
        // closed meanwhile: the loop reconnects
      }
      this.armSilence();
    }, this.o.silenceMs ?? 30_000);
  }

  private onMessage(m: ApiMessage): void {
    if (m.type === MSG.BluetoothLERawAdvertisementsResponse) {
      const list = decodeRawAdvertisements(m.payload);
      if (!list) return;
      this.armSilence();
      if (this.state === "silent") this.setState("ready", "advertisements arrive again");
      for (const a of list) {
        const p = parseAdData(a.data);
        const address = numberToMac(a.address);
        const before = this.heard.get(address);
        // scan responses and adverts arrive separately on some firmware: keep the name once seen
        const name = p.name ?? before?.name;
        const uuids = p.serviceUuids.length ? p.serviceUuids : (before?.serviceUuids ?? []);
        if (!looksDaly({ serviceUuids: uuids, ...(name ? { name } : {}) })) continue;
        this.heard.set(address, { address, rssi: a.rssi, addressType: a.addressType, serviceUuids: uuids, at: performance.now(), ...(name ? { name } : {}) });
      }
      this.notify();
    } else if (m.type === MSG.BluetoothConnectionsFreeResponse) {
      const f = decodeConnectionsFree(m.payload);
      if (!f) return;
      this.free = f.free;
      this.limit = f.limit;
      this.freeSeq += 1;
      this.notify();
    }
  }

  /** The live session, or a TransportError saying why there is none. */
  session(): ApiConnection {
    if (this.conn?.isOpen) return this.conn;
    throw new TransportError(`ESPHome proxy ${this.label} is not connected${this.lastError ? `: ${this.lastError.message}` : ""}`, "adapter");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.silenceTimer);
    clearTimeout(this.sleepTimer);
    this.wakeSleep();
    await this.conn?.close();
    await this.loop;
    this.setState("stopped", "shutdown");
  }
}
