/**
 * A BleTransport on the adapter named by its Bluetooth address (noble binds adapters by index):
 * the index is looked up (adapter-address.ts) at first use, and again after an operation failed
 * with an adapter error or a timeout, or the lookup itself failed (a replugged adapter comes back
 * under a new index). The index found last is kept while it is still listed but cannot answer
 * (down, e.g. powered off for a moment). The transport of each index comes from `make`; a transport whose index no
 * longer has this address is left to whoever made it (it may serve other BMS by that name).
 */
import type { AdapterStatus, Advert, BleLink, BleTransport, LinkTarget } from "../link.js";
import { TransportError } from "../errors.js";
import { findAdapterIndex, normalizeAdapterAddress, type HciDevices } from "./adapter-address.js";

export interface ByAddressOptions {
  /** Bound on each adapter's answer to Read BD_ADDR. */
  lookupTimeoutMs?: number;
}

export class AdapterByAddress implements BleTransport {
  readonly address: string;
  private current: { index: number; transport: BleTransport } | undefined;
  private lookup: Promise<BleTransport> | undefined;
  /** Where the address was found last (kept when a later lookup cannot reach that adapter). */
  private lastIndex: number | undefined;
  private readonly listeners = new Set<(s: AdapterStatus) => void>();
  private readonly subscribed = new Set<BleTransport>();
  /** Lookups done (for logs and tests). */
  lookups = 0;

  constructor(
    readonly kind: string,
    address: string,
    private readonly devices: HciDevices,
    private readonly make: (index: number) => BleTransport,
    private readonly opts: ByAddressOptions = {},
  ) {
    this.address = normalizeAdapterAddress(address);
  }

  /** The index the address resolved to last (undefined before the first lookup or after a failure). */
  get index(): number | undefined {
    return this.current?.index;
  }

  private transport(): Promise<BleTransport> {
    if (this.current) return Promise.resolve(this.current.transport);
    this.lookup ??= (async () => {
      try {
        this.lookups += 1;
        const opts = {
          ...(this.opts.lookupTimeoutMs === undefined ? {} : { timeoutMs: this.opts.lookupTimeoutMs }),
          ...(this.lastIndex === undefined ? {} : { lastIndex: this.lastIndex }),
        };
        const index = await findAdapterIndex(this.address, this.devices, opts);
        this.lastIndex = index;
        const transport = this.make(index);
        this.subscribe(transport);
        this.current = { index, transport };
        return transport;
      } finally {
        this.lookup = undefined;
      }
    })();
    return this.lookup;
  }

  private subscribe(t: BleTransport): void {
    if (this.subscribed.has(t)) return;
    this.subscribed.add(t);
    t.onAdapter?.((st) => {
      if (this.current?.transport !== t) return;
      for (const fn of this.listeners) fn(st);
    });
  }

  /** After an adapter error or a timeout the index is looked up again before the next operation. */
  private async run<T>(fn: (t: BleTransport) => Promise<T>): Promise<T> {
    const t = await this.transport();
    try {
      return await fn(t);
    } catch (e) {
      const suspect = !(e instanceof TransportError) || e.kind === "adapter" || e.kind === "timeout";
      if (suspect && this.current?.transport === t) this.current = undefined;
      throw e;
    }
  }

  onAdapter(fn: (s: AdapterStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  scan(seconds: number, signal?: AbortSignal): Promise<Advert[]> {
    return this.run((t) => t.scan(seconds, signal));
  }

  open(target: LinkTarget, signal?: AbortSignal): Promise<BleLink> {
    return this.run((t) => t.open(target, signal));
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.subscribed].map((t) => t.shutdown().catch(() => undefined)));
  }
}
