/**
 * The Home Assistant side: discovery (retained, published when a BMS's entity set is known or
 * changes, obsolete configs cleared), state per poll, availability per BMS and for the bridge,
 * and a full re-publish when HA comes back (`homeassistant/status` = online) or the broker does.
 *
 * What was published is remembered in the broker itself, in the retained registry topic
 * `<base>/bridge/registry` ({bms_id: [entity keys]}), so entities of a BMS removed from the config,
 * or of cells that no longer exist, are cleared even across restarts.
 */
import type { Logger } from "pino";
import type { Snapshot } from "../bms/snapshot.js";
import { buildDiscovery, clearMessages, type DiscoveryContext, discoveryKeys, type DiscoveryMessage, PAYLOAD_OFFLINE, PAYLOAD_ONLINE, staleConfigs } from "../ha/discovery.js";
import { bmsAvailabilityTopic, bmsIdFromMac, bmsStateTopic, bridgeAvailabilityTopic, type TopicOptions } from "../ha/topics.js";
import type { Publisher } from "../mqtt/publisher.js";
import type { Sink } from "./sink.js";
import type { BmsTarget } from "./supervisor.js";

export interface MqttSinkOptions {
  topics: Required<TopicOptions>;
  retainState: boolean;
  bridgeVersion: string;
  /** Random delay before re-publishing after an HA birth message, [min, max] ms. */
  republishDelayMs: [number, number];
}

interface BmsState {
  target: BmsTarget;
  published?: string[];
  /** Discovery was published in this run (after that, a vanished key must stay away to be cleared). */
  publishedThisRun?: boolean;
  /** Published keys missing from the latest snapshots: how many in a row. */
  absent: Map<string, number>;
  /** The discovery configs published in this run, by key: what a re-publish sends. */
  configs: Map<string, DiscoveryMessage>;
  last?: Snapshot;
  online: boolean;
}

/**
 * Snapshots in a row a published entity must be missing from before its config is cleared during
 * a run: a field of an optional block (D2 MOS temperature, balancing cells) can miss polls under a
 * lossy link, and an entity must not vanish and come back in HA for that (the soak showed it); a
 * config kept a little too long costs nothing (the missing key renders empty, HA keeps the value).
 * A cell or sensor count that shrinks is already confirmed by the plausibility gate; after a
 * restart, keys the registry has and the first snapshot lacks are cleared at once.
 */
const ABSENT_BEFORE_CLEAR = 10;

type Registry = Record<string, string[]>;

export class MqttSink implements Sink {
  private readonly bms = new Map<string, BmsState>();
  private registry: Registry = {};
  private republishTimer: NodeJS.Timeout | undefined;
  private started = false;
  /** True once the first connect's setup (registry read, offline availability) is done. */
  private ready = false;
  /** Resolves when the last scheduled re-publish completed (tests and the soak wait on it). */
  lastRepublish: Promise<void> = Promise.resolve();

  constructor(
    private readonly pub: Publisher,
    targets: readonly BmsTarget[],
    private readonly opts: MqttSinkOptions,
    private readonly log: Logger,
  ) {
    for (const t of targets) this.bms.set(bmsIdFromMac(t.address), { target: t, online: false, absent: new Map(), configs: new Map() });
  }

  private get registryTopic(): string {
    return `${this.opts.topics.baseTopic}/bridge/registry`;
  }

  async start(): Promise<void> {
    const ready = (this.readyPromise = new Promise<void>((resolve) => {
      this.pub.on("connected", (first) => {
        void this.onConnected(first).then(resolve, (e: unknown) => {
          this.log.warn({ err: String(e) }, "mqtt setup after connect failed");
          resolve();
        });
      });
    }));
    this.pub.on("message", (topic, payload) => {
      if (topic === `${this.opts.topics.discoveryPrefix}/status` && payload === "online") this.scheduleRepublish("home assistant restarted");
    });
    this.pub.start();
    // do not hold the bridge hostage to the broker: polling starts at once, MQTT catches up
    void ready;
  }

