/**
 * Monitoring only: no code path can build a write or control frame. The encoder is the only
 * builder of BMS-bound bytes in src/, and it refuses everything outside the read whitelist.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { A5_READ_COMMANDS, encodeRequest, MODBUS_BLOCKS, type ReadRequest } from "../../src/daly/requests.js";
import { crc16modbus } from "../../src/daly/checksum.js";
import { ROOT } from "../helpers/paths.js";

const WRITES = [0x00, 0x21, 0xd8, 0xd9, 0xda]; // reset, set SOC/RTC, PC-tool 0xD8, MOSFET switches (§2.4)

test("legacy write/control commands cannot be encoded", () => {
  for (const command of WRITES) {
    for (const host of [0x80, 0x40]) {
      // a cast is the only way to even try; the runtime guard must still refuse
      const req = { protocol: "a5", command, host } as unknown as ReadRequest;
      assert.throws(() => encodeRequest(req), /not a whitelisted read command/);
    }
  }
});

test("every byte value outside the read whitelist is refused", () => {
  const allowed = new Set<number>(A5_READ_COMMANDS);
  for (let c = 0; c < 256; c++) {
    const req = { protocol: "a5", command: c, host: 0x80 } as unknown as ReadRequest;
    if (allowed.has(c)) assert.equal(encodeRequest(req)[2], c);
    else assert.throws(() => encodeRequest(req));
  }
});

test("every Modbus request the encoder can build is function 0x03 (read), and unknown blocks are refused", () => {
  for (const protocol of ["d2", "p81"] as const) {
    for (const block of Object.keys(MODBUS_BLOCKS[protocol])) {
      const f = encodeRequest({ protocol, block } as ReadRequest);
      assert.equal(f[1], 0x03, `${protocol} ${block}`);
      assert.equal(f.length, 8);
      const crc = crc16modbus(f, 0, 6);
      assert.deepEqual([f[6], f[7]], [crc & 0xff, crc >> 8]);
    }
    for (const bad of ["charge_mosfet", "write", "toString", "__proto__", "constructor"]) {
      assert.throws(() => encodeRequest({ protocol, block: bad } as unknown as ReadRequest), /not a whitelisted/);
    }
  }
});

test("no source file outside the encoder builds Modbus write function codes or legacy write commands", () => {
  // structural guard: the constants for writes exist only for *parsing* sniffed streams
  const offenders: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts") && !p.endsWith("daly/constants.ts") && !p.endsWith("daly/assembler.ts") && !p.endsWith("daly/frame.ts")) {
        const t = readFileSync(p, "utf8");
        if (/MODBUS_WRITE_(SINGLE|MULTIPLE)/.test(t) || /\b0x(d9|da|21)\b.*(write|encode)/i.test(t)) offenders.push(p);
      }
    }
  };
  walk(join(ROOT, "src"));
  assert.deepEqual(offenders, []);
});
