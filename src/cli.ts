#!/usr/bin/env -S node --no-opt --no-maglev --max-semi-space-size=1
/** Command-line entry point (contract §1). Parsing only; each command lives in src/commands/. */
import { main } from "./main.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`daly-bms-bridge: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
