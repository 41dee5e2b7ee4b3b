// The GitHub owner (user or organisation) this repository is published under, shared by
// scripts/set-owner.mjs and scripts/release-check.mjs.
//
// Source of truth: the `image:` line of ha-addon/config.yaml (ghcr.io/<owner>/{arch}-daly-bms-bridge-addon).
// The Supervisor and Docker read the owner only as literal text, so it is also written into the
// files of OWNER_FILES (URLs and image names); set-owner.mjs rewrites all of them at once and
// release-check.mjs fails when one of them disagrees with the repository the workflow runs in.
// Plain text parsing on purpose: the release workflow runs these before any `npm ci`.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The owner written in the repository until a fork or the maintainer runs set-owner.mjs. */
export const PLACEHOLDER = "your-github-user";

/** Every file that may hold the owner literally (missing ones are skipped). */
export const OWNER_FILES = [
  "ha-addon/config.yaml",
  "repository.yaml",
  "ha-addon/Dockerfile",
  "ha-addon/DOCS.md",
  "ha-addon/README.md",
  "README.md",
  "docker/docker-compose.yml",
];

/** GitHub's rule for user and organisation names: alphanumerics and single inner hyphens, ≤ 39. */
export const RE_OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;

const ADDON_IMAGE_RE = /^image:[ \t]*["']?ghcr\.io\/([^/\s"']+)\/\{arch\}-daly-bms-bridge-addon["']?[ \t]*(?:#.*)?$/m;

export const read = (root, file) => readFileSync(join(root, file), "utf8");

/** The owner named by ha-addon/config.yaml `image:`, or an Error saying what is wrong. */
export function configOwner(root) {
  const m = ADDON_IMAGE_RE.exec(read(root, "ha-addon/config.yaml"));
  if (!m) return new Error("ha-addon/config.yaml: no `image: ghcr.io/<owner>/{arch}-daly-bms-bridge-addon` line");
  return m[1];
}

/** A top-level scalar of a flat YAML file (`key: value`, optionally quoted), or undefined. */
export function yamlScalar(text, key) {
  const m = new RegExp(`^${key}:[ \\t]*(?:"([^"]*)"|'([^']*)'|([^#\\s][^#]*?))[ \\t]*(?:#.*)?$`, "m").exec(text);
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Patterns that carry the owner: registry namespace (lower case) and GitHub URLs (as given). */
export function ownerPatterns(owner) {
  const o = escape(owner);
  return [
    { re: new RegExp(`(ghcr\\.io/)${o}(?=/)`, "gi"), to: (next) => next.toLowerCase() },
    { re: new RegExp(`(github\\.com/)${o}(?=/)`, "gi"), to: (next) => next },
  ];
}

/** Number of places in `text` that name `owner` in an image name or a GitHub URL. */
export function countOwner(text, owner) {
  return ownerPatterns(owner).reduce((n, p) => n + (text.match(p.re)?.length ?? 0), 0);
}

/** `text` with every image name / GitHub URL of `from` pointing at `to` instead. */
export function replaceOwner(text, from, to) {
  return ownerPatterns(from).reduce((t, p) => t.replace(p.re, (_, prefix) => prefix + p.to(to)), text);
}

export const existingOwnerFiles = (root) => OWNER_FILES.filter((f) => existsSync(join(root, f)));
