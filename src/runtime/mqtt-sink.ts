/**
 * The Home Assistant side: discovery (retained, published when a BMS's entity set is known or
 * changes, obsolete configs cleared), state per poll, availability per BMS and for the bridge,
 * and a resync when HA comes back (`homeassistant/status` = online) or the broker does.
 *
 * What was published is remembered in the broker itself, in this bridge's retained registry topic
 * `<base>/bridge/<bridge_id>/registry` ({bms_id: [entity keys]}), so entities of a BMS removed from
 * the config, or of cells that no longer exist, are cleared even across restarts.
 *
 * Several bridges share a broker (README "Scaling out"): each has its own availability topic (and
 * last will), registry and info topic (`{version, instance, bms: [bms_id]}`, retained). The sink
 * watches every bridge's info and availability: a BMS that another live bridge also polls is
 * logged loudly, and is never cleared as "no longer configured" while that bridge claims it.
 *
 * One invariant: the discovery configs the broker retains for a BMS are exactly the ones the
 * bridge announced for it (`BmsState.configs`). Every change of `configs` (and of the registry)
 * is made in the same synchronous step that hands its messages to the MQTT client, and the client
 * keeps that order on the wire, so no later message (a resync's, another poll's) can carry an
 * older view. A resync reads what the broker retains and sends only the difference.
 */
import type { Logger } from "pino";
import type { Snapshot } from "../bms/snapshot.js";
import { buildDiscovery, clearMessages, type DiscoveryContext, discoveryKeys, PAYLOAD_OFFLINE, PAYLOAD_ONLINE, staleConfigs } from "../ha/discovery.js";
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
import type { MqttLink } from "../mqtt/publisher.js";
import type { Sink } from "./sink.js";
import type { BmsTarget } from "./supervisor.js";

export interface MqttSinkOptions {
  topics: Required<TopicOptions>;
  /** This bridge's id (config `bridgeId`): its availability, registry and info topics. */
  bridgeId: string;
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
  /** The last full snapshot (what discovery is built from). */
  last?: Snapshot;
  /**
   * The last state message of this BMS exactly as published (a full snapshot, or a "sleeping" /
   * "busy" one): what a retained state holds, and what a resync re-sends — never an older full
   * snapshot after a newer partial one, which would flip HA's status back to "ok" with old values.
   */
  lastState?: string;
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

/** How long after a live `offline` on our availability the connection must still be up to call it someone else's. */
const OWN_WILL_GRACE_MS = 1000;

type Registry = Record<string, string[]>;

/** What another bridge on the broker says about itself (its retained info and availability). */
interface PeerBridge {
  bms: Set<string>;
  online: boolean;
}

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
  /** Random per run: tells this bridge's info message from another's under the same id. */
  readonly instance = randomBytes(6).toString("hex");
  private readonly peers = new Map<string, PeerBridge>();
  /** Per BMS: the other live bridges that claim it, as last logged ("" = none). */
  private readonly conflictLogged = new Map<string, string>();
  private idClashLogged = false;
  private stopping = false;
  /** Pending decision on a live `offline` on our own availability (see offlineSeen). */
  private offlineCheck: NodeJS.Timeout | undefined;
  /** Broker connections so far (the `connected` events): tells one connection from the next. */
  private connections = 0;

  constructor(
    private readonly pub: MqttLink,
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
        this.connections += 1;
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
      // polls that finished while the broker was not there yet are published now, like any poll
      for (const [bmsId, b] of this.bms) {
        if (b.last) await this.announceIfChanged(b, b.last);
        await this.publishState(bmsId, b);
        if (b.online) await this.availability(b.target, true);
      }
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
    retained.set(this.registryTopic, JSON.stringify(mine));
    this.log.info({ bms: took }, "took over this bridge's entries of the shared registry of earlier versions");
    await Promise.all([
      this.pub.publish(this.registryTopic, JSON.stringify(mine), { retain: true }),
      this.pub.publish(legacyReg, Object.keys(legacy).length > 0 ? JSON.stringify(legacy) : "", { retain: true }),
    ]);
  }

  /** This bridge's retained info message: version, run instance, the BMS it polls. */
  private infoMessage(): { topic: string; payload: string } {
    const info = { version: this.opts.bridgeVersion, instance: this.instance, bms: [...this.bms.keys()] };
    return { topic: bridgeInfoTopic(this.opts.bridgeId, this.opts.topics), payload: JSON.stringify(info) };
  }

