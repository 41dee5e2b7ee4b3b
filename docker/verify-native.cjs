// Build-time check that the Bluetooth modules the bridge loads at run time are really there and
// load on this architecture (run in the Dockerfile's build stage, after `npm prune --omit=dev`).
//
// Why not just `node -e "require('@abandonware/noble')"`: noble's index.js opens an HCI socket
// while loading, and the build sandbox has no AF_BLUETOOTH, so that require throws EAFNOSUPPORT
// on a perfectly good build (ble-noble.md §1.1). And `@abandonware/bluetooth-hci-socket` is an
// *optional* dependency of noble: when its node-gyp compile fails, `npm ci` still succeeds
// (home-assistant.md §4.2) and the failure would only show at run time. So this script loads the
// compiled .node file itself (the step that fails when the compile failed or targets the wrong
// arch/ABI), checks its export, and calls the constructor, accepting the errno the kernel gives
// without Bluetooth: that proves the native code runs, without needing an adapter.
//
// Usage: node docker/verify-native.cjs [appDir]   (appDir defaults to the current directory)
"use strict";
const path = require("node:path");
const { createRequire } = require("node:module");

const appDir = path.resolve(process.argv[2] || process.cwd());
const requireFromApp = createRequire(path.join(appDir, "package.json"));
const problems = [];
const report = [];

function check(label, fn) {
  try {
    const detail = fn();
    report.push(`ok   ${label}${detail ? `: ${detail}` : ""}`);
  } catch (err) {
    problems.push(`FAIL ${label}: ${err && err.message ? err.message : String(err)}`);
  }
}

// Errors the socket() call may give where the module is fine but Bluetooth is absent or denied.
const ACCEPTED_SOCKET_ERRORS = new Set(["EAFNOSUPPORT", "EPERM", "EACCES", "ENODEV", "EPROTONOSUPPORT"]);

check("@abandonware/bluetooth-hci-socket native binary", () => {
  const pkgDir = path.dirname(requireFromApp.resolve("@abandonware/bluetooth-hci-socket/package.json"));
  const binary = path.join(pkgDir, "build", "Release", "bluetooth_hci_socket.node");
  // require() (not a bare process.dlopen) so that lib/native.js below gets the same cached module:
  // a NAN addon loaded twice in one process fails with "Module did not self-register".
  const Ctor = requireFromApp(binary).BluetoothHciSocket; // throws on a missing file, wrong arch or ABI
  if (typeof Ctor !== "function") throw new Error(`${binary} does not export the BluetoothHciSocket class`);
  let outcome = "socket() succeeded";
  try {
    const s = new Ctor();
    if (typeof s.stop === "function") {
      try {
        s.stop();
      } catch {
        /* never started */
      }
    }
  } catch (err) {
    if (!err || !ACCEPTED_SOCKET_ERRORS.has(err.code)) throw err;
    outcome = `native constructor ran, socket() said ${err.code} (expected without Bluetooth)`;
  }
  return `${path.relative(appDir, binary)} loaded; ${outcome}`;
});

check("@abandonware/bluetooth-hci-socket JS wrapper (lib/native.js)", () => {
  const Wrapped = requireFromApp("@abandonware/bluetooth-hci-socket/lib/native.js");
  if (typeof Wrapped !== "function") throw new Error("lib/native.js did not export a class");
  return "";
});

check("@abandonware/noble/with-bindings", () => {
  const withBindings = requireFromApp("@abandonware/noble/with-bindings");
  if (typeof withBindings !== "function") throw new Error("with-bindings did not export a function");
  return "";
});

check("dbus-next (BlueZ transport)", () => {
  const dbus = requireFromApp("dbus-next");
  if (typeof dbus.systemBus !== "function") throw new Error("dbus-next has no systemBus()");
  return "";
});

// Every runtime dependency loads after pruning (docker/prune-modules.mjs removes files nothing
// should load: this proves it). noble itself is left out: requiring it opens an HCI socket.
const pkg = requireFromApp("./package.json");
for (const dep of Object.keys(pkg.dependencies || {})) {
  if (dep === "@abandonware/noble") continue;
  check(`dependency ${dep} loads`, () => {
    requireFromApp(dep);
    return "";
  });
}

for (const line of report) console.log(line);
if (problems.length > 0) {
  for (const line of problems) console.error(line);
  console.error(`verify-native: ${problems.length} check(s) failed for ${process.platform}/${process.arch}, Node ${process.versions.node} (ABI ${process.versions.modules})`);
  process.exit(1);
}
console.log(`verify-native: all Bluetooth modules load on ${process.platform}/${process.arch}, Node ${process.versions.node} (ABI ${process.versions.modules})`);
// An explicit exit: on Node 24 the teardown of a natural exit runs the destructor of the socket
// object whose socket() failed above, which aborts in uv_close (see src/cli.ts).
process.exit(0);
