#!/usr/bin/env bash
# Prints the directory of a Node.js release of the given major version (binary in bin/, headers in
# include/node for node-gyp), fetched once from the npm registry's node-linux-<arch> package into
# .cache/node<major>/. CI runs the whole test suite on it too (.ci/run):
#   N24=$(bash scripts/fetch-node.sh 24)
#   PATH="$N24/bin:$PATH" npm_config_nodedir="$N24" npm rebuild && PATH="$N24/bin:$PATH" npm test
set -euo pipefail
major=${1:?usage: fetch-node.sh MAJOR}
case $(uname -m) in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "fetch-node: no node-linux package for $(uname -m)" >&2; exit 1 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/.cache/node$major
if [ ! -x "$dir/bin/node" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$major" >/dev/null && tar xzf node-linux-*.tgz)
  rm -rf "$dir" && mkdir -p "$(dirname "$dir")" && mv "$tmp/package" "$dir" && rm -rf "$tmp"
fi
"$dir/bin/node" -e "if (process.versions.node.split('.')[0] !== '$major') process.exit(1)" || { echo "fetch-node: $dir is not Node $major" >&2; exit 1; }
echo "$dir"
