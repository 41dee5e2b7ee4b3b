/**
 * Several adapters in one bridge (README "Scaling out"): BMS on different (simulated) adapters are
 * polled in parallel, BMS on one adapter one after the other. Each virtual controller is its own
 * adapter with its own noble instance, as real adapters are.
 */
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startBroker, type Broker } from "../helpers/broker.js";
import { PACK, runBridge, scenarioFile } from "../helpers/bridge-run.js";
import type { VirtualController } from "../../src/sim/hci/index.js";
import { PerAdapterTransport } from "../../src/transport/per-adapter.js";
import { simAdapterAddress } from "../../src/sim/radio.js";

let broker: Broker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.stop();
});

type Interval = { address: string; from: number; to?: number };

/** Link-up intervals per BMS address, from the controllers' own connect/disconnect events. */
function record(controllers: Iterable<VirtualController>): Interval[] {
  const out: Interval[] = [];
  for (const c of controllers) {
    c.on("connected", (address) => out.push({ address, from: performance.now() }));
    c.on("disconnected", (address) => {
      const open = [...out].reverse().find((i) => i.address === address && i.to === undefined);
      if (open) open.to = performance.now();
    });
  }
  return out;
}

function overlaps(a: Interval, b: Interval): boolean {
  return a.to !== undefined && b.to !== undefined && a.from < b.to && b.from < a.to;
}

/** Resolves once `cond` holds, checked after every link-down on any of the controllers. */
async function until(controllers: Iterable<VirtualController>, cond: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  const cs = [...controllers];
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (!cond()) return;
      finish();
      resolve();
    };
    const finish = (): void => {
      clearTimeout(t);
      for (const c of cs) c.removeListener("disconnected", check);
    };
    const t = setTimeout(() => {
      finish();
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    for (const c of cs) c.on("disconnected", check);
    check();
  });
}

const A = "C0:D6:3C:57:2C:01";
const B = "C0:D6:3C:57:2C:02";
const C = "C0:D6:3C:57:2C:03";
// slow enough links that one poll spans a measurable time
const SLOW = { connectionIntervalMs: 15, advertisingIntervalMs: 10 };

