/**
 * The Home Assistant side: discovery (retained, published when a BMS's entity set is known or
 * changes, obsolete configs cleared), state per poll, availability per BMS and for the bridge,
 * and a full re-publish when HA comes back (`homeassistant/status` = online) or the broker does.
 *
 * What was published is remembered in the broker itself, in this bridge's retained registry topic
 * `<base>/bridge/<bridge_id>/registry` ({bms_id: [entity keys]}), so entities of a BMS removed from
 * the config, or of cells that no longer exist, are cleared even across restarts.
 *
 * Several bridges share a broker (README "Scaling out"): each has its own availability topic (and
 * last will), registry and info topic (`{version, instance, bms: [bms_id]}`, retained). The sink
 * watches every bridge's info and availability: a BMS that another live bridge also polls is
 * logged loudly, and is never cleared as "no longer configured" while that bridge claims it.
 */
import type { Logger } from "pino";
import type { Snapshot } from "../bms/snapshot.js";
import { buildDiscovery, clearMessages, type DiscoveryContext, discoveryKeys, type DiscoveryMessage, PAYLOAD_OFFLINE, PAYLOAD_ONLINE, staleConfigs } from "../ha/discovery.js";
import { randomBytes } from "node:crypto";
import {
  bmsAvailabilityTopic,
  bmsIdFromMac,
  bmsStateTopic,
  bridgeAvailabilityTopic,
  bridgeInfoTopic,
  bridgePingTopic,
  bridgePongTopic,
  bridgeRegistryTopic,
  legacyBridgeAvailabilityTopic,
  legacyRegistryTopic,
  type TopicOptions,
} from "../ha/topics.js";
import type { Publisher } from "../mqtt/publisher.js";
import type { Sink } from "./sink.js";
import type { BmsTarget } from "./supervisor.js";

export interface MqttSinkOptions {
  topics: Required<TopicOptions>;
  /** This bridge's id (config `bridgeId`): its availability, registry and info topics. */
  bridgeId: string;
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

/** What another bridge on the broker says about itself (its retained info and availability). */
interface PeerBridge {
  bms: Set<string>;
  online: boolean;
}

export class MqttSink implements Sink {
  private readonly bms = new Map<string, BmsState>();
  private registry: Registry = {};
  private republishTimer: NodeJS.Timeout | undefined;
  private started = false;
  /** True once the first connect's setup (registry read, offline availability) is done. */
  private ready = false;
  /** Resolves when the last scheduled re-publish completed (tests and the soak wait on it). */
  lastRepublish: Promise<void> = Promise.resolve();
  /** Random per run: tells this bridge's info message from another's under the same id. */
  readonly instance = randomBytes(6).toString("hex");
  private readonly peers = new Map<string, PeerBridge>();
  /** Per BMS: the other live bridges that claim it, as last logged ("" = none). */
  private readonly conflictLogged = new Map<string, string>();
  private idClashLogged = false;
  private stopping = false;

  constructor(
    private readonly pub: Publisher,
    targets: readonly BmsTarget[],
    private readonly opts: MqttSinkOptions,
    private readonly log: Logger,
  ) {
    for (const t of targets) this.bms.set(bmsIdFromMac(t.address), { target: t, online: false, absent: new Map(), configs: new Map() });
  }

  private get registryTopic(): string {
    return bridgeRegistryTopic(this.opts.bridgeId, this.opts.topics);
  }

