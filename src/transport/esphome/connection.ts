/**
 * One native API session with a proxy over TCP: optional Noise handshake, Hello (we declare API
 * 1.12), the deprecated AuthenticationRequest for devices older than 1.12, DeviceInfo and the
 * Bluetooth feature check. Pings are answered, a DisconnectRequest from the device is acknowledged
 * and ends the session, unknown message ids are ignored. Every step is bounded; failures are
 * TransportErrors with a one-line cause (esphome-proxy.md §1).
 */
import { connect, type Socket } from "node:net";
import { TransportError } from "../errors.js";
import { encodeNoiseFrame, encodeNoisePlain, encodePlainFrame, decodeNoisePlain, NoiseFrameDecoder, PlainDecoder, type ApiMessage } from "./frame.js";
import { CipherState, NoiseDecryptError, NoiseHandshake } from "./noise.js";
import { API_VERSION, decodeAuthenticationResponse, decodeDeviceInfoResponse, decodeHelloResponse, encodeHelloRequest, FEATURE, MSG, type DeviceInfo } from "./messages.js";

export interface ProxyEndpoint {
  host: string;
  port: number;
  /** Base64 of the 32-byte API encryption key; "" = plaintext. */
  encryptionKey: string;
  /** Expected device name (optional). */
  name?: string;
}

export interface SessionInfo extends DeviceInfo {
  apiMajor: number;
  apiMinor: number;
  /** Bluetooth proxy feature flags (derived from the legacy version for API < 1.9). */
  flags: number;
}

/** Where the endpoint is, for messages: "name (host:port)" or "host:port". */
export const endpointLabel = (ep: ProxyEndpoint): string => (ep.name ? `${ep.name} (${ep.host}:${ep.port})` : `${ep.host}:${ep.port}`);

const adapter = (ep: ProxyEndpoint, why: string): TransportError => new TransportError(`ESPHome proxy ${endpointLabel(ep)}: ${why}`, "adapter");

/** `bluetooth_proxy_feature_flags_compat` (aioesphomeapi model.py) for API < 1.9. */
function legacyFlags(version: number): number {
  let f = 0;
  if (version >= 1) f |= FEATURE.PASSIVE_SCAN;
  if (version >= 2) f |= FEATURE.ACTIVE_CONNECTIONS;
  if (version >= 3) f |= FEATURE.REMOTE_CACHING;
  if (version >= 4) f |= 8 | 16; // pairing, cache clearing
  if (version >= 5) f |= FEATURE.RAW_ADVERTISEMENTS;
  return f;
}

export function decodeKey(key: string): Uint8Array | undefined {
  if (key === "") return undefined;
  const b = Buffer.from(key, "base64");
  return b.length === 32 && b.toString("base64") === key.replace(/\s/g, "") ? b : undefined;
}

interface Waiter {
  pick: (m: ApiMessage) => boolean;
  resolve: (m: ApiMessage) => void;
  reject: (e: Error) => void;
}

export class ApiConnection {
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Set<(m: ApiMessage) => void>();
  private readonly closeListeners = new Set<(e: Error) => void>();
  private closedWith: Error | undefined;
  private send_: (type: number, payload: Uint8Array) => void = () => undefined;
  info: SessionInfo | undefined;

  private constructor(private readonly socket: Socket, readonly endpoint: ProxyEndpoint) {}

