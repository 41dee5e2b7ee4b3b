/** README.md tells the truth about the configuration: its key table is the schema's. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { configDocs } from "../../src/config/docs.js";
import { ROOT } from "../helpers/paths.js";

test("README's configuration table equals configDocs()", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const m = /<!-- config:start[^>]*-->\n([\s\S]*?)\n<!-- config:end -->/.exec(readme);
  assert.ok(m, "README has the config markers");
  assert.equal(m[1], configDocs().trim());
});
