#!/usr/bin/env node
// Release preconditions, run by .github/workflows/release.yml (and the owner part by ci.yml):
//
//   node scripts/release-check.mjs --owner <github.repository_owner> [--tag <tag>] [--root <dir>]
//
// --owner: every literal owner (ha-addon/config.yaml image and url, repository.yaml url,
//          ha-addon/Dockerfile FROM) names this owner; images are pushed to ghcr.io/<owner lower-cased>.
// --tag:   the tag is v<version> with <version> = package.json version = ha-addon/config.yaml version
//          = ha-addon/Dockerfile's default BUILD_VERSION, and ha-addon/CHANGELOG.md has its entry.
// Prints version= and owner= (also to $GITHUB_OUTPUT when set); on failure lists every problem
// (as ::error:: annotations under GitHub Actions) and exits 1.
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PLACEHOLDER, RE_OWNER, configOwner, read, yamlScalar } from "./owner.mjs";

function usage(msg) {
  console.error(`release-check: ${msg}\nusage: node scripts/release-check.mjs --owner <owner> [--tag <tag>] [--root <dir>]`);
  process.exit(2);
}

const opts = { root: fileURLToPath(new URL("..", import.meta.url)) };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const k = args[i];
  if (!["--owner", "--tag", "--root"].includes(k)) usage(`unknown argument ${k}`);
  if (args[i + 1] === undefined) usage(`${k} needs a value`);
  opts[k.slice(2)] = args[++i];
}
if (!opts.owner) usage("--owner is required");
if (!RE_OWNER.test(opts.owner)) usage(`'${opts.owner}' is not a GitHub user or organisation name`);

const owner = opts.owner.toLowerCase();
const problems = [];
const fix = `run \`node scripts/set-owner.mjs ${opts.owner}\`, commit the result and push again (README "Releasing")`;
const ownerProblem = (where, named) =>
  problems.push(
    `${where} names the owner '${named}', but this repository belongs to '${opts.owner}'` +
      (named === PLACEHOLDER ? " (the placeholder: set-owner was never run)" : "") +
      `: ${fix}`,
  );

// ---- owner ----
const imageOwner = configOwner(opts.root);
if (imageOwner instanceof Error) problems.push(imageOwner.message);
else if (imageOwner !== owner) ownerProblem("ha-addon/config.yaml `image:`", imageOwner);

const config = read(opts.root, "ha-addon/config.yaml");
for (const [file, text] of [
  ["ha-addon/config.yaml", config],
  ["repository.yaml", read(opts.root, "repository.yaml")],
]) {
  const url = yamlScalar(text, "url");
  const m = /^https:\/\/github\.com\/([^/]+)\/[^/]+\/?$/.exec(url ?? "");
  if (!m) problems.push(`${file}: \`url:\` is not https://github.com/<owner>/<repository> (${String(url)})`);
  else if (m[1].toLowerCase() !== owner) ownerProblem(`${file} \`url:\``, m[1]);
}

const dockerfile = read(opts.root, "ha-addon/Dockerfile");
const from = /^FROM[ \t]+(\S+)/m.exec(dockerfile)?.[1] ?? "";
const fromOwner = /^ghcr\.io\/([^/]+)\/daly-bms-bridge:\$\{BUILD_VERSION\}$/.exec(from)?.[1];
if (!fromOwner) problems.push(`ha-addon/Dockerfile: FROM ${from} is not ghcr.io/<owner>/daly-bms-bridge:\${BUILD_VERSION}`);
else if (fromOwner !== owner) ownerProblem("ha-addon/Dockerfile FROM", fromOwner);

// ---- version ----
const version = JSON.parse(readFileSync(join(opts.root, "package.json"), "utf8")).version;
if (opts.tag !== undefined) {
  if (!/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(version)) problems.push(`package.json version ${version} is not X.Y.Z`);
  if (opts.tag !== `v${version}`) problems.push(`tag ${opts.tag} is not v${version} (package.json version): bump the version or fix the tag`);
  const addonVersion = yamlScalar(config, "version");
  if (addonVersion !== version) problems.push(`ha-addon/config.yaml version ${String(addonVersion)} differs from package.json ${version}`);
  const argDefault = /^ARG[ \t]+BUILD_VERSION=(\S+)/m.exec(dockerfile)?.[1];
  if (argDefault !== version) problems.push(`ha-addon/Dockerfile ARG BUILD_VERSION=${String(argDefault)} differs from package.json ${version}`);
  const changelog = read(opts.root, "ha-addon/CHANGELOG.md");
  if (!new RegExp(`^## \\[?${version.replace(/\./g, "\\.")}\\]?(?:\\s|$)`, "m").test(changelog)) {
    problems.push(`ha-addon/CHANGELOG.md has no "## [${version}]" entry (the Supervisor shows it on update)`);
  }
}

if (problems.length > 0) {
  const prefix = process.env.GITHUB_ACTIONS === "true" ? "::error::" : "release-check: ";
  for (const p of problems) console.error(prefix + p);
  process.exit(1);
}
const out = `version=${version}\nowner=${owner}\n`;
process.stdout.write(out);
if (process.env.GITHUB_OUTPUT) appendFileSync(process.env.GITHUB_OUTPUT, out);
