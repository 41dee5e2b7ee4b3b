/**
 * A fake ESPHome Bluetooth proxy on loopback: the native API server side (plaintext or Noise)
 * serving the simulator's BMS (src/sim responder + battery, so values come from the scenario) over
 * the proxy's GATT messages, with the faults the field reports (esphome-proxy.md §3).
 * Server behaviour follows the firmware facts in esphome-proxy.md: one advertisement subscriber,
 * connect answered connected=false at once when no slot is free or has_address_type is missing,
 * notifications only after the client wrote the CCCD, 81 pushed on every slot change.
 */
import { createServer, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { AddressInfo } from "node:net";
import { batteryAt } from "../../src/sim/battery.js";
import { createResponder } from "../../src/sim/responder.js";
import type { ScenarioBms } from "../../src/sim/scenario.js";
import { buildAdData } from "../../src/transport/esphome/adverts.js";
import { decodeNoisePlain, encodeNoiseFrame, encodeNoisePlain, encodePlainFrame, NoiseFrameDecoder, PlainDecoder, type ApiMessage } from "../../src/transport/esphome/frame.js";
import { CipherState, NoiseHandshake } from "../../src/transport/esphome/noise.js";
import {
  decodeDeviceRequest, decodeGattData, decodeGattNotify, decodeGattWrite, decodeHelloRequest, decodeRef, encodeConnectionResponse, encodeConnectionsFree,
  encodeDeviceInfoResponse, encodeGattData, encodeGattError, encodeHelloResponse, encodeRawAdvertisements, encodeRef, encodeServicesResponse, macToNumber, MSG, uuid128,
  type GattService,
} from "../../src/transport/esphome/messages.js";

export interface FakeProxyOptions {
  bms: ScenarioBms[];
  name?: string;
  /** base64 PSK: the proxy speaks Noise. */
  key?: string;
  slots?: number;
  /** Bluetooth proxy feature flags (default active connections + remote caching + raw ads). */
  flags?: number;
  apiMinor?: number;
  /** Notification size (default 20: MTU 23 − 3). */
  chunk?: number;
  rssi?: number | ((address: string) => number);
  faults?: {
    /** Never forward advertisements (another client holds the subscription). */
    stolen?: boolean;
    /** Interleave messages with ids this client does not know. */
    unknownIds?: boolean;
    /** Answer every GATT write with an 82 (error 133). */
    gattError?: boolean;
    /** Drop the TCP session at the next write to a BMS. */
    dropOnWrite?: boolean;
    /** Answer connects with connected=false error 0x100. */
    connCancel?: boolean;
  };
  /** Report this many free slots in 81 whatever the truth (a stale count: slot race). */
  reportFree?: number;
  /** Advertising period (default 40 ms). */
  advertMs?: number;
  /** Air-time model of the proxy's BLE links (default none: every answer at once). Used by the bench. */
  timing?: ProxyTiming;
}

/**
 * The BLE side of the proxy as the bench models it (tools/bench/minimum.ts computes the minimum from
 * the same rules). Each link has connection events every connectionIntervalMs from its LE Connection
 * Complete; "the next event" is the first one strictly after now.
 * - connect: advertisingIntervalMs until the initiator catches an advertisement (= Connection
 *   Complete), then Exchange MTU (the ESP32 sends it on open): 1 ATT transaction;
 * - GetServices: discoveryTransactions ATT transactions; NotifyRequest: local (no air time);
 *   CCCD write: 1 ATT transaction. One ATT transaction: request at the next event, response one
 *   event later (2 events when started just after an event);
 * - a GATT write (Write Command) reaches the BMS at the next event; the BMS queues its reply
 *   replyDelayMs later; every notification of the reply leaves at the next event after that;
 * - disconnect: Disconnection Complete at the next event.
 */
export interface ProxyTiming {
  connectionIntervalMs: number;
  replyDelayMs: number;
  advertisingIntervalMs: number;
  discoveryTransactions: number;
}

const NOTIFY = 0x11;
const CCCD = 0x12;
const WRITE = 0x14;

export class FakeProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  readonly allocated = new Set<number>();
  readonly cccd = new Set<number>();
  stats = { sessions: 0, disconnectAcks: 0, connects: 0, disconnects: 0, writes: 0, pingsAnswered: 0, helloMinor: -1, maxAllocated: 0, addressTypes: [] as number[], missingAddressType: 0 };
  private subscriber: Socket | undefined;
  private readonly responders = new Map<number, (w: Uint8Array) => Uint8Array[]>();
  private advertTimer: NodeJS.Timeout | undefined;
  private readonly sends = new Map<Socket, (type: number, payload: Uint8Array) => void>();
  /** LE Connection Complete time (performance.now()) per linked address: the event grid's anchor. */
  private readonly anchors = new Map<number, number>();

  constructor(readonly o: FakeProxyOptions) {
    for (const b of o.bms) {
      this.responders.set(macToNumber(b.address), createResponder(() => batteryAt(b, Date.now()), { protocol: b.protocol, ...(b.a5_hosts ? { a5Hosts: b.a5_hosts } : {}) }));
    }
  }

  get slots(): number {
    return this.o.slots ?? 3;
  }

  async start(port = 0): Promise<number> {
    this.server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve) => this.server?.listen(port, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    this.advertTimer = setInterval(() => this.advertise(), this.o.advertMs ?? 40);
    return this.port;
  }

  /** Drops every TCP session (a proxy reboot / Wi-Fi loss). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    clearInterval(this.advertTimer);
    this.dropAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The device asks the client to disconnect (reboot, or another client takes over). */
  askDisconnect(): void {
    for (const send of this.sends.values()) send(MSG.DisconnectRequest, new Uint8Array(0));
  }

  /** Ask the client for a ping (the device does so after 60 s idle). */
  ping(): void {
    for (const send of this.sends.values()) send(MSG.PingRequest, new Uint8Array(0));
  }

  private advertise(): void {
    const sub = this.subscriber;
    if (!sub || this.o.faults?.stolen || this.frozen.has(sub)) return;
    const send = this.sends.get(sub);
    if (!send) return;
    const ads = this.o.bms.filter((b) => !b.out_of_range).map((b) => ({
      address: macToNumber(b.address),
      rssi: typeof this.o.rssi === "function" ? this.o.rssi(b.address) : (this.o.rssi ?? -60),
      addressType: 0,
      data: buildAdData(b.name ?? `DL-${b.address.replaceAll(":", "")}`, [0xfff0]),
    }));
    if (this.o.faults?.unknownIds) send(137, Uint8Array.of(0x08, 0x01));
    send(MSG.BluetoothLERawAdvertisementsResponse, encodeRawAdvertisements(ads));
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    this.stats.sessions += 1;
    s.setNoDelay(true);
    s.on("error", () => undefined);
    s.on("close", () => {
      this.sockets.delete(s);
      this.sends.delete(s);
      if (this.subscriber === s) {
        this.subscriber = undefined;
        // no API subscriber left: the firmware drops every BLE link
        this.allocated.clear();
        this.cccd.clear();
      }
    });
    if (this.o.key) this.noise(s, Buffer.from(this.o.key, "base64"));
    else this.plain(s);
  }

  private plain(s: Socket): void {
    const dec = new PlainDecoder();
    const send = (type: number, payload: Uint8Array): void => void s.write(encodePlainFrame(type, payload));
    this.sends.set(s, send);
    s.on("data", (chunk: Buffer) => {
      if (!this.started.has(s) && chunk[0] === 0x01) {
        // a Noise client at a plaintext device: "\x00Bad indicator byte" (firmware plaintext helper)
        s.end(Buffer.from("\x00Bad indicator byte", "binary"));
        return;
      }
      this.started.add(s);
      for (const it of dec.push(chunk)) if (it.ok) this.handle(s, it, send);
    });
  }
  private readonly started = new WeakSet<Socket>();

  private noise(s: Socket, psk: Buffer): void {
    const dec = new NoiseFrameDecoder();
    const hs = new NoiseHandshake("responder", psk);
    let stage: "hello" | "handshake" | "data" = "hello";
    let keys: { send: CipherState; receive: CipherState } | undefined;
    const send = (type: number, payload: Uint8Array): void => {
      if (keys) s.write(encodeNoiseFrame(keys.send.encrypt(new Uint8Array(0), encodeNoisePlain(type, payload))));
    };
    s.on("data", (chunk: Buffer) => {
      for (const it of dec.push(chunk)) {
        if (!it.ok) {
          // a plaintext client at an encrypted device: answered with a 0x01 frame, then closed
          s.end(encodeNoiseFrame(Buffer.from("\x01Bad indicator byte", "binary")));
          return;
        }
        if (stage === "hello") {
          s.write(encodeNoiseFrame(Buffer.concat([Buffer.of(0x01), Buffer.from(this.o.name ?? "fake-proxy"), Buffer.of(0), Buffer.from("AA:BB:CC:DD:EE:FF"), Buffer.of(0)])));
          stage = "handshake";
        } else if (stage === "handshake") {
          try {
            hs.readMessage1(it.body.subarray(1));
          } catch {
            s.end(encodeNoiseFrame(Buffer.from("\x01Handshake MAC failure", "binary")));
            return;
          }
          s.write(encodeNoiseFrame(Buffer.concat([Buffer.of(0x00), hs.writeMessage2()])));
          keys = hs.split();
          this.sends.set(s, send);
          stage = "data";
        } else if (keys) {
          const m = decodeNoisePlain(keys.receive.decrypt(new Uint8Array(0), it.body));
          if (m) this.handle(s, m, send);
        }
      }
    });
  }

  private free(): number {
    return this.slots - this.allocated.size;
  }

  private pushFree(): void {
    const sub = this.subscriber && this.sends.get(this.subscriber);
    sub?.(MSG.BluetoothConnectionsFreeResponse, encodeConnectionsFree({ free: this.o.reportFree ?? this.free(), limit: this.slots, allocated: [...this.allocated] }));
  }

  private services(minor: number): GattService[] {
    const u = (x: number) => (minor >= 12 ? { uuid: [], shortUuid: x } : { uuid: uuid128(x), shortUuid: 0 });
    return [
      { ...u(0x1800), handle: 1, characteristics: [{ ...u(0x2a00), handle: 3, properties: 2, descriptors: [] }] },
      {
        ...u(0xfff0),
        handle: 0x10,
        characteristics: [
          { ...u(0xfff1), handle: NOTIFY, properties: 0x10, descriptors: [{ ...u(0x2902), handle: CCCD }] },
          { ...u(0xfff2), handle: WRITE, properties: 0x04 | 0x08, descriptors: [] },
        ],
      },
    ];
  }

  private readonly frozen = new WeakSet<Socket>();

  /** The link's first connection event strictly after `t` (t itself when unmodelled or unlinked). */
  private nextEvent(address: number, t: number): number {
    const a = this.anchors.get(address);
    const ci = this.o.timing?.connectionIntervalMs;
    if (a === undefined || ci === undefined) return t;
    // t is often an event itself (a + k·ci in floating point): the epsilon keeps it from rounding to k − 1
    return a + (Math.floor((t - a) / ci + 1e-9) + 1) * ci;
  }

  /** When `n` ATT transactions started at `from` complete (each: request at the next event, response one CI later). */
  private attDone(address: number, n: number, from = performance.now()): number {
    const ci = this.o.timing?.connectionIntervalMs ?? 0;
    let t = from;
    for (let i = 0; i < n; i++) t = this.nextEvent(address, t) + ci;
    return t;
  }

  /**
   * Runs `fn` at time `when` (performance.now() scale), never before it; at once when no timing
   * model is set. A Node timer can fire up to ~1 ms early against performance.now() (it counts from
   * the event loop's cached clock), which would let the next write catch the event it is due at.
   */
  private at(when: number, fn: () => void): void {
    const d = when - performance.now();
    if (!this.o.timing || d <= 0) fn();
    else setTimeout(() => this.at(when, fn), Math.max(1, Math.ceil(d)));
  }

  /** Freezes every current session (no FIN, no data either way). */
  freezeAll(): void {
    for (const s of this.sockets) this.frozen.add(s);
    this.subscriber = undefined;
  }

  private handle(s: Socket, m: ApiMessage, send: (type: number, payload: Uint8Array) => void): void {
    const f = this.o.faults ?? {};
    if (this.frozen.has(s)) return;
    if (f.unknownIds) send(999, Uint8Array.of(0x0a, 0x02, 0x68, 0x69));
    switch (m.type) {
      case MSG.HelloRequest: {
        this.stats.helloMinor = decodeHelloRequest(m.payload)?.minor ?? -1;
        return send(MSG.HelloResponse, encodeHelloResponse({ major: 1, minor: this.o.apiMinor ?? 12, serverInfo: "fake 2026.11.0", name: this.o.name ?? "fake-proxy" }));
      }
      case MSG.AuthenticationRequest:
        return send(MSG.AuthenticationResponse, new Uint8Array(0));
      case MSG.DeviceInfoRequest:
        return send(MSG.DeviceInfoResponse, encodeDeviceInfoResponse({ name: this.o.name ?? "fake-proxy", macAddress: "AA:BB:CC:DD:EE:FF", esphomeVersion: "2026.11.0", legacyProxyVersion: 5, proxyFlags: this.o.flags ?? 2 | 4 | 32, bluetoothMac: "AA:BB:CC:DD:EE:FE" }));
      case MSG.PingResponse:
        this.stats.pingsAnswered += 1;
        return;
      case MSG.DisconnectResponse:
        this.stats.disconnectAcks += 1;
        s.end();
        return;
      case MSG.DisconnectRequest:
        send(MSG.DisconnectResponse, new Uint8Array(0));
        s.end();
        return;
      case MSG.SubscribeBluetoothLEAdvertisementsRequest:
        if (f.stolen) return;
        this.subscriber ??= s;
        // firmware with flag 64 answers a granted subscription with the scanner state (running, active)
        if ((this.o.flags ?? 0) & 64) send(MSG.BluetoothScannerStateResponse, Uint8Array.of(0x08, 0x02, 0x10, 0x01, 0x18, 0x01));
        return;
      case MSG.SubscribeBluetoothConnectionsFreeRequest:
        return send(MSG.BluetoothConnectionsFreeResponse, encodeConnectionsFree({ free: this.o.reportFree ?? this.free(), limit: this.slots, allocated: [...this.allocated] }));
      case MSG.BluetoothDeviceRequest: {
        const r = decodeDeviceRequest(m.payload);
        if (!r) return;
        if (r.requestType === 1) {
          this.stats.disconnects += 1;
          this.at(this.nextEvent(r.address, performance.now()), () => {
            this.anchors.delete(r.address);
            this.allocated.delete(r.address);
            this.cccd.delete(r.address);
            send(MSG.BluetoothDeviceConnectionResponse, encodeConnectionResponse({ address: r.address, connected: false, mtu: 0, error: 0 }));
            this.pushFree();
          });
          return;
        }
        this.stats.connects += 1;
        this.stats.addressTypes.push(r.addressType);
        if (!r.hasAddressType) {
          this.stats.missingAddressType += 1;
          return send(MSG.BluetoothDeviceConnectionResponse, encodeConnectionResponse({ address: r.address, connected: false, mtu: 0, error: 0 }));
        }
        if (f.connCancel) return send(MSG.BluetoothDeviceConnectionResponse, encodeConnectionResponse({ address: r.address, connected: false, mtu: 0, error: 0x100 }));
        if (this.free() <= 0 || !this.responders.has(r.address)) {
          return send(MSG.BluetoothDeviceConnectionResponse, encodeConnectionResponse({ address: r.address, connected: false, mtu: 0, error: this.responders.has(r.address) ? 0 : 0x3e }));
        }
        this.allocated.add(r.address);
        this.stats.maxAllocated = Math.max(this.stats.maxAllocated, this.allocated.size);
        this.pushFree();
        const connected = (): void => send(MSG.BluetoothDeviceConnectionResponse, encodeConnectionResponse({ address: r.address, connected: true, mtu: (this.o.chunk ?? 20) + 3, error: 0 }));
        if (!this.o.timing) {
          setImmediate(connected);
          return;
        }
        const complete = performance.now() + this.o.timing.advertisingIntervalMs;
        this.anchors.set(r.address, complete);
        this.at(this.attDone(r.address, 1, complete), connected); // Exchange MTU
        return;
      }
      case MSG.BluetoothGATTGetServicesRequest: {
        const a = decodeRef(m.payload)?.address ?? 0;
        this.at(this.attDone(a, this.o.timing?.discoveryTransactions ?? 0), () => {
          for (const svc of this.services(this.stats.helloMinor)) send(MSG.BluetoothGATTGetServicesResponse, encodeServicesResponse(a, [svc]));
          send(MSG.BluetoothGATTGetServicesDoneResponse, encodeRef({ address: a }));
        });
        return;
      }
      case MSG.BluetoothGATTNotifyRequest: {
        const r = decodeGattNotify(m.payload);
        if (r) send(MSG.BluetoothGATTNotifyResponse, encodeRef(r));
        return;
      }
      case MSG.BluetoothGATTWriteDescriptorRequest: {
        const r = decodeGattData(m.payload);
        if (!r) return;
        this.at(this.attDone(r.address, 1), () => {
          if (r.handle === CCCD && r.data[0] === 1) this.cccd.add(r.address);
          send(MSG.BluetoothGATTWriteResponse, encodeRef(r));
        });
        return;
      }
      case MSG.BluetoothGATTWriteRequest: {
        const r = decodeGattWrite(m.payload);
        if (!r) return;
        this.stats.writes += 1;
        if (f.dropOnWrite) {
          s.destroy();
          return;
        }
        if (f.gattError) return send(MSG.BluetoothGATTErrorResponse, encodeGattError({ address: r.address, handle: r.handle, error: 133 }));
        if (!this.allocated.has(r.address) || r.handle !== WRITE) return send(MSG.BluetoothGATTErrorResponse, encodeGattError({ address: r.address, handle: r.handle, error: -1 }));
        if (!this.cccd.has(r.address)) return; // V3 without CCCD: written to, then silent (ble-scale-sync#252)
        const size = this.o.chunk ?? 20;
        const deliver = (replies: Uint8Array[]): void => {
          for (const reply of replies) {
            for (let i = 0; i < reply.length; i += size) {
              if (f.unknownIds) send(201, Uint8Array.of(0x10, 0x05));
              send(MSG.BluetoothGATTNotifyDataResponse, encodeGattData({ address: r.address, handle: NOTIFY, data: reply.subarray(i, i + size) }));
            }
          }
        };
        const respond = (): Uint8Array[] => this.responders.get(r.address)?.(r.data) ?? [];
        if (!this.o.timing) {
          const replies = respond();
          setImmediate(() => deliver(replies));
          return;
        }
        const reach = this.nextEvent(r.address, performance.now());
        const delay = this.o.timing.replyDelayMs;
        this.at(reach, () => {
          const replies = respond();
          this.at(this.nextEvent(r.address, reach + delay), () => deliver(replies));
        });
        return;
      }
      default:
        return; // unknown to the fake: ignored as the firmware does
    }
  }
}
