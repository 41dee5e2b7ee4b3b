/**
 * Raw ⇄ unit conversions used by the layout tables. Each is a pair so that one table serves the
 * decoder (bridge) and the encoder (simulator's responder): a field is defined once.
 */
export interface Scale {
  decode(raw: number): number;
  encode(value: number): number;
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export const id: Scale = { decode: (r) => r, encode: (v) => Math.round(v) };
export const flag: Scale = { decode: (r) => (r === 0 ? 0 : 1), encode: (v) => (v ? 1 : 0) };
/** 0.1 units (V, %, Ah). */
export const tenth: Scale = { decode: (r) => round(r / 10, 1), encode: (v) => Math.round(v * 10) };
/** Current: (raw − 30000) × 0.1 A, signed after the subtraction (§2.3, §6). */
export const current: Scale = { decode: (r) => round((r - 30000) / 10, 1), encode: (v) => Math.round(v * 10) + 30000 };
/** Temperature: raw − 40 °C. */
export const temp: Scale = { decode: (r) => r - 40, encode: (v) => Math.round(v) + 40 };
/** mAh → Ah. */
export const milli: Scale = { decode: (r) => round(r / 1000, 3), encode: (v) => Math.round(v * 1000) };
