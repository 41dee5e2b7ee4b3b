/**
 * Reading one config file: JSON (`.json`, or content starting with "{") or YAML (anything else),
 * and checking its shape against the schema before convict sees it — an unknown key or a section
 * that is not a mapping is an error naming the file and the dotted key.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { createRequire } from "node:module";

/** yaml is loaded only for YAML files. */
const lazyRequire = createRequire(import.meta.url);
import { show } from "./formats.js";
import { isLeaf, schema, type ConfigKey } from "./schema.js";

export type FileResult = { ok: true; data: Record<string, unknown>; keys: ConfigKey[] } | { ok: false; message: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parse(file: string, text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  const ext = extname(file).toLowerCase();
  if (ext === ".json" || (ext !== ".yaml" && ext !== ".yml" && text.trimStart().startsWith("{"))) {
    try {
      return { ok: true, value: text.trim() === "" ? null : (JSON.parse(text) as unknown) };
    } catch (e) {
      return { ok: false, message: `invalid JSON: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  const { parseDocument } = lazyRequire("yaml") as typeof import("yaml");
  const doc = parseDocument(text, { prettyErrors: true });
  const err = doc.errors[0];
  if (err) return { ok: false, message: `invalid YAML: ${(err.message.split("\n")[0] ?? "").replace(/:$/, "")}` };
  return { ok: true, value: doc.toJS() as unknown };
}

/**
 * Walks `data` along the schema. Returns the leaf keys it sets, or a message for the first key
 * the schema does not have / the first section given as something other than a mapping.
 * A section left empty in YAML (`mqtt:` → null) counts as absent.
 */
function checkShape(data: Record<string, unknown>, node: object, prefix: string, keys: ConfigKey[]): string | undefined {
  const known = Object.keys(node);
  for (const [k, v] of Object.entries(data)) {
    const child: unknown = Object.hasOwn(node, k) ? (node as Record<string, unknown>)[k] : undefined;
    if (typeof child !== "object" || child === null) {
      return `unknown key "${prefix}${k}" (expected one of: ${known.join(", ")})`;
    }
    if (isLeaf(child)) {
      keys.push(`${prefix}${k}` as ConfigKey); // a schema leaf path is a ConfigKey
      continue;
    }
    if (v === null) {
      delete data[k];
      continue;
    }
    if (!isRecord(v)) return `${prefix}${k}: expected a mapping of ${Object.keys(child).join(", ")}, got ${show(v)}`;
    const inner = checkShape(v, child, `${prefix}${k}.`, keys);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

export function readConfigFile(file: string): FileResult {
  const where = `config file ${file}`;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
    return { ok: false, message: `${where}: cannot read it${code ? ` (${code})` : ""}` };
  }
  const parsed = parse(file, text);
  if (!parsed.ok) return { ok: false, message: `${where}: ${parsed.message}` };
  if (parsed.value === null || parsed.value === undefined) return { ok: true, data: {}, keys: [] };
  if (!isRecord(parsed.value)) return { ok: false, message: `${where}: expected a mapping of config keys at the top, got ${show(parsed.value)}` };
  const keys: ConfigKey[] = [];
  const bad = checkShape(parsed.value, schema, "", keys);
  if (bad !== undefined) return { ok: false, message: `${where}: ${bad}` };
  return { ok: true, data: parsed.value, keys };
}
