/** The logger: stderr only, synchronous, pretty or JSON, and secrets never printed. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createLogger, child, type LogFormat } from "../../src/log.js";

function memory(isTTY = false): { lines: string[]; write(s: string): void; isTTY: boolean } {
  const lines: string[] = [];
  return { lines, isTTY, write: (s: string) => void lines.push(s) };
}

const SECRET = "hunter2";
const MQTT = { url: `mqtt://bob:${SECRET}@broker:1883`, username: "bob", password: SECRET };

for (const format of ["json", "pretty"] as const satisfies readonly LogFormat[]) {
  test(`${format}: passwords, tokens, authorization headers and URL credentials are masked`, () => {
    const dest = memory();
    const log = createLogger({ level: "info", format, destination: dest });
    log.info({ mqtt: MQTT }, "mqtt config");
    log.info({ config: { mqtt: MQTT } }, "config");
    log.info({ password: SECRET, token: SECRET, headers: { authorization: `Bearer ${SECRET}` } }, "request");
    child(log, { component: "mqtt" }).info({ url: MQTT.url }, "connecting");
    const out = dest.lines.join("");
    assert.equal(dest.lines.length, 4, "written synchronously, one line each");
    assert.doesNotMatch(out, new RegExp(SECRET));
    assert.match(out, /bob:\*\*\*@broker/);
  });
}

test("json is one JSON object per line with static msg and fields; bindings from child()", () => {
  const dest = memory();
  child(createLogger({ level: "debug", format: "json", destination: dest }), { component: "ble", mac: "C0:D6:3C:57:2A:01" }).debug({ n: 1 }, "scan");
  const line = JSON.parse(dest.lines[0] ?? "") as Record<string, unknown>;
  assert.equal(line.msg, "scan");
  assert.equal(line.component, "ble");
  assert.equal(line.mac, "C0:D6:3C:57:2A:01");
  assert.equal(line.n, 1);
});

test("auto is pretty on a terminal and JSON otherwise; level filters", () => {
  const tty = memory(true);
  const pipe = memory(false);
  createLogger({ level: "warn", format: "auto", destination: tty }).warn("careful");
  const plain = createLogger({ level: "warn", format: "auto", destination: pipe });
  plain.info("hidden");
  plain.warn("careful");
  assert.match(tty.lines.join(""), /WARN.*careful/);
  assert.throws(() => JSON.parse(tty.lines[0] ?? ""));
  assert.equal(pipe.lines.length, 1);
  assert.equal((JSON.parse(pipe.lines[0] ?? "") as { msg: string }).msg, "careful");
});

test("the default destination is stderr: stdout stays free for snapshot JSON", () => {
  const log = fileURLToPath(new URL("../../src/log.js", import.meta.url));
  const script = `const { createLogger } = await import(${JSON.stringify(log)});
    createLogger({ level: "info", format: "pretty" }).info({ n: 7 }, "bye"); process.exit(0);`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /INFO.*bye/);
  assert.match(r.stderr, /n: 7/);
});
