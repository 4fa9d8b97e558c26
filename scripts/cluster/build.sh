#!/usr/bin/env bash
# Builds the cluster's programs from the Go module proxy into the cache (CLUSTER_CACHE_DIR):
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl
#     (k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the staging modules
#     k8s.io/* with folders of its own tree, so a throw-away module requires it and replaces
#     each of them with the published k8s.io/<name> v0.<minor>.<patch>);
#   the KEDA operator and its metrics API server (github.com/kedacore/keda/v2);
#   CoreDNS with the plugins cluster DNS needs (a main package of three plugins);
#   the CNCF Distribution registry (github.com/distribution/distribution/v3, cmd/registry),
#     the OCI registry the test publishes the release to and containerd pulls from.
# Each program is built once per version; a rerun with everything present does nothing.
# Usage: scripts/cluster/build.sh      (prints the bin folder on stdout)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v go >/dev/null || die "'go' is not on PATH: the cluster's programs are built with it"

k8s_minor_patch="${K8S_VERSION#v1.}"
k8s_stamp="$BIN_DIR/.kubernetes-$K8S_VERSION-kubectl"
keda_stamp="$BIN_DIR/.keda-$KEDA_VERSION"
coredns_stamp="$BIN_DIR/.coredns-$COREDNS_VERSION"
registry_stamp="$BIN_DIR/.distribution-$DISTRIBUTION_VERSION"
mkdir -p "$BIN_DIR"

if [[ ! -f "$k8s_stamp" ]]; then
  mod="$CACHE_DIR/build/kubernetes-$K8S_VERSION"
  mkdir -p "$mod"
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$gomod" ]] || die "the Go module proxy did not serve k8s.io/kubernetes@$K8S_VERSION"
  {
    printf 'module cluster-build/kubernetes\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' \
      "$(sed -n 's/^go //p' "$gomod")" "$K8S_VERSION"
    # Each `k8s.io/<name> => ./staging/src/k8s.io/<name>` becomes the published module.
    sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#\t\1 => \1 v0.'"$k8s_minor_patch"'#p' "$gomod"
    printf ')\n'
  } >"$mod/go.mod"
  log "building Kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl)"
  started=$SECONDS
  pkgs=()
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    pkgs+=("k8s.io/kubernetes/cmd/$cmd")
  done
  major="${K8S_VERSION#v}" && major="${major%%.*}"
  minor="${k8s_minor_patch%%.*}"
  version_pkg=k8s.io/component-base/version
  (
    cd "$mod"
    go get "${pkgs[@]/%/@$K8S_VERSION}" >/dev/null 2>&1 || go get "${pkgs[@]/%/@$K8S_VERSION}"
    CGO_ENABLED=0 go build -trimpath -o "$BIN_DIR/" -ldflags "-s -w \
      -X $version_pkg.gitVersion=$K8S_VERSION -X $version_pkg.gitMajor=$major \
      -X $version_pkg.gitMinor=$minor -X $version_pkg.gitTreeState=clean \
      -X $version_pkg.buildDate=1970-01-01T00:00:00Z" "${pkgs[@]}"
  )
  touch "$k8s_stamp"
  log "Kubernetes $K8S_VERSION built in $((SECONDS - started)) s"
fi

