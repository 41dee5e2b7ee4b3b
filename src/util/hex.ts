/** Hex helpers shared by the codec, the CLI and the logs. */

/** Lower-case, space-separated bytes: diff-friendly and what sniffers print. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    if (i > 0) out += " ";
    out += (bytes[i] ?? 0).toString(16).padStart(2, "0");
  }
  return out;
}

/**
 * Parses hex with any mix of spaces, colons, dashes, commas or none between bytes, and an optional
 * "0x" prefix per token. Returns undefined when the text is not hex (odd digit count, bad char).
 */
export function parseHex(text: string): Uint8Array | undefined {
  const tokens = text.trim().split(/[\s:,-]+/).filter((t) => t.length > 0);
  let digits = "";
  for (const t of tokens) {
    const d = t.toLowerCase().startsWith("0x") ? t.slice(2) : t;
    if (!/^[0-9a-fA-F]+$/.test(d)) return undefined;
    // a lone token of odd length like "a" in "a5 1 90" is ambiguous: reject rather than guess
    if (d.length % 2 !== 0) return undefined;
    digits += d;
  }
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}
