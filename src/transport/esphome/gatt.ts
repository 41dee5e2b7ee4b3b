/**
 * A GATT link to one Daly module through a proxy (esphome-proxy.md §1 "Daly flow"): connect V3
 * without cache with the advertised address type, services once, notify registered and the CCCD
 * written by us, requests written without response, notifications forwarded as they come (the
 * poller reassembles frames). Every reply is matched by message type and address (and handle
 * where the API has one); GATT errors (82) become TransportErrors with text, never timeouts.
 */
import type { BleLink } from "../link.js";
import { linkLost, TransportError } from "../errors.js";
import { LinkEvents } from "../link-events.js";
import { GATT_LAYOUTS } from "../../daly/constants.js";
import type { ApiConnection } from "./connection.js";
import type { ApiMessage } from "./frame.js";
import {
  CONN_CANCEL, connectErrorText, decodeConnectionResponse, decodeGattData, decodeGattError, decodeRef, decodeServicesResponse, DEVICE_REQUEST,
  encodeDeviceRequest, encodeGattData, encodeGattNotify, encodeGattWrite, encodeRef, gattErrorText, MSG, uuidText, type GattService,
} from "./messages.js";

export interface GattTimeouts {
  connectMs: number;
  gattMs: number;
}

export interface DalyHandles {
  notify: number;
  write: number;
  cccd: number;
  layout: string;
}

/** fff1/fff2 under fff0 first, then ff01/ff02 under ff00; the CCCD (2902) under the notify characteristic. */
export function findDalyHandles(services: readonly GattService[]): DalyHandles | undefined {
  for (const l of GATT_LAYOUTS) {
    const s = services.find((x) => uuidText(x) === l.service);
    const n = s?.characteristics.find((c) => uuidText(c) === l.notify);
    const w = s?.characteristics.find((c) => uuidText(c) === l.write);
    if (!n || !w) continue;
    // no descriptor listed: the CCCD conventionally follows the value handle
    const cccd = n.descriptors.find((d) => uuidText(d) === "2902")?.handle ?? n.handle + 1;
    return { notify: n.handle, write: w.handle, cccd, layout: l.service };
  }
  return undefined;
}

const forAddress = (address: number) => (m: ApiMessage): boolean => decodeRef(m.payload)?.address === address;

/** The next reply for (address, handle) of `type`, or a TransportError from an 82 for the same pair. */
async function gattStep(conn: ApiConnection, address: number, handle: number, type: number, ms: number, step: string): Promise<void> {
  const ok = conn.next(type, (m) => {
    const r = decodeRef(m.payload);
    return r?.address === address && r.handle === handle;
  }, ms, step);
  const err = conn.next(MSG.BluetoothGATTErrorResponse, (m) => {
    const r = decodeGattError(m.payload);
    return r?.address === address && (r.handle === handle || r.handle === 0);
  }, ms, step);
  err.catch(() => undefined);
  ok.catch(() => undefined);
  const first = await Promise.race([ok.then(() => undefined), err.then((m) => m)]);
  if (first) {
    const e = decodeGattError(first.payload);
    throw new TransportError(`${step} failed: ${gattErrorText(e?.error ?? 0)}`, "gatt-missing");
  }
}

export type ConnectFailure = { kind: "no-slot" | "cancel" | "other"; error: TransportError };

/** Sends connect V3 without cache and waits for this address's 69; on timeout asks the proxy to drop it. */
export async function connectDevice(conn: ApiConnection, address: number, addressType: number, mac: string, proxy: string, t: GattTimeouts): Promise<number | ConnectFailure> {
  const reply = conn.next(MSG.BluetoothDeviceConnectionResponse, forAddress(address), t.connectMs, `connect to ${mac} through ${proxy}`);
  conn.send(MSG.BluetoothDeviceRequest, encodeDeviceRequest({ address, requestType: DEVICE_REQUEST.CONNECT_V3_WITHOUT_CACHE, addressType }));
  let r;
  try {
    r = decodeConnectionResponse((await reply).payload);
  } catch (e) {
    // free the ESP-side attempt so the slot comes back (aioesphomeapi does the same on timeout)
    if (conn.isOpen) conn.send(MSG.BluetoothDeviceRequest, encodeDeviceRequest({ address, requestType: DEVICE_REQUEST.DISCONNECT, addressType }));
    throw e;
  }
  if (r?.connected) return r.mtu;
  const code = r?.error ?? 0;
  if (code === CONN_CANCEL) return { kind: "cancel", error: new TransportError(`connect to ${mac} through ${proxy}: ${connectErrorText(code)}`, "not-found") };
  // connected=false without a code comes at once when no slot is free (the address type is always sent)
  if (code === 0) return { kind: "no-slot", error: new TransportError(`connect to ${mac} through ${proxy}: the proxy has no free connection slot`, "adapter") };
  return { kind: "other", error: new TransportError(`connect to ${mac} through ${proxy}: ${connectErrorText(code)}`, "not-found") };
}

