/**
 * The Home Assistant side: discovery (retained, published when a BMS's entity set is known or
 * changes, obsolete configs cleared), state per poll, availability per BMS and for the bridge,
 * and a resync when HA comes back (`homeassistant/status` = online) or the broker does.
 *
 * What was published is remembered in the broker itself, in the retained registry topic
 * `<base>/bridge/registry` ({bms_id: [entity keys]}), so entities of a BMS removed from the config,
 * or of cells that no longer exist, are cleared even across restarts.
 *
 * One invariant: the discovery configs the broker retains for a BMS are exactly the ones the
 * bridge announced for it (`BmsState.configs`). Every change of `configs` is made in the same
 * synchronous step that hands its messages to the MQTT client, and the client keeps that order on
 * the wire, so no later message (a resync's, another poll's) can carry an older view. A resync
 * reads what the broker retains and sends only the difference.
 */
import type { Logger } from "pino";
import type { Snapshot } from "../bms/snapshot.js";
import { buildDiscovery, clearMessages, type DiscoveryContext, discoveryKeys, PAYLOAD_OFFLINE, PAYLOAD_ONLINE, staleConfigs } from "../ha/discovery.js";
import { bmsAvailabilityTopic, bmsIdFromMac, bmsStateTopic, bridgeAvailabilityTopic, type TopicOptions } from "../ha/topics.js";
import type { MqttLink } from "../mqtt/publisher.js";
import type { Sink } from "./sink.js";
import type { BmsTarget } from "./supervisor.js";

export interface MqttSinkOptions {
  topics: Required<TopicOptions>;
  retainState: boolean;
  bridgeVersion: string;
  /** Random delay before the resync after an HA birth message or a reconnect, [min, max] ms. */
  republishDelayMs: [number, number];
}

interface BmsState {
  target: BmsTarget;
  published?: string[];
  /** Discovery was published in this run (after that, a vanished key must stay away to be cleared). */
  publishedThisRun?: boolean;
  /** Published keys missing from the latest snapshots: how many in a row. */
  absent: Map<string, number>;
  /**
   * The discovery configs announced in this run, by key, as sent (topic and payload string): what
   * the broker must retain for this BMS, no more and no less.
   */
  configs: Map<string, { topic: string; payload: string }>;
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

export interface ResyncResult {
  reason: string;
  /** Announced configs the broker did not hold (or held with another payload). */
  configsResent: number;
  /** Configs of ours the broker held though they are not announced: cleared. */
  configsCleared: number;
  registryResent: boolean;
  /** Messages published by the resync in all. */
  messages: number;
}

export class MqttSink implements Sink {
  private readonly bms = new Map<string, BmsState>();
  private registry: Registry = {};
  private republishTimer: NodeJS.Timeout | undefined;
  private started = false;
  /** True once the first connect's setup (registry read, offline availability) is done. */
  private ready = false;
  /** Resolves when the last scheduled resync completed (tests and the soak wait on it). */
  lastRepublish: Promise<void> = Promise.resolve();

  constructor(
    private readonly pub: MqttLink,
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
      // polls that finished while the broker was not there yet are published now, like any poll
      for (const b of this.bms.values()) {
        if (b.last) await this.snapshot(b.target, b.last);
        if (b.online) await this.availability(b.target, true);
      }
    } else {
      this.scheduleRepublish("broker reconnected");
    }
  }

  /** BMS in the registry but no longer configured: clear their configs, availability and state. */
  private async forgetRemoved(): Promise<void> {
    const t = this.opts.topics;
    const sends: Array<Promise<void>> = [];
    for (const [id, keys] of Object.entries(this.registry)) {
      if (this.bms.has(id)) continue;
      const mac = id.slice("daly_bms_".length).match(/../g)?.join(":") ?? "";
      for (const m of clearMessages({ mac, topics: t }, keys)) sends.push(this.pub.publish(m.topic, "", { retain: true }));
      sends.push(this.pub.publish(bmsAvailabilityTopic(id, t), "", { retain: true }));
      sends.push(this.pub.publish(bmsStateTopic(id, t), "", { retain: true }));
      delete this.registry[id];
      this.log.info({ bms: id, entities: keys.length }, "removed entities of a BMS no longer configured");
    }
    if (sends.length > 0) sends.push(this.saveRegistry());
    await Promise.all(sends);
  }

  /** Hands the registry as it is now to the client (call in the step that changed it). */
  private saveRegistry(): Promise<void> {
    return this.pub.publish(this.registryTopic, JSON.stringify(this.registry), { retain: true });
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
    // the bridge does not await its sink: polls of one BMS may overlap here while the broker is
    // away (each waits for its PUBACKs); every decision below reads state no await can leave stale
    const keys = discoveryKeys(s);
    const present = new Set(keys);
    for (const k of present) b.absent.delete(k);
    const vanished = (b.published ?? []).filter((k) => !present.has(k));
    for (const k of vanished) b.absent.set(k, (b.absent.get(k) ?? 0) + 1);
    const clear = b.publishedThisRun ? vanished.filter((k) => (b.absent.get(k) ?? 0) >= ABSENT_BEFORE_CLEAR) : vanished;
    const kept = vanished.filter((k) => !clear.includes(k));
    const added = keys.some((k) => !(b.published ?? []).includes(k));
    const sends: Array<Promise<void>> = [];
    if (!b.publishedThisRun || added || clear.length > 0) sends.push(this.announce(b, s, [...keys, ...kept]));
    // QoS 1 like every other message: with states at QoS 0 the soak saw an older state (queued
    // while the broker was away) arrive after a newer one once the connection came back
    sends.push(this.pub.publish(bmsStateTopic(id, this.opts.topics), JSON.stringify(s), { retain: this.opts.retainState }));
    await Promise.all(sends);
  }

