/**
 * SerialTransport + the unchanged poller against a simulated Daly board on a socat pty pair:
 * exact values for every protocol family, resync over line noise, request spacing measured on the
 * board side, unplugging mid-poll, and open errors. Every wait is an event, never a sleep.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { pollOnce } from "../../src/runtime/poller.js";
import type { Snapshot } from "../../src/bms/snapshot.js";
import { TransportError } from "../../src/transport/errors.js";
import { parseScenario, type ScenarioBms } from "../../src/sim/scenario.js";
import { SerialTransport, serialProfile } from "../../src/transport/serial/serial-transport.js";
import { spyPortWrites, startPtyBms, type PtyBms, type PtyBmsOptions } from "../helpers/serial-pty.js";
import { assertScenarioValues } from "../helpers/expect-scenario.js";

const BASE = { cells_mV: [3301, 3302, 3300, 3305], temperatures_C: [21, 22], current_A: -12.3, soc_pct: 55.5, remaining_Ah: 80.2, cycles: 12, charge_mosfet: true, discharge_mosfet: false };
const POLL = { requestTimeoutMs: 500, retries: 1 };
const GARBAGE = Uint8Array.from([0x00, 0xff, 0x55, 0x0d, 0x0a, 0xa5, 0x01, 0x90, 0x08, 0x13, 0x37, 0xd2, 0x99, 0x51, 0x03]);

function bms(extra: Record<string, unknown>): ScenarioBms {
  const r = parseScenario({ bms: [{ ...BASE, address: "C0:D6:3C:57:2A:01", ...extra }] });
  assert.ok(r.ok, r.ok ? "" : r.message);
  const b = r.scenario.bms[0];
  assert.ok(b);
  return b;
}

const assertExact = (s: Snapshot, b: ScenarioBms): void => assertScenarioValues(s, b);

/** Runs fn against a pty BMS and a SerialTransport on its host end; always cleans both up. */
async function withPty(opts: PtyBmsOptions, fn: (h: PtyBms, t: SerialTransport) => Promise<void>, minGapMs?: number): Promise<void> {
  const h = await startPtyBms(opts);
  const t = new SerialTransport({ path: h.hostPath, openTimeoutMs: 2000, ...(minGapMs !== undefined ? { minGapMs } : {}) });
  try {
    await fn(h, t);
  } finally {
    await t.shutdown();
    await h.stop();
  }
}

test("legacy A5 with the serial profile: every request uses host 0x40, values exact", async () => {
  const b = bms({ protocol: "a5", a5_hosts: [0x40] });
  await withPty({ bms: b }, async (h, t) => {
    const link = await t.open({ address: b.address });
    const r = await pollOnce(link, serialProfile("a5"), POLL);
    assertExact(r.snapshot, b);
    assert.equal(r.profile.a5Host, 0x40);
    assert.ok(h.requests.length >= 7);
    assert.ok(h.requests.every((q) => q.bytes[0] === 0xa5 && q.bytes[1] === 0x40), "host address 0x40 on the wire");
    const again = await pollOnce(link, r.profile, POLL); // the kept profile keeps working
    assertExact(again.snapshot, b);
  });
});

test("protocol auto-probe over serial: A5 (both hosts and 0x40-only), D2, 0x81", async () => {
  const cases = [bms({ protocol: "a5" }), bms({ protocol: "a5", a5_hosts: [0x40] }), bms({ protocol: "d2", mos_temp_C: 31 }), bms({ protocol: "p81" })];
  for (const b of cases) {
    await withPty({ bms: b }, async (_h, t) => {
      const link = await t.open({ address: b.address });
      const r = await pollOnce(link, serialProfile("auto"), { requestTimeoutMs: 300, retries: 1 });
      assertExact(r.snapshot, b);
      assert.equal(r.profile.protocol, b.protocol);
      if (b.a5_hosts) assert.equal(r.profile.a5Host, 0x40);
    });
  }
});

test("garbage between reply frames is dropped and values stay exact", async () => {
  for (const p of ["a5", "d2", "p81"] as const) {
    const b = bms({ protocol: p });
    await withPty({ bms: b, garbage: GARBAGE, replyDelayMs: 2 }, async (_h, t) => {
      const link = await t.open({ address: b.address });
      const r = await pollOnce(link, serialProfile(p), POLL);
      assertExact(r.snapshot, b);
      assert.ok(r.stats.rejectedFrames > 0, `${p}: garbage was seen and rejected`);
    });
  }
});

/**
 * Spacing, measured at the board: request N+1 must not arrive sooner than minGapMs after request N,
 * less a small tolerance. socat is a separate process and can relay one request late under load,
 * which shortens the next observed gap by that delay; the relay delay of each request is measured
 * (arrival at the board − hand-off to the OS on the host side, same clock) and allowed for.
 */
