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

export interface BleTransport {
  readonly kind: string;
  scan(seconds: number, signal?: AbortSignal): Promise<Advert[]>;
  open(target: LinkTarget, signal?: AbortSignal): Promise<BleLink>;
  /** Stops scanning, drops every link, releases the adapter. */
  shutdown(): Promise<void>;
}
