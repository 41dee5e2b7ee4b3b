/**
 * Several boards on one RS485 line: simulated boards on one socat pty pair (the bus), each
 * answering only its own address (0x3F + n) from address n. Two and three boards polled to their
 * exact scenario values; a silent board costs only its own poll a timeout; a reply from a board
 * that was not asked is never taken; requests never overlap on the line when the bridge's
 * supervisors share the port (one poll at a time through the adapter queue).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { pollOnce } from "../../src/runtime/poller.js";
import { AdapterQueue } from "../../src/runtime/adapter-queue.js";
import { Supervisor, type BmsTarget } from "../../src/runtime/supervisor.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import { TransportError } from "../../src/transport/errors.js";
import { parseScenario, type ScenarioBms } from "../../src/sim/scenario.js";
import { SerialTransport, serialProfile } from "../../src/transport/serial/serial-transport.js";
import { startPtyBus, type PtyBus } from "../helpers/serial-pty.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";

const POLL = { requestTimeoutMs: 400, retries: 1 };

function boards(n: number, protocol: (i: number) => "a5" | "p81" = () => "a5"): ScenarioBms[] {
  const r = parseScenario({
    bms: Array.from({ length: n }, (_, i) => ({
      address: `C0:D6:3C:57:2E:0${i + 1}`,
      protocol: protocol(i),
      board: i + 1,
      cells_mV: Array.from({ length: 4 + i * 4 }, (_, k) => 3300 + i * 10 + k),
      temperatures_C: Array.from({ length: i + 1 }, (_, k) => 20 + i + k),
      current_A: -5.5 - i,
      soc_pct: 40 + i * 11,
      remaining_Ah: 100 + i,
      cycles: 7 * (i + 1),
      charge_mosfet: i % 2 === 0,
      discharge_mosfet: true,
    })),
  });
  assert.ok(r.ok, r.ok ? "" : r.message);
  return r.scenario.bms;
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function rig(list: ScenarioBms[]): Promise<{ bus: PtyBus; t: SerialTransport }> {
  const bus = await startPtyBus({ boards: list });
  const t = new SerialTransport({ path: bus.hostPath, openTimeoutMs: 2000, minGapMs: 20 });
  cleanups.push(async () => {
    await t.shutdown();
    await bus.stop();
  });
  return { bus, t };
}

const profile = (b: ScenarioBms): ReturnType<typeof serialProfile> => serialProfile(b.protocol, b.board);

test("two boards on one line: each polled to its exact values, each request addressed 0x3F + board", async () => {
  const list = boards(2);
  const { bus, t } = await rig(list);
  const links = await Promise.all(list.map((b) => t.open({ address: b.address, board: b.board ?? 0 })));
  for (let round = 0; round < 2; round++) {
    for (const [i, b] of list.entries()) {
      const r = await pollOnce(links[i]!, profile(b), POLL);
      assertScenarioValues(r.snapshot, b);
    }
  }
  assert.deepEqual([...new Set(bus.requests.map((r) => r.bytes[1]))].sort(), [0x40, 0x41]);
  for (const l of links) await l.close();
});

test("0x81 boards (asked at 0x80 + n, answering from 0x50 + n) and an A5 board on one line: exact values per board", async () => {
  const list = boards(3, (i) => (i === 1 ? "a5" : "p81"));
  const { bus, t } = await rig(list);
  const links = await Promise.all(list.map((b) => t.open({ address: b.address, board: b.board ?? 0 })));
  for (let round = 0; round < 2; round++) {
    for (const [i, b] of list.entries()) assertScenarioValues((await pollOnce(links[i]!, profile(b), POLL)).snapshot, b);
  }
  const firstBytes = new Set(bus.requests.filter((r) => r.board !== 2).map((r) => r.bytes[0]));
  assert.deepEqual([...firstBytes].sort(), [0x81, 0x83]);
  assert.ok(bus.requests.filter((r) => r.board === 2).every((r) => r.bytes[0] === 0xa5 && r.bytes[1] === 0x41));
  bus.silent.add(3); // a silent 0x81 board: a timeout for it alone
  await assert.rejects(pollOnce(links[2]!, profile(list[2]!), POLL), (e: unknown) => e instanceof TransportError && e.kind === "no-reply");
  assertScenarioValues((await pollOnce(links[0]!, profile(list[0]!), POLL)).snapshot, list[0]!);
});

test("three boards through the bridge's supervisors: exact values, never two requests outstanding on the line", async () => {
  const list = boards(3);
  const { bus, t } = await rig(list);
  const queue = new AdapterQueue();
  const got = new Map<string, Snapshot>();
  let wake = (): void => undefined;
  const all = new Promise<void>((resolve) => (wake = resolve));
  const sups = list.map((b) => {
    const target: BmsTarget = { address: b.address, protocol: "auto", invertCurrent: false, pollIntervalMs: 200, board: b.board ?? 0 };
    const s = new Supervisor(target, t, queue, { keepConnected: true, initialProfile: (p, board) => serialProfile(p, board), requestTimeoutMs: 400, retries: 1, offlineAfter: 3, maxBackoffMs: 60_000 });
    s.on("snapshot", (snap) => {
      got.set(b.address, snap);
      if (got.size === list.length && sups.every((x) => x.polls >= 2)) wake();
    });
    return s;
  });
  const ac = new AbortController();
  const running = sups.map((s) => s.start(ac.signal));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not every board polled twice within 20 s: ${[...got.keys()].join(", ")}`)), 20_000)))]);
  clearTimeout(timer);
  ac.abort();
  await Promise.all(running);
  for (const b of list) assertScenarioValues(got.get(b.address)!, b);
  // a request is followed by its board's reply before the next request goes out
  for (let i = 0; i < bus.line.length; i++) {
    const e = bus.line[i]!;
    if (e.kind !== "rep") continue;
    const req = bus.line.slice(0, i).reverse().find((x) => x.kind === "req");
    assert.equal(req?.board, e.board, `reply of board ${e.board} while board ${req?.board} was asked (line ${JSON.stringify(bus.line.slice(Math.max(0, i - 4), i + 1))})`);
  }
  assert.deepEqual([...new Set(bus.requests.map((r) => r.board))].sort(), [1, 2, 3]);
});

test("a silent board times out (no-reply, like BLE) and does not disturb the other boards", async () => {
  const list = boards(3);
  const { bus, t } = await rig(list);
  bus.silent.add(2);
  const links = await Promise.all(list.map((b) => t.open({ address: b.address, board: b.board ?? 0 })));
  for (let round = 0; round < 2; round++) {
    for (const [i, b] of list.entries()) {
      const p = pollOnce(links[i]!, profile(b), POLL);
      if (b.board === 2) {
        await assert.rejects(p, (e: unknown) => e instanceof TransportError && e.kind === "no-reply");
        assert.equal(links[i]!.isOpen, true, "the line stays usable");
      } else assertScenarioValues((await p).snapshot, b);
    }
  }
  assert.equal(bus.answered.get(2), undefined);
  bus.silent.delete(2); // it wakes up: polled like the others
  assertScenarioValues((await pollOnce(links[1]!, profile(list[1]!), POLL)).snapshot, list[1]!);
});

test("a reply from a board that was not asked is never taken for the asked board's", async () => {
  const list = boards(2);
  const { bus, t } = await rig(list);
  bus.silent.add(1);
  bus.crossTalk.set(1, 2); // board 1 silent; board 2 answers board 1's requests from its own address
  const link1 = await t.open({ address: list[0]!.address, board: 1 });
  const seen: Uint8Array[] = [];
  link1.onData((c) => seen.push(c));
  await assert.rejects(pollOnce(link1, profile(list[0]!), POLL), (e: unknown) => e instanceof TransportError && e.kind === "no-reply");
  assert.ok((bus.answered.get(2) ?? 0) > 0, "board 2 did answer on the line");
  assert.deepEqual(seen, [], "board 1's link received none of it");
  bus.silent.delete(1);
  bus.crossTalk.clear();
  assertScenarioValues((await pollOnce(link1, profile(list[0]!), POLL)).snapshot, list[0]!);
});

test("one board per link: a board opened twice is refused; the port closes with the last board's link", async () => {
  const list = boards(2);
  const { t } = await rig(list);
  const a = await t.open({ address: list[0]!.address, board: 1 });
  await assert.rejects(t.open({ address: "C0:D6:3C:57:2E:09", board: 1 }), /board 1 on .* is already open \(for C0:D6:3C:57:2E:01\)/);
  const b = await t.open({ address: list[1]!.address, board: 2 });
  await a.close();
  assert.equal(b.isOpen, true, "closing one board's link leaves the line to the others");
  await b.close();
  const again = await t.open({ address: list[0]!.address, board: 1 }); // the port was released and opens again
  assertScenarioValues((await pollOnce(again, profile(list[0]!), POLL)).snapshot, list[0]!);
  await again.close();
});

test("config: bms[].board is validated, several serial BMS need distinct boards, targets carry the board", async () => {
  const { load, targetsFor, transportFor } = await import("../../src/commands/setup.js");
  const cfg = (bms: unknown[]): ReturnType<typeof load> => load([], { DALY_TRANSPORT: "serial", DALY_SERIAL_PATH: "/dev/null", DALY_BMS: JSON.stringify(bms) });
  const bad = cfg([{ address: "C0:D6:3C:57:2E:01", board: 17 }]);
  assert.ok(!bad.ok && /bms\[0\]\.board: expected an RS485 board number, an integer 1–16, got 17/.test(bad.message), JSON.stringify(bad));
  const d2 = cfg([{ address: "C0:D6:3C:57:2E:01", protocol: "d2", board: 2 }]);
  assert.ok(!d2.ok && /bms\[0\]\.board: expected protocol a5, p81 or auto: D2 has no board address/.test(d2.message), JSON.stringify(d2));
  assert.ok(cfg([{ address: "C0:D6:3C:57:2E:01", protocol: "p81", board: 2 }]).ok);
  for (const [bms, re] of [
    [[{ address: "C0:D6:3C:57:2E:01", board: 1 }, { address: "C0:D6:3C:57:2E:02" }], /bms\[1\]\.board: several BMS on one serial line need a board number each/],
    [[{ address: "C0:D6:3C:57:2E:01", board: 2 }, { address: "C0:D6:3C:57:2E:02", board: 2 }], /bms\[1\]\.board: board 2 appears twice/],
  ] as const) {
    const c = cfg([...bms]);
    assert.ok(c.ok, JSON.stringify(c));
    const r = await transportFor(c.config, { simulateWhenNoBms: false });
    assert.ok("ok" in r && !r.ok && re.test(r.message), JSON.stringify(r));
  }
  const ok = cfg([{ address: "C0:D6:3C:57:2E:01", board: 1 }, { address: "C0:D6:3C:57:2E:02", board: 3 }]);
  assert.ok(ok.ok);
  const radio = await transportFor(ok.config, { simulateWhenNoBms: false });
  assert.ok(!("ok" in radio), JSON.stringify(radio));
  await radio.transport.shutdown();
  assert.deepEqual(targetsFor(ok.config, undefined).map((x) => x.board), [1, 3]);
});