  /** Resolves once the first broker connection is set up (tests wait on it). */
  get whenReady(): Promise<void> {
    return this.readyPromise;
  }
  private readyPromise: Promise<void> = Promise.resolve();

  private async onConnected(first: boolean): Promise<void> {
    const t = this.opts.topics;
    await this.pub.publish(bridgeAvailabilityTopic(t), PAYLOAD_ONLINE, { retain: true });
    await this.pub.subscribe([`${t.discoveryPrefix}/status`]);
    if (first && !this.started) {
      this.started = true;
      const retained = await this.pub.readRetained(this.registryTopic, `${t.baseTopic}/bridge/sync`);
      this.registry = parseRegistry(retained.get(this.registryTopic));
      await this.forgetRemoved();
      // a retained "online" from an earlier run must not linger (contract §5)
      for (const [id, b] of this.bms) {
        b.published = this.registry[id];
        await this.pub.publish(bmsAvailabilityTopic(id, t), PAYLOAD_OFFLINE, { retain: true });
      }
      this.ready = true;
      // polls that finished while the broker was not there yet are published now
      if ([...this.bms.values()].some((b) => b.last || b.online)) await this.republishAll("first connect");
    } else {
      this.scheduleRepublish("broker reconnected");
    }
  }

  /** BMS in the registry but no longer configured: clear their configs, availability and state. */
  private async forgetRemoved(): Promise<void> {
    const t = this.opts.topics;
    let changed = false;
    for (const [id, keys] of Object.entries(this.registry)) {
      if (this.bms.has(id)) continue;
      const mac = id.slice("daly_bms_".length).match(/../g)?.join(":") ?? "";
      for (const m of clearMessages({ mac, topics: t }, keys)) await this.pub.publish(m.topic, "", { retain: true });
      await this.pub.publish(bmsAvailabilityTopic(id, t), "", { retain: true });
      await this.pub.publish(bmsStateTopic(id, t), "", { retain: true });
      delete this.registry[id];
      changed = true;
      this.log.info({ bms: id, entities: keys.length }, "removed entities of a BMS no longer configured");
    }
    if (changed) await this.saveRegistry();
  }

  private async saveRegistry(): Promise<void> {
    await this.pub.publish(this.registryTopic, JSON.stringify(this.registry), { retain: true });
  }

  private ctx(target: BmsTarget): DiscoveryContext {
    const c: DiscoveryContext = { mac: target.address, topics: this.opts.topics, bridgeVersion: this.opts.bridgeVersion };
    if (target.name) c.name = target.name;
    return c;
  }

  async snapshot(target: BmsTarget, s: Snapshot): Promise<void> {
    const id = bmsIdFromMac(target.address);
    const b = this.bms.get(id);
    if (!b) return;
    b.last = s;
    if (!this.ready) return; // published by the first connect's setup
    const keys = discoveryKeys(s);
    const present = new Set(keys);
    for (const k of present) b.absent.delete(k);
    const vanished = (b.published ?? []).filter((k) => !present.has(k));
    for (const k of vanished) b.absent.set(k, (b.absent.get(k) ?? 0) + 1);
    const clear = b.publishedThisRun ? vanished.filter((k) => (b.absent.get(k) ?? 0) >= ABSENT_BEFORE_CLEAR) : vanished;
    const kept = vanished.filter((k) => !clear.includes(k));
    const added = keys.some((k) => !(b.published ?? []).includes(k));
    if (!b.publishedThisRun || added || clear.length > 0) await this.publishDiscovery(b, s, [...keys, ...kept]);
    // QoS 1 like every other message: with states at QoS 0 the soak saw an older state (queued
    // while the broker was away) arrive after a newer one once the connection came back
    await this.pub.publish(bmsStateTopic(id, this.opts.topics), JSON.stringify(s), { retain: this.opts.retainState });
  }

  async partial(target: BmsTarget, p: Snapshot): Promise<void> {
    if (!this.ready) return;
    // keys missing from this message render as "" in the templates, which HA ignores: entities
    // keep their last values while the status entity says "sleeping"
    await this.pub.publish(bmsStateTopic(bmsIdFromMac(target.address), this.opts.topics), JSON.stringify(p), { retain: this.opts.retainState });
  }

