#!/usr/bin/env bash
# Builds helm-docs (generates charts/realtime-offers/README.md from the values.yaml
# comments) from source through the Go module proxy into <repo>/.cache/bin/helm-docs.
# Idempotent: when the binary there was built from HELM_DOCS_VERSION, nothing is rebuilt.
# `make chart-docs` and the chart tests (npm run test:chart) use this binary.
# Usage: scripts/tools/install-helm-docs.sh     (env: HELM_BIN_DIR to install elsewhere)
set -euo pipefail

# The one place the helm-docs version is pinned.
HELM_DOCS_VERSION=v1.14.2

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir="${HELM_BIN_DIR:-$repo/.cache/bin}"
helm_docs="$bin_dir/helm-docs"

log() { printf '[install-helm-docs] %s\n' "$*" >&2; }

if ! command -v go >/dev/null; then
  log "error: 'go' is not on PATH; helm-docs $HELM_DOCS_VERSION is built from source with it."
  log "install Go 1.22 or newer (https://go.dev/dl/), then rerun 'make tools'."
  exit 1
fi

# helm-docs has no --version; the module version recorded in the binary says what it is.
built_version() {
  go version -m "$helm_docs" 2>/dev/null | awk '$1 == "mod" { print $3 }' || true
}

if [[ -x "$helm_docs" && "$(built_version)" == "$HELM_DOCS_VERSION" ]]; then
  log "helm-docs $HELM_DOCS_VERSION present: $helm_docs"
  exit 0
fi

mkdir -p "$bin_dir"
log "building helm-docs $HELM_DOCS_VERSION with $(go version | cut -d' ' -f3) into $bin_dir"
started=$SECONDS
GOBIN="$bin_dir" go install -ldflags "-s -w" \
  "github.com/norwoodj/helm-docs/cmd/helm-docs@$HELM_DOCS_VERSION"

actual="$(built_version)"
if [[ "$actual" != "$HELM_DOCS_VERSION" ]]; then
  log "error: built $helm_docs but it records '${actual:-nothing}', expected $HELM_DOCS_VERSION"
  exit 1
fi
log "helm-docs $HELM_DOCS_VERSION installed in $((SECONDS - started)) s: $helm_docs"
