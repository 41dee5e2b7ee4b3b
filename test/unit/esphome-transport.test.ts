/**
 * EsphomeTransport against a fake proxy on loopback (test/helpers/fake-proxy.ts): the native API
 * client (plaintext and Noise), the GATT flow and the proxy faults the field reports.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { FakeProxy, type FakeProxyOptions } from "../helpers/fake-proxy.js";
import { EsphomeTransport, type EsphomeTransportOptions } from "../../src/transport/esphome/transport.js";
import type { ProxyState } from "../../src/transport/esphome/proxy.js";
import { parseScenario, type ScenarioBms } from "../../src/sim/scenario.js";
import { pollOnce } from "../../src/runtime/poller.js";
import { TransportError } from "../../src/transport/errors.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";
import { pdusPerExchange, pollMinimumMs, PROXY_DISCOVERY_TRANSACTIONS, proxyCycleMinimum, replyFrames } from "../../tools/bench/minimum.js";

const BASE = { cells_mV: [3301, 3302, 3300, 3305], temperatures_C: [21, 22], current_A: -12.3, soc_pct: 55.5, remaining_Ah: 80.2, cycles: 12, charge_mosfet: true, discharge_mosfet: false };

function bms(list: Array<Record<string, unknown>>): ScenarioBms[] {
  const r = parseScenario({ bms: list });
  assert.ok(r.ok, r.ok ? "" : r.message);
  return r.scenario.bms;
}
const THREE = bms([
  { ...BASE, address: "C0:D6:3C:57:2A:01", protocol: "a5" },
  { ...BASE, address: "C0:D6:3C:57:2A:02", protocol: "d2" },
  { ...BASE, address: "C0:D6:3C:57:2A:03", protocol: "p81" },
]);
const KEY = randomBytes(32).toString("base64");

async function withProxy<T>(o: FakeProxyOptions, fn: (p: FakeProxy) => Promise<T>): Promise<T> {
  const p = new FakeProxy(o);
  await p.start();
  try {
    return await fn(p);
  } finally {
    await p.stop();
  }
}

function transport(ports: Array<{ port: number; key?: string; name?: string }>, extra: Partial<EsphomeTransportOptions> = {}): EsphomeTransport & { states: Array<[string, ProxyState, string]> } {
  const states: Array<[string, ProxyState, string]> = [];
  const t = new EsphomeTransport({
    proxies: ports.map((p) => ({ host: "127.0.0.1", port: p.port, encryptionKey: p.key ?? "", ...(p.name ? { name: p.name } : {}) })),
    scanTimeoutMs: 2000,
    connectTimeoutMs: 2000,
    gattTimeoutMs: 1000,
    setupTimeoutMs: 2000,
    backoffMinMs: 50,
    backoffMaxMs: 200,
    onState: (proxy, state, why) => states.push([proxy, state, why]),
    ...extra,
  });
  return Object.assign(t, { states });
}

async function pollThrough(t: EsphomeTransport, address: string) {
  const link = await t.open({ address });
  try {
    return await pollOnce(link, undefined, { requestTimeoutMs: 500, retries: 1 });
  } finally {
    await link.close();
  }
}

for (const mode of ["plaintext", "noise"] as const) {
  test(`${mode}: a5, d2 and p81 polled through the proxy equal the scenario; slots released after each poll`, async () => {
    await withProxy({ bms: THREE, ...(mode === "noise" ? { key: KEY } : {}) }, async (p) => {
      const t = transport([{ port: p.port, ...(mode === "noise" ? { key: KEY } : {}) }]);
      try {
        for (const b of THREE) {
          const r = await pollThrough(t, b.address);
          assertScenarioValues(r.snapshot, b);
          assert.equal(p.allocated.size, 0, "slot released after the poll");
        }
        assert.equal(p.stats.helloMinor, 12, "Hello declares API 1.12");
        assert.deepEqual([...new Set(p.stats.addressTypes)], [0], "address type from the advertisement sent with every connect");
        assert.equal(p.stats.missingAddressType, 0);
      } finally {
        await t.shutdown();
      }
    });
  });
}

const D2 = THREE[1] as ScenarioBms;

test("notifications split at every size from 1 to 40 bytes are reassembled (d2 and a5)", async () => {
  for (const chunk of Array.from({ length: 40 }, (_, i) => i + 1)) {
    await withProxy({ bms: THREE, chunk }, async (p) => {
      const t = transport([{ port: p.port }]);
      try {
        for (const b of [D2, THREE[0] as ScenarioBms]) {
          const link = await t.open({ address: b.address });
          try {
            const r = await pollOnce(link, { protocol: b.protocol, wantVersion: false }, { requestTimeoutMs: 500, retries: 0 });
            assertScenarioValues(r.snapshot, b, `${b.address} chunk ${chunk}`);
          } finally {
            await link.close();
          }
        }
      } finally {
        await t.shutdown();
      }
    });
  }
});

test("unknown message ids and pings from the proxy: ignored and answered, the poll still equals the truth", async () => {
  await withProxy({ bms: THREE, faults: { unknownIds: true } }, async (p) => {
    const t = transport([{ port: p.port }]);
    try {
      await t.scan(0.2);
      p.ping();
      const r = await pollThrough(t, D2.address);
      assertScenarioValues(r.snapshot, D2);
      await waitFor(() => p.stats.pingsAnswered > 0, "ping answered");
    } finally {
      await t.shutdown();
    }
  });
});

test("no free slot: open fails within the connect timeout and says so", async () => {
  await withProxy({ bms: THREE, slots: 0 }, async (p) => {
    const t = transport([{ port: p.port }], { connectTimeoutMs: 600 });
    try {
      const t0 = performance.now();
      await assert.rejects(t.open({ address: D2.address }), (e: unknown) => e instanceof TransportError && /no free connection slot/.test(e.message));
      assert.ok(performance.now() - t0 < 3000, "bounded");
      assert.equal(p.stats.connects, 0, "no connect sent while 81 says no slot is free");
    } finally {
      await t.shutdown();
    }
  });
});

test("a connect refused for lack of a slot although 81 said one was free: held back, retried, then reported", async () => {
  await withProxy({ bms: THREE, slots: 0, reportFree: 1 }, async (p) => {
    const t = transport([{ port: p.port }], { connectTimeoutMs: 700, slotBackoffMs: 200 });
    try {
      await assert.rejects(t.open({ address: D2.address }), /the proxy has no free connection slot/);
      assert.ok(p.stats.connects >= 2 && p.stats.connects <= 5, `retried after the hold, not in a tight loop (${p.stats.connects})`);
    } finally {
      await t.shutdown();
    }
  });
});

test("polls queue while every slot is taken and proceed when one frees", async () => {
  await withProxy({ bms: THREE, slots: 1 }, async (p) => {
    const t = transport([{ port: p.port }]);
    try {
      const first = await t.open({ address: D2.address });
      const second = t.open({ address: (THREE[2] as ScenarioBms).address });
      await waitFor(() => p.stats.connects === 1, "first connect only");
      await first.close();
      const link = await second;
      const r = await pollOnce(link, undefined, { requestTimeoutMs: 500, retries: 1 });
      assertScenarioValues(r.snapshot, THREE[2] as ScenarioBms);
      await link.close();
      assert.equal(p.stats.maxAllocated, 1);
    } finally {
      await t.shutdown();
    }
  });
});

test("a GATT error answer becomes a TransportError with its text, not a timeout", async () => {
  await withProxy({ bms: THREE, faults: { gattError: true } }, async (p) => {
    const t = transport([{ port: p.port }]);
    try {
      const link = await t.open({ address: D2.address });
      const t0 = performance.now();
      await assert.rejects(pollOnce(link, { protocol: "d2", wantVersion: false }, { requestTimeoutMs: 3000, retries: 2 }), (e: unknown) => e instanceof TransportError && /GATT error.*133/.test(e.message) && !/timed out/.test(e.message));
      assert.ok(performance.now() - t0 < 1500, "fails at the error, not at the 3 s request timeout");
      assert.equal(p.allocated.size, 1, "the proxy still holds the device");
      await link.close();
      assert.equal(p.allocated.size, 0, "closing the ended link still releases the proxy's slot");
    } finally {
      await t.shutdown();
    }
  });
});

test("connection cancel answers are held back and reported", async () => {
  await withProxy({ bms: THREE, faults: { connCancel: true } }, async (p) => {
    const t = transport([{ port: p.port }], { connectTimeoutMs: 800, slotBackoffMs: 300 });
    try {
      await assert.rejects(t.open({ address: D2.address }), /connection cancelled/);
      assert.ok(p.stats.connects >= 1 && p.stats.connects <= 4, `back-off between attempts (${p.stats.connects} connects in 0.8 s)`);
    } finally {
      await t.shutdown();
    }
  });
});

test("TCP drop mid-poll: the poll fails fast, the session comes back and the next poll works", async () => {
  await withProxy({ bms: THREE }, async (p) => {
    const t = transport([{ port: p.port }]);
    try {
      const link = await t.open({ address: D2.address });
      p.o.faults = { dropOnWrite: true };
      const t0 = performance.now();
      await assert.rejects(pollOnce(link, { protocol: "d2", wantVersion: false }, { requestTimeoutMs: 3000, retries: 2 }), (e: unknown) => e instanceof TransportError && e.kind === "link-lost" && /proxy session ended/.test(e.message));
      assert.ok(performance.now() - t0 < 1500, "fails fast");
      assert.equal(link.isOpen, false);
      p.o.faults = {};
      await waitFor(() => t.status()[0]?.state === "ready" && p.stats.sessions >= 2, "reconnected");
      assert.ok(t.states.some(([, s]) => s === "down"), "state change logged");
      const r = await pollThrough(t, D2.address);
      assertScenarioValues(r.snapshot, D2);
    } finally {
      await t.shutdown();
    }
  });
});

test("a half-open TCP session (no FIN, no data) is ended by the keepalive; the bridge reconnects and polls", async () => {
  await withProxy({ bms: THREE }, async (p) => {
    const t = transport([{ port: p.port }], { pingMs: 150 });
    try {
      await t.scan(0.1);
      p.freezeAll();
      await waitFor(() => t.states.some(([, s, why]) => s === "down" && /no answer to a ping/.test(why)), "keepalive noticed");
      await waitFor(() => t.status()[0]?.state === "ready", "reconnected");
      const r = await pollThrough(t, D2.address);
      assertScenarioValues(r.snapshot, D2);
    } finally {
      await t.shutdown();
    }
  });
});

test("a DisconnectRequest from the proxy is acknowledged; the session comes back and polls work", async () => {
  await withProxy({ bms: THREE }, async (p) => {
    const t = transport([{ port: p.port }]);
    try {
      await t.scan(0.1);
      p.askDisconnect();
      await waitFor(() => p.stats.disconnectAcks === 1, "DisconnectResponse sent");
      await waitFor(() => t.states.some(([, s, why]) => s === "down" && /asked to disconnect/.test(why)), "session ended");
      await waitFor(() => t.status()[0]?.state === "ready" && p.stats.sessions >= 2, "reconnected");
      assertScenarioValues((await pollThrough(t, D2.address)).snapshot, D2);
    } finally {
      await t.shutdown();
    }
  });
});

test("stolen or refused subscription: the proxy is reported as probably adopted by Home Assistant", async () => {
  await withProxy({ bms: THREE, faults: { stolen: true } }, async (p) => {
    const t = transport([{ port: p.port }], { silenceMs: 300, scanTimeoutMs: 500 });
    try {
      await assert.rejects(t.open({ address: D2.address }), (e: unknown) => e instanceof TransportError && e.kind === "not-found");
      await waitFor(() => t.status()[0]?.state === "silent", "silent");
      assert.ok(t.states.some(([, s, why]) => s === "silent" && /adopted by Home Assistant/.test(why)));
    } finally {
      await t.shutdown();
    }
  });
});

test("firmware with the scanner-state feature: an unconfirmed subscription is reported at once, a confirmed one is not", async () => {
  for (const stolen of [true, false]) {
    await withProxy({ bms: THREE, flags: 2 | 4 | 32 | 64, faults: { stolen } }, async (p) => {
      const t = transport([{ port: p.port }], { silenceMs: 60_000, scannerStateMs: 200 });
      try {
        if (stolen) {
          await waitFor(() => t.status()[0]?.state === "silent", "silent");
          assert.ok(t.states.some(([, s, why]) => s === "silent" && /did not confirm.*adopted by Home Assistant/.test(why)));
        } else {
          assertScenarioValues((await pollThrough(t, D2.address)).snapshot, D2);
          await new Promise<void>((r) => setTimeout(r, 300)); // past scannerStateMs: nothing may be reported
          assert.ok(!t.states.some(([, s]) => s === "silent"));
        }
      } finally {
        await t.shutdown();
      }
    });
  }
});

test("session errors name their cause in one line: wrong key, encryption mismatch both ways, no active connections", async () => {
  const cases: Array<{ proxy: FakeProxyOptions; key: string; re: RegExp }> = [
    { proxy: { bms: THREE, key: KEY }, key: randomBytes(32).toString("base64"), re: /wrong encryption key/ },
    { proxy: { bms: THREE, key: KEY }, key: "", re: /requires encryption/ },
    { proxy: { bms: THREE }, key: KEY, re: /speaks plaintext/ },
    { proxy: { bms: THREE, flags: 1 | 4 }, key: "", re: /not an active Bluetooth proxy.*active: true/ },
    { proxy: { bms: THREE, flags: 1 | 2 }, key: "", re: /remote GATT caching/ },
    { proxy: { bms: THREE }, key: "c2hvcnQ=", re: /not the base64 of 32 bytes/ },
  ];
  for (const c of cases) {
    await withProxy(c.proxy, async (p) => {
      const t = transport([{ port: p.port, key: c.key }]);
      try {
        await assert.rejects(t.scan(0.2), (e: unknown) => e instanceof Error && c.re.test(e.message) && !e.message.includes("\n"), String(c.re));
      } finally {
        await t.shutdown();
      }
    });
  }
});

test("an expected name that differs is refused", async () => {
  await withProxy({ bms: THREE, name: "garage-proxy" }, async (p) => {
    const t = transport([{ port: p.port, name: "shed-proxy" }]);
    try {
      await assert.rejects(t.scan(0.2), /named "garage-proxy", not "shed-proxy"/);
    } finally {
      await t.shutdown();
    }
  });
});

test("two proxies: a BMS goes to the one that hears it best; when it drops the other takes over; scan names the proxy", async () => {
  const near = new FakeProxy({ bms: THREE, rssi: -50, name: "near" });
  const far = new FakeProxy({ bms: THREE, rssi: -80, name: "far" });
  await near.start();
  await far.start();
  const t = transport([{ port: near.port, name: "near" }, { port: far.port, name: "far" }]);
  try {
    const found = await t.scan(0.3);
    assert.equal(found.length, 3);
    for (const a of found) {
      assert.match(a.via ?? "", /^near /);
      assert.equal(a.rssi, -50);
    }
    await pollThrough(t, D2.address);
    assert.equal(near.stats.connects, 1);
    assert.equal(far.stats.connects, 0);
    await near.stop();
    await waitFor(() => t.status()[0]?.state === "down", "near down");
    const r = await pollThrough(t, D2.address);
    assertScenarioValues(r.snapshot, D2);
    assert.equal(far.stats.connects, 1, "failed over to the far proxy");
  } finally {
    await t.shutdown();
    await near.stop();
    await far.stop();
  }
});

test("a BMS pinned to a proxy is polled only through it", async () => {
  const a = new FakeProxy({ bms: THREE, rssi: -50, name: "a" });
  const b = new FakeProxy({ bms: THREE, rssi: -80, name: "b" });
  await a.start();
  await b.start();
  const t = transport([{ port: a.port, name: "a" }, { port: b.port, name: "b" }], { pins: new Map([[D2.address, "b"]]) });
  try {
    await pollThrough(t, D2.address);
    assert.equal(a.stats.connects, 0);
    assert.equal(b.stats.connects, 1);
    await b.stop();
    await waitFor(() => t.status()[1]?.state === "down", "b down");
    await assert.rejects(t.open({ address: D2.address }), /ESPHome proxy b \(127\.0\.0\.1:\d+\) is not connected/);
    assert.equal(a.stats.connects, 0, "a pinned BMS never goes through another proxy");
  } finally {
    await t.shutdown();
    await a.stop();
    await b.stop();
  }
});

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((r) => setImmediate(r));
  }
}

test("the fake proxy's air-time model (bench): open, poll and close never beat the modelled minimum; values stay true", async () => {
  // a lower bound only (no upper bound: timing targets live in the bench); 5 ms of slack for the
  // client reacting after the event a step starts from, far less than the CI a lost event would save
  const timing = { connectionIntervalMs: 30, replyDelayMs: 40, advertisingIntervalMs: 100 };
  const b = THREE[1];
  assert.ok(b);
  await withProxy({ bms: THREE, timing: { ...timing, discoveryTransactions: PROXY_DISCOVERY_TRANSACTIONS } }, async (p) => {
    const t = transport([{ port: p.port }], { gattTimeoutMs: 3000 });
    try {
      const profile = { protocol: "d2", wantVersion: false, mosBlock: false } as const;
      const pdus = pdusPerExchange(replyFrames(profile, b.cells_mV.length, b.temperatures_C.length), 23);
      const min = proxyCycleMinimum({ ...timing, pdusPerEvent: Number.POSITIVE_INFINITY }, PROXY_DISCOVERY_TRANSACTIONS, pdus);
      await pollThrough(t, b.address); // the first advertisement
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const link = await t.open({ address: b.address });
        const t1 = performance.now();
        const r = await pollOnce(link, profile, { requestTimeoutMs: 1000, retries: 0 });
        const t2 = performance.now();
        await link.close();
        assertScenarioValues(r.snapshot, b);
        assert.ok(t1 - t0 >= min.connectMs + min.servicesMs + min.notifyMs - 5, `open took ${t1 - t0} ms`);
        assert.ok(t2 - t1 >= pollMinimumMs({ ...timing, pdusPerEvent: Number.POSITIVE_INFINITY }, pdus) - 5, `poll took ${t2 - t1} ms`);
      }
    } finally {
      await t.shutdown();
    }
  });
});
