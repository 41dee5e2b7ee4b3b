/**
 * Finds the adapter index (hciN) of an adapter named by its Bluetooth address, for the noble
 * transport (which binds adapters by index). The index of a USB adapter changes when it is
 * replugged; its address does not.
 *
 * Read-only by design, so adapters that BlueZ / Home Assistant use are left undisturbed: for each
 * adapter the kernel lists (HCIGETDEVLIST), a RAW HCI socket is bound to it, its filter passes only
 * the Command Complete event of Read BD_ADDR, that one command is sent, the answer read and the
 * socket closed. No reset, no event mask change, nothing else is ever written.
 * Read BD_ADDR: OGF 0x04 (informational), OCF 0x0009, opcode 0x1009; Command Complete return
 * parameters: status, BD_ADDR (6 bytes, least significant byte first) — Core spec v5.3 Vol 4
 * Part E §7.4.6. HCI filter layout (type mask, 2 × event mask, opcode; little endian): Linux
 * include/net/bluetooth/hci_sock.h struct hci_ufilter.
 */
import { TransportError } from "../errors.js";
import { nativeSocketClass } from "./fresh-bindings.js";
import { isRecord } from "./noble-internals.js";
import type { HciSocketLike } from "./noble-types.js";

/** One adapter as HCIGETDEVLIST reports it. */
export interface HciDevice {
  devId: number;
  devUp: boolean;
}

/** Where the lookup finds adapters: the native HCI socket, or the simulator's virtual controllers. */
export interface HciDevices {
  /** The adapters present (HCIGETDEVLIST). Throws when the host has no Bluetooth. */
  list(): HciDevice[];
  /** A new, unbound socket; the lookup binds it (raw) to `devId`. */
  socket(devId: number): HciSocketLike;
}

/** The host's adapters through the native HCI socket (@abandonware/bluetooth-hci-socket, as noble uses it). */
export function nativeHciDevices(): HciDevices {
  let Socket: (new () => unknown) | undefined;
  const make = (): unknown => new (Socket ??= nativeSocketClass())();
  return {
    list() {
      const s = make(); // unbound: only its HCIGETDEVLIST ioctl is used
      const getDeviceList = isRecord(s) ? s["getDeviceList"] : undefined;
      if (typeof getDeviceList !== "function") throw new Error("the HCI socket has no getDeviceList (version mismatch?)");
      const raw: unknown = getDeviceList.call(s);
      if (!Array.isArray(raw)) throw new Error("getDeviceList did not return a list");
      return raw.filter(isRecord).flatMap((d) => (typeof d["devId"] === "number" ? [{ devId: d["devId"], devUp: d["devUp"] === true }] : []));
    },
    socket() {
      // same surface noble's hci.js uses (noble-types.ts HciSocketLike)
      return make() as HciSocketLike;
    },
  };
}

export const READ_BD_ADDR_OPCODE = 0x1009;
const H4_COMMAND = 0x01;
const H4_EVENT = 0x04;
const EVT_CMD_COMPLETE = 0x0e;

/** The command packet (H4): opcode 0x1009 little endian, no parameters. */
export function readBdAddrCommand(): Buffer {
  return Buffer.from([H4_COMMAND, READ_BD_ADDR_OPCODE & 0xff, READ_BD_ADDR_OPCODE >> 8, 0x00]);
}

/** Socket filter: event packets only, Command Complete only, of opcode 0x1009 only. */
export function readBdAddrFilter(): Buffer {
  const f = Buffer.alloc(14);
  f.writeUInt32LE(1 << H4_EVENT, 0);
  f.writeUInt32LE(1 << EVT_CMD_COMPLETE, 4);
  f.writeUInt32LE(0, 8);
  f.writeUInt16LE(READ_BD_ADDR_OPCODE, 12);
  return f;
}

export function normalizeAdapterAddress(address: string): string {
  return address.trim().toUpperCase();
}

export const isAdapterAddress = (s: string): boolean => /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/i.test(s);

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The address of adapter `devId` (upper case, colon separated), by Read BD_ADDR on a raw socket. */
export function readAdapterAddress(devices: HciDevices, devId: number, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let socket: HciSocketLike | undefined;
    let started = false;
    let settled = false;
    const finish = (error: Error | undefined, address?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (socket) {
        socket.removeAllListeners("data");
        socket.removeAllListeners("error");
        // errors after the answer (none expected) must not become uncaught 'error' events
        socket.on("error", () => undefined);
        if (started) socket.stop();
        socket.close?.(); // the native socket has no close: its descriptor goes with the object
      }
      if (error) reject(error);
      else resolve(address ?? "");
    };
    const timer = setTimeout(() => finish(new Error(`no answer to Read BD_ADDR within ${timeoutMs} ms`)), timeoutMs);
    const onData = (p: Buffer): void => {
      // H4: 0x04, event 0x0e, length, Num_HCI_Command_Packets, opcode (2), status, BD_ADDR (6)
      if (p.length < 7 || p[0] !== H4_EVENT || p[1] !== EVT_CMD_COMPLETE || p.readUInt16LE(4) !== READ_BD_ADDR_OPCODE) return;
      const status = p[6] ?? 0;
      if (status !== 0) return finish(new Error(`Read BD_ADDR failed (HCI status 0x${status.toString(16).padStart(2, "0")})`));
      if (p.length < 13) return finish(new Error("Read BD_ADDR answer too short"));
      const bytes = [...p.subarray(7, 13)].reverse();
      finish(undefined, bytes.map((b) => b.toString(16).padStart(2, "0")).join(":").toUpperCase());
    };
    try {
      socket = devices.socket(devId);
      socket.on("data", onData);
      socket.on("error", (e) => finish(e));
      socket.bindRaw(devId);
      socket.setFilter(readBdAddrFilter());
      socket.start();
      started = true;
      socket.write(readBdAddrCommand());
    } catch (e) {
      finish(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

export interface AdapterLookupOptions {
  /** Bound on each adapter's answer (they are asked in parallel). Default 2000 ms. */
  timeoutMs?: number;
  /**
   * The index the address had last time: accepted again when no adapter answers with the address
   * but that index is still listed and cannot answer (down, e.g. powered off for a moment). Not
   * when it answers another address.
   */
  lastIndex?: number;
}

/**
 * The index of the adapter with `address` (case-insensitive). Throws a TransportError ("adapter")
 * naming the address and every adapter found (index and address, or why it has none).
 */
export async function findAdapterIndex(address: string, devices: HciDevices, opts: AdapterLookupOptions = {}): Promise<number> {
  const want = normalizeAdapterAddress(address);
  const timeoutMs = opts.timeoutMs ?? 2000;
  let list: HciDevice[];
  try {
    list = devices.list();
  } catch (e) {
    throw new TransportError(`no Bluetooth adapter with address ${want}: cannot list the adapters (${errorText(e)})`, "adapter");
  }
  const found = await Promise.all(
    list.map(async (d) => {
      try {
        return { devId: d.devId, address: await readAdapterAddress(devices, d.devId, timeoutMs) };
      } catch (e) {
        return { devId: d.devId, problem: d.devUp ? errorText(e) : `down (${errorText(e)})` };
      }
    }),
  );
  const match = found.find((f) => f.address === want);
  if (match) return match.devId;
  const last = found.find((f) => f.devId === opts.lastIndex);
  if (last && last.address === undefined) return last.devId;
  const seen = found.map((f) => `hci${f.devId} ${f.address ?? f.problem ?? ""}`).join(", ");
  throw new TransportError(`no Bluetooth adapter with address ${want} (adapters found: ${seen || "none"})`, "adapter");
}
