/** StateChangeLog: one line per change of state per key, never one per retry. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger, StateChangeLog } from "../../src/log.js";

function setup(): { lines: Array<Record<string, unknown>>; links: StateChangeLog<"online" | "unreachable"> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: "info", format: "json", destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  const links = new StateChangeLog(log, "mac", {
    online: { level: "info", msg: "bms online" },
    unreachable: { level: "warn", msg: "bms unreachable" },
  });
  return { lines, links };
}

test("repeated states are logged once; each change once, with the previous state", () => {
  const { lines, links } = setup();
  assert.equal(links.logChange("C0:01", "unreachable", { failures: 3 }), true);
  assert.equal(links.logChange("C0:01", "unreachable", { failures: 4 }), false);
  assert.equal(links.logChange("C0:01", "unreachable"), false);
  assert.equal(links.logChange("C0:01", "online"), true);
  assert.equal(links.logChange("C0:01", "online"), false);
  assert.deepEqual(
    lines.map((l) => [l.msg, l.mac, l.state, l.previous, l.failures]),
    [
      ["bms unreachable", "C0:01", "unreachable", undefined, 3],
      ["bms online", "C0:01", "online", "unreachable", undefined],
    ],
  );
  assert.equal(lines[0]?.level, 40, "unreachable is a warning");
  assert.equal(links.current("C0:01"), "online");
});

test("keys are independent; forget() makes the next state log again", () => {
  const { lines, links } = setup();
  links.logChange("A", "online");
  links.logChange("B", "online");
  links.logChange("A", "online");
  assert.equal(lines.length, 2);
  links.forget("A");
  assert.equal(links.logChange("A", "online"), true);
  assert.equal(lines.length, 3);
});
