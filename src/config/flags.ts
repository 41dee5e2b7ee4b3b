/**
 * A small command-line flag parser: `--flag value`, `--flag=value`, bare boolean flags
 * (`--simulate`, or `--keep-connected=false`), `--` ends the flags. Unknown flags are errors;
 * everything that is not a flag is returned as a positional argument, in order.
 */

export interface FlagSpec {
  /** A value flag takes the next argument (or `=value`); a boolean flag stands alone (or `=true|false`). */
  readonly kind: "value" | "boolean";
  /** Repeated use appends (`--config a --config b`) instead of the last one winning. */
  readonly repeatable?: boolean;
}

export interface ParsedFlags {
  /** Flag name (without `--`) → its values in order; a bare boolean flag gives "true". */
  readonly values: ReadonlyMap<string, readonly string[]>;
  readonly positional: readonly string[];
}

export type ParseResult = ({ ok: true } & ParsedFlags) | { ok: false; message: string };

export function parseFlags(argv: readonly string[], specs: ReadonlyMap<string, FlagSpec>): ParseResult {
  const values = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!/^--?[a-zA-Z]/.test(arg)) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = (eq < 0 ? arg : arg.slice(0, eq)).replace(/^--?/, "");
    const spec = arg.startsWith("--") ? specs.get(name) : undefined;
    if (spec === undefined) return { ok: false, message: `unknown flag ${eq < 0 ? arg : arg.slice(0, eq)}` };
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.kind === "boolean") value = "true";
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) return { ok: false, message: `--${name}: expected a value after the flag` };
      value = next;
      i++;
    }
    const prev = values.get(name);
    values.set(name, spec.repeatable && prev ? [...prev, value] : [value]);
  }
  return { ok: true, values, positional };
}
