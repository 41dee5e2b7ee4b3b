/** A small seeded PRNG (mulberry32) so a soak's scenario and fault schedule can be replayed. */
export interface Rng {
  (): number;
  int(lo: number, hi: number): number;
  pick<T>(items: readonly T[]): T;
}

export function seededRng(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng = next as Rng;
  rng.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  rng.pick = <T>(items: readonly T[]): T => {
    const v = items[Math.floor(next() * items.length)];
    if (v === undefined) throw new Error("pick from an empty list");
    return v;
  };
  return rng;
}
