/** Dockerfile instructions for the packaging tests: comments dropped, continuations joined. */
export interface Instr {
  op: string;
  args: string;
}

export function dockerInstructions(text: string): Instr[] {
  return text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l) as RegExpExecArray;
      return { op: (m[1] as string).toUpperCase(), args: m[2] as string };
    });
}
