/**
 * Several bridge processes (the real CLI, simulated radios) on one real Mosquitto (README
 * "Scaling out"): per-bridge availability keeps the others' entities available as Home Assistant
 * computes it, a duplicate bridge id is refused without side effects, a BMS claimed by two bridges
 * is reported, and the shared topic of earlier versions is cleared.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CLI } from "../helpers/paths.js";
import { startBroker, type Broker } from "../helpers/broker.js";
import { Watcher } from "../helpers/mqtt-watch.js";
import { FAST_ENV, PACK, scenarioFile } from "../helpers/bridge-run.js";
import { probePresence } from "../../src/mqtt/presence.js";

const MAC = (n: number): string => `C0:D6:3C:57:2B:0${n}`;
const ID = (n: number): string => `daly_bms_c0d63c572b0${n}`;

let broker: Broker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

interface Proc {
  p: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  waitLine(re: RegExp, what: string, timeoutMs?: number, since?: number): Promise<string>;
}

/** The CLI as a process; stderr (JSON log lines) kept for assertions. */
function bridge(id: string, macs: number[], extra: string[] = [], env: Record<string, string> = {}): Proc {
  const file = scenarioFile(macs.map((n) => ({ ...PACK, address: MAC(n), protocol: "d2" })));
  const p = spawn(process.execPath, [CLI, "run", "--poll-interval", "1", "--log-level", "info", "--sim-scenario", file, "--mqtt-url", broker.url, "--bridge-id", id, ...extra], {
    env: { PATH: process.env.PATH ?? "", ...FAST_ENV, DALY_STATE_DIR: mkdtempSync(join(tmpdir(), "daly-state-")), DALY_LOG_FORMAT: "json", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  const rl = createInterface({ input: p.stderr as NonNullable<ChildProcess["stderr"]> });
  rl.on("line", (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) {
      if (w.re.test(l)) w.resolve(l);
      else waiters.push(w);
    }
  });
  const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
  return {
    p,
    lines,
    exited,
    waitLine: (re, what, timeoutMs = 20000, since = 0) => {
      const seen = lines.slice(since).find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr:\n${lines.join("\n")}`)), timeoutMs);
        waiters.push({ re, resolve: (l) => (clearTimeout(t), resolve(l)) });
      });
    },
  };
}

async function stop(b: Proc, sig: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
  if (b.p.exitCode === null && b.p.signalCode === null) b.p.kill(sig);
  return await b.exited;
}

interface Config {
  availability: Array<{ topic: string; payload_available: string; payload_not_available: string }>;
  availability_mode: string;
}

/**
 * What Home Assistant shows for every discovered entity of `bmsId`, computed as HA does from the
 * retained discovery payloads: mode `all` → available only while every listed topic holds its
 * payload_available (a topic never received counts as not available).
 */
async function haAvailability(bmsId: string): Promise<{ entities: number; available: number }> {
  const w = await Watcher.connect(broker.url, ["homeassistant/#", "daly_bms/#"]);
  await w.sync();
  const retained = new Map<string, string>();
  for (const m of w.messages) if (m.retain) retained.set(m.topic, m.payload);
  await w.close();
  let entities = 0;
  let available = 0;
  for (const [topic, payload] of retained) {
    if (!topic.startsWith("homeassistant/") || !topic.includes(`/${bmsId}/`) || payload === "") continue;
    const c = JSON.parse(payload) as Config;
    assert.equal(c.availability_mode, "all");
    entities++;
    if (c.availability.every((a) => retained.get(a.topic) === a.payload_available)) available++;
  }
  return { entities, available };
}

describe("several bridges on one broker", () => {
  it("three bridges: stopping one (clean or killed) leaves the others' entities available; the shared topic of earlier versions is cleared", async () => {
    const w = await Watcher.connect(broker.url);
    // what an earlier version left behind: the shared bridge topic, said offline by a last will
    await w.publish("daly_bms/bridge/availability", "offline", true);
    // and the shared registry: garage takes over BMS 1's entry (its stale cell_9 is cleared), BMS 9's stays
    await w.publish("daly_bms/bridge/registry", JSON.stringify({ [ID(1)]: ["voltage", "cell_9"], daly_bms_c0d63c572b09: ["voltage"] }), true);
    const garage = bridge("garage", [1]);
    const shed = bridge("shed", [2]);
    const van = bridge("van", [3]);
    try {
      for (const n of [1, 2, 3]) await w.waitFor(w.topic(`daly_bms/${ID(n)}/availability`, "online"), `BMS ${n} online`);
      await w.waitFor(w.topic("daly_bms/bridge/availability", ""), "shared topic of earlier versions cleared");
      await w.waitFor(w.topic(`homeassistant/sensor/${ID(1)}/cell_9/config`, ""), "stale entity from the shared registry cleared");
      await w.waitFor(w.topic("daly_bms/bridge/registry", JSON.stringify({ daly_bms_c0d63c572b09: ["voltage"] })), "shared registry keeps only the others' entries");
      await w.waitFor((m) => m.topic === "daly_bms/bridge/garage/registry" && m.payload.includes(ID(1)), "garage's own registry");
      for (const n of [1, 2, 3]) {
        await w.waitFor((m) => m.topic === `homeassistant/sensor/${ID(n)}/cell_4/config` && m.payload.length > 0, `discovery of BMS ${n}`);
      }
      // each entity lists its own bridge's topic and its BMS's
      const volt = await w.waitFor(w.topic(`homeassistant/sensor/${ID(2)}/voltage/config`), "voltage config of BMS 2");
      assert.deepEqual((JSON.parse(volt.payload) as Config).availability.map((a) => a.topic), ["daly_bms/bridge/shed/availability", `daly_bms/${ID(2)}/availability`]);
      for (const n of [1, 2, 3]) {
        const a = await haAvailability(ID(n));
        assert.ok(a.entities >= 15, `BMS ${n}: ${a.entities} entities`);
        assert.equal(a.available, a.entities, `BMS ${n} all available`);
      }

      // shed stops cleanly: its own entities go unavailable, the others' stay available
      assert.equal(await stop(shed), 0);
      await w.waitFor(w.topic("daly_bms/bridge/shed/availability", "offline"), "shed offline");
      assert.equal((await haAvailability(ID(2))).available, 0, "shed's BMS unavailable");
      for (const n of [1, 3]) {
        const a = await haAvailability(ID(n));
        assert.equal(a.available, a.entities, `BMS ${n} still available after shed stopped`);
      }

      // van dies: its last will marks only van offline
      const t0 = w.messages.length;
      await stop(van, "SIGKILL");
      await w.waitFor(w.topic("daly_bms/bridge/van/availability", "offline"), "van's last will", 15000, t0);
      assert.equal((await haAvailability(ID(3))).available, 0, "van's BMS unavailable");
      const a1 = await haAvailability(ID(1));
      assert.equal(a1.available, a1.entities, "garage's BMS still available after van died");
      assert.equal(w.messages.filter((m) => m.topic === "daly_bms/bridge/garage/availability" && m.payload === "offline").length, 0, "garage never offline");
    } finally {
      await Promise.all([stop(garage), stop(shed), stop(van)]);
      await w.publish("daly_bms/bridge/registry", "", true);
      await w.close();
    }
  });

  it("a second bridge with a live bridge's id is refused: one line naming the id, exit 1, nothing published that touches the live one", async () => {
    const w = await Watcher.connect(broker.url);
    const live = bridge("shed", [4]);
    try {
      await w.waitFor(w.topic(`daly_bms/${ID(4)}/availability`, "online"), "live shed polling");
      await w.waitFor(w.topic("daly_bms/bridge/shed/availability", "online"), "live shed online");
      // the live bridge's own start-up publishing is over (its discovery ends with the registry)
      await w.waitFor(w.topic("daly_bms/bridge/shed/registry"), "live shed's registry");
      const t0 = w.messages.length;
      // the same BMS 4 (a start would publish it offline, contract §5) and a BMS 8 of its own: any
      // message that names BMS 8 could only come from the refused bridge
      const dup = bridge("shed", [4, 8]);
      const code = await dup.exited;
      assert.equal(code, 1);
      const errLines = dup.lines.filter((l) => !l.startsWith("{"));
      assert.equal(errLines.length, 1, dup.lines.join("\n"));
      assert.match(errLines[0] ?? "", /^bridgeId: bridge id "shed" is held by a live bridge on mqtt:\/\/.*; give this bridge another id/);
      await w.sync(); // everything the broker had for us up to now has arrived
      const after = w.messages.slice(t0);
      assert.deepEqual(after.filter((m) => m.topic.includes(ID(8)) || m.payload.includes(ID(8))), [], "nothing names the refused bridge's own BMS");
      assert.deepEqual(after.filter((m) => m.topic === "daly_bms/bridge/shed/availability" || m.topic === "daly_bms/bridge/shed/info"), [], "no availability or info under the held id");
      assert.deepEqual(after.filter((m) => m.topic === `daly_bms/${ID(4)}/availability` && m.payload !== "online"), [], "the shared BMS was not set offline");
      const fresh = await Watcher.connect(broker.url, ["daly_bms/bridge/shed/availability"]);
      await fresh.sync();
      assert.deepEqual(fresh.messages.filter((m) => m.topic === "daly_bms/bridge/shed/availability").map((m) => [m.payload, m.retain]), [["online", true]]);
      await fresh.close();
      assert.equal((live.p.exitCode ?? live.p.signalCode), null, "the live bridge still runs");

      // the live one stops: its id is free again (a retained offline is not "held")
      assert.equal(await stop(live), 0);
      const next = bridge("shed", [4]);
      try {
        const t1 = w.messages.length;
        await w.waitFor(w.topic("daly_bms/bridge/shed/availability", "online"), "shed again", 15000, t1);
      } finally {
        assert.equal(await stop(next), 0);
      }
      // killed: the last will frees the id as well
      const killed = bridge("shed", [4]);
      const t2 = w.messages.length;
      await w.waitFor(w.topic("daly_bms/bridge/shed/availability", "online"), "shed before kill", 15000, t2);
      await stop(killed, "SIGKILL");
      await w.waitFor(w.topic("daly_bms/bridge/shed/availability", "offline"), "last will", 15000, t2);
      const t3 = w.messages.length;
      const after2 = bridge("shed", [4]);
      try {
        await w.waitFor(w.topic("daly_bms/bridge/shed/availability", "online"), "shed after a crash", 15000, t3);
        await w.waitFor(w.topic(`daly_bms/${ID(4)}/availability`, "online"), "polling after a crash", 15000, t3);
      } finally {
        assert.equal(await stop(after2), 0);
      }
    } finally {
      await stop(live);
      await w.close();
    }
  });

  it("a BMS configured on two bridges is reported once per change, on both", async () => {
    const garage = bridge("garage", [5, 6]);
    const w = await Watcher.connect(broker.url);
    try {
      await w.waitFor(w.topic(`daly_bms/${ID(5)}/availability`, "online"), "garage polling");
      const shed = bridge("shed", [5]);
      const warnShed = await shed.waitLine(/is also polled by bridge garage/, "shed reports BMS 5 claimed by garage");
      const warnGarage = await garage.waitLine(/is also polled by bridge shed/, "garage reports BMS 5 claimed by shed");
      for (const l of [warnShed, warnGarage]) {
        const j = JSON.parse(l) as { level: number; bms: string };
        assert.equal(j.bms, ID(5));
        assert.ok(j.level >= 40, "logged as a warning");
      }
      assert.ok(!garage.lines.some((l) => l.includes(`${ID(6)} is also polled`)), "BMS 6 is garage's alone");
      // shed stops: garage says so once, and the warning is not repeated while nothing changes
      const since = garage.lines.length;
      assert.equal(await stop(shed), 0);
      await garage.waitLine(new RegExp(`BMS ${ID(5)} is no longer polled by another bridge`), "conflict over", 15000, since);
      await w.waitFor(w.topic(`daly_bms/${ID(5)}/state`), "a poll after", 10000, w.messages.length);
      assert.equal(garage.lines.filter((l) => l.includes("is also polled by bridge")).length, 1);
    } finally {
      await stop(garage);
      await w.close();
    }
  });

  it("presence probe: free, held by a live bridge, stale retained online (no answer to the ping)", async () => {
    const broker1 = { url: broker.url, clientId: "probe-test" };
    const topics = (id: string) => ({ availability: `daly_bms/bridge/${id}/availability`, ping: `daly_bms/bridge/${id}/ping`, pong: `daly_bms/bridge/${id}/pong` });
    assert.deepEqual(await probePresence(broker1, topics("nobody")), { state: "free" });
    const w = await Watcher.connect(broker.url);
    // a retained online whose owner is gone without its will delivered yet (power cut)
    await w.publish("daly_bms/bridge/ghost/availability", "online", true);
    assert.deepEqual(await probePresence(broker1, topics("ghost"), { pingTimeoutMs: 300 }), { state: "stale" });
    const live = bridge("probed", [7]);
    try {
      await w.waitFor(w.topic("daly_bms/bridge/probed/availability", "online"), "probed online");
      await w.waitFor(w.topic(`daly_bms/${ID(7)}/availability`, "online"), "probed polling");
      assert.deepEqual(await probePresence(broker1, topics("probed"), { pingTimeoutMs: 5000 }), { state: "held" });
      // the last will of a stale connection under this id arrives after the live bridge took over:
      // the live bridge puts its online back
      const t0 = w.messages.length;
      await w.publish("daly_bms/bridge/probed/availability", "offline", true);
      await w.waitFor(w.topic("daly_bms/bridge/probed/availability", "online"), "online re-published", 10000, t0);
      await live.waitLine(/set offline by someone else; re-publishing online/, "the warning");
    } finally {
      await stop(live);
      await w.publish("daly_bms/bridge/ghost/availability", "", true);
      await w.close();
    }
    // no broker: unknown (the bridge starts anyway and says so)
    assert.equal((await probePresence({ url: "mqtt://127.0.0.1:1", clientId: "x" }, topics("x"))).state, "unknown");
  });
});
