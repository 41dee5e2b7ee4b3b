/**
 * BleTransport over a wired UART / RS485 adapter (serialport 13). The BMS is identified by the
 * port: `open(target)` opens `path` and echoes `target.address` as the link's address, so the
 * poller, supervisor and MQTT side work unchanged. 9600 baud 8N1 as every UART tool uses
 * (daly-protocol.md §5); writes spaced ≥ minGapMs (§2.7.6, 120 ms is the measured minimum).
 *
 * One link per port at a time (the port is opened exclusively), or, for targets with a board
 * number, one link per board on a shared RS485 line (serial-bus.ts). The native module is loaded on
 * first use, so importing this file opens nothing and a missing prebuild only affects serial users.
 *
 * scan(): lists serial ports, not batteries (nothing can be learned about a BMS without talking to
 * it): address = path, name = manufacturer / product ids. On Linux serialport needs `udevadm`; if
 * listing fails the transport falls back to /dev/serial/by-id and /dev/tty{USB,ACM,AMA,CH341}*,
 * and `scanNote` says why (for the scan command to print). An empty result is not an error.
 */
import { readdir } from "node:fs/promises";
import type { SerialPort } from "serialport";
import type { Advert, BleLink, BleTransport, LinkTarget } from "../link.js";
import { TransportError } from "../errors.js";
import type { DeviceProfile } from "../../daly/plan.js";
import type { WireProtocol } from "../../daly/collect.js";
import { SerialLink } from "./serial-link.js";
import { SerialBus } from "./serial-bus.js";
import { a5BoardHost } from "../../daly/constants.js";

export interface SerialTransportOptions {
  path: string;
  /** Default 9600 (Daly UART/RS485 default). */
  baudRate?: number;
  openTimeoutMs: number;
  /** Minimum time between two writes, default 150 ms (§2.7.6). */
  minGapMs?: number;
  /** Bound for one write and for closing the port, default 2000 ms. */
  ioTimeoutMs?: number;
}

/** Legacy A5 over UART/RS485 is addressed from host 0x40 (§2.2: D2M, DSB, DRE use it on the wire). */
export const SERIAL_A5_HOST = 0x40;

/**
 * The starting DeviceProfile for a configured protocol on a serial port; undefined for "auto"
 * (the poller probes D2, A5 0x80, A5 0x40, 0x81 — the board answers both A5 hosts on its UART).
 */
export function serialProfile(protocol: WireProtocol, board?: number): DeviceProfile;
export function serialProfile(protocol: WireProtocol | "auto", board?: number): DeviceProfile | undefined;
export function serialProfile(protocol: WireProtocol | "auto", board?: number): DeviceProfile | undefined {
  if (protocol === "auto") return undefined;
  // board n of several on RS485: A5 from 0x3F + n (board 1 = 0x40, the single-board default);
  // 0x81 at 0x80 + n (board 1 = 0x81); D2 has no board address
  if (protocol === "a5") return { protocol, a5Host: board !== undefined ? a5BoardHost(board) : SERIAL_A5_HOST, wantVersion: true };
  return protocol === "p81" && board !== undefined ? { protocol, p81Board: board, wantVersion: true } : { protocol, wantVersion: true };
}

type SerialportModule = typeof import("serialport");
let loading: Promise<SerialportModule> | undefined;

function loadSerialport(): Promise<SerialportModule> {
  loading ??= import("serialport").catch((e: unknown) => {
    loading = undefined;
    throw new TransportError(`serial support unavailable: cannot load the serialport module (${errText(e)})`, "adapter");
  });
  return loading;
}

export class SerialTransport implements BleTransport {
  readonly kind = "serial";
  /** Why the last scan() fell back to listing /dev (undefined when serialport listed the ports). */
  scanNote: string | undefined;
  private link: SerialLink | undefined;
  /** Several boards on the line (targets with a board number). */
  private bus: SerialBus | undefined;
  private opening: Promise<unknown> = Promise.resolve();
  private readonly baudRate: number;
  private readonly minGapMs: number;
  private readonly ioTimeoutMs: number;

  constructor(private readonly opts: SerialTransportOptions) {
    this.baudRate = opts.baudRate ?? 9600;
    this.minGapMs = opts.minGapMs ?? 150;
    this.ioTimeoutMs = opts.ioTimeoutMs ?? 2000;
    if (!Number.isInteger(this.baudRate) || this.baudRate <= 0) throw new RangeError(`serial baud rate must be a positive integer, got ${this.baudRate}`);
    if (!(this.minGapMs >= 0)) throw new RangeError(`serial minGapMs must be ≥ 0, got ${this.minGapMs}`);
  }

  get path(): string {
    return this.opts.path;
  }

