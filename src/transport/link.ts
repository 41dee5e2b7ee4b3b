/**
 * The transport seam: everything above it (poller, runtime) sees only these interfaces, whether the
 * bytes travel through noble, BlueZ or a serial port.
 */
export interface Advert {
  address: string;
  name?: string;
  rssi?: number;
  serviceUuids: string[];
  /** The relay that heard it (ESPHome proxy label), when not the local adapter. */
  via?: string;
}

export interface LinkTarget {
  address: string;
  name?: string;
  /** Serial: board number on a shared RS485 line; its replies only reach this link. */
  board?: number;
  /** The adapter to use (`hciN` or its address); a single-adapter transport ignores it. */
  adapter?: string;
}

export interface BleLink {
  readonly address: string;
  /** Writes one request (write-without-response where the characteristic allows). */
  write(bytes: Uint8Array): Promise<void>;
  /** Subscribes to notifications; returns the unsubscribe function. */
  onData(listener: (chunk: Uint8Array) => void): () => void;
  /** Called once when the link is lost or closed; returns the unsubscribe function. */
  onClose(listener: (reason: Error) => void): () => void;
  readonly isOpen: boolean;
  /** Releases the link; idempotent, bounded in time, never throws. */
  close(): Promise<void>;
}

/** The adapter went away (bluetoothd stopped, unplugged, powered off) or came back. */
export interface AdapterStatus {
  up: boolean;
  why: string;
  /** Which adapter, where a transport serves several (transport/per-adapter.ts); absent = all. */
  adapter?: string;
}

export interface BleTransport {
  readonly kind: string;
  /**
   * Adapter lifecycle, where the transport can watch it (BlueZ): called on each change; returns
   * the unsubscribe function.
   */
  onAdapter?(fn: (s: AdapterStatus) => void): () => void;
  scan(seconds: number, signal?: AbortSignal): Promise<Advert[]>;
  open(target: LinkTarget, signal?: AbortSignal): Promise<BleLink>;
  /** Stops scanning, drops every link, releases the adapter. */
  shutdown(): Promise<void>;
}
