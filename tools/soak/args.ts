/** Command line of `npm run soak -- …` (parsed by hand, like the bench). */

export interface SoakArgs {
  minutes: number;
  bms: number;
  json: boolean;
  faultRate: number;
  seed: number;
  /** A BMS with no active fault and no fresh state for this long is hung (exit 1). */
  hangS: number;
  /** Broker restart and HA birth every this many seconds (0 = never). */
  restartEveryS: number;
  logLevel: string;
}

export const USAGE =
  "usage: npm run soak -- [--minutes N] [--bms N] [--json] [--fault-rate 0.05] [--seed S] [--hang-s 30] [--restart-every-s 30] [--log-level error]";

export function parseArgs(argv: readonly string[]): SoakArgs | { error: string } {
  const a: SoakArgs = { minutes: 5, bms: 6, json: false, faultRate: 0.05, seed: Date.now() % 1_000_000, hangS: 30, restartEveryS: 30, logLevel: "error" };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const next = (): string | undefined => argv[++i];
    const num = (lo: number, hi: number): number | { error: string } => {
      const v = Number(next());
      return Number.isFinite(v) && v >= lo && v <= hi ? v : { error: `${String(f)} needs a number in ${lo}…${hi}` };
    };
    let v: number | { error: string } = 0;
    switch (f) {
      case "--json":
        a.json = true;
        continue;
      case "--minutes":
        v = num(0.1, 24 * 60);
        if (typeof v === "number") a.minutes = v;
        break;
      case "--bms":
        v = num(1, 64);
        if (typeof v === "number") a.bms = Math.round(v);
        break;
      case "--fault-rate":
        v = num(0, 1);
        if (typeof v === "number") a.faultRate = v;
        break;
      case "--seed":
        v = num(0, 2 ** 32 - 1);
        if (typeof v === "number") a.seed = Math.round(v);
        break;
      case "--hang-s":
        v = num(5, 3600);
        if (typeof v === "number") a.hangS = v;
        break;
      case "--restart-every-s":
        v = num(0, 3600);
        if (typeof v === "number") a.restartEveryS = v;
        break;
      case "--log-level":
        a.logLevel = next() ?? "error";
        continue;
      case "--help":
      case "-h":
        return { error: USAGE };
      default:
        return { error: `unknown argument ${String(f)}\n${USAGE}` };
    }
    if (typeof v !== "number") return v;
  }
  return a;
}