/** Services (70 → 71… → 72), once per connection. */
export async function discover(conn: ApiConnection, address: number, ms: number, mac: string): Promise<GattService[]> {
  const services: GattService[] = [];
  const off = conn.onMessage((m) => {
    if (m.type !== MSG.BluetoothGATTGetServicesResponse) return;
    const r = decodeServicesResponse(m.payload);
    if (r?.address === address) services.push(...r.services);
  });
  try {
    const done = conn.next(MSG.BluetoothGATTGetServicesDoneResponse, forAddress(address), ms, `GATT services of ${mac}`);
    const err = conn.next(MSG.BluetoothGATTErrorResponse, forAddress(address), ms, `GATT services of ${mac}`);
    done.catch(() => undefined);
    err.catch(() => undefined);
    conn.send(MSG.BluetoothGATTGetServicesRequest, encodeRef({ address }));
    const first = await Promise.race([done.then(() => undefined), err]);
    if (first) throw new TransportError(`GATT services of ${mac}: ${gattErrorText(decodeGattError(first.payload)?.error ?? 0)}`, "gatt-missing");
    return services;
  } finally {
    off();
  }
}

export async function enableNotify(conn: ApiConnection, address: number, h: DalyHandles, ms: number, mac: string): Promise<void> {
  const p = gattStep(conn, address, h.notify, MSG.BluetoothGATTNotifyResponse, ms, `notify on ${mac}`);
  conn.send(MSG.BluetoothGATTNotifyRequest, encodeGattNotify({ address, handle: h.notify, enable: true }));
  await p;
  // V3 connections: the proxy only registers locally; the client writes the CCCD (bleak-esphome start_notify)
  const q = gattStep(conn, address, h.cccd, MSG.BluetoothGATTWriteResponse, ms, `CCCD write on ${mac}`);
  conn.send(MSG.BluetoothGATTWriteDescriptorRequest, encodeGattData({ address, handle: h.cccd, data: Uint8Array.of(0x01, 0x00) }));
  await q;
}

export class EsphomeLink implements BleLink {
  private readonly ev = new LinkEvents();
  private closing: Promise<void> | undefined;
  private readonly offs: Array<() => void> = [];
  /** Until the proxy reports the device disconnected, the slot is held there, even after a GATT error ended the link. */
  private proxyConnected = true;

  constructor(
    readonly address: string,
    private readonly numeric: number,
    private readonly addressType: number,
    private readonly conn: ApiConnection,
    readonly handles: DalyHandles,
    readonly mtu: number,
    private readonly gattMs: number,
    private readonly onGone: () => void,
  ) {
    this.offs.push(
      conn.onMessage((m) => this.onMessage(m)),
      conn.onClose((e) => this.end(linkLost(`proxy session ended: ${e.message}`))),
    );
  }

  private onMessage(m: ApiMessage): void {
    if (m.type === MSG.BluetoothGATTNotifyDataResponse) {
      const d = decodeGattData(m.payload);
      if (d?.address === this.numeric && d.handle === this.handles.notify) this.ev.emitData(d.data);
    } else if (m.type === MSG.BluetoothGATTErrorResponse) {
      const e = decodeGattError(m.payload);
      if (e?.address === this.numeric) this.end(new TransportError(`GATT error on ${this.address} handle ${e.handle}: ${gattErrorText(e.error)}`, "link-lost"));
    } else if (m.type === MSG.BluetoothDeviceConnectionResponse) {
      const c = decodeConnectionResponse(m.payload);
      if (c?.address === this.numeric && !c.connected) this.proxyConnected = false;
      if (c?.address === this.numeric && !c.connected) this.end(linkLost(`the proxy reports ${this.address} disconnected${c.error ? `: ${connectErrorText(c.error)}` : ""}`));
    }
  }

  get isOpen(): boolean {
    return this.ev.open && this.conn.isOpen;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.isOpen) throw linkLost("write on a closed link");
    // without response (daly-protocol.md): a failure comes back as an 82 and ends the link
    this.conn.send(MSG.BluetoothGATTWriteRequest, encodeGattWrite({ address: this.numeric, handle: this.handles.write, response: false, data: bytes }));
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.ev.onData(listener);
  }

  onClose(listener: (reason: Error) => void): () => void {
    return this.ev.onClose(listener);
  }

  private end(e: Error): void {
    if (!this.ev.end(e)) return;
    for (const off of this.offs) off();
    this.onGone();
  }

  /** Asks the proxy to disconnect and waits (bounded) until it reports the slot free. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.end(linkLost("closed by the bridge"));
      if (!this.proxyConnected || !this.conn.isOpen) return;
      this.proxyConnected = false;
      const gone = this.conn.next(MSG.BluetoothDeviceConnectionResponse, (m) => {
        const c = decodeConnectionResponse(m.payload);
        return c?.address === this.numeric && !c.connected;
      }, this.gattMs, `disconnect ${this.address}`);
      gone.catch(() => undefined);
      try {
        this.conn.send(MSG.BluetoothDeviceRequest, encodeDeviceRequest({ address: this.numeric, requestType: DEVICE_REQUEST.DISCONNECT, addressType: this.addressType }));
        await gone;
      } catch {
        // the session went away or the proxy is slow: the slot comes back with 81 anyway
      }
    })();
    return this.closing;
  }
}
