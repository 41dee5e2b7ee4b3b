import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseHex } from "../../src/util/hex.js";
import { FIXTURES } from "./paths.js";

export interface Vector {
  name: string;
  source: string;
  kind: "real" | "synthetic";
  hex: string;
  expected?: Record<string, unknown>;
  expectedExit?: number;
  frames?: number;
  rejected?: number;
}

export const VECTORS: Vector[] = JSON.parse(readFileSync(join(FIXTURES, "daly", "vectors.json"), "utf8")) as Vector[];

export interface RequestVectors {
  a5: Array<[string, number, number, string]>;
  modbus: Array<["d2" | "p81", string, string]>;
}
export const REQUESTS: RequestVectors = JSON.parse(readFileSync(join(FIXTURES, "daly", "requests.json"), "utf8")) as RequestVectors;

export function bytesOf(hex: string): Uint8Array {
  const b = parseHex(hex);
  if (!b) throw new Error("bad fixture hex: " + hex);
  return b;
}
