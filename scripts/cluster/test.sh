#!/usr/bin/env bash
# make test-cluster: the chart on a real single-node Kubernetes cluster, without Docker, as root.
#   1. install.sh  Debian packages (etcd, containerd, runc, CNI plugins, buildah, busybox)
#   2. build.sh    Kubernetes, KEDA and CoreDNS from the Go module proxy (cached)
#   3. images.sh   pause, the base images' stand-ins and the service's image (buildah)
#   4. up.sh       the cluster in a network namespace of its own
#   5. scripts/infra/up.sh inside that namespace, serving on the bridge (INFRA_HOST)
#   6. platform.sh CRDs, k8s/, Secrets, Services, topics
#   7. test/cluster/cluster.test.ts: install, helm test, scaling, upgrade, accounting
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
image="$("$CLUSTER_SCRIPTS/images.sh")"
timing "images ($image)"

# A run that was interrupted before its clean-up leaves the namespace: clear it first.
if [[ -f "$INFRA_DIR/ports" ]]; then INFRA_STOP_TIMEOUT=0 "$REPO_ROOT/scripts/infra/down.sh" >/dev/null 2>&1 || true; fi
"$CLUSTER_SCRIPTS/down.sh" >/dev/null 2>&1 || true
trap cleanup EXIT
"$CLUSTER_SCRIPTS/up.sh"
timing "cluster"
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
  CLUSTER_IMAGE_TAG="${image#*:}" CLUSTER_REDIS_PASSWORD="$REDIS_PASSWORD" \
  in_ns node --import tsx --test --test-concurrency=1 --test-reporter=spec \
  "$REPO_ROOT/test/cluster/cluster.test.ts"
timing "test"
