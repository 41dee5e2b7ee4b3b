/**
 * `npm run soak -- [--minutes N] [--bms N] [--json] [--fault-rate 0.05] [--seed S] [--hang-s 30]`
 *
 * Fault soak with truth checking: the real bridge (in-process) against a real Mosquitto, simulated
 * BMS of all three protocol families whose values drift, faults injected before each poll window
 * (dropped, garbled, split and merged notifications, link loss mid-poll, connect hangs, ATT errors,
 * the MTU answer that stalls noble, out-of-range windows long enough for offline, a sleeping BMS),
 * broker restarts and Home Assistant birth messages. An independent checker reads MQTT only and
 * compares every state with the simulator's truth (truth.ts), checks availability
 * (availability.ts) and measures recovery after restarts (recovery.ts).
 *
 * Exit code: 0 pass; 1 wrong values, availability errors or a hang; 2 the soak could not run.
 * `--json`: the report as one JSON object, the last (only) line of stdout; the text goes to stderr.
 */
import { parseArgs } from "./args.js";
import { humanReport, runSoak, SetupError } from "./run.js";

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if ("error" in args) {
    process.stderr.write(`${args.error}\n`);
    return 2;
  }
  const say = (line: string): void => void process.stderr.write(`${line}\n`);
  say(`soak: ${args.minutes} min, ${args.bms} BMS, fault rate ${args.faultRate}, seed ${args.seed}`);
  const report = await runSoak(args, say);
  const text = humanReport(report);
  if (args.json) {
    process.stderr.write(`${text}\n`);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    process.stdout.write(`${text}\n`);
  }
  return report.exitCode;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const msg = e instanceof SetupError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stderr.write(`soak failed: ${msg}\n`);
    process.exit(2);
  },
);
