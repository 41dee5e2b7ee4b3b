/** Command line of `npm run bench` (pure). */
import { DEFAULT_TIMING } from "./variants.js";

export const SECTIONS = ["poll", "capacity", "resources", "messages", "startup", "proxy"] as const;
export type Section = (typeof SECTIONS)[number];

export interface Durations {
  /** Samples per poll figure. */
  n: number;
  /** Length of each capacity verification run. */
  capacityS: number;
  warmupS: number;
  measureS: number;
  /** Start-up measurements per mode. */
  reps: number;
}

export const FULL: Durations = { n: 20, capacityS: 45, warmupS: 20, measureS: 60, reps: 3 };
export const QUICK: Durations = { n: 5, capacityS: 25, warmupS: 10, measureS: 20, reps: 1 };

export interface Args extends Durations {
  json: boolean;
  quick: boolean;
  /** Run the child-process sections after the poll figures instead of side by side with them. */
  sequential: boolean;
  sections: Set<Section>;
  /** Variant ids of the poll figures; undefined = all. */
  variants: string[] | undefined;
  timing: typeof DEFAULT_TIMING;
}

export const USAGE =
  "use --json, --quick, --sequential, --n N, --only SECTIONS/VARIANTS (poll,capacity,resources,messages,startup,proxy,all; a5,d2,d2-nomos,p81), " +
  "--ci MS, --delay MS, --adv MS, --capacity-s S, --warmup-s S, --measure-s S, --reps N";

/**
 * --only takes section names and/or variant ids. Variant ids alone keep their old meaning (only
 * those poll figures); with section names they filter the poll figures of the sections chosen.
 */
export function selectSections(only: readonly string[] | undefined, variantIds: readonly string[]): { sections: Set<Section>; variants: string[] | undefined } {
  if (!only || only.length === 0) return { sections: new Set(SECTIONS), variants: undefined };
  const isSection = (t: string): t is Section => (SECTIONS as readonly string[]).includes(t);
  for (const t of only) if (t !== "all" && !isSection(t) && !variantIds.includes(t)) throw new Error(`--only: unknown section or variant "${t}" (${USAGE})`);
  const named = only.filter(isSection);
  const variants = only.filter((t) => variantIds.includes(t));
  const sections = new Set<Section>(only.includes("all") ? SECTIONS : named.length > 0 ? named : ["poll"]);
  return { sections, variants: variants.length > 0 ? variants : undefined };
}

export function parseArgs(argv: readonly string[], variantIds: readonly string[]): Args {
  let only: string[] | undefined;
  const set: Partial<Durations> = {};
  const a = { json: false, quick: false, sequential: false, timing: { ...DEFAULT_TIMING } };
  const num = (i: number, flag: string): number => {
    const v = Number(argv[i + 1]);
    if (argv[i + 1] === undefined || !Number.isFinite(v) || v < 0) throw new Error(`${flag} needs a number`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === "--json") a.json = true;
    else if (f === "--quick") a.quick = true;
    else if (f === "--sequential") a.sequential = true;
    else if (f === "--n") set.n = Math.max(1, Math.round(num(i++, f)));
    else if (f === "--reps") set.reps = Math.max(1, Math.round(num(i++, f)));
    else if (f === "--capacity-s") set.capacityS = Math.max(5, num(i++, f));
    else if (f === "--warmup-s") set.warmupS = num(i++, f);
    else if (f === "--measure-s") set.measureS = Math.max(5, num(i++, f));
    else if (f === "--ci") a.timing.connectionIntervalMs = Math.max(1, num(i++, f));
    else if (f === "--delay") a.timing.replyDelayMs = num(i++, f);
    else if (f === "--adv") a.timing.advertisingIntervalMs = Math.max(1, num(i++, f));
    else if (f === "--only") only = (argv[++i] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    else throw new Error(`unknown argument ${String(f)} (${USAGE})`);
  }
  const { sections, variants } = selectSections(only, variantIds);
  return { ...a, ...(a.quick ? QUICK : FULL), ...set, sections, variants };
}
