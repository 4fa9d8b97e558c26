# shellcheck shell=bash
# Shared settings of scripts/cluster/*.sh (make test-cluster). Sourced, never executed.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
CLUSTER_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$CLUSTER_SCRIPTS/../.." && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=versions.env
. "$CLUSTER_SCRIPTS/versions.env"
# The one Node.js of the project (the image's, the tests').
NODE_VERSION="$(tr -d '[:space:]' <"$REPO_ROOT/.node-version")"

# Built programs and images, kept between runs (outside the repository).
CACHE_DIR="${CLUSTER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/realtime-offers-cluster}"
BIN_DIR="$CACHE_DIR/bin"
LOG_TAG="${LOG_TAG:-cluster}"

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() {
  printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2
  exit 1
}

# The cluster's fixed addresses: they exist only inside its network namespace.
NETNS=realtime-offers-cluster
BRIDGE=ro-cluster0
NODE_NAME=offers-node
CLUSTER_NAME=realtime-offers-test
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/16
POD_RANGE_START=10.244.1.1
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
API_PORT=6443
KUBELET_PORT=10250
KEDA_ADAPTER_PORT=6445
# The cluster's OCI registry (build.sh builds it, up.sh runs it on the bridge): the test
# publishes the release there, and containerd pulls the images from it over plain http.
REGISTRY_PORT=5000
REGISTRY_ADDRESS="$NODE_IP:$REGISTRY_PORT"
# The sandbox image containerd runs for every pod (built by images.sh and imported, never
# pulled): the one image that does not come from the registry.
PAUSE_IMAGE=localhost/realtime-offers-test/pause:1

# State of one run: the infra state dir (scripts/infra) holds the cluster's in k8s/.
INFRA_DIR="${INFRA_DIR:-$REPO_ROOT/.infra/cluster}"
CLUSTER_DIR="$INFRA_DIR/k8s"
KUBECONFIG_FILE="$CLUSTER_DIR/admin.kubeconfig"
CONTAINERD_SOCK="$CLUSTER_DIR/containerd/containerd.sock"
# The pause image's archive, built by images.sh and imported into containerd by up.sh.
IMAGE_DIR="$CACHE_DIR/images"
# The CRDs of the operators the chart and k8s/ use: CRD_DIR, default ../shared/crds beside the
# repository, with one folder per pinned operator version (CRD_FOLDERS of
# scripts/kind/versions.env). Checked where they are used (platform.sh, up.sh).
CRD_DIR="${CRD_DIR:-$REPO_ROOT/../shared/crds}"
CRD_FOLDERS="$(sed -n 's/^CRD_FOLDERS=//p' "$REPO_ROOT/scripts/kind/versions.env")"
# require_crds: dies naming CRD_DIR and the pinned folders when one of them is missing.
require_crds() {
  local folder
  for folder in ${CRD_FOLDERS//,/ }; do
    [[ -d "$CRD_DIR/$folder" ]] ||
      die "no CRDs at $CRD_DIR/$folder: set CRD_DIR to the folder holding the operators' CRDs ($CRD_FOLDERS; default ../shared/crds beside the repository)"
  done
}

in_ns() { nsenter --net="/run/netns/$NETNS" "$@"; }
kc() { in_ns "$BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
ctr_ns() { ctr --address "$CONTAINERD_SOCK" "$@"; }

# start NAME COMMAND...: runs COMMAND in the namespace, in the background, in a session of its
# own; its pid goes to pids/NAME.pid, its output to logs/NAME.log.
start() {
  local name="$1"
  shift
  setsid nsenter --net="/run/netns/$NETNS" "$@" >"$CLUSTER_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$CLUSTER_DIR/pids/$name.pid"
}

# start_with_resolv RESOLV_CONF NAME COMMAND...: start, with RESOLV_CONF as /etc/resolv.conf
# (a private mount namespace: the machine's own file is untouched).
start_with_resolv() {
  local resolv="$1" name="$2"
  shift 2
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid unshare --mount --propagation private sh -c \
    'mount --bind "$1" /etc/resolv.conf && shift && exec nsenter --net="/run/netns/$0" "$@"' \
    "$NETNS" "$resolv" "$@" >"$CLUSTER_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$CLUSTER_DIR/pids/$name.pid"
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every second; dies naming WHAT and the
# last lines of the logs when it never succeeds.
wait_until() {
  local timeout="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$what not ready after ${timeout} s; last log lines:"
      tail -n 5 "$CLUSTER_DIR"/logs/*.log >&2 || true
      die "$what not ready after ${timeout} s"
    fi
    sleep 1
  done
}
# Helm as scripts/tools/install-helm.sh builds it.
HELM="${HELM:-$REPO_ROOT/.cache/bin/helm}"
NAMESPACE=offers
RELEASE=offers
