// Trims a production node_modules for the container image (run in the build stage after
// `npm prune --omit=dev`): the runtime stage copies node_modules whole, so every byte left here is
// in the image. Removes only what nothing loads at run time:
//   - build-time packages (node-gyp and its helpers, C/C++ headers for addons, type definitions);
//   - native build intermediates (object files, makefiles) next to the compiled .node files;
//   - prebuilt binaries for other platforms and architectures (serialport, usb ship all of them)
//     and bundled C sources (libusb);
//   - Markdown, TypeScript sources and source maps of dependencies.
// Licence files are kept. Prints the size before and after.
// Usage: node docker/prune-modules.mjs <node_modules dir>
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

const root = process.argv[2];
if (!root) {
  console.error("usage: node prune-modules.mjs <node_modules>");
  process.exit(2);
}
/** Whole packages needed only to compile native addons or to type-check. */
const BUILD_ONLY = new Set(["node-gyp", "@npmcli", "nan", "node-addon-api", "@types", "@mapbox", "node-gyp-build-optional-packages"]);
/** Folders inside a package that no runtime code loads. */
// (not "doc"/"docs": yaml keeps runtime code in dist/doc — verify-native.cjs loads every dependency)
const DEAD_DIRS = new Set(["__tests__", ".github", "libusb", "obj.target", ".deps"]);
const DEAD_FILE = /(\.md|\.markdown|\.map|\.ts|\.mts|\.cts|\.gyp|\.gypi|\.mk|Makefile|\.o|\.cc|\.cpp|\.h|\.hpp|\.c)$/;
const KEEP_FILE = /^(license|licence|notice|copying)/i;
const platformTag = `${process.platform}-${process.arch}`;

function size(p) {
  const st = statSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((n, e) => n + size(join(p, e)), 0);
}

function walk(dir, depth) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) {
      if (depth === 0 && BUILD_ONLY.has(e.name)) { rmSync(p, { recursive: true, force: true }); continue; }
      if (DEAD_DIRS.has(e.name)) { rmSync(p, { recursive: true, force: true }); continue; }
      // prebuilds/<platform>-<arch>[...]: keep only this platform's
      if (e.name === "prebuilds") {
        for (const t of readdirSync(p)) if (!t.startsWith(platformTag)) rmSync(join(p, t), { recursive: true, force: true });
        continue;
      }
      walk(p, e.name.startsWith("@") && depth === 0 ? 0 : depth + 1);
    } else if (DEAD_FILE.test(e.name) && !KEEP_FILE.test(e.name) && !e.name.endsWith(".d.ts.keep")) {
      rmSync(p, { force: true });
    }
  }
}

const before = size(root);
walk(root, 0);
const after = size(root);
console.log(`prune-modules: ${(before / 1e6).toFixed(1)} MB -> ${(after / 1e6).toFixed(1)} MB (${platformTag})`);