describe("several adapters in one bridge", () => {
  it("polls on two adapters overlap in time; on one adapter they never do", async () => {
    const file = scenarioFile([
      { ...PACK, address: A, protocol: "d2", timing: SLOW, adapter: "hci0" },
      { ...PACK, address: B, protocol: "d2", timing: SLOW, adapter: "hci1" },
      { ...PACK, address: C, protocol: "d2", timing: SLOW, adapter: "hci0" },
    ]);
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url, "--bridge-id", "adapters"]);
    try {
      const sim = h.radio.sim;
      assert.ok(sim);
      assert.deepEqual([...sim.controllers.keys()], ["hci0", "hci1"]);
      const iv = record(sim.controllers.values());
      const done = (addr: string): number => iv.filter((i) => i.address === addr && i.to !== undefined).length;
      await until(sim.controllers.values(), () => done(A) >= 3 && done(B) >= 3 && done(C) >= 3, "three polls of each BMS");
      const closed = iv.filter((i) => i.to !== undefined);
      const a = closed.filter((i) => i.address === A);
      const b = closed.filter((i) => i.address === B);
      const c = closed.filter((i) => i.address === C);
      assert.ok(b.some((x) => [...a, ...c].some((y) => overlaps(x, y))), "hci1's poll ran while hci0 had a link up");
      assert.ok(!a.some((x) => c.some((y) => overlaps(x, y))), "A and C share hci0: one link at a time");
      // one queue and one noble instance per adapter
      assert.deepEqual([...h.bridge.queues.keys()].sort(), ["hci0", "hci1"]);
      assert.ok(h.radio.transport instanceof PerAdapterTransport);
      assert.deepEqual(h.radio.transport.adapters.sort(), ["hci0", "hci1"]);
    } finally {
      await h.stop();
    }
  });

  it("control: the same BMS all on one adapter are never connected at the same time", async () => {
    const file = scenarioFile([
      { ...PACK, address: A, protocol: "d2", timing: SLOW },
      { ...PACK, address: B, protocol: "d2", timing: SLOW },
    ]);
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url, "--bridge-id", "adapters"]);
    try {
      const sim = h.radio.sim;
      assert.ok(sim);
      const iv = record(sim.controllers.values());
      const done = (addr: string): number => iv.filter((i) => i.address === addr && i.to !== undefined).length;
      await until(sim.controllers.values(), () => done(A) >= 3 && done(B) >= 3, "three polls of each BMS");
      const closed = iv.filter((i) => i.to !== undefined);
      assert.ok(!closed.some((x) => closed.some((y) => x.address !== y.address && overlaps(x, y))));
    } finally {
      await h.stop();
    }
  });

  it("a BMS configured on an adapter that does not reach it is not found there", async () => {
    const file = scenarioFile([{ ...PACK, address: A, protocol: "d2", adapter: "hci1" }]);
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url, "--bridge-id", "adapters", "--address", JSON.stringify([{ address: A, adapter: "hci0" }])]);
    try {
      const sup = h.bridge.supervisors[0];
      assert.ok(sup);
      const failed = new Promise<string>((resolve) => sup.once("failure", (e) => resolve(e.message)));
      assert.match(await failed, /not found/i);
      assert.equal(h.radio.sim?.writes.get(A) ?? 0, 0);
    } finally {
      await h.stop();
    }
  });

  it("a BMS configured with the second adapter's address is polled there; the lookup sends hci0 only Read BD_ADDR", async () => {
    const file = scenarioFile([
      { ...PACK, address: A, protocol: "d2", adapter: "hci0" },
      { ...PACK, address: B, protocol: "d2", adapter: "hci1" },
    ]);
    assert.equal(simAdapterAddress("hci1"), "00:11:22:33:44:56");
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url, "--bridge-id", "adapters", "--address", JSON.stringify([{ address: B, adapter: "00:11:22:33:44:56" }])]);
    try {
      const sim = h.radio.sim;
      assert.ok(sim);
      const hci0 = sim.controllers.get("hci0");
      const hci1 = sim.controllers.get("hci1");
      assert.ok(hci0 && hci1);
      const sup = h.bridge.supervisors[0];
      assert.ok(sup);
      await once(sup, "snapshot", { signal: AbortSignal.timeout(20000) });
      assert.ok((sim.writes.get(B) ?? 0) > 0, "B was polled");
      assert.ok(hci1.peripheralCounters(B).connections > 0, "on hci1");
      // hci0 was only asked for its address: no init, no scan, no connect
      assert.deepEqual([...hci0.commandsSeen.keys()], [0x1009]);
      assert.ok(hci1.commandsSeen.has(0x1009));
      assert.deepEqual([...h.bridge.queues.keys()], ["00:11:22:33:44:56"]);
    } finally {
      await h.stop();
    }
  });

  it("an adapter address no controller has fails with the address and the adapters found", async () => {
    const file = scenarioFile([
      { ...PACK, address: A, protocol: "d2", adapter: "hci0" },
      { ...PACK, address: B, protocol: "d2", adapter: "hci1" },
    ]);
    const h = await runBridge(["--sim-scenario", file, "--mqtt-url", broker.url, "--bridge-id", "adapters", "--address", JSON.stringify([{ address: B, adapter: "aa:bb:cc:dd:ee:ff" }])]);
    try {
      const sup = h.bridge.supervisors[0];
      assert.ok(sup);
      const [e] = await once(sup, "failure", { signal: AbortSignal.timeout(20000) });
      assert.ok(e instanceof Error);
      assert.match(e.message, /no Bluetooth adapter with address AA:BB:CC:DD:EE:FF \(adapters found: hci0 00:11:22:33:44:55, hci1 00:11:22:33:44:56\)/);
      assert.equal(h.radio.sim?.writes.get(B) ?? 0, 0);
      for (const c of h.radio.sim?.controllers.values() ?? []) assert.deepEqual([...c.commandsSeen.keys()], [0x1009]);
    } finally {
      await h.stop();
    }
  });
});
