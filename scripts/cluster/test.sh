#!/usr/bin/env bash
# make test-cluster: the chart on a real single-node Kubernetes cluster, without Docker, as root,
# installed as users install it: from an OCI registry, its image pulled by digest.
#   1. install.sh  Debian packages (etcd, containerd, runc, CNI plugins, buildah, skopeo, busybox)
#   2. build.sh    Kubernetes, KEDA, CoreDNS and the Distribution registry from the Go module
#                  proxy (cached)
#   3. images.sh   the pause image (buildah)
#   4. scripts/release/release.sh (make release): both images as OCI archives, on the base
#                  images' stand-ins (scripts/images/stand-ins.sh), the SBOM and the chart;
#                  previous-release.sh the same for the previous release (versions.env), from
#                  its own commit (cached)
#   5. up.sh       the cluster in a network namespace of its own, with its registry
#   6. scripts/release/publish.sh (make publish) of both releases into that registry
#   7. scripts/infra/up.sh inside that namespace, serving on the bridge (INFRA_HOST)
#   8. platform.sh CRDs, k8s/, Secrets, Services, topics
#   9. test/cluster/cluster.test.ts: helm install oci://... of the previous release, scaling under
#      load, helm upgrade to this release with its schema change under load, a refused upgrade,
#      helm test, the pulled images' digests, accounting
# Everything it started is stopped on exit (down.sh and scripts/infra/down.sh), also on failure.
# Env: INFRA_DIR (default <repo>/.infra/cluster), CLUSTER_CACHE_DIR (built programs and images,
# default ~/.cache/realtime-offers-cluster), CLUSTER_KEEP=1 (leave it running for a look;
# scripts/cluster/down.sh then stops it).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export INFRA_DIR

[[ "$(id -u)" == 0 ]] || die "make test-cluster runs the cluster as root (network namespace, containerd, kubelet)"
require_crds
started_all=$SECONDS
cd "$REPO_ROOT"
timing() { log "$1 done at $((SECONDS - started_all)) s"; }

cleanup() {
  local status=$?
  if [[ "${CLUSTER_KEEP:-0}" == 1 ]]; then
    log "CLUSTER_KEEP=1: left running; KUBECONFIG=$KUBECONFIG_FILE, stop with scripts/cluster/down.sh"
    exit "$status"
  fi
  if ((status != 0)) && [[ -d "$CLUSTER_DIR/logs" ]]; then
    log "failed; the last lines of each component's log:"
    for file in "$CLUSTER_DIR"/logs/*.log; do
      printf -- '--- %s\n' "${file##*/}" >&2
      tail -n 8 "$file" >&2
    done
  fi
  # The services first: they live in the namespace that down.sh deletes. Their data goes
  # with them, so there is nothing to wait for.
  if [[ -f "$INFRA_DIR/ports" ]]; then
    INFRA_STOP_TIMEOUT=0 "$REPO_ROOT/scripts/infra/down.sh" >/dev/null 2>&1 || true
  fi
  "$CLUSTER_SCRIPTS/down.sh" || true
  exit "$status"
}

"$CLUSTER_SCRIPTS/install.sh"
[[ -x "$HELM" ]] || "$REPO_ROOT/scripts/tools/install-helm.sh"
"$CLUSTER_SCRIPTS/build.sh" >/dev/null
timing "programs"
"$CLUSTER_SCRIPTS/images.sh"
timing "pause image"

# A run that was interrupted before its clean-up leaves the namespace: clear it first.
if [[ -f "$INFRA_DIR/ports" ]]; then INFRA_STOP_TIMEOUT=0 "$REPO_ROOT/scripts/infra/down.sh" >/dev/null 2>&1 || true; fi
"$CLUSTER_SCRIPTS/down.sh" >/dev/null 2>&1 || true
trap cleanup EXIT

# The release of the working tree (uncommitted changes allowed: this is a test, and its revision
# label says -dirty), on the stand-ins: no public registry is reachable from here.
export RELEASE_DIR="$CLUSTER_DIR/release" RELEASE_BASE=stand-in RELEASE_ALLOW_DIRTY=1
REGISTRY="$REGISTRY_ADDRESS" "$REPO_ROOT/scripts/release/release.sh"
timing "release"
previous_dir="$(REGISTRY="$REGISTRY_ADDRESS" "$CLUSTER_SCRIPTS/previous-release.sh")"
timing "previous release $PREVIOUS_RELEASE"
"$CLUSTER_SCRIPTS/up.sh"
timing "cluster"
PREVIOUS_DIGEST="$(in_ns "$CLUSTER_SCRIPTS/publish-previous.sh" "$previous_dir")"
REGISTRY="$REGISTRY_ADDRESS" REGISTRY_PLAIN_HTTP=1 in_ns "$REPO_ROOT/scripts/release/publish.sh"
timing "publish"
# shellcheck source=/dev/null
. "$(ls "$RELEASE_DIR"/*/release.env)"
INFRA_HOST="$NODE_IP" in_ns "$REPO_ROOT/scripts/infra/up.sh" >/dev/null
timing "Kafka, Redis, ClickHouse"
"$CLUSTER_SCRIPTS/platform.sh"
timing "platform"

set -a
# shellcheck source=/dev/null
. "$INFRA_DIR/env"
# shellcheck source=/dev/null
. "$CLUSTER_DIR/passwords"
set +a
CLUSTER_KUBECONFIG="$KUBECONFIG_FILE" CLUSTER_KUBECTL="$BIN_DIR/kubectl" HELM="$HELM" \
  CLUSTER_CHART="oci://$REGISTRY_ADDRESS/charts/realtime-offers" CLUSTER_CHART_VERSION="$VERSION" \
  CLUSTER_IMAGE="$REGISTRY_ADDRESS/realtime-offers@$SERVICE_DIGEST" CLUSTER_REDIS_PASSWORD="$REDIS_PASSWORD" \
  CLUSTER_PREVIOUS_CHART_VERSION="$PREVIOUS_RELEASE" \
  CLUSTER_PREVIOUS_IMAGE="$REGISTRY_ADDRESS/realtime-offers@$PREVIOUS_DIGEST" \
  in_ns node --import tsx --test --test-concurrency=1 --test-reporter=spec \
  "$REPO_ROOT/test/cluster/cluster.test.ts"
timing "test"