  static async open(ep: ProxyEndpoint, timeoutMs: number, signal?: AbortSignal, clientInfo = "daly-bms-bridge"): Promise<ApiConnection> {
    const psk = ep.encryptionKey === "" ? undefined : decodeKey(ep.encryptionKey);
    if (ep.encryptionKey !== "" && !psk) throw adapter(ep, "encryptionKey is not the base64 of 32 bytes (copy api: encryption: key: from the proxy's YAML)");
    const socket = connect({ host: ep.host, port: ep.port });
    socket.setNoDelay(true);
    const c = new ApiConnection(socket, ep);
    let timer: NodeJS.Timeout | undefined;
    let onAbort = (): void => undefined;
    try {
      await Promise.race([
        c.setup(psk, clientInfo),
        new Promise<never>((_, reject) => {
          onAbort = () => reject(adapter(ep, "session setup aborted"));
          if (signal?.aborted) onAbort();
          signal?.addEventListener("abort", onAbort, { once: true });
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(adapter(ep, `no session within ${timeoutMs} ms (connect, handshake, Hello, DeviceInfo)`)), timeoutMs);
        }),
      ]);
      return c;
    } catch (e) {
      c.destroy(e instanceof Error ? e : new Error(String(e)));
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private async setup(psk: Uint8Array | undefined, clientInfo: string): Promise<void> {
    const ep = this.endpoint;
    await new Promise<void>((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("error", (e) => reject(adapter(ep, `cannot connect: ${e.message}`)));
    });
    this.socket.on("error", (e) => this.destroy(adapter(ep, `connection error: ${e.message}`)));
    this.socket.on("close", () => this.destroy(adapter(ep, "connection closed by the proxy")));
    if (psk) await this.noise(psk);
    else this.plaintext();
    this.send(MSG.HelloRequest, encodeHelloRequest({ clientInfo, major: API_VERSION.major, minor: API_VERSION.minor }));
    const hello = decodeHelloResponse((await this.next(MSG.HelloResponse)).payload);
    if (!hello) throw adapter(ep, "unreadable HelloResponse");
    if (hello.major !== API_VERSION.major) throw adapter(ep, `API version ${hello.major}.${hello.minor} is not supported (this client speaks ${API_VERSION.major}.x)`);
    if (ep.name && hello.name && hello.name !== ep.name) throw adapter(ep, `the device is named "${hello.name}", not "${ep.name}"`);
    if (hello.minor < 12) {
      // before API 1.12 a device expects the (then) ConnectRequest even without a password
      this.send(MSG.AuthenticationRequest, new Uint8Array(0));
      const invalid = decodeAuthenticationResponse((await this.next(MSG.AuthenticationResponse)).payload);
      if (invalid) throw adapter(ep, "the proxy requires an API password, which this bridge does not support (use api: encryption: key: instead)");
    }
    this.send(MSG.DeviceInfoRequest, new Uint8Array(0));
    const info = decodeDeviceInfoResponse((await this.next(MSG.DeviceInfoResponse)).payload);
    if (!info) throw adapter(ep, "unreadable DeviceInfoResponse");
    const flags = hello.minor < 9 ? legacyFlags(info.legacyProxyVersion) : info.proxyFlags;
    this.info = { ...info, apiMajor: hello.major, apiMinor: hello.minor, flags };
    if ((flags & FEATURE.ACTIVE_CONNECTIONS) === 0) throw adapter(ep, `"${info.name}" is not an active Bluetooth proxy (set bluetooth_proxy: active: true in its YAML)`);
    if ((flags & FEATURE.REMOTE_CACHING) === 0) throw adapter(ep, `"${info.name}" lacks remote GATT caching (update its ESPHome firmware to 2022.12 or later)`);
  }

  private plaintext(): void {
    const dec = new PlainDecoder();
    this.socket.on("data", (chunk: Buffer) => {
      for (const it of dec.push(chunk)) {
        if (it.ok) this.dispatch(it);
        else this.destroy(adapter(this.endpoint, it.detail));
      }
    });
    this.send_ = (type, payload) => this.socket.write(encodePlainFrame(type, payload));
  }

  private async noise(psk: Uint8Array): Promise<void> {
    const ep = this.endpoint;
    const hs = new NoiseHandshake("initiator", psk);
    const dec = new NoiseFrameDecoder();
    let stage: "server-hello" | "handshake" | "data" = "server-hello";
    let receive: CipherState | undefined;
    let done: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (done = resolve));
    this.socket.on("data", (chunk: Buffer) => {
      for (const it of dec.push(chunk)) {
        if (!it.ok) return this.destroy(adapter(ep, it.detail));
        const body = it.body;
        if (stage === "server-hello") {
          if (body[0] !== 0x01) return this.destroy(adapter(ep, `unknown Noise protocol 0x${(body[0] ?? 0).toString(16)} offered`));
          const name = Buffer.from(body.subarray(1, Math.max(1, body.indexOf(0, 1)))).toString("utf8");
          if (ep.name && name && name !== ep.name) return this.destroy(adapter(ep, `the device is named "${name}", not "${ep.name}"`));
          stage = "handshake";
        } else if (stage === "handshake") {
          if (body[0] !== 0x00) {
            const text = Buffer.from(body.subarray(1)).toString("utf8");
            return this.destroy(adapter(ep, /MAC failure/i.test(text) ? "wrong encryption key (the proxy reports a handshake MAC failure)" : `handshake refused: ${text}`));
          }
          try {
            hs.readMessage2(body.subarray(1));
          } catch (e) {
            return this.destroy(adapter(ep, e instanceof NoiseDecryptError ? "wrong encryption key (handshake did not authenticate)" : `handshake failed: ${String(e)}`));
          }
          const keys = hs.split();
          receive = keys.receive;
          const send = keys.send;
          this.send_ = (type, payload) => this.socket.write(encodeNoiseFrame(send.encrypt(new Uint8Array(0), encodeNoisePlain(type, payload))));
          stage = "data";
          done();
        } else {
          let plain: Buffer;
          try {
            plain = (receive as CipherState).decrypt(new Uint8Array(0), body);
          } catch {
            return this.destroy(adapter(ep, "an encrypted frame did not authenticate"));
          }
          const m = decodeNoisePlain(plain);
          if (m) this.dispatch(m);
        }
      }
    });
    // ClientHello (empty) and handshake message 1 (prefixed 0x00) in one write, as aioesphomeapi does
    this.socket.write(Buffer.concat([encodeNoiseFrame(new Uint8Array(0)), encodeNoiseFrame(Buffer.concat([Buffer.of(0), hs.writeMessage1()]))]));
    await Promise.race([ready, this.closed()]);
  }

