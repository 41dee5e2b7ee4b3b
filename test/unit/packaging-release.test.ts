/**
 * The release pipeline checked statically (GitHub Actions and GHCR cannot run here): the workflow
 * files parse and have the expected triggers, jobs and wiring; the image names the release pushes
 * agree with what the add-on pulls (ha-addon/config.yaml `image:`, ha-addon/Dockerfile FROM); the
 * arch lists agree; scripts/release-check.mjs (run by the workflows) and scripts/set-owner.mjs run
 * for real, the latter on a copy of the repository.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import YAML from "yaml";
import { ROOT } from "../helpers/paths.js";
import { dockerInstructions } from "../helpers/dockerfile.js";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const WORKFLOWS = join(ROOT, ".github", "workflows");
const readIn = (root: string, ...p: string[]): string => readFileSync(join(root, ...p), "utf8");

interface Step {
  uses?: string;
  run?: string;
  id?: string;
  with?: Obj;
  env?: Obj;
}
interface Job {
  "runs-on": string;
  needs?: string | string[];
  outputs?: Record<string, string>;
  strategy?: { matrix?: Obj };
  steps: Step[];
}
interface Workflow {
  name: string;
  on: Obj;
  permissions?: Obj;
  jobs: Record<string, Job>;
}

/** Parses a workflow strictly: YAML errors (duplicate keys included) fail. */
function parseWorkflow(text: string, file: string): Workflow {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  assert.deepEqual(doc.errors.map((e) => e.message), [], `${file}: YAML errors`);
  const wf = doc.toJS() as Workflow;
  assert.ok(isObj(wf), `${file}: a mapping`);
  return wf;
}

