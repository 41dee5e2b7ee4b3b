/** The README's configuration table, generated from the schema so the two cannot drift. */
import { EXTRA_FLAGS, schemaLeaves } from "./schema.js";

function cell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function code(s: string): string {
  return s === "" ? "" : "`" + s + "`";
}

/**
 * A Markdown table of every key: key, env, flag, default, doc; then the flags that set no key
 * (`--config`). An empty default is shown as `""`.
 */
export function configDocs(): string {
  const rows = ["| key | env | flag | default | doc |", "|---|---|---|---|---|"];
  for (const { path, spec } of schemaLeaves()) {
    const extra = Object.entries(EXTRA_FLAGS).flatMap(([name, f]) => ("sets" in f && f.sets === path ? [`--${name}`] : []));
    const flag = [...(spec.arg ? [`--${spec.arg}`] : []), ...extra].join(", ");
    const def = JSON.stringify(spec.default);
    rows.push(`| ${code(path)} | ${code(spec.env)} | ${code(flag)} | ${code(def)} | ${cell(spec.doc)} |`);
  }
  for (const [name, f] of Object.entries(EXTRA_FLAGS)) {
    if ("sets" in f) continue;
    rows.push(`| | ${code(f.env)} | ${code(`--${name}`)} | | ${cell(f.doc)} |`);
  }
  return rows.join("\n") + "\n";
}
