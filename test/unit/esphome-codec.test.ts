/**
 * The native API codec against byte vectors written by hand from api.proto facts (field numbers,
 * wire types, zigzag for sint32, packed repeated uint64, int32 sign extension) and the framing
 * facts of esphome-proxy.md §1; the Noise handshake in both roles.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { PlainDecoder, NoiseFrameDecoder, encodePlainFrame, encodeNoiseFrame, decodeNoisePlain, encodeNoisePlain } from "../../src/transport/esphome/frame.js";
import {
  decodeConnectionResponse, decodeConnectionsFree, decodeDeviceInfoResponse, decodeGattError, decodeHelloResponse, decodeRawAdvertisements, decodeServicesResponse,
  encodeDeviceRequest, encodeGattWrite, encodeHelloRequest, macToNumber, numberToMac, uuidText,
} from "../../src/transport/esphome/messages.js";
import { NoiseDecryptError, NoiseHandshake } from "../../src/transport/esphome/noise.js";
import { findDalyHandles } from "../../src/transport/esphome/gatt.js";
import { looksDaly, parseAdData } from "../../src/transport/esphome/adverts.js";
import { decodeKey } from "../../src/transport/esphome/connection.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test("HelloRequest {client_info 'daly', 1, 12} in a plaintext frame", () => {
  const payload = encodeHelloRequest({ clientInfo: "daly", major: 1, minor: 12 });
  assert.equal(toHex(payload), "0a04" + "64616c79" + "1001" + "180c");
  assert.equal(toHex(encodePlainFrame(1, payload)), "00" + "0a" + "01" + toHex(payload));
});

test("BluetoothDeviceRequest: uint64 MAC varint, CONNECT_V3_WITHOUT_CACHE, has_address_type, address_type", () => {
  const b = encodeDeviceRequest({ address: macToNumber("C0:D6:3C:57:2A:01"), requestType: 5, addressType: 1 });
  assert.equal(toHex(b), "08" + "81d4dce2e39a30" + "1005" + "1801" + "2001");
  assert.equal(numberToMac(0xc0d63c572a01), "C0:D6:3C:57:2A:01");
});

test("BluetoothGATTWriteRequest without response: the false bool is omitted (proto3)", () => {
  assert.equal(toHex(encodeGattWrite({ address: 1, handle: 0x12, response: false, data: hex("d20300000052") })), "0801" + "1012" + "2206d20300000052");
});

test("decoders: HelloResponse, DeviceInfoResponse flags (field 15), connection response, connections free (packed), GATT error -1 (10-byte int32)", () => {
  assert.deepEqual(decodeHelloResponse(hex("0801 100a 1a06 7265706c6179 2204 6e616d65")), { major: 1, minor: 10, serverInfo: "replay", name: "name" });
  const d = decodeDeviceInfoResponse(hex("1202 7878 2209 323032342e31302e30 7827"));
  assert.equal(d?.name, "xx");
  assert.equal(d?.esphomeVersion, "2024.10.0");
  assert.equal(d?.proxyFlags, 0x27);
  assert.deepEqual(decodeConnectionResponse(hex("08 81d4dce2e39a30 1001 18f701 2000")), { address: 0xc0d63c572a01, connected: true, mtu: 247, error: 0 });
  assert.deepEqual(decodeConnectionsFree(hex("0801 1003 1a07 81d4dce2e39a30")), { free: 1, limit: 3, allocated: [0xc0d63c572a01] });
  assert.deepEqual(decodeConnectionsFree(hex("0801 1003 18 81d4dce2e39a30")), { free: 1, limit: 3, allocated: [0xc0d63c572a01] }, "unpacked repeated too");
  assert.equal(decodeGattError(hex("0801 1012 18ffffffffffffffffff01"))?.error, -1);
  assert.equal(decodeGattError(hex("0801 1012 188501"))?.error, 133);
});

test("raw advertisements (93): address, sint32 rssi (zigzag), address type, AD data with name and fff0", () => {
  const ad = "020106 0302f0ff 0509444c2d31";
  const inner = "08 81d4dce2e39a30" + "1085 01" + "1801" + "22" + (ad.replace(/\s/g, "").length / 2).toString(16).padStart(2, "0") + ad;
  const msg = "0a" + (inner.replace(/\s/g, "").length / 2).toString(16).padStart(2, "0") + inner;
  const list = decodeRawAdvertisements(hex(msg + msg));
  assert.equal(list?.length, 2);
  const a = list?.[0];
  assert.equal(a?.address, 0xc0d63c572a01);
  assert.equal(a?.rssi, -67);
  assert.equal(a?.addressType, 1);
  const p = parseAdData(a?.data ?? new Uint8Array(0));
  assert.deepEqual(p, { name: "DL-1", serviceUuids: ["fff0"] });
  assert.ok(looksDaly(p));
  assert.ok(!looksDaly(parseAdData(hex("0509 4d692d31"))), "Mi-1 without fff0 is not Daly");
  assert.ok(looksDaly(parseAdData(hex("1107 fb349b5f8000008000100000f0ff0000"))), "128-bit fff0 in the list");
});

test("services (71): 128-bit [high, low] UUIDs and short_uuid both name fff0/fff1/fff2/2902; Daly handles found", () => {
  const u = (hi: string, lo: string) => "0a" + ((hi.length + lo.length) / 2).toString(16).padStart(2, "0") + hi + lo;
  const fff1 = u("80a0808090fe3f", "fbe9ecfc859080808001");
  assert.equal(uuidText({ uuid: [0x0000fff100001000n, 0x800000805f9b34fbn], shortUuid: 0 }), "fff1");
  const d2902 = "18829001" + "1010"; // descriptor: short_uuid (3) = 0x2902, handle (2) = 16
  const c1 = fff1 + "100f" + "1810" + "22" + (d2902.length / 2).toString(16).padStart(2, "0") + d2902;
  const c2 = "28f2ff03" + "1012" + "180c"; // characteristic: short_uuid (5) = 0xfff2
  const svc = "20f0ff03" + "100e" + "1a" + (c1.length / 2).toString(16).padStart(2, "0") + c1 + "1a" + (c2.length / 2).toString(16).padStart(2, "0") + c2;
  const msg = "0801" + "12" + (svc.length / 2).toString(16).padStart(2, "0") + svc;
  const r = decodeServicesResponse(hex(msg));
  assert.equal(r?.address, 1);
  assert.deepEqual(r && findDalyHandles(r.services), { notify: 0x0f, write: 0x12, cccd: 0x10, layout: "fff0" });
});

test("plaintext frames: any split, several per chunk, unknown ids are values; 0x01 says the proxy wants encryption", () => {
  const stream = Buffer.concat([encodePlainFrame(2, hex("0801")), encodePlainFrame(999, hex("0a0568656c6c6f")), encodePlainFrame(8, new Uint8Array(0)), encodePlainFrame(79, new Uint8Array(300).fill(7))]);
  for (let cut1 = 0; cut1 <= stream.length; cut1 += 1) {
    const cut2 = Math.min(stream.length, cut1 + 3);
    const dec = new PlainDecoder();
    const items = [...dec.push(stream.subarray(0, cut1)), ...dec.push(stream.subarray(cut1, cut2)), ...dec.push(stream.subarray(cut2))];
    assert.deepEqual(items.map((i) => (i.ok ? [i.type, i.payload.length] : i.problem)), [[2, 2], [999, 7], [8, 0], [79, 300]], `cut at ${cut1}`);
  }
  const enc = new PlainDecoder().push(hex("01000c"));
  assert.equal(enc[0]?.ok, false);
  assert.match(enc[0] && !enc[0].ok ? enc[0].detail : "", /requires encryption/);
  const bad = new PlainDecoder().push(hex("00ffffffff7f01"));
  assert.equal(bad[0] && !bad[0].ok && bad[0].problem, "corrupt", "length varint over 4 bytes");
});

test("Noise frames: any split; 0x00 says the proxy is plaintext", () => {
  const stream = Buffer.concat([encodeNoiseFrame(hex("01")), encodeNoiseFrame(new Uint8Array(0)), encodeNoiseFrame(new Uint8Array(500).fill(1))]);
  for (let cut = 0; cut <= stream.length; cut += 1) {
    const dec = new NoiseFrameDecoder();
    const items = [...dec.push(stream.subarray(0, cut)), ...dec.push(stream.subarray(cut))];
    assert.deepEqual(items.map((i) => (i.ok ? i.body.length : i.problem)), [1, 0, 500]);
  }
  const p = new NoiseFrameDecoder().push(Buffer.from("\x00Bad indicator byte", "binary"));
  assert.match(p[0] && !p[0].ok ? p[0].detail : "", /speaks plaintext/);
  assert.deepEqual(decodeNoisePlain(encodeNoisePlain(0x0150, hex("aabb"))), { type: 0x0150, payload: hex("aabb") });
  assert.equal(toHex(encodeNoisePlain(0x0150, hex("aabb"))), "01500002aabb");
});

test("Noise NNpsk0: handshake in both roles gives matching transport keys; a wrong PSK fails authentication", () => {
  const psk = randomBytes(32);
  const i = new NoiseHandshake("initiator", psk);
  const r = new NoiseHandshake("responder", psk);
  const m1 = i.writeMessage1();
  assert.equal(m1.length, 48, "e (32) + tag of the empty payload (16)");
  r.readMessage1(m1);
  const m2 = r.writeMessage2();
  assert.equal(m2.length, 48);
  i.readMessage2(m2);
  const a = i.split();
  const b = r.split();
  for (let n = 0; n < 3; n++) {
    const c = a.send.encrypt(new Uint8Array(0), hex("000a0000"));
    assert.deepEqual(b.receive.decrypt(new Uint8Array(0), c), Buffer.from(hex("000a0000")));
    assert.deepEqual(a.receive.decrypt(new Uint8Array(0), b.send.encrypt(new Uint8Array(0), hex("ff"))), Buffer.from(hex("ff")));
  }
  const wrong = new NoiseHandshake("responder", randomBytes(32));
  assert.throws(() => wrong.readMessage1(new NoiseHandshake("initiator", psk).writeMessage1()), NoiseDecryptError);
  const tampered = a.send.encrypt(new Uint8Array(0), hex("01"));
  tampered[0] = (tampered[0] ?? 0) ^ 1;
  assert.throws(() => b.receive.decrypt(new Uint8Array(0), tampered), NoiseDecryptError);
});

test("API keys: base64 of exactly 32 bytes", () => {
  assert.equal(decodeKey(randomBytes(32).toString("base64"))?.length, 32);
  assert.equal(decodeKey(randomBytes(16).toString("base64")), undefined);
  assert.equal(decodeKey("not base64!"), undefined);
  assert.equal(decodeKey(""), undefined);
});