const workflow = (root: string, name: string): Workflow => parseWorkflow(readIn(root, ".github", "workflows", name), name);
const needsOf = (j: Job): string[] => (j.needs === undefined ? [] : Array.isArray(j.needs) ? j.needs : [j.needs]);
const stepUsing = (j: Job, action: string): Step[] => j.steps.filter((s) => s.uses?.split("@")[0] === action);
const runs = (j: Job): string => j.steps.map((s) => s.run ?? "").join("\n");
/** `build-args` / `tags` (multi-line inputs) → non-empty lines. */
const lines = (v: unknown): string[] =>
  String(v ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
const buildArgs = (s: Step): Map<string, string> =>
  new Map(lines(s.with?.["build-args"]).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
const argNames = (dockerfile: string): Set<string> =>
  new Set(dockerInstructions(dockerfile).filter((i) => i.op === "ARG").map((i) => i.args.split("=")[0] as string));

/** Runs one of the repository's scripts with this Node. */
function script(name: string, args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", name), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, ...env },
    timeout: 20_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const OWNER_FILES = JSON.parse(
  spawnSync(process.execPath, ["--input-type=module", "-e", `import { OWNER_FILES } from ${JSON.stringify(join(ROOT, "scripts", "owner.mjs"))}; console.log(JSON.stringify(OWNER_FILES));`], {
    encoding: "utf8",
  }).stdout,
) as string[];
const PLACEHOLDER = "your-github-" + "user"; // split: this file is no place that names an owner

// ---- agreement of names and arches, for any checkout (the real one, or a copy after set-owner) ----

interface Release {
  owner: string;
  version: string;
  addonImages: Map<string, string>; // arch → pushed name:tag
  standaloneTags: string[];
  platforms: string[];
}

/** What release.yml pushes, with its expressions evaluated for `owner` and `version`. */
function releasePushes(root: string, owner: string, version: string): Release {
  const wf = workflow(root, "release.yml");
  const sub = (s: string, matrix: Obj = {}): string =>
    s
      // `cond && format('…{0}…', needs.check.outputs.owner) || ''` (the :latest tag of a release)
      .replace(/\$\{\{\s*!contains\(needs\.check\.outputs\.version, '-'\) && format\('([^']*)', needs\.check\.outputs\.owner\) \|\| ''\s*\}\}/g, (_, f: string) =>
        version.includes("-") ? "" : f.replace("{0}", owner),
      )
      .replace(/\$\{\{\s*needs\.check\.outputs\.owner\s*\}\}/g, owner)
      .replace(/\$\{\{\s*needs\.check\.outputs\.version\s*\}\}/g, version)
      .replace(/\$\{\{\s*matrix\.(\w+)\s*\}\}/g, (_, k: string) => String(matrix[k]));
  const image = wf.jobs.image as Job;
  const [push] = stepUsing(image, "docker/build-push-action");
  assert.ok(push, "release.yml image: docker/build-push-action");
  const addon = wf.jobs.addon as Job;
  const include = (addon.strategy?.matrix?.include ?? []) as Obj[];
  const [addonPush] = stepUsing(addon, "docker/build-push-action");
  assert.ok(addonPush, "release.yml addon: docker/build-push-action");
  const addonImages = new Map<string, string>();
  for (const m of include) {
    const tags: string[] = lines(addonPush.with?.tags).map((t) => sub(t, m)).filter(Boolean);
    assert.equal(tags.length, 1, "one tag per add-on image: the version");
    addonImages.set(String(m.arch), tags[0] as string);
  }
  return {
    owner,
    version,
    addonImages,
    standaloneTags: lines(push.with?.tags).map((t) => sub(t)).filter(Boolean),
    platforms: String(push.with?.platforms).split(",").map((p) => p.trim()),
  };
}

/** Asserts the agreement of config.yaml, ha-addon/Dockerfile and release.yml under `root`. */
function checkAgreement(root: string): void {
  const config = YAML.parse(readIn(root, "ha-addon", "config.yaml")) as Obj;
  const version = (JSON.parse(readIn(root, "package.json")) as { version: string }).version;
  const image = String(config.image);
  const owner = /^ghcr\.io\/([a-z0-9-]+)\/\{arch\}-daly-bms-bridge-addon$/.exec(image)?.[1];
  assert.ok(owner, `config.yaml image: ${image}`);
  const rel = releasePushes(root, owner, version);

  // Add-on: release.yml builds exactly config.yaml's arches and pushes exactly what `image:` names.
  assert.deepEqual([...rel.addonImages.keys()].sort(), [...(config.arch as string[])].sort(), "add-on arches built = config.yaml arch");
  for (const [arch, pushed] of rel.addonImages) assert.equal(pushed, `${image.replace("{arch}", arch)}:${version}`, `add-on image for ${arch}`);

  // Standalone: the add-on's FROM is the image release.yml pushes, at the add-on's version.
  const from = dockerInstructions(readIn(root, "ha-addon", "Dockerfile")).find((i) => i.op === "FROM")?.args ?? "";
  assert.match(from, /\$\{BUILD_VERSION\}$/);
  const standalone = from.replace("${BUILD_VERSION}", version);
  assert.ok(rel.standaloneTags.includes(standalone), `release.yml pushes ${standalone} (ha-addon/Dockerfile FROM); it pushes ${rel.standaloneTags.join(", ")}`);
  const repo = standalone.slice(0, standalone.lastIndexOf(":"));
  for (const t of rel.standaloneTags) assert.ok(t.startsWith(`${repo}:`), `${t}: one repository for the standalone image`);
  assert.ok(rel.standaloneTags.includes(`${repo}:latest`), ":latest for a release");
  for (const name of [...rel.standaloneTags, ...rel.addonImages.values()]) assert.equal(name, name.toLowerCase(), `${name}: GHCR names are lower case`);

  // amd64, arm64 (the add-on's arches) and armv7 (standalone only: no add-on arch since 2025-11).
  for (const p of ["linux/amd64", "linux/arm64", "linux/arm/v7"]) assert.ok(rel.platforms.includes(p), `standalone image built for ${p}`);
}

// ---- workflow files ----

test("every workflow file parses as YAML, has triggers and jobs, and pins actions to a major version", () => {
  const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));
  assert.deepEqual(files.sort(), ["ci.yml", "release.yml"]);
  for (const f of files) {
    const wf = workflow(ROOT, f);
    assert.equal(typeof wf.name, "string", `${f}: name`);
    assert.ok(isObj(wf.on), `${f}: on (YAML 1.2 reads it as a string key, as GitHub does)`);
    assert.ok(isObj(wf.jobs) && Object.keys(wf.jobs).length > 0, `${f}: jobs`);
    for (const [id, job] of Object.entries(wf.jobs)) {
      assert.match(String(job["runs-on"]), /^ubuntu-\d\d\.\d\d$/, `${f} ${id}: a pinned Ubuntu runner`);
      assert.ok(Array.isArray(job.steps) && job.steps.length > 0, `${f} ${id}: steps`);
      for (const s of job.steps) {
        assert.ok((s.uses === undefined) !== (s.run === undefined), `${f} ${id}: a step has uses or run`);
        if (s.uses !== undefined) assert.match(s.uses, /^[\w.-]+\/[\w.-]+@v\d+$/, `${f} ${id}: ${s.uses} pinned to a major`);
      }
      assert.equal(stepUsing(job, "actions/checkout").length, 1, `${f} ${id}: checks out the repository`);
    }
  }
});

test("workflow wiring: every needs.<job>.outputs.<x> and steps.<id>.outputs.<x> exists", () => {
  for (const f of ["ci.yml", "release.yml"]) {
    const wf = workflow(ROOT, f);
    for (const [id, job] of Object.entries(wf.jobs)) {
      for (const n of needsOf(job)) assert.ok(n in wf.jobs, `${f} ${id}: needs unknown job ${n}`);
      const text = JSON.stringify(job);
      for (const [, j, x] of text.matchAll(/needs\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        assert.ok(needsOf(job).includes(j as string), `${f} ${id}: uses needs.${j} without needs: ${j}`);
        assert.ok((wf.jobs[j as string]?.outputs ?? {})[x as string] !== undefined, `${f} ${id}: job ${j} has no output ${x}`);
      }
      for (const [, sid] of text.matchAll(/steps\.([\w-]+)\.outputs\./g)) {
        assert.ok(job.steps.some((s) => s.id === sid), `${f} ${id}: no step with id ${sid}`);
      }
    }
  }
});

test("ci.yml: push and pull request; the suite on Node 20 and 24 as .ci/run; container tests; owner check", () => {
  const wf = workflow(ROOT, "ci.yml");
  assert.ok("push" in wf.on && "pull_request" in wf.on, "on every push and pull request");
  assert.equal(wf.on.push, null, "every branch and tag");
  const t = wf.jobs.test as Job;
  const nodes = (t.strategy?.matrix?.node ?? []) as unknown[];
  assert.ok(nodes.map(String).includes("20") && nodes.map(String).includes("24"), `Node 20 and 24, got ${nodes.join(", ")}`);
  const [setup] = stepUsing(t, "actions/setup-node");
  assert.equal(setup?.with?.["node-version"], "${{ matrix.node }}");
  // The system packages and commands of .ci/run.
  const ciRun = readIn(ROOT, ".ci", "run");
  for (const p of ["mosquitto", "python3-jinja2", "dbus", "socat"]) {
    assert.match(ciRun, new RegExp(`apt-get install[^\\n]*\\b${p}\\b`), `.ci/run installs ${p}`);
    assert.match(runs(t), new RegExp(`apt-get install[^\\n]*\\b${p}\\b`), `ci.yml installs ${p}`);
  }
  const cmds = runs(t).split("\n").map((l) => l.trim());
  for (const c of ["npm ci", "npm run build", "node scripts/soak-ci.mjs", "npm test"]) assert.ok(cmds.includes(c), `ci.yml test runs ${c}`);
  assert.ok(cmds.indexOf("npm ci") < cmds.indexOf("npm test"));

  const c = wf.jobs.containers as Job;
  assert.ok(runs(c).split("\n").map((l) => l.trim()).includes("npm run test:containers"));
  assert.doesNotMatch(runs(c), /container-engine\.sh/, "GitHub's runners have Docker");
  assert.equal(stepUsing(c, "actions/setup-node")[0]?.with?.["node-version"], 24, "the image's Node");

  const o = wf.jobs.owner as Job;
  const check = o.steps.find((s) => s.run?.includes("scripts/release-check.mjs"));
  assert.ok(check?.run !== undefined, "owner job runs release-check.mjs");
  assert.ok(check.run.includes('--owner "$OWNER"') && check.env?.OWNER === "${{ github.repository_owner }}");
  assert.ok(!check.run.includes("--tag"), "no tag on a push");
});

test("package.json has every script the workflows run with npm run", () => {
  const scripts = (JSON.parse(readIn(ROOT, "package.json")) as { scripts: Record<string, string> }).scripts;
  for (const f of ["ci.yml", "release.yml"]) {
    const text = readIn(ROOT, ".github", "workflows", f);
    for (const [, s] of text.matchAll(/npm run ([\w:-]+)/g)) assert.ok(s && s in scripts, `${f}: npm run ${s} is not in package.json`);
    for (const [, s] of text.matchAll(/node (scripts\/[\w.-]+)/g)) assert.ok(statSync(join(ROOT, s as string)).isFile(), `${f}: ${s}`);
  }
});

test("release.yml: on v* tags; checks tag and owner; buildx, QEMU and GHCR login; build args the Dockerfiles declare", () => {
  const wf = workflow(ROOT, "release.yml");
  assert.deepEqual(Object.keys(wf.on), ["push"]);
  assert.deepEqual((wf.on.push as Obj).tags, ["v*"]);
  assert.equal((wf.on.push as Obj).branches, undefined);
  assert.deepEqual(wf.permissions, { contents: "read", packages: "write" });

  const check = wf.jobs.check as Job;
  const step = check.steps.find((s) => s.run?.includes("scripts/release-check.mjs"));
  assert.ok(step?.run !== undefined, "check job runs release-check.mjs");
  assert.ok(step.run.includes('--tag "$TAG"') && step.run.includes('--owner "$OWNER"'), "checks the tag and the owner");
  // Through env, not spliced into the script: a tag name is user input.
  assert.deepEqual(step.env, { TAG: "${{ github.ref_name }}", OWNER: "${{ github.repository_owner }}" });
  assert.equal(check.outputs?.version, `\${{ steps.${String(step.id)}.outputs.version }}`);
  assert.equal(check.outputs?.owner, `\${{ steps.${String(step.id)}.outputs.owner }}`);

  for (const id of ["image", "addon"]) {
    const job = wf.jobs[id] as Job;
    assert.ok(needsOf(job).includes("check"), `${id} runs after the check`);
    const uses = job.steps.map((s) => s.uses?.split("@")[0]).filter(Boolean);
    const order = ["actions/checkout", "docker/setup-qemu-action", "docker/setup-buildx-action", "docker/login-action", "docker/build-push-action"];
    assert.deepEqual(uses, order, `${id}: steps`);
    const login = stepUsing(job, "docker/login-action")[0] as Step;
    assert.deepEqual(login.with, { registry: "ghcr.io", username: "${{ github.actor }}", password: "${{ secrets.GITHUB_TOKEN }}" });
    assert.equal(stepUsing(job, "docker/build-push-action")[0]?.with?.push, true);
  }

  const image = stepUsing(wf.jobs.image as Job, "docker/build-push-action")[0] as Step;
  assert.equal(image.with?.context, ".");
  assert.equal(image.with?.file, "docker/Dockerfile");
  const args = buildArgs(image);
  assert.deepEqual([...args.keys()].sort(), ["CREATED", "REVISION", "SOURCE_URL", "VERSION"]);
  const declared = argNames(readIn(ROOT, "docker", "Dockerfile"));
  for (const a of args.keys()) assert.ok(declared.has(a), `docker/Dockerfile declares ARG ${a}`);
  assert.equal(args.get("VERSION"), "${{ needs.check.outputs.version }}");
  assert.equal(args.get("REVISION"), "${{ github.sha }}");
  assert.equal(args.get("SOURCE_URL"), "${{ github.server_url }}/${{ github.repository }}");

  const addonJob = wf.jobs.addon as Job;
  assert.ok(needsOf(addonJob).includes("image"), "the add-on images build FROM the standalone image: it is pushed first");
  const addon = stepUsing(addonJob, "docker/build-push-action")[0] as Step;
  assert.equal(addon.with?.context, "ha-addon", "the Supervisor's build context");
  assert.equal(addon.with?.platforms, "${{ matrix.platform }}");
  const addonArgs = buildArgs(addon);
  assert.deepEqual(Object.fromEntries(addonArgs), { BUILD_VERSION: "${{ needs.check.outputs.version }}", BUILD_ARCH: "${{ matrix.arch }}" });
  const addonDeclared = argNames(readIn(ROOT, "ha-addon", "Dockerfile"));
  for (const a of addonArgs.keys()) assert.ok(addonDeclared.has(a), `ha-addon/Dockerfile declares ARG ${a}`);
  // Home Assistant arch → Docker platform.
  const PLATFORM: Record<string, string> = { amd64: "linux/amd64", aarch64: "linux/arm64" };
  for (const m of (addonJob.strategy?.matrix?.include ?? []) as Obj[]) assert.equal(m.platform, PLATFORM[String(m.arch)], `platform of ${String(m.arch)}`);
});

test("image names and arches agree across config.yaml, ha-addon/Dockerfile and release.yml", () => {
  checkAgreement(ROOT);
  const version = (JSON.parse(readIn(ROOT, "package.json")) as { version: string }).version;
  // A pre-release does not move :latest.
  const rel = releasePushes(ROOT, "x", `${version}-rc.1`);
  assert.deepEqual(rel.standaloneTags, [`ghcr.io/x/daly-bms-bridge:${version}-rc.1`]);
});

// ---- the scripts the workflows run ----

test("release-check.mjs: passes for the literal owner and the version's tag; fails clearly otherwise", () => {
  const version = (JSON.parse(readIn(ROOT, "package.json")) as { version: string }).version;
  const config = YAML.parse(readIn(ROOT, "ha-addon", "config.yaml")) as Obj;
  const owner = /^ghcr\.io\/([^/]+)\//.exec(String(config.image))?.[1] as string;

  const ok = script("release-check.mjs", ["--owner", owner, "--tag", `v${version}`]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, `version=${version}\nowner=${owner}\n`);

  const fork = script("release-check.mjs", ["--owner", "Someone-Else"], { GITHUB_ACTIONS: "true" });
  assert.equal(fork.status, 1);
  assert.match(fork.stderr, /^::error::ha-addon\/config\.yaml `image:` names the owner/m, "a GitHub annotation");
  assert.match(fork.stderr, /node scripts\/set-owner\.mjs Someone-Else/, "says what to run");
  for (const f of ["ha-addon/config.yaml `url:`", "repository.yaml `url:`", "ha-addon/Dockerfile FROM"]) assert.ok(fork.stderr.includes(f), f);

  const badTag = script("release-check.mjs", ["--owner", owner, "--tag", "v999.0.0"]);
  assert.equal(badTag.status, 1);
  assert.match(badTag.stderr, new RegExp(`tag v999\\.0\\.0 is not v${version.replace(/\./g, "\\.")}`));
  assert.equal(script("release-check.mjs", ["--tag", `v${version}`]).status, 2, "--owner is required");
  assert.equal(script("release-check.mjs", ["--owner", "-bad-"]).status, 2);
});

test("set-owner.mjs on a copy of the repository: every owner rewritten, agreement and release checks still pass", () => {
  const dir = mkdtempSync(join(tmpdir(), "daly-owner-"));
  const skip = new Set(["node_modules", ".git", "build", "dist", ".state"]);
  try {
    cpSync(ROOT, dir, { recursive: true, filter: (src) => !skip.has(basename(src)) });
    const version = (JSON.parse(readIn(dir, "package.json")) as { version: string }).version;
    const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
      script("set-owner.mjs", [...args, "--root", dir]);
    const textFiles = (): Map<string, string> => {
      const out = new Map<string, string>();
      const walk = (d: string): void => {
        for (const name of readdirSync(d)) {
          const p = join(d, name);
          if (statSync(p).isDirectory()) walk(p);
          else if (!/\.(png|ico|jpg)$/.test(name)) out.set(relative(dir, p), readFileSync(p, "utf8"));
        }
      };
      walk(dir);
      return out;
    };
    const before = textFiles();
    const holding = [...before].filter(([, t]) => t.includes(PLACEHOLDER)).map(([f]) => f);
    // The list in scripts/owner.mjs is complete: the placeholder is nowhere else (but its own definition).
    for (const f of holding) assert.ok(OWNER_FILES.includes(f) || f === "scripts/owner.mjs", `${f} names the owner but set-owner.mjs does not rewrite it`);
    assert.ok(holding.includes("ha-addon/config.yaml") && holding.includes("repository.yaml") && holding.includes("ha-addon/Dockerfile"));

    // Bad owner: clear error, nothing written.
    const bad = run("not--valid");
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /not a GitHub user or organisation name/);
    assert.deepEqual(textFiles(), before);

    const r = run("Example-Org");
    assert.equal(r.status, 0, r.stderr);
    const after = textFiles();
    for (const [f, t] of after) if (f !== "scripts/owner.mjs") assert.ok(!t.includes(PLACEHOLDER), `${f} still names ${PLACEHOLDER}`);
    const changed = [...after].filter(([f, t]) => before.get(f) !== t).map(([f]) => f).sort();
    assert.deepEqual(changed, holding.filter((f) => f !== "scripts/owner.mjs").sort(), "only the files that named the owner");

    const config = YAML.parse(readIn(dir, "ha-addon", "config.yaml")) as Obj;
    assert.equal(config.image, "ghcr.io/example-org/{arch}-daly-bms-bridge-addon", "registry names lower case");
    assert.equal(config.url, "https://github.com/Example-Org/daly-bms-bridge");
    assert.equal((YAML.parse(readIn(dir, "repository.yaml")) as Obj).url, config.url);
    checkAgreement(dir);

    const ok = script("release-check.mjs", ["--owner", "Example-Org", "--tag", `v${version}`, "--root", dir]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^owner=example-org$/m);
    assert.equal(script("release-check.mjs", ["--owner", PLACEHOLDER, "--root", dir]).status, 1, "the old owner no longer passes");

    // Again with the same owner: nothing changes; then onward to another owner.
    const again = run("Example-Org");
    assert.equal(again.status, 0);
    assert.match(again.stdout, /nothing changed/);
    assert.deepEqual(textFiles(), after);
    assert.equal(run("other").status, 0);
    assert.equal((YAML.parse(readIn(dir, "ha-addon", "config.yaml")) as Obj).image, "ghcr.io/other/{arch}-daly-bms-bridge-addon");
    checkAgreement(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
