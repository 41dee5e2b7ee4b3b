/**
 * The D-Bus connection to BlueZ, opened on first use (never at import): bounded method calls with
 * BlueZ errors mapped to TransportError kinds, and signal subscriptions, each with its own match
 * rule, dispatched from one `message` listener. Raw messages, no proxy objects: no introspection
 * round trips and no listeners left behind on dbus-next's proxies.
 */
import dbus, { type Message, type MessageBus } from "dbus-next";
import { bounded, TransportError } from "../errors.js";
import { mapError } from "./errors.js";
import { BLUEZ, under } from "./values.js";

export interface BusOptions {
  /** A connected or connecting bus owned by the caller (never disconnected here). */
  bus?: MessageBus;
  /** D-Bus address to open instead of the system bus, e.g. "unix:path=/tmp/test/bus". */
  busAddress?: string;
}

export interface CallSpec {
  path: string;
  iface: string;
  member: string;
  signature?: string;
  body?: unknown[];
  /** Step name for timeouts and error messages. */
  step: string;
  /** TransportError kind for errors the mapping cannot classify better. */
  fallback: TransportError["kind"];
  destination?: string;
}

export interface SignalRule {
  /** Default org.bluez; org.freedesktop.DBus for the daemon's own signals (NameOwnerChanged). */
  sender?: string;
  iface: string;
  member: string;
  path?: string;
  pathNamespace?: string;
  arg0?: string;
}

export type SignalHandler = (path: string, body: readonly unknown[]) => void;

const DBUS = { destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", iface: "org.freedesktop.DBus" } as const;

function matchString(r: SignalRule): string {
  const parts = [`type='signal'`, `sender='${r.sender ?? BLUEZ}'`, `interface='${r.iface}'`, `member='${r.member}'`];
  if (r.path) parts.push(`path='${r.path}'`);
  if (r.pathNamespace) parts.push(`path_namespace='${r.pathNamespace}'`);
  if (r.arg0) parts.push(`arg0='${r.arg0}'`);
  return parts.join(",");
}

function matches(r: SignalRule, m: Message): boolean {
  if (m.interface !== r.iface || m.member !== r.member) return false;
  if (r.path && m.path !== r.path) return false;
  if (r.pathNamespace && !under(m.path, r.pathNamespace)) return false;
  return !r.arg0 || m.body[0] === r.arg0;
}

export class BluezBus {
  private bus: MessageBus | undefined;
  private connecting: Promise<MessageBus> | undefined;
  private readonly handlers = new Set<{ rule: SignalRule; fn: SignalHandler }>();
  private readonly unmatching = new Set<Promise<unknown>>();
  private readonly lostListeners = new Set<(e: Error) => void>();
  private matchRules = 0;

  constructor(private readonly opts: BusOptions) {}

  private readonly onMessage = (m: Message): void => {
    if (m.type !== dbus.MessageType.SIGNAL) return;
    for (const h of [...this.handlers]) if (matches(h.rule, m)) h.fn(m.path, m.body);
  };

  /** Bus-level failure after connecting: every link on it is gone. */
  private readonly onError = (e: unknown): void => {
    const b = this.bus;
    if (!b) return;
    this.drop(b);
    const err = new TransportError(`D-Bus connection lost: ${e instanceof Error ? e.message : String(e)}`, "link-lost");
    for (const l of [...this.lostListeners]) l(err);
  };

  /** Called when the bus connection fails after it was up. */
  onLost(fn: (e: Error) => void): void {
    this.lostListeners.add(fn);
  }

  ready(ms: number): Promise<MessageBus> {
    if (this.bus) return Promise.resolve(this.bus);
    this.connecting ??= this.open(ms).finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(ms: number): Promise<MessageBus> {
    const injected = this.opts.bus;
    const where = this.opts.busAddress ?? "the system bus";
    let bus: MessageBus;
    try {
      bus = injected ?? (this.opts.busAddress ? dbus.sessionBus({ busAddress: this.opts.busAddress }) : dbus.systemBus());
    } catch (e) {
      throw new TransportError(`cannot open D-Bus ${where}: ${e instanceof Error ? e.message : String(e)}`, "adapter");
    }
    bus.on("error", this.onError); // stays attached: an EventEmitter without one throws on 'error'
    if (!injected) {
      try {
        await new Promise<void>((resolve, reject) => {
          const done = (err?: unknown): void => {
            clearTimeout(timer);
            bus.removeListener("connect", ok);
            bus.removeListener("error", done);
            if (err === undefined) resolve();
            else reject(err instanceof TransportError ? err : new TransportError(`cannot connect to D-Bus ${where}: ${err instanceof Error ? err.message : String(err)} (Docker: mount /run/dbus; Home Assistant add-on: host_dbus: true)`, "adapter"));
          };
          const ok = (): void => done();
          const timer = setTimeout(() => done(new TransportError(`D-Bus ${where}: no answer within ${ms} ms`, "adapter")), ms);
          bus.once("connect", ok);
          bus.once("error", done);
        });
      } catch (e) {
        bus.disconnect();
        throw e;
      }
    }
    bus.on("message", this.onMessage);
    this.bus = bus;
    return bus;
  }

  private drop(bus: MessageBus): void {
    if (this.bus !== bus) return;
    this.bus = undefined;
    bus.removeListener("message", this.onMessage);
    this.handlers.clear();
    this.matchRules = 0;
    if (this.opts.bus) bus.removeListener("error", this.onError);
    else bus.disconnect(); // our 'error' listener stays: a late socket error must not throw
  }

  /** One bounded method call; resolves with the reply body, rejects with a TransportError. */
  async call(c: CallSpec, ms: number, extra?: Promise<never>): Promise<unknown[]> {
    const bus = await this.ready(ms);
    const msg = new dbus.Message({ destination: c.destination ?? BLUEZ, path: c.path, interface: c.iface, member: c.member, signature: c.signature ?? "", body: c.body ?? [] });
    try {
      const reply = await bounded(bus.call(msg), ms, c.step, extra);
      const body: unknown[] = reply?.body ?? [];
      return body;
    } catch (e) {
      throw mapError(e, c.step, c.fallback);
    }
  }

  /**
   * Adds a match rule and a handler; resolves once the bus routes matching signals to us.
   * Returns the unsubscribe function (handler removed at once, rule removed in the background).
   */
  async subscribe(rule: SignalRule, fn: SignalHandler, ms: number): Promise<() => void> {
    const bus = await this.ready(ms);
    const entry = { rule, fn };
    this.handlers.add(entry);
    const addMatch = { ...DBUS, member: "AddMatch", signature: "s", body: [matchString(rule)], fallback: "adapter" as const };
    try {
      await this.call({ ...addMatch, step: "AddMatch" }, ms);
    } catch (e) {
      this.handlers.delete(entry);
      throw e;
    }
    this.matchRules += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (!this.handlers.delete(entry) || this.bus !== bus) return; // dropped with its bus
      this.matchRules -= 1;
      const p = this.call({ ...addMatch, member: "RemoveMatch", step: "RemoveMatch" }, ms).catch(() => undefined);
      this.unmatching.add(p);
      void p.finally(() => this.unmatching.delete(p));
    };
  }

  /** Handler and match-rule counts: tests and the soak check that they return to zero. */
  diagnostics(): { signalHandlers: number; matchRules: number } {
    return { signalHandlers: this.handlers.size, matchRules: this.matchRules };
  }

  /** Waits for pending RemoveMatch calls, then releases the bus (disconnects only one it opened). */
  async close(): Promise<void> {
    await Promise.all([...this.unmatching]);
    const b = this.bus;
    if (b) this.drop(b);
  }
}
