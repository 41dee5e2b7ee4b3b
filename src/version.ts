import { readFileSync } from "node:fs";

/** Package version, read once from package.json next to dist/ (works from src/ and dist/). */
export const VERSION: string = (() => {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    if (pkg && typeof pkg === "object" && "version" in pkg && typeof pkg.version === "string") return pkg.version;
  } catch {
    // fall through
  }
  return "0.0.0";
})();