  async partial(target: BmsTarget, p: Snapshot): Promise<void> {
    if (!this.ready) return;
    // keys missing from this message render as "" in the templates, which HA ignores: entities
    // keep their last values while the status entity says "sleeping"
    await this.pub.publish(bmsStateTopic(bmsIdFromMac(target.address), this.opts.topics), JSON.stringify(p), { retain: this.opts.retainState });
  }

  /**
   * Announces `keys` for a BMS: configs of the snapshot's entities, clears of the stale ones, the
   * registry. Synchronous up to the returned promise: the announced set changes in the same step
   * that hands its messages to the client. (Before, the set changed only after the clears were
   * acknowledged: a resync running meanwhile re-sent a config just cleared, which the broker then
   * kept while the bridge had forgotten it; the next HA birth did not bring it back — issue 17.)
   */
  private async announce(b: BmsState, s: Snapshot, keys: string[]): Promise<void> {
    const id = bmsIdFromMac(b.target.address);
    const msgs = buildDiscovery(this.ctx(b.target), s);
    const stale = staleConfigs(b.published ?? [], keys);
    const sends: Array<Promise<void>> = [];
    for (const m of msgs) {
      const c = { topic: m.topic, payload: JSON.stringify(m.payload) };
      b.configs.set(m.key, c);
      sends.push(this.pub.publish(c.topic, c.payload, { retain: true }));
    }
    for (const m of clearMessages(this.ctx(b.target), stale)) sends.push(this.pub.publish(m.topic, "", { retain: true }));
    for (const k of stale) {
      b.absent.delete(k);
      b.configs.delete(k);
    }
    if (stale.length > 0) this.log.info({ bms: id, cleared: stale }, "cleared obsolete entities");
    b.published = keys;
    b.publishedThisRun = true;
    this.registry[id] = keys;
    sends.push(this.saveRegistry());
    await Promise.all(sends);
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
        this.resync(why).then(
          () => resolve(),
          (e: unknown) => {
            this.log.warn({ err: String(e) }, "re-publish failed");
            resolve();
          },
        );
      }, delay);
    });
  }

  /**
   * After an HA birth or a broker reconnect: availability and the last state of every BMS (what
   * HA lost: it may have missed them while down), and discovery only where the broker's retained
   * configs differ from the announced ones — missing (a broker that restarted without
   * persistence), different, or retained though not announced (cleared). HA reads retained
   * discovery itself when it starts; re-sending ~50 unchanged configs per BMS would only make it
   * re-process them. Returns what it sent.
   */
  async resync(why: string): Promise<ResyncResult> {
    const t = this.opts.topics;
    const announced = [...this.bms.entries()].filter(([, b]) => b.publishedThisRun);
    const filters = [this.registryTopic, ...announced.map(([id]) => `${t.discoveryPrefix}/+/${id}/+/config`)];
    const retained = await this.pub.readRetained(filters, `${t.baseTopic}/bridge/sync`);
    // from here to the sends, synchronous: the comparison and the fix see the same announced set
    const out: ResyncResult = { reason: why, configsResent: 0, configsCleared: 0, registryResent: false, messages: 0 };
    const sends: Array<Promise<void>> = [];
    const send = (topic: string, payload: string, retain: boolean): void => {
      out.messages += 1;
      sends.push(this.pub.publish(topic, payload, { retain }));
    };
    send(bridgeAvailabilityTopic(t), PAYLOAD_ONLINE, true);
    for (const [id, b] of announced) {
      const ours = new Set<string>();
      for (const c of b.configs.values()) {
        ours.add(c.topic);
        if (retained.get(c.topic) === c.payload) continue;
        send(c.topic, c.payload, true);
        out.configsResent += 1;
      }
      for (const [topic, payload] of retained) {
        if (payload === "" || ours.has(topic) || topic.split("/")[2] !== id) continue;
        send(topic, "", true);
        out.configsCleared += 1;
      }
    }
    const registry = JSON.stringify(this.registry);
    if (Object.keys(this.registry).length > 0 && retained.get(this.registryTopic) !== registry) {
      send(this.registryTopic, registry, true);
      out.registryResent = true;
    }
    for (const [id, b] of this.bms) {
      send(bmsAvailabilityTopic(id, t), b.online ? PAYLOAD_ONLINE : PAYLOAD_OFFLINE, true);
      if (b.last) send(bmsStateTopic(id, t), JSON.stringify(b.last), this.opts.retainState);
    }
    await Promise.all(sends);
    this.lastResync = out;
    this.log.info({ ...out, bms: this.bms.size }, "re-published availability and states; discovery where the broker's differed");
    return out;
  }

  /** What the last resync sent (tests and the bench read it). */
  lastResync: ResyncResult | undefined;

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

