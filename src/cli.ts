#!/usr/bin/env -S node --no-opt --no-maglev --max-semi-space-size=1
/** Command-line entry point (contract §1). Parsing only; each command lives in src/commands/. */
import { main } from "./main.js";

/**
 * Ends the process explicitly once stdout and stderr have taken what was written, instead of
 * letting the event loop drain: on Node 24 the teardown of a natural exit runs the destructor of a
 * native `@abandonware/bluetooth-hci-socket` object whose socket() failed (no Bluetooth in the
 * kernel or network namespace, no CAP_NET_RAW), and that destructor calls uv_close on a handle it
 * never initialised: the process aborts with status 134 after printing its clear error.
 * process.exit() skips that teardown. Every command has finished its work (MQTT closed, link
 * released) before main() resolves.
 */
function exit(code: number): void {
  let pending = 2;
  const done = (): void => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}

main(process.argv.slice(2)).then(
  (code) => exit(code),
  (err: unknown) => {
    process.stderr.write(`daly-bms-bridge: ${err instanceof Error ? err.message : String(err)}\n`);
    exit(1);
  },
);
