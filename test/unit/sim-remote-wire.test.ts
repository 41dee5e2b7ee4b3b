/** Framing between the simulator process and the bridge (src/sim/remote/wire.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeFrame, FrameReader, MSG } from "../../src/sim/remote/wire.js";

const frames = [encodeFrame(1, MSG.write, Buffer.from([0x02, 0x40, 0x00, 0x05])), encodeFrame(0, MSG.hello, Uint8Array.of(1, 1)), encodeFrame(7, MSG.start), encodeFrame(2, MSG.data, Buffer.alloc(300, 0xab))];
const stream = Buffer.concat(frames);

test("frames come out the same however the stream is split", () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = new FrameReader();
    const a = r.push(stream.subarray(0, cut));
    const b = r.push(stream.subarray(cut));
    assert.ok(Array.isArray(a) && Array.isArray(b));
    const got = [...a, ...b];
    assert.deepEqual(got.map((f) => [f.socket, f.type, f.payload.length]), [[1, MSG.write, 4], [0, MSG.hello, 2], [7, MSG.start, 0], [2, MSG.data, 300]], `cut at ${cut}`);
    assert.deepEqual([...(got[0]?.payload ?? [])], [0x02, 0x40, 0x00, 0x05]);
  }
  const r = new FrameReader();
  const bytewise = [...stream].flatMap((x) => {
    const out = r.push(Buffer.of(x));
    return Array.isArray(out) ? out : [];
  });
  assert.equal(bytewise.length, 4);
});

test("a broken length is an error value, not an exception", () => {
  const bad = Buffer.alloc(8);
  bad.writeUInt32LE(0x7fffffff, 0);
  assert.deepEqual(new FrameReader().push(bad), { error: "bad frame length 2147483647" });
});
