/**
 * Chunk boundaries: the assembler's output must not depend on how BLE split or merged the stream
 * (daly-protocol.md §2.7.4, §4.2). Every fixture stream is split at every byte offset, also fed one
 * byte at a time, and merged with its neighbours.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameAssembler } from "../../src/daly/assembler.js";
import type { AssemblerItem } from "../../src/daly/frame.js";
import { toHex } from "../../src/util/hex.js";
import { bytesOf, VECTORS } from "../helpers/daly-fixtures.js";

function feed(chunks: Uint8Array[]): string[] {
  const asm = new FrameAssembler();
  const items: AssemblerItem[] = [];
  for (const c of chunks) items.push(...asm.push(c));
  items.push(...asm.end());
  return items.map((it) => (it.ok ? `frame ${toHex(it.frame.bytes)}` : `reject ${it.reject.reason} ${it.reject.bytes}`));
}

const streams = VECTORS.map((v) => ({ name: v.name, bytes: bytesOf(v.hex) }));

test("every fixture split at every offset yields the same frames and rejects", () => {
  for (const s of streams) {
    const whole = feed([s.bytes]);
    assert.ok(whole.length > 0, s.name);
    for (let cut = 1; cut < s.bytes.length; cut++) {
      assert.deepEqual(feed([s.bytes.subarray(0, cut), s.bytes.subarray(cut)]), whole, `${s.name} cut at ${cut}`);
    }
    const singles = Array.from(s.bytes, (b) => Uint8Array.of(b));
    assert.deepEqual(feed(singles), whole, `${s.name} byte by byte`);
  }
});

test("all fixtures merged into one stream, cut into uneven notifications, give the concatenated result", () => {
  const merged = new Uint8Array(streams.reduce((n, s) => n + s.bytes.length, 0));
  let at = 0;
  const expected: string[] = [];
  for (const s of streams) {
    merged.set(s.bytes, at);
    at += s.bytes.length;
    expected.push(...feed([s.bytes]));
  }
  // adjacent rejects of the same kind merge when streams are concatenated; compare frames only
  const framesOf = (xs: string[]): string[] => xs.filter((x) => x.startsWith("frame"));
  for (const size of [1, 7, 13, 20, 23, 64, 129, 244]) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < merged.length; i += size) chunks.push(merged.subarray(i, i + size));
    assert.deepEqual(framesOf(feed(chunks)), framesOf(expected), `chunk size ${size}`);
  }
});

test("garbage before, between and after frames is dropped and counted; frames survive", () => {
  const frame = "a5 01 90 08 02 10 00 00 75 30 01 f4 ea";
  // ASCII AT answer (§4.2), a truncated A5 frame (§2.7.5) and noise
  const at = Buffer.from("AT+VER=HLK-B40").toString("hex").match(/../g)?.join(" ") ?? "";
  const stream = bytesOf(`${at} ${frame} a5 01 95 08 05 0e c3 0e c0 ${frame} ff 00`);
  const out = feed([stream]);
  assert.deepEqual(out.filter((x) => x.startsWith("frame")), [`frame ${frame}`, `frame ${frame}`]);
  assert.ok(out.some((x) => x.startsWith("reject garbage")));
  assert.ok(out.some((x) => /^reject (checksum|length|address|garbage)/.test(x)));
});

test("a checksum failure resynchronises one byte later, finding a frame that starts inside the bad one", () => {
  // truncated frame (cut after 9 bytes) immediately followed by a valid frame: §2.7.5 / dbus-serialbattery#165
  const good = "a5 01 90 08 02 10 00 00 75 30 01 f4 ea";
  const out = feed([bytesOf(`a5 01 95 08 05 0e c3 0e c0 ${good}`)]);
  assert.deepEqual(out.filter((x) => x.startsWith("frame")), [`frame ${good}`]);
  assert.match(out[0] ?? "", /^reject checksum 9$/); // the 9 bytes of the cut frame, one record
});

test("bad CRC and bad checksum frames are rejected with their reason", () => {
  assert.deepEqual(feed([bytesOf("a5 01 90 08 02 10 00 00 75 30 01 f4 eb")]), ["reject checksum 13"]);
  const s1Bad = bytesOf(VECTORS.find((v) => v.name === "S1")?.hex ?? "");
  s1Bad[50] = (s1Bad[50] ?? 0) ^ 1;
  assert.deepEqual(feed([s1Bad]), ["reject crc 129"]);
});

test("an incomplete frame waits for more bytes and end() reports it truncated", () => {
  const asm = new FrameAssembler();
  assert.deepEqual(asm.push(bytesOf("a5 01 90 08 02 10")), []);
  assert.equal(asm.buffered, 6);
  const rest = asm.end();
  assert.equal(rest.length, 1);
  assert.equal(rest[0]?.ok, false);
});

test("families option: an A5-only assembler treats D2 bytes as garbage", () => {
  const asm = new FrameAssembler({ families: ["a5"] });
  const items = [...asm.push(bytesOf("d2 03 7c 10 1f a5 01 90 08 02 10 00 00 75 30 01 f4 ea")), ...asm.end()];
  assert.equal(items.filter((i) => i.ok).length, 1);
  assert.equal(items[0]?.ok, false);
});

test("p81Boards option: 0x81 board n's frames (0x80 + n / 0x50 + n) are frames only when asked for", async () => {
  const { encodeRequest } = await import("../../src/daly/requests.js");
  const { createResponder } = await import("../../src/sim/responder.js");
  const { batteryAt } = await import("../../src/sim/battery.js");
  const { parseScenario } = await import("../../src/sim/scenario.js");
  const req = encodeRequest({ protocol: "p81", block: "block1", board: 3 });
  assert.equal(req[0], 0x83);
  const sc = parseScenario({ bms: [{ address: "C0:D6:3C:57:2F:01", protocol: "p81", board: 3 }] });
  assert.ok(sc.ok);
  const b = sc.scenario.bms[0]!;
  const [reply] = createResponder(() => batteryAt(b, 0), { protocol: "p81", board: 3 })(req);
  assert.ok(reply);
  assert.equal(reply[0], 0x53);
  // board 1's address does not wake board 3, and board 3 does not answer board 1's request
  assert.deepEqual(createResponder(() => batteryAt(b, 0), { protocol: "p81", board: 3 })(encodeRequest({ protocol: "p81", block: "block1" })), []);
  const plain = new FrameAssembler().push(reply);
  assert.ok(plain.every((it) => !it.ok), "a default assembler does not take 0x53 as a frame start");
  const boards = new FrameAssembler({ p81Boards: [3] }).push(reply);
  assert.equal(boards.length, 1);
  assert.ok(boards[0]?.ok && boards[0].frame.family === "modbus" && boards[0].frame.kind === "read-reply" && boards[0].frame.protocol === "p81");
  assert.throws(() => encodeRequest({ protocol: "p81", block: "block1", board: 17 }), /board must be an integer 1…16/);
});
