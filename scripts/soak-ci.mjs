// CI gate: a one-minute fault soak (3 BMS, one per protocol family; 5 % fault rate) against a
// real Mosquitto. Exits with the soak's status: 0 pass, 1 wrong values / availability errors /
// hang, 2 the soak could not run (or overran its time limit).
// Usage: node scripts/soak-ci.mjs   (SOAK_SEED=n replays a schedule; SOAK_REPORT=file keeps the JSON)
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";

// the soak is development tooling (tools/soak), built by tools/tsconfig.json to build-tools/;
// built here every time, since `npm run build` builds only the product
const entry = "build-tools/tools/soak/main.js";
const b = spawnSync("npx", ["tsc", "-p", "tools/tsconfig.json"], { stdio: "inherit" });
if (b.status !== 0 || !existsSync(entry)) process.exit(2);
const seed = process.env.SOAK_SEED ?? String(Math.floor(Math.random() * 1_000_000));
// the node flags of daly-bms-bridge (its shebang), so memory behaves as in the shipped bridge
const args = ["--no-opt", "--no-maglev", "--max-semi-space-size=1", "--expose-gc", entry, "--minutes", "1", "--bms", "3", "--fault-rate", "0.05", "--seed", seed, "--json"];
process.stderr.write(`soak-ci: node ${args.join(" ")}\n`);
const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
child.stdout.on("data", (d) => (out += d));
// one minute of soak + start-up and shutdown; a soak that hangs must not hang CI
const limit = setTimeout(() => {
  process.stderr.write("soak-ci: the soak overran 4 minutes; killing it\n");
  child.kill("SIGKILL");
}, 240_000);
child.on("exit", (code, signal) => {
  clearTimeout(limit);
  const last = out.trim().split("\n").pop() ?? "";
  let report;
  try {
    report = JSON.parse(last);
  } catch {
    report = undefined;
  }
  if (report && process.env.SOAK_REPORT) writeFileSync(process.env.SOAK_REPORT, JSON.stringify(report, null, 1));
  if (report) {
    const r = report;
    process.stderr.write(
      `soak-ci: seed ${seed}: ${r.polls.fresh} states, ${r.faults.total} faults, ${r.values.wrong} wrong values, ` +
        `${r.availability.errors} availability errors, ${r.hangs.length} hangs → ${r.ok ? "PASS" : "FAIL (replay: SOAK_SEED=" + seed + ")"}\n`,
    );
  }
  process.exit(signal ? 2 : (code ?? 2));
});
