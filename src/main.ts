/** Dispatches a command line to its command. Returns the process exit code. */
import { decodeCommand, type CommandResult } from "./commands/decode.js";
import { VERSION } from "./version.js";
import { pollCommand } from "./commands/poll.js";
import { scanCommand } from "./commands/scan.js";
import { runCommand } from "./commands/run.js";

const HELP = `daly-bms-bridge ${VERSION} — Daly Smart BMS (BLE) → Home Assistant MQTT bridge, read-only

Usage:
  daly-bms-bridge [run] [flags]          run the bridge (default command)
  daly-bms-bridge scan [--seconds N]     list nearby Daly BMS
  daly-bms-bridge poll --address MAC [--protocol auto|a5|d2|p81]
                                         one poll, prints one snapshot JSON
  daly-bms-bridge decode HEX...          decode frames from a hex dump
  daly-bms-bridge --help | --version

Flags: --config FILE  --sim-scenario FILE  --simulate  --mqtt-url URL
       --poll-interval SECONDS  --log-level LEVEL   (see README for all keys)
`;

function print(r: CommandResult): number {
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  return r.exitCode;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...others] = argv;
  // no command, or flags first: `run` is the default command
  const cmd = first === undefined || first.startsWith("--") && first !== "--help" && first !== "--version" ? "run" : first;
  const rest = cmd === "run" && first !== "run" ? argv : others;
  if (cmd === "--help" || cmd === "-h" || cmd === "help") return print({ exitCode: 0, stdout: HELP });
  if (cmd === "--version" || cmd === "-V") return print({ exitCode: 0, stdout: VERSION + "\n" });
  switch (cmd) {
    case "decode":
      return print(decodeCommand(rest));
    case "poll":
      return print(await pollCommand(rest, process.env));
    case "scan":
      return print(await scanCommand(rest, process.env));
    case "run":
      return await runCommand(rest, process.env);
    default:
      return print({ exitCode: 2, stderr: `unknown command: ${cmd ?? ""}\n${HELP}` });
  }
}
