#!/usr/bin/env node
/**
 * The simulated radio as its own process: `node dist/sim/remote/main.js --sim-scenario FILE
 * --hci-socket PATH` serves the scenario's BMS on a virtual controller at PATH; a bridge started
 * with the same scenario and `simulation.hciSocket` = PATH polls them through noble's real HCI
 * code. Prints "ready PATH" on stdout when listening; stops on SIGINT/SIGTERM.
 */
import { createVirtualHci } from "../hci/index.js";
import { bmsToPeripheral } from "../radio.js";
import { loadScenarioFile } from "../scenario.js";
import { serveHci } from "./server.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const file = arg("--sim-scenario");
  const path = arg("--hci-socket");
  if (!file || !path) {
    process.stderr.write("usage: node dist/sim/remote/main.js --sim-scenario FILE --hci-socket PATH\n");
    return 2;
  }
  const r = loadScenarioFile(file);
  if (!r.ok) {
    process.stderr.write(`${r.message}\n`);
    return 2;
  }
  const writes = new Map<string, number>();
  const { controller } = createVirtualHci(r.scenario.bms.map((b) => bmsToPeripheral(b, Date.now, writes)));
  const server = await serveHci(controller, path);
  process.stdout.write(`ready ${path}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await server.close();
  controller.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`simulator: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
