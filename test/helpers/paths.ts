import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (tests run compiled from build/test/…, fixtures stay in test/fixtures). */
export const ROOT: string = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, "package.json"))) {
    const up = dirname(d);
    if (up === d) throw new Error("package.json not found above " + fileURLToPath(import.meta.url));
    d = up;
  }
  return d;
})();

export const FIXTURES = join(ROOT, "test", "fixtures");
export const CLI = join(ROOT, "dist", "cli.js");
export const SIM_MAIN = join(ROOT, "dist", "sim", "remote", "main.js");