  private get availabilityTopic(): string {
    return bridgeAvailabilityTopic(this.opts.bridgeId, this.opts.topics);
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
    this.pub.on("message", (topic, payload, retained) => {
      if (topic === `${this.opts.topics.discoveryPrefix}/status` && payload === "online") this.scheduleRepublish("home assistant restarted");
      else this.onBridgeMessage(topic, payload, retained);
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
    const id = this.opts.bridgeId;
    await this.pub.publish(this.availabilityTopic, PAYLOAD_ONLINE, { retain: true });
    // every bridge's info and availability (BMS claimed twice), our ping (presence probe)
    await this.pub.subscribe([`${t.discoveryPrefix}/status`, `${t.baseTopic}/bridge/+/info`, `${t.baseTopic}/bridge/+/availability`, bridgePingTopic(id, t)]);
    if (first && !this.started) {
      this.started = true;
      const retained = await this.pub.readRetained(`${t.baseTopic}/bridge/#`, `${t.baseTopic}/bridge/sync`);
      for (const [topic, payload] of retained) this.onBridgeMessage(topic, payload, true);
      await this.migrateLegacy(retained);
      this.registry = parseRegistry(retained.get(this.registryTopic));
      await this.forgetRemoved();
      // a retained "online" from an earlier run must not linger (contract §5)
      for (const [bmsId, b] of this.bms) {
        b.published = this.registry[bmsId];
        await this.pub.publish(bmsAvailabilityTopic(bmsId, t), PAYLOAD_OFFLINE, { retain: true });
      }
      await this.publishInfo();
      this.ready = true;
      // polls that finished while the broker was not there yet are published now
      if ([...this.bms.values()].some((b) => b.last || b.online)) await this.republishAll("first connect");
    } else {
      this.scheduleRepublish("broker reconnected");
    }
  }

  /**
   * Before "Scale out" all bridges shared `<base>/bridge/availability` and `<base>/bridge/registry`.
   * The first upgraded start clears the shared availability (entities no longer list it) and takes
   * over the registry entries of its own BMS, leaving the rest for the other bridges.
   */
  private async migrateLegacy(retained: Map<string, string>): Promise<void> {
    const t = this.opts.topics;
    const legacyAvail = legacyBridgeAvailabilityTopic(t);
    if (retained.get(legacyAvail)) {
      await this.pub.publish(legacyAvail, "", { retain: true });
      this.log.info({ topic: legacyAvail }, "cleared the shared bridge availability topic of earlier versions");
    }
    const legacyReg = legacyRegistryTopic(t);
    const old = retained.get(legacyReg);
    if (!old) return;
    const legacy = parseRegistry(old);
    const mine = retained.has(this.registryTopic) ? parseRegistry(retained.get(this.registryTopic)) : {};
    let took = 0;
    for (const bmsId of this.bms.keys()) {
      const keys = legacy[bmsId];
      if (!keys) continue;
      if (!mine[bmsId]) mine[bmsId] = keys;
      delete legacy[bmsId];
      took++;
    }
    if (took === 0) return;
    await this.pub.publish(this.registryTopic, JSON.stringify(mine), { retain: true });
    await this.pub.publish(legacyReg, Object.keys(legacy).length > 0 ? JSON.stringify(legacy) : "", { retain: true });
    retained.set(this.registryTopic, JSON.stringify(mine));
    this.log.info({ bms: took }, "took over this bridge's entries of the shared registry of earlier versions");
  }

  private async publishInfo(): Promise<void> {
    const info = { version: this.opts.bridgeVersion, instance: this.instance, bms: [...this.bms.keys()] };
    await this.pub.publish(bridgeInfoTopic(this.opts.bridgeId, this.opts.topics), JSON.stringify(info), { retain: true });
  }

  /** Info, availability and ping topics of the bridges on the broker (ours and the others'). */
  private onBridgeMessage(topic: string, payload: string, retained: boolean): void {
    const t = this.opts.topics;
    const prefix = `${t.baseTopic}/bridge/`;
    if (!topic.startsWith(prefix)) return;
    const rest = topic.slice(prefix.length).split("/");
    if (rest.length !== 2) return;
    const [bridge = "", leaf] = rest;
    const own = bridge === this.opts.bridgeId;
    if (own && leaf === "ping") {
      if (!this.stopping && payload.length > 0 && payload.length <= 64) void this.pub.publish(bridgePongTopic(bridge, t), payload, { retain: false, qos: 0 }).catch(() => undefined);
      return;
    }
    if (own && leaf === "availability") {
      // the last will of a stale connection under our id (see mqtt/presence.ts) came after our online
      if (!this.stopping && !retained && payload === PAYLOAD_OFFLINE && this.pub.connected) {
        this.log.warn({ bridge }, "our bridge availability was set offline by someone else; re-publishing online");
        void this.pub.publish(this.availabilityTopic, PAYLOAD_ONLINE, { retain: true }).catch(() => undefined);
      }
      return;
    }
    if (own && leaf === "info") {
      if (retained || this.idClashLogged) return;
      const instance = parseInfo(payload)?.instance;
      if (instance !== undefined && instance !== this.instance) {
        this.idClashLogged = true;
        this.log.error({ bridge, other: instance }, `another bridge started with bridge id "${bridge}" while this one runs: give one of them another bridgeId`);
      }
      return;
    }
    if (own) return;
    const peer = this.peers.get(bridge) ?? { bms: new Set<string>(), online: false };
    if (leaf === "info") {
      peer.bms = new Set(parseInfo(payload)?.bms ?? []);
    } else if (leaf === "availability") {
      peer.online = payload === PAYLOAD_ONLINE;
    } else return;
    this.peers.set(bridge, peer);
    this.checkClaims();
  }

  /** Live bridges (other than this one) that claim `bmsId`. */
  otherClaims(bmsId: string): string[] {
    return [...this.peers].filter(([, p]) => p.online && p.bms.has(bmsId)).map(([id]) => id).sort();
  }

  private checkClaims(): void {
    for (const bmsId of this.bms.keys()) {
      const others = this.otherClaims(bmsId);
      const now = others.join(",");
      if ((this.conflictLogged.get(bmsId) ?? "") === now) continue;
      this.conflictLogged.set(bmsId, now);
      if (others.length > 0) {
        this.log.warn({ bms: bmsId, bridges: others }, `BMS ${bmsId} is also polled by bridge ${others.join(", ")}: two centrals fighting for one BMS cause "device not found" and lost polls; configure it on one bridge only`);
      } else {
        this.log.info({ bms: bmsId }, `BMS ${bmsId} is no longer polled by another bridge`);
      }
    }
  }

  /** BMS in the registry but no longer configured: clear their configs, availability and state. */
  private async forgetRemoved(): Promise<void> {
    const t = this.opts.topics;
    let changed = false;
    const registry = this.registry;
    for (const [id, keys] of Object.entries(registry)) {
      if (this.bms.has(id)) continue;
      const others = this.otherClaims(id);
      if (others.length > 0) {
        // moved to another bridge: its entities are that bridge's now
        delete registry[id];
        changed = true;
        this.log.info({ bms: id, bridges: others }, "BMS no longer configured here is polled by another bridge: its entities stay");
        continue;
      }
      const mac = id.slice("daly_bms_".length).match(/../g)?.join(":") ?? "";
      for (const m of clearMessages({ mac, topics: t }, keys)) await this.pub.publish(m.topic, "", { retain: true });
      await this.pub.publish(bmsAvailabilityTopic(id, t), "", { retain: true });
      await this.pub.publish(bmsStateTopic(id, t), "", { retain: true });
      delete registry[id];
      changed = true;
      this.log.info({ bms: id, entities: keys.length }, "removed entities of a BMS no longer configured");
    }
    if (changed) await this.saveRegistry();
  }

  private async saveRegistry(): Promise<void> {
    await this.pub.publish(this.registryTopic, JSON.stringify(this.registry), { retain: true });
  }

  private ctx(target: BmsTarget): DiscoveryContext {
    const c: DiscoveryContext = { mac: target.address, topics: this.opts.topics, bridgeVersion: this.opts.bridgeVersion, bridgeId: this.opts.bridgeId };
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
    await this.pub.publish(this.availabilityTopic, PAYLOAD_ONLINE, { retain: true });
    await this.publishInfo();
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
    this.stopping = true;
    if (this.republishTimer) clearTimeout(this.republishTimer);
    const t = this.opts.topics;
    const final = [...this.bms.keys()].map((id) => ({ topic: bmsAvailabilityTopic(id, t), payload: PAYLOAD_OFFLINE }));
    final.push({ topic: this.availabilityTopic, payload: PAYLOAD_OFFLINE });
    await this.pub.close(final);
  }
}

function parseInfo(text: string): { instance?: string; bms: string[] } | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
    const o = v as Record<string, unknown>;
    const bms = Array.isArray(o.bms) ? o.bms.filter((x): x is string => typeof x === "string") : [];
    return typeof o.instance === "string" ? { instance: o.instance, bms } : { bms };
  } catch {
    return undefined;
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

