#!/usr/bin/env bash
# Builds helm from source through the Go module proxy into <repo>/.cache/bin/helm.
# Idempotent: when the binary there already reports HELM_VERSION, nothing is rebuilt.
# The chart tests (npm run test:chart) and the kind targets use this binary.
# Usage: scripts/tools/install-helm.sh          (env: HELM_BIN_DIR to install elsewhere)
set -euo pipefail

# The one place the helm version is pinned (v3: the chart is apiVersion v2, which helm 3
# renders; helm 4 changes plugin and flag behaviour the scripts do not need to follow).
HELM_VERSION=v3.22.0

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir="${HELM_BIN_DIR:-$repo/.cache/bin}"
helm="$bin_dir/helm"

log() { printf '[install-helm] %s\n' "$*" >&2; }

installed_version() {
  # `helm version --template` prints e.g. v3.22.0; an unreadable binary prints nothing.
  "$helm" version --template '{{ .Version }}' 2>/dev/null || true
}

# Release binaries default to the Kubernetes version of their client-go modules when no
# cluster is asked (`helm template`, `helm lint`); helm's Makefile sets it with -ldflags. A
# `go install` without them defaults to v1.20.0, which the chart's kubeVersion refuses.
k8s_flags_built() {
  ! command -v go >/dev/null || go version -m "$helm" 2>/dev/null | grep -q 'chartutil.k8sVersionMinor='
}

if [[ -x "$helm" && "$(installed_version)" == "$HELM_VERSION" ]] && k8s_flags_built; then
  log "helm $HELM_VERSION present: $helm"
  exit 0
fi

if ! command -v go >/dev/null; then
  log "error: 'go' is not on PATH; helm $HELM_VERSION is built from source with it."
  log "install Go 1.24 or newer (https://go.dev/dl/ or 'apt-get install golang'), then rerun"
  log "'make tools'; or put a helm $HELM_VERSION binary at $helm yourself."
  exit 1
fi

mkdir -p "$bin_dir"
log "building helm $HELM_VERSION with $(go version | cut -d' ' -f3) into $bin_dir (first build takes a few minutes)"
started=$SECONDS
# -ldflags sets the version string the released binaries carry, so `helm version` (and the
# check above) report the pinned version instead of the module's development default.
# The Kubernetes minor version comes from helm's own go.mod (k8s.io/client-go v0.<minor>.x).
gomod="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
k8s_minor="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod")"
[[ -n "$k8s_minor" ]] || { log "error: no k8s.io/client-go version in $gomod"; exit 1; }
GOBIN="$bin_dir" go install \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

actual="$(installed_version)"
if [[ "$actual" != "$HELM_VERSION" ]]; then
  log "error: built $helm but it reports '${actual:-nothing}', expected $HELM_VERSION"
  exit 1
fi
log "helm $HELM_VERSION (Kubernetes 1.$k8s_minor by default) installed in $((SECONDS - started)) s: $helm"