  private async publishInfo(): Promise<void> {
    const info = this.infoMessage();
    await this.pub.publish(info.topic, info.payload, { retain: true });
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
      if (!this.stopping && !retained && payload === PAYLOAD_OFFLINE && this.pub.connected) this.offlineSeen();
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

  /**
   * A live `offline` on our own availability topic. Either the last will of a stale connection
   * under our id (see mqtt/presence.ts) came after our online — we put online back — or it is our
   * own will, which Mosquitto 2 sends as it shuts down, just before it closes our connection (the
   * soak saw it at every broker restart); then the reconnect announces online and there is nothing
   * to warn about. Decided a moment later: if this connection is still up, it was someone else.
   */
  private offlineSeen(): void {
    if (this.offlineCheck) return;
    const epoch = this.connections;
    this.offlineCheck = setTimeout(() => {
      this.offlineCheck = undefined;
      if (this.stopping) return;
      if (this.connections !== epoch || !this.pub.connected) {
        this.log.debug("our bridge availability went offline as the connection closed (our own last will): the reconnect announces online");
        return;
      }
      this.log.warn({ bridge: this.opts.bridgeId }, "our bridge availability was set offline by someone else; re-publishing online");
      void this.pub.publish(this.availabilityTopic, PAYLOAD_ONLINE, { retain: true }).catch(() => undefined);
    }, OWN_WILL_GRACE_MS);
    this.offlineCheck.unref?.();
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
    const sends: Array<Promise<void>> = [];
    let changed = false;
    for (const [id, keys] of Object.entries(this.registry)) {
      if (this.bms.has(id)) continue;
      const others = this.otherClaims(id);
      if (others.length > 0) {
        // moved to another bridge: its entities are that bridge's now
        delete this.registry[id];
        changed = true;
        this.log.info({ bms: id, bridges: others }, "BMS no longer configured here is polled by another bridge: its entities stay");
        continue;
      }
      const mac = id.slice("daly_bms_".length).match(/../g)?.join(":") ?? "";
      for (const m of clearMessages({ mac, topics: t }, keys)) sends.push(this.pub.publish(m.topic, "", { retain: true }));
      sends.push(this.pub.publish(bmsAvailabilityTopic(id, t), "", { retain: true }));
      sends.push(this.pub.publish(bmsStateTopic(id, t), "", { retain: true }));
      delete this.registry[id];
      changed = true;
      this.log.info({ bms: id, entities: keys.length }, "removed entities of a BMS no longer configured");
    }
    // the clears and the registry without them go to the client in the step that changed it
    if (changed) sends.push(this.saveRegistry());
    await Promise.all(sends);
  }

  /** Hands the registry as it is now to the client (call in the step that changed it). */
  private saveRegistry(): Promise<void> {
    return this.pub.publish(this.registryTopic, JSON.stringify(this.registry), { retain: true });
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
    b.lastState = JSON.stringify(s);
    if (!this.ready) return; // published by the first connect's setup
    // QoS 1 like every other message: with states at QoS 0 the soak saw an older state (queued
    // while the broker was away) arrive after a newer one once the connection came back
    await Promise.all([this.announceIfChanged(b, s), this.publishState(id, b)]);
  }

  /** The BMS's last state message, on its state topic. */
  private publishState(id: string, b: BmsState): Promise<void> {
    if (b.lastState === undefined) return Promise.resolve();
    return this.pub.publish(bmsStateTopic(id, this.opts.topics), b.lastState, { retain: this.opts.retainState });
  }

  /**
   * Announces discovery when this run has not yet, or the snapshot's entity set grew, or a key has
   * been missing long enough to be cleared. The bridge does not await its sink: polls of one BMS
   * may overlap here while the broker is away (each waits for its PUBACKs); every decision below
   * reads state no await can leave stale.
   */
  private announceIfChanged(b: BmsState, s: Snapshot): Promise<void> {
    const keys = discoveryKeys(s);
    const present = new Set(keys);
    for (const k of present) b.absent.delete(k);
    const vanished = (b.published ?? []).filter((k) => !present.has(k));
    for (const k of vanished) b.absent.set(k, (b.absent.get(k) ?? 0) + 1);
    const clear = b.publishedThisRun ? vanished.filter((k) => (b.absent.get(k) ?? 0) >= ABSENT_BEFORE_CLEAR) : vanished;
    const kept = vanished.filter((k) => !clear.includes(k));
    const added = keys.some((k) => !(b.published ?? []).includes(k));
    if (!b.publishedThisRun || added || clear.length > 0) return this.announce(b, s, [...keys, ...kept]);
    return Promise.resolve();
  }

  async partial(target: BmsTarget, p: Snapshot): Promise<void> {
    const id = bmsIdFromMac(target.address);
    const b = this.bms.get(id);
    if (!b) return;
    b.lastState = JSON.stringify(p);
    if (!this.ready) return;
    // keys missing from this message render as "" in the templates, which HA ignores: entities
    // keep their last values while the status entity says "sleeping"
    await this.publishState(id, b);
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
   * After an HA birth or a broker reconnect: this bridge's availability and info, availability and
   * the last state message of every BMS (exactly as published) (what HA lost: it may have missed them while down), this bridge's
   * registry if the broker lost or changed it, and discovery only where the broker's retained
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
    send(this.availabilityTopic, PAYLOAD_ONLINE, true);
    // a broker that lost its retained messages lost our info too: peers would not see our BMS
    const info = this.infoMessage();
    send(info.topic, info.payload, true);
    for (const [id, b] of announced) {
      const ours = new Set<string>();
      for (const c of b.configs.values()) {
        ours.add(c.topic);
        if (retained.get(c.topic) === c.payload) continue;
        send(c.topic, c.payload, true);
        out.configsResent += 1;
      }
      // configs another live bridge also announces for this BMS (it is configured twice, logged
      // loudly) may be that bridge's: left alone, as forgetRemoved leaves a claimed BMS alone
      if (this.otherClaims(id).length > 0) continue;
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
      if (b.lastState !== undefined) send(bmsStateTopic(id, t), b.lastState, this.opts.retainState);
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
    this.stopping = true;
    if (this.republishTimer) clearTimeout(this.republishTimer);
    if (this.offlineCheck) clearTimeout(this.offlineCheck);
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

