/**
 * bluetoothd and adapter lifecycle, through the running bridge (Bridge + BluezTransport) against
 * a mock bluetoothd on a real private dbus-daemon: bluetoothd killed (its bus connection closes:
 * NameOwnerChanged org.bluez → "") and started again; the adapter removed and re-added; powered
 * off and on. Each time: every BMS offline once, one log line says why, and polling resumes by
 * itself within 10 s of the adapter being back. Adapter hci1, and one chosen by its address.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { BluezTransport } from "../../src/transport/bluez/transport.js";
import { createLogger } from "../../src/log.js";
import { Bridge } from "../../src/runtime/bridge.js";
import type { Sink } from "../../src/runtime/sink.js";
import type { BmsTarget } from "../../src/runtime/supervisor.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import { parseScenario, type Scenario } from "../../src/sim/scenario.js";
import { BluezMock } from "../helpers/bluez-mock.js";

const A = "C0:D6:3C:57:2D:01";
const B = "C0:D6:3C:57:2D:02";
const ADAPTER_MAC = "5C:F3:70:A1:B2:C3";
const RESUME_MS = 10_000;

function scenario(): Scenario {
  const base = { cells_mV: [3301, 3302, 3300, 3305], temperatures_C: [21, 22], current_A: -12.3, remaining_Ah: 80.2, cycles: 12, charge_mosfet: true, discharge_mosfet: false };
  const r = parseScenario({ bms: [{ ...base, address: A, protocol: "d2", soc_pct: 51 }, { ...base, address: B, protocol: "a5", soc_pct: 52 }] });
  assert.ok(r.ok, r.ok ? "" : r.message);
  return r.scenario;
}

type Event = { kind: "snapshot"; address: string; soc?: number | undefined } | { kind: "availability"; address: string; online: boolean };

/** Records what the bridge publishes; `until` waits (bounded) for a condition on the events. */
class RecordingSink implements Sink {
  readonly events: Event[] = [];
  private readonly waiters = new Set<() => void>();
  async start(): Promise<void> {}
  async snapshot(t: BmsTarget, s: Snapshot): Promise<void> {
    this.push({ kind: "snapshot", address: t.address, soc: s.soc_pct });
  }
  async partial(): Promise<void> {}
  async availability(t: BmsTarget, online: boolean): Promise<void> {
    this.push({ kind: "availability", address: t.address, online });
  }
  async stop(): Promise<void> {}
  mqttState(): "not configured" {
    return "not configured";
  }
  private push(e: Event): void {
    this.events.push(e);
    for (const w of [...this.waiters]) w();
  }
  /** Index of the first event from `from` on that satisfies `pred`. */
  async until(what: string, from: number, pred: (e: Event) => boolean, ms: number): Promise<number> {
    const find = (): number => this.events.findIndex((e, i) => i >= from && pred(e));
    if (find() >= 0) return find();
    let wake = (): void => undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<number>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms; events: ${JSON.stringify(this.events.slice(from))}`)), ms);
        wake = () => {
          if (find() >= 0) resolve(find());
        };
        this.waiters.add(wake);
      });
    } finally {
      clearTimeout(timer);
      this.waiters.delete(wake);
    }
  }
}

interface Rig {
  mock: BluezMock;
  bridge: Bridge;
  sink: RecordingSink;
  logs: Array<Record<string, unknown>>;
  transport: BluezTransport;
}

const rigs: Rig[] = [];
after(async () => {
  for (const r of rigs) {
    await r.bridge.stop();
    await r.mock.stop();
  }
});

async function start(adapter: string): Promise<Rig> {
  const mock = await BluezMock.start({ scenario: scenario(), adapter: "hci1", adapterAddress: ADAPTER_MAC });
  const transport = new BluezTransport({ busAddress: mock.address, adapter, scanTimeoutMs: 3000, connectTimeoutMs: 2000, gattTimeoutMs: 1000 });
  const sink = new RecordingSink();
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: "info", format: "json", destination: { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) } });
  const targets: BmsTarget[] = [A, B].map((address) => ({ address, protocol: "auto", invertCurrent: false, pollIntervalMs: 300 }));
  const bridge = new Bridge({ targets, transport, sink, log, supervisor: { keepConnected: false, requestTimeoutMs: 400, retries: 1, offlineAfter: 2, maxBackoffMs: 60_000 } });
  const rig = { mock, bridge, sink, logs, transport };
  rigs.push(rig);
  await bridge.start();
  for (const a of [A, B]) await sink.until(`first poll of ${a}`, 0, (e) => e.kind === "snapshot" && e.address === a, 10_000);
  return rig;
}

/** Takes the adapter away with `down`, checks offline-once + one log line, brings it back with `up`, checks resumption. */
async function cycle(r: Rig, down: () => void, why: RegExp, up: () => Promise<void> | void): Promise<void> {
  const from = r.sink.events.length;
  const logFrom = r.logs.length;
  down();
  for (const a of [A, B]) await r.sink.until(`${a} offline`, from, (e) => e.kind === "availability" && e.address === a && !e.online, 5000);
  // while gone: no poll reaches anything, nothing else is published, one line says why
  const quiet = r.sink.events.length;
  await r.sink.until("a quiet while", quiet, () => false, 1200).catch(() => undefined);
  assert.deepEqual(r.sink.events.slice(quiet), [], "nothing published while the adapter is gone");
  const gone = r.logs.slice(logFrom).filter((l) => l.level === 40 || l.level === 50);
  assert.equal(gone.length, 1, `one warning while gone: ${JSON.stringify(r.logs.slice(logFrom))}`);
  assert.match(String(gone[0]?.why), why);
  assert.equal(r.sink.events.slice(from).filter((e) => e.kind === "availability").length, 2, "each BMS offline exactly once");

  const back = performance.now();
  await up();
  for (const a of [A, B]) {
    const i = await r.sink.until(`${a} polled again`, quiet, (e) => e.kind === "snapshot" && e.address === a, RESUME_MS);
    assert.equal((r.sink.events[i] as { soc?: number }).soc, a === A ? 51 : 52);
    await r.sink.until(`${a} online`, quiet, (e) => e.kind === "availability" && e.address === a && e.online, 1000);
  }
  assert.ok(performance.now() - back < RESUME_MS, `resumed after ${Math.round(performance.now() - back)} ms`);
  assert.ok(r.logs.slice(logFrom).some((l) => l.msg === "Bluetooth adapter back: polling resumes"));
}

describe("bluetoothd and adapter lifecycle (mock BlueZ on a private D-Bus)", () => {
  it("hci1: bluetoothd killed and restarted → offline once, one log line, polling resumes", async () => {
    const r = await start("hci1");
    assert.equal(r.transport.lifecycleSubscriptions, 4);
    await cycle(r, () => r.mock.kill(), /bluetoothd stopped/, () => r.mock.restart());
    // and once more: the watch survives its own restart
    await cycle(r, () => r.mock.kill(), /bluetoothd stopped/, () => r.mock.restart());
  });

  it("hci1: adapter removed and re-added; powered off and on → resumes each time", async () => {
    const r = await start("hci1");
    await cycle(r, () => r.mock.removeAdapter(), /hci1 was removed/, () => r.mock.addAdapter());
    await cycle(r, () => r.mock.setPowered(false), /hci1 was powered off/, () => r.mock.setPowered(true));
  });

  it("adapter chosen by address: found again after bluetoothd restarts and after a replug", async () => {
    const r = await start(ADAPTER_MAC);
    await cycle(r, () => r.mock.kill(), /bluetoothd stopped/, () => r.mock.restart());
    await cycle(r, () => r.mock.removeAdapter(), new RegExp(`${ADAPTER_MAC} was removed`), () => r.mock.addAdapter());
  });

  it("an adapter address BlueZ does not have: clear adapter error", async () => {
    const mock = await BluezMock.start({ scenario: scenario(), adapter: "hci1", adapterAddress: ADAPTER_MAC });
    const t = new BluezTransport({ busAddress: mock.address, adapter: "00:11:22:33:44:55", gattTimeoutMs: 1000 });
    try {
      await assert.rejects(t.open({ address: A }), /Bluetooth adapter 00:11:22:33:44:55 not found in BlueZ \(available: hci1 5C:F3:70:A1:B2:C3\)/);
    } finally {
      await t.shutdown();
      await mock.stop();
    }
  });
});