if [[ ! -f "$keda_stamp" ]]; then
  mod="$CACHE_DIR/build/keda-$KEDA_VERSION"
  mkdir -p "$mod"
  gomod="$(go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$gomod" ]] || die "the Go module proxy did not serve github.com/kedacore/keda/v2@$KEDA_VERSION"
  {
    printf 'module cluster-build/keda\n\ngo %s\n\nrequire github.com/kedacore/keda/v2 %s\n\n' \
      "$(sed -n 's/^go //p' "$gomod")" "$KEDA_VERSION"
    # KEDA's own replace directives (ignored in a dependency) carried over.
    grep -E '^replace .* => ' "$gomod" || true
    awk '/^replace \($/ {inblock=1; print; next} inblock {print; if ($0 == ")") inblock=0}' "$gomod"
  } >"$mod/go.mod"
  log "building KEDA $KEDA_VERSION (operator, metrics API server)"
  started=$SECONDS
  version_pkg=github.com/kedacore/keda/v2/version
  (
    cd "$mod"
    go get "github.com/kedacore/keda/v2/cmd/operator@$KEDA_VERSION" "github.com/kedacore/keda/v2/cmd/adapter@$KEDA_VERSION" >/dev/null 2>&1 ||
      go get "github.com/kedacore/keda/v2/cmd/operator@$KEDA_VERSION" "github.com/kedacore/keda/v2/cmd/adapter@$KEDA_VERSION"
    CGO_ENABLED=0 go build -trimpath -o "$BIN_DIR/keda-operator" -ldflags "-s -w -X $version_pkg.Version=$KEDA_VERSION" \
      github.com/kedacore/keda/v2/cmd/operator
    CGO_ENABLED=0 go build -trimpath -o "$BIN_DIR/keda-adapter" -ldflags "-s -w -X $version_pkg.Version=$KEDA_VERSION" \
      github.com/kedacore/keda/v2/cmd/adapter
  )
  touch "$keda_stamp"
  log "KEDA $KEDA_VERSION built in $((SECONDS - started)) s"
fi

if [[ ! -f "$coredns_stamp" ]]; then
  mod="$CACHE_DIR/build/coredns-$COREDNS_VERSION"
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<MOD
module cluster-build/coredns

go 1.24.0

require github.com/coredns/coredns $COREDNS_VERSION
MOD
  # Only the plugins the Corefile of up.sh uses, in CoreDNS's plugin order.
  cat >"$mod/main.go" <<'GO'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	dnsserver.Directives = []string{"errors", "health", "ready", "cache", "kubernetes"}
}

func main() { coremain.Run() }
GO
  log "building CoreDNS $COREDNS_VERSION"
  started=$SECONDS
  (
    cd "$mod"
    go mod tidy >/dev/null 2>&1 || go mod tidy
    CGO_ENABLED=0 go build -trimpath -o "$BIN_DIR/coredns" -ldflags "-s -w" .
  )
  touch "$coredns_stamp"
  log "CoreDNS $COREDNS_VERSION built in $((SECONDS - started)) s"
fi

if [[ ! -f "$registry_stamp" ]]; then
  mod="$CACHE_DIR/build/distribution-$DISTRIBUTION_VERSION"
  mkdir -p "$mod"
  module=github.com/distribution/distribution/v3
  gomod="$(go mod download -json "$module@$DISTRIBUTION_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$gomod" ]] || die "the Go module proxy did not serve $module@$DISTRIBUTION_VERSION"
  {
    printf 'module cluster-build/distribution\n\ngo %s\n\nrequire %s %s\n\n' \
      "$(sed -n 's/^go //p' "$gomod")" "$module" "$DISTRIBUTION_VERSION"
    # The module's own replace directives (ignored in a dependency) carried over.
    grep -E '^replace .* => ' "$gomod" || true
    awk '/^replace \($/ {inblock=1; print; next} inblock {print; if ($0 == ")") inblock=0}' "$gomod"
  } >"$mod/go.mod"
  log "building the Distribution registry $DISTRIBUTION_VERSION"
  started=$SECONDS
  (
    cd "$mod"
    go get "$module/cmd/registry@$DISTRIBUTION_VERSION" >/dev/null 2>&1 || go get "$module/cmd/registry@$DISTRIBUTION_VERSION"
    CGO_ENABLED=0 go build -trimpath -o "$BIN_DIR/registry" \
      -ldflags "-s -w -X $module/version.version=$DISTRIBUTION_VERSION" "$module/cmd/registry"
  )
  touch "$registry_stamp"
  log "Distribution registry $DISTRIBUTION_VERSION built in $((SECONDS - started)) s"
fi

echo "$BIN_DIR"