  private async publishDiscovery(b: BmsState, s: Snapshot, keys: string[]): Promise<void> {
    const id = bmsIdFromMac(b.target.address);
    const msgs = buildDiscovery(this.ctx(b.target), s);
    for (const m of msgs) b.configs.set(m.key, m);
    await Promise.all(msgs.map((m) => this.pub.publish(m.topic, JSON.stringify(m.payload), { retain: true })));
    const stale = staleConfigs(b.published ?? [], keys);
    for (const m of clearMessages(this.ctx(b.target), stale)) await this.pub.publish(m.topic, "", { retain: true });
    if (stale.length > 0) this.log.info({ bms: id, cleared: stale }, "cleared obsolete entities");
    for (const k of stale) {
      b.absent.delete(k);
      b.configs.delete(k);
    }
    b.published = keys;
    b.publishedThisRun = true;
    this.registry[id] = keys;
    await this.saveRegistry();
  }

  async availability(target: BmsTarget, online: boolean): Promise<void> {
    const id = bmsIdFromMac(target.address);
    const b = this.bms.get(id);
    if (b) b.online = online;
    if (!this.ready) return;
    await this.pub.publish(bmsAvailabilityTopic(id, this.opts.topics), online ? PAYLOAD_ONLINE : PAYLOAD_OFFLINE, { retain: true });
  }

  private scheduleRepublish(why: string): void {
    if (this.republishTimer) return;
    const [lo, hi] = this.opts.republishDelayMs;
    const delay = lo + Math.random() * (hi - lo);
    this.lastRepublish = new Promise<void>((resolve) => {
      this.republishTimer = setTimeout(() => {
        this.republishTimer = undefined;
        this.republishAll(why).then(resolve, (e: unknown) => {
          this.log.warn({ err: String(e) }, "re-publish failed");
          resolve();
        });
      }, delay);
    });
  }

  /** Discovery, availability and the last state of every BMS, as HA needs after its restart. */
  async republishAll(why: string): Promise<void> {
    const t = this.opts.topics;
    await this.pub.publish(bridgeAvailabilityTopic(t), PAYLOAD_ONLINE, { retain: true });
    for (const [id, b] of this.bms) {
      // every config announced in this run, also those whose field missed the last poll
      const msgs = b.configs.size > 0 ? [...b.configs.values()] : b.last ? buildDiscovery(this.ctx(b.target), b.last) : [];
      await Promise.all(msgs.map((m) => this.pub.publish(m.topic, JSON.stringify(m.payload), { retain: true })));
      await this.pub.publish(bmsAvailabilityTopic(id, t), b.online ? PAYLOAD_ONLINE : PAYLOAD_OFFLINE, { retain: true });
      if (b.last) await this.pub.publish(bmsStateTopic(id, t), JSON.stringify(b.last), { retain: this.opts.retainState });
    }
    this.log.info({ reason: why, bms: this.bms.size }, "re-published discovery, availability and states");
  }

  mqttState(): "connected" | "disconnected" {
    return this.pub.connected ? "connected" : "disconnected";
  }

  async stop(): Promise<void> {
    if (this.republishTimer) clearTimeout(this.republishTimer);
    const t = this.opts.topics;
    const final = [...this.bms.keys()].map((id) => ({ topic: bmsAvailabilityTopic(id, t), payload: PAYLOAD_OFFLINE }));
    final.push({ topic: bridgeAvailabilityTopic(t), payload: PAYLOAD_OFFLINE });
    await this.pub.close(final);
  }
}

function parseRegistry(text: string | undefined): Registry {
  if (!text) return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) return {};
    const out: Registry = {};
    for (const [k, keys] of Object.entries(v)) {
      if (/^daly_bms_[0-9a-f]{12}$/.test(k) && Array.isArray(keys) && keys.every((x) => typeof x === "string")) out[k] = keys as string[];
    }
    return out;
  } catch {
    return {};
  }
}