  private closed(): Promise<never> {
    return new Promise<never>((_, reject) => {
      if (this.closedWith) reject(this.closedWith);
      else this.closeListeners.add(reject);
    });
  }

  private dispatch(m: ApiMessage): void {
    if (m.type === MSG.PingRequest) return this.send(MSG.PingResponse, new Uint8Array(0));
    if (m.type === MSG.DisconnectRequest) {
      this.send(MSG.DisconnectResponse, new Uint8Array(0));
      this.destroy(adapter(this.endpoint, "the proxy asked to disconnect (rebooting or another client took over)"));
      return;
    }
    for (const w of [...this.waiters]) {
      if (w.pick(m)) {
        this.waiters.delete(w);
        w.resolve(m);
      }
    }
    for (const l of [...this.listeners]) l(m);
  }

  get isOpen(): boolean {
    return this.closedWith === undefined;
  }

  send(type: number, payload: Uint8Array): void {
    if (this.closedWith) throw this.closedWith;
    this.send_(type, payload);
  }

  /** The next message of `type` (optionally matching `pick`), bounded by `ms` when given. */
  next(type: number, pick: (m: ApiMessage) => boolean = () => true, ms?: number, step = `message ${type}`): Promise<ApiMessage> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<ApiMessage>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter = {
        pick: (m) => m.type === type && pick(m),
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      if (ms !== undefined) timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new TransportError(`${step} timed out after ${ms} ms`, "timeout"));
      }, ms);
      this.waiters.add(w);
    });
  }

  onMessage(l: (m: ApiMessage) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  onClose(l: (e: Error) => void): () => void {
    if (this.closedWith) {
      const e = this.closedWith;
      queueMicrotask(() => l(e));
      return () => undefined;
    }
    this.closeListeners.add(l);
    return () => this.closeListeners.delete(l);
  }

  private destroy(e: Error): void {
    if (this.closedWith) return;
    this.closedWith = e;
    this.socket.destroy();
    for (const w of [...this.waiters]) w.reject(e);
    this.waiters.clear();
    for (const l of [...this.closeListeners]) l(e);
    this.closeListeners.clear();
    this.listeners.clear();
  }

  /** Ends the session with `why` (a keepalive that got no answer). */
  fail(why: string): void {
    this.destroy(adapter(this.endpoint, why));
  }

  /** DisconnectRequest, its acknowledgement (≤ ms) and the socket closed; never throws. */
  async close(ms = 1000): Promise<void> {
    if (this.closedWith) return;
    try {
      const ack = this.next(MSG.DisconnectResponse, () => true, ms, "DisconnectResponse");
      this.send(MSG.DisconnectRequest, new Uint8Array(0));
      await ack;
    } catch {
      // gone already or slow: close anyway
    }
    this.destroy(adapter(this.endpoint, "closed by the bridge"));
  }
}
