#!/usr/bin/env bash
# make kind-down: deletes the kind cluster and everything in it.
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
LOG_TAG="kind-down"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools kind
if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER_NAME"; then
  kind delete cluster --name "$KIND_CLUSTER_NAME"
else
  log "no cluster named $KIND_CLUSTER_NAME"
fi