  async open(target: LinkTarget, signal?: AbortSignal): Promise<BleLink> {
    if (target.board === undefined) return this.openPort(target.address, signal);
    // several boards on one line: one port, one link per board (serial-bus.ts)
    const run = this.opening.then(async () => {
      if (!this.bus?.isOpen) {
        if (this.link?.isOpen) throw new TransportError(`serial port ${this.opts.path} is already open (for ${this.link.address}, without a board number)`, "adapter");
        const line = await this.openPort(`${this.opts.path} (bus)`, signal);
        this.link = undefined; // the line belongs to the bus
        this.bus = new SerialBus(line, this.opts.path, (b) => {
          if (this.bus === b) this.bus = undefined;
        });
      }
      return this.bus.attach(target.address, target.board ?? 1);
    });
    this.opening = run.catch(() => undefined);
    return run;
  }

  private async openPort(address: string, signal?: AbortSignal): Promise<SerialLink> {
    const path = this.opts.path;
    if (signal?.aborted) throw new TransportError("aborted", "timeout");
    if (this.link?.isOpen) throw new TransportError(`serial port ${path} is already open (for ${this.link.address})`, "adapter");
    if (this.bus?.isOpen) throw new TransportError(`serial port ${path} is already open (a bus of several boards; give every BMS on it a board number)`, "adapter");
    await this.link?.close(); // a lost link may still be releasing the port (and its lock)
    const { SerialPort: Port } = await loadSerialport();
    let port: SerialPort;
    try {
      port = new Port({ path, baudRate: this.baudRate, dataBits: 8, stopBits: 1, parity: "none", autoOpen: false, lock: true });
    } catch (e) {
      throw new TransportError(`cannot open serial port ${path}: ${errText(e)}`, "adapter");
    }
    await openPort(port, path, this.opts.openTimeoutMs, signal);
    const link = new SerialLink(address, port, { path, minGapMs: this.minGapMs, ioTimeoutMs: this.ioTimeoutMs });
    this.link = link;
    return link;
  }

  async scan(): Promise<Advert[]> {
    try {
      const { SerialPort: Port } = await loadSerialport();
      const ports = await Port.list();
      this.scanNote = undefined;
      return ports
        .filter((p) => p.vendorId !== undefined || p.manufacturer !== undefined || !/^\/dev\/ttyS\d+$/.test(p.path))
        .map((p) => {
          const ids = p.vendorId && p.productId ? `${p.vendorId}:${p.productId}` : undefined;
          const name = [p.manufacturer, ids, p.serialNumber].filter((x): x is string => !!x).join(" ");
          return { address: p.path, ...(name ? { name } : {}), serviceUuids: [] };
        });
    } catch (e) {
      this.scanNote = `listing serial ports failed (${errText(e)}); showing /dev/serial/by-id and /dev/tty{USB,ACM,AMA,CH341}* instead`;
      return listDev();
    }
  }

  async shutdown(): Promise<void> {
    const l = this.link;
    const b = this.bus;
    this.link = undefined;
    this.bus = undefined;
    await l?.close();
    await b?.close();
  }
}

/** Opens the port, bounded and abortable; a port that opens after we gave up is closed again. */
function openPort(port: SerialPort, path: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => finish(new TransportError("aborted", "timeout"));
    const timer = setTimeout(() => finish(new TransportError(`opening serial port ${path} timed out after ${ms} ms`, "timeout")), ms);
    signal?.addEventListener("abort", onAbort, { once: true });
    port.on("error", () => undefined); // errors after open are the link's; never let one crash the process
    port.open((err) => {
      if (settled) {
        if (!err && port.isOpen) port.close(() => undefined);
        return;
      }
      finish(err ? openError(path, err) : undefined);
    });
  });
}

function openError(path: string, err: Error): TransportError {
  const m = err.message.replace(/^Error:?\s*/, "");
  let hint = "";
  if (/permission denied|EACCES/i.test(m)) hint = " — add the user to the dialout group (sudo usermod -aG dialout $USER, then log in again) or pass the device into the container";
  else if (/no such file|ENOENT/i.test(m)) hint = " — is the USB adapter plugged in? prefer a stable /dev/serial/by-id/… path";
  else if (/lock|busy|temporarily unavailable/i.test(m)) hint = " — another program (ModemManager, another bridge instance, a terminal) holds the port";
  return new TransportError(`cannot open serial port ${path}: ${m}${hint}`, "adapter");
}

async function listDev(): Promise<Advert[]> {
  const rows: Advert[] = [];
  const byId = await readdir("/dev/serial/by-id").catch(() => [] as string[]);
  for (const n of byId.sort()) rows.push({ address: `/dev/serial/by-id/${n}`, name: n, serviceUuids: [] });
  const dev = await readdir("/dev").catch(() => [] as string[]);
  for (const n of dev.filter((x) => /^tty(USB|ACM|AMA|CH341USB)\d+$/.test(x)).sort()) rows.push({ address: `/dev/${n}`, serviceUuids: [] });
  return rows;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
