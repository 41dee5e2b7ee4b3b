/**
 * Several adapters behind the one transport seam: each BMS's link is opened on its own adapter
 * (LinkTarget.adapter: `hciN` or the adapter's address), each adapter served by its own transport
 * instance, made on first use. noble binds one adapter per instance (its bindings own one HCI
 * socket), so every adapter gets its own noble instance; each instance serialises its own scans
 * and connects, and different adapters work in parallel (the bridge keeps one queue per adapter).
 */
import type { AdapterStatus, Advert, BleLink, BleTransport, LinkTarget } from "./link.js";

export class PerAdapterTransport implements BleTransport {
  private readonly byAdapter = new Map<string, BleTransport>();
  /** Adapter lifecycle listeners: each adapter's transport reports for its own adapter. */
  private readonly listeners = new Set<(s: AdapterStatus) => void>();

  constructor(
    readonly kind: string,
    /** The adapter of targets that name none (and of `scan`). */
    readonly defaultAdapter: string,
    private readonly make: (adapter: string) => BleTransport,
  ) {}

  /** The transport of `adapter` (made on first use). */
  forAdapter(adapter: string = this.defaultAdapter): BleTransport {
    let t = this.byAdapter.get(adapter);
    if (!t) {
      const made = this.make(adapter);
      made.onAdapter?.((st) => {
        for (const fn of this.listeners) fn({ ...st, adapter });
      });
      this.byAdapter.set(adapter, (t = made));
    }
    return t;
  }

  get adapters(): string[] {
    return [...this.byAdapter.keys()];
  }

  onAdapter(fn: (s: AdapterStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  scan(seconds: number, signal?: AbortSignal): Promise<Advert[]> {
    return this.forAdapter().scan(seconds, signal);
  }

  open(target: LinkTarget, signal?: AbortSignal): Promise<BleLink> {
    return this.forAdapter(target.adapter).open(target, signal);
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.byAdapter.values()].map((t) => t.shutdown().catch(() => undefined)));
  }
}

/** `hci3` → 3; undefined for an address (resolved by the transport that knows its adapters). */
export function hciIndex(adapter: string): number | undefined {
  const m = /^hci(\d+)$/.exec(adapter);
  return m ? Number(m[1]) : undefined;
}
