#!/usr/bin/env node
// Points the add-on, the add-on repository and the docs at a GitHub owner (user or organisation):
//
//   node scripts/set-owner.mjs <github-owner> [--root <dir>]
//
// Rewrites every image name (ghcr.io/<owner>/…, always lower case: GHCR requires it) and GitHub
// URL (github.com/<owner>/…) in the files listed in scripts/owner.mjs, starting from the owner
// that ha-addon/config.yaml `image:` names now. Run it once in a fork, commit, then tag releases
// (README "Releasing"). Running it again with the same owner changes nothing.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RE_OWNER, configOwner, countOwner, existingOwnerFiles, replaceOwner } from "./owner.mjs";

function usage(msg) {
  console.error(`set-owner: ${msg}\nusage: node scripts/set-owner.mjs <github-owner> [--root <dir>]`);
  process.exit(2);
}

const args = process.argv.slice(2);
let root = fileURLToPath(new URL("..", import.meta.url));
const positional = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--root") {
    if (!args[i + 1]) usage("--root needs a directory");
    root = resolve(args[++i]);
  } else if (args[i].startsWith("-")) usage(`unknown option ${args[i]}`);
  else positional.push(args[i]);
}
if (positional.length !== 1) usage("give exactly one owner");
const next = positional[0];
if (!RE_OWNER.test(next)) usage(`'${next}' is not a GitHub user or organisation name (letters, digits, single inner hyphens, at most 39)`);

const current = configOwner(root);
if (current instanceof Error) {
  console.error(`set-owner: ${current.message}`);
  process.exit(1);
}

let changed = 0;
for (const file of existingOwnerFiles(root)) {
  const path = join(root, file);
  const text = readFileSync(path, "utf8");
  const n = countOwner(text, current);
  if (n === 0) continue;
  const out = replaceOwner(text, current, next);
  if (out !== text) {
    writeFileSync(path, out);
    changed++;
    console.log(`${file}: ${n} place${n === 1 ? "" : "s"} ${current} -> ${next}`);
  }
}

// Verify: the source of truth names the new owner and no file still points at the old one.
const after = configOwner(root);
const left =
  current.toLowerCase() === next.toLowerCase()
    ? []
    : existingOwnerFiles(root).filter((f) => countOwner(readFileSync(join(root, f), "utf8"), current) > 0);
if (after instanceof Error || after !== next.toLowerCase() || left.length > 0) {
  console.error(`set-owner: rewrite incomplete (config.yaml image owner: ${String(after)}; still naming ${current}: ${left.join(", ") || "-"})`);
  process.exit(1);
}
console.log(changed === 0 ? `set-owner: already ${next}, nothing changed` : `set-owner: ${changed} file(s) now name ${next}; commit them`);
