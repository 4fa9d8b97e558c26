#!/usr/bin/env bash
# Puts the Node.js version pinned in <repo>/.node-version at <repo>/.cache/node/<version>/bin/node,
# which the Makefile puts first on PATH for every target (tests, bench, load test, demo).
#   - the machine's `node` is exactly that version: a link to it;
#   - otherwise: the official build from the npm registry (package node-<os>-<arch>, the same
#     files as the nodejs.org archive), so no download site is needed, only the registry npm
#     already uses.
# npm itself is the machine's (npm 10 or 11 run on any supported Node).
# Idempotent: nothing happens when the pinned binary is in place.
# Usage: scripts/tools/install-node.sh      (prints the bin folder on stdout)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="$(tr -d '[:space:]' <"$repo/.node-version")"
version="${version#v}"
bin_dir="$repo/.cache/node/$version/bin"

log() { printf '[install-node] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die ".node-version must hold one exact version (e.g. 24.22.3), not '$version'"

if [[ -x "$bin_dir/node" && "$("$bin_dir/node" --version 2>/dev/null)" == "v$version" ]]; then
  echo "$bin_dir"
  exit 0
fi

# The machine's node, found on PATH without this project's own folder.
machine_node="$(PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v "^$repo/.cache/node/" | paste -sd:)" command -v node || true)"
machine_version="$([[ -n "$machine_node" ]] && "$machine_node" --version 2>/dev/null || echo none)"
mkdir -p "$bin_dir"
if [[ "$machine_version" == "v$version" ]]; then
  ln -sfn "$machine_node" "$bin_dir/node"
  log "Node.js $version: the machine's ($machine_node)"
  echo "$bin_dir"
  exit 0
fi

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) die "no Node.js package of the npm registry for $(uname -s): install Node.js $version yourself and put it first on PATH" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "no Node.js package of the npm registry for $(uname -m)" ;;
esac
command -v npm >/dev/null || die "'npm' is not on PATH: it fetches node-$os-$arch@$version from the npm registry"

log "Node.js $version from the npm registry (node-$os-$arch@$version; the machine's: $machine_version)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "node-$os-$arch@$version" >/dev/null) ||
  die "the npm registry did not serve node-$os-$arch@$version"
tar xzf "$work/node-$os-$arch-$version.tgz" -C "$work" package/bin/node
mv "$work/package/bin/node" "$bin_dir/node"
actual="$("$bin_dir/node" --version)"
[[ "$actual" == "v$version" ]] || die "node-$os-$arch@$version reports $actual"
log "Node.js $actual in $bin_dir"
echo "$bin_dir"
