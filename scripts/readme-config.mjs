// Regenerates README.md's configuration table from the schema (after `npm run build`).
// test/unit/readme-config.test.ts fails when the two drift apart.
import { readFileSync, writeFileSync } from "node:fs";
const { configDocs } = await import("../dist/config/docs.js");
const readme = readFileSync("README.md", "utf8");
const next = readme.replace(/(<!-- config:start[^>]*-->\n)[\s\S]*?(\n<!-- config:end -->)/, (_, a, b) => a + configDocs().trim() + b);
writeFileSync("README.md", next);
