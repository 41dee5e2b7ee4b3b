/** esphome.proxies and bms[].proxy through files, env and add-on options; keys never shown. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { loadConfig } from "../../src/config/load.js";
import { redactedConfig } from "../../src/config/redact.js";
import { optionsToConfig } from "../../src/addon/options.js";

const KEY = randomBytes(32).toString("base64");

test("DALY_ESPHOME_PROXIES (JSON) gives proxies with port 6053 by default; bms[].proxy pins", () => {
  const r = loadConfig({
    argv: [],
    env: { DALY_TRANSPORT: "esphome", DALY_ESPHOME_PROXIES: JSON.stringify([{ host: "192.168.1.50", encryptionKey: KEY, name: "garage" }, { host: "shed.local", port: 6054 }]), DALY_BMS: JSON.stringify([{ address: "c0:d6:3c:57:2a:01", proxy: "garage" }]) },
  });
  assert.ok(r.ok, r.ok ? "" : r.message);
  assert.equal(r.config.transport, "esphome");
  assert.deepEqual(r.config.esphome.proxies, [
    { host: "192.168.1.50", port: 6053, encryptionKey: KEY, name: "garage" },
    { host: "shed.local", port: 6054, encryptionKey: "" },
  ]);
  assert.equal(r.config.bms[0]?.proxy, "garage");
  const shown = JSON.stringify(redactedConfig(r.config));
  assert.ok(!shown.includes(KEY), "the key is hidden in the logged config");
  assert.match(shown, /"encryptionKey":"\*\*\*"/);
  assert.match(shown, /192\.168\.1\.50/);
});

test("bad proxy entries are refused with the item named; a bad key is not echoed", () => {
  const bad = (proxies: unknown): string => {
    const r = loadConfig({ argv: [], env: { DALY_ESPHOME_PROXIES: JSON.stringify(proxies) } });
    assert.ok(!r.ok);
    return r.message;
  };
  assert.match(bad([{ port: 6053 }]), /esphome\.proxies\[0\]\.host: expected a host name or IP address/);
  assert.match(bad([{ host: "a", port: 70000 }]), /\[0\]\.port: expected a TCP port/);
  const secretish = "not-a-key-but-secret-text";
  const m = bad([{ host: "a", encryptionKey: secretish }]);
  assert.match(m, /\[0\]\.encryptionKey: expected the base64 API key/);
  assert.ok(!m.includes(secretish), m);
  assert.match(bad([{ host: "a", psk: KEY }]), /\[0\]\.psk: unknown key/);
  assert.match(bad([{ host: "a" }, { host: "a", port: 6053 }]), /each host:port once/);
});

test("add-on option esphome_proxies maps encryption_key to encryptionKey and loads", () => {
  const conv = optionsToConfig({ transport: "esphome", esphome_proxies: [{ host: "10.0.0.9", encryption_key: KEY, name: null }], bms: [{ address: "C0:D6:3C:57:2A:01", proxy: "10.0.0.9" }] });
  assert.ok(conv.ok);
  assert.deepEqual(conv.config.esphome, { proxies: [{ host: "10.0.0.9", encryptionKey: KEY }] });
  assert.deepEqual(conv.unknown, []);
});
