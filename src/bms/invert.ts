import type { Snapshot } from "./snapshot.js";

/** The one place the per-BMS `invertCurrent` option applies (contract §2): flips current and power. */
export function applyCurrentSign(s: Snapshot, invert: boolean): Snapshot {
  if (!invert) return s;
  const out = { ...s };
  if (out.current_A !== undefined) out.current_A = out.current_A === 0 ? 0 : -out.current_A;
  if (out.power_W !== undefined) out.power_W = out.power_W === 0 ? 0 : -out.power_W;
  return out;
}
