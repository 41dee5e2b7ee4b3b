import { readFileSync } from "node:fs";

/**
 * Package version, read once from package.json next to dist/ (works from src/ and dist/), or two
 * levels up when the product is compiled along with the tools (build-tools/src/, build/src/).
 */
export const VERSION: string = (() => {
  for (const path of ["../package.json", "../../package.json"]) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"));
      if (pkg && typeof pkg === "object" && "name" in pkg && pkg.name === "daly-bms-bridge" && "version" in pkg && typeof pkg.version === "string") return pkg.version;
    } catch {
      // try the next
    }
  }
  return "0.0.0";
})();