async function assertSpacing(protocol: "a5" | "d2", minGapMs: number | undefined): Promise<void> {
  const gap = minGapMs ?? 150;
  const b = bms({ protocol });
  await withPty({ bms: b, replyDelayMs: 0 }, async (h, t) => {
    const spy = spyPortWrites(h.hostPath);
    try {
      const link = await t.open({ address: b.address });
      await pollOnce(link, serialProfile(protocol), POLL);
    } finally {
      spy.restore();
    }
    const arrived = h.requests.map((q) => q.at);
    const sent = spy.times;
    assert.equal(arrived.length, sent.length, "every request written reached the board");
    assert.ok(arrived.length >= (protocol === "a5" ? 7 : 2));
    for (let i = 1; i < arrived.length; i++) {
      const a0 = arrived[i - 1] ?? 0;
      const a1 = arrived[i] ?? 0;
      const relayDelay = Math.max(0, a0 - (sent[i - 1] ?? 0));
      assert.ok(a1 - a0 >= gap - 10 - relayDelay, `request ${i + 1} arrived ${(a1 - a0).toFixed(1)} ms after the previous one (relay delay ${relayDelay.toFixed(1)} ms)`);
      assert.ok((sent[i] ?? 0) - (sent[i - 1] ?? 0) >= gap - 1, `written ${((sent[i] ?? 0) - (sent[i - 1] ?? 0)).toFixed(1)} ms apart`);
    }
  }, minGapMs);
}

test("writes are spaced at least minGapMs apart (default 150 ms; measured at the board)", async () => {
  await assertSpacing("a5", undefined);
});

test("a configured minGapMs is honoured too", async () => {
  await assertSpacing("d2", 300);
});

test("adapter unplugged (socat killed) during a poll → link-lost, bounded", async () => {
  const b = bms({ protocol: "d2" });
  await withPty({ bms: b, silent: true }, async (h, t) => {
    const link = await t.open({ address: b.address });
    const closed: Error[] = [];
    link.onClose((e) => closed.push(e));
    const outcome = pollOnce(link, serialProfile("d2"), { requestTimeoutMs: 10_000, retries: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await h.nextRequest();
    const t0 = performance.now();
    await h.unplug();
    const e = await outcome;
    const ms = performance.now() - t0;
    assert.ok(e instanceof TransportError && e.kind === "link-lost", `got ${String(e)}`);
    assert.ok(ms < 3000, `rejected ${ms.toFixed(0)} ms after the unplug`);
    assert.equal(link.isOpen, false);
    assert.equal(closed.length, 1);
    await assert.rejects(link.write(new Uint8Array([0xd2])), (x: unknown) => x instanceof TransportError && x.kind === "link-lost");
    await link.close();
    await link.close();
    assert.equal(closed.length, 1, "onClose fires once");
  });
});

test("board side gone but adapter present → no-reply (not link-lost), link stays usable", async () => {
  const b = bms({ protocol: "d2" });
  await withPty({ bms: b, silent: true }, async (h, t) => {
    const link = await t.open({ address: b.address });
    await h.closeBmsEnd(); // on a real UART a powered-off board is just silence
    await assert.rejects(pollOnce(link, serialProfile("d2"), { requestTimeoutMs: 300, retries: 0 }), (e: unknown) => e instanceof TransportError && e.kind === "no-reply");
    assert.equal(link.isOpen, true);
  });
});

test("close() is idempotent, fires onClose once, and frees the port for the next open", async () => {
  const b = bms({ protocol: "d2" });
  await withPty({ bms: b }, async (_h, t) => {
    const link = await t.open({ address: b.address });
    await assert.rejects(t.open({ address: b.address }), (e: unknown) => e instanceof TransportError && e.kind === "adapter");
    let fired = 0;
    link.onClose(() => (fired += 1));
    await Promise.all([link.close(), link.close()]);
    await link.close();
    assert.equal(fired, 1);
    assert.equal(link.isOpen, false);
    const again = await t.open({ address: b.address });
    assertExact((await pollOnce(again, serialProfile("d2"), POLL)).snapshot, b);
  });
});

test("opening a missing port is an adapter error naming the path", async () => {
  const path = "/nonexistent-daly-test/ttyUSB9";
  const t = new SerialTransport({ path, openTimeoutMs: 2000 });
  await assert.rejects(t.open({ address: "C0:D6:3C:57:2A:01" }), (e: unknown) => {
    assert.ok(e instanceof TransportError);
    assert.equal(e.kind, "adapter");
    assert.match(e.message, /nonexistent-daly-test\/ttyUSB9/);
    assert.match(e.message, /no such file/i);
    return true;
  });
  await t.shutdown();
});

test("scan lists serial ports (or falls back to /dev with a note) and never throws", async () => {
  const t = new SerialTransport({ path: "/dev/null", openTimeoutMs: 1000 });
  const rows = await t.scan();
  assert.ok(Array.isArray(rows));
  for (const r of rows) assert.match(r.address, /^\/dev\//);
  if (t.scanNote !== undefined) assert.match(t.scanNote, /listing serial ports failed/);
});

test("serialProfile: A5 from host 0x40, Modbus unchanged, auto probes", () => {
  assert.deepEqual(serialProfile("a5"), { protocol: "a5", a5Host: 0x40, wantVersion: true });
  assert.deepEqual(serialProfile("d2"), { protocol: "d2", wantVersion: true });
  assert.deepEqual(serialProfile("p81"), { protocol: "p81", wantVersion: true });
  assert.equal(serialProfile("auto"), undefined);
});
