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
