/**
 * Polls through the real stack: NobleTransport → noble 1.9.2-26's real HCI/GATT code → virtual
 * controller → simulated Daly module. Each protocol family returns exactly the scenario's values.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSimRadio } from "../../src/sim/radio.js";
import { parseScenario, type Scenario } from "../../src/sim/scenario.js";
import { pollOnce } from "../../src/runtime/poller.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";

const TIMING = { scanTimeoutMs: 2000, connectTimeoutMs: 2000, gattTimeoutMs: 1500, cancelGraceMs: 300 };

function scenario(bms: Array<Record<string, unknown>>): Scenario {
  const r = parseScenario({ bms });
  assert.ok(r.ok, r.ok ? "" : r.message);
  return r.scenario;
}

const BASE = { cells_mV: [3301, 3302, 3300, 3305], temperatures_C: [21, 22], current_A: -12.3, soc_pct: 55.5, remaining_Ah: 80.2, cycles: 12, charge_mosfet: true, discharge_mosfet: false };

test("A5 (0x80 and 0x40 modules), D2 and 0x81 BMS polled through noble's HCI stack", async () => {
  const sc = scenario([
    { ...BASE, address: "C0:D6:3C:57:2A:01", protocol: "a5" },
    { ...BASE, address: "C0:D6:3C:57:2A:02", protocol: "a5", a5_hosts: [0x40] },
    { ...BASE, address: "C0:D6:3C:57:2A:03", protocol: "d2", mtu: 23 },
    { ...BASE, address: "C0:D6:3C:57:2A:04", protocol: "p81", mtu: 247 },
  ]);
  const radio = createSimRadio(sc, TIMING);
  try {
    for (const b of sc.bms) {
      const link = await radio.transport.open({ address: b.address });
      try {
        const r = await pollOnce(link, undefined, { requestTimeoutMs: 500, retries: 1 });
        assertScenarioValues(r.snapshot, b);
        if (b.a5_hosts) assert.equal(r.profile.a5Host, 0x40);
      } finally {
        await link.close();
      }
      assert.deepEqual(radio.controller.connectedHandles(), [], "no link left open");
    }
  } finally {
    await radio.stop();
  }
});
