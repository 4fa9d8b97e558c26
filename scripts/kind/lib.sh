#!/usr/bin/env bash
# Shared helpers of scripts/kind/*.sh: pinned versions, tool checks, progress and waits.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
set -euo pipefail

KIND_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$KIND_SCRIPTS/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.env
. "$KIND_SCRIPTS/versions.env"

KUBE_CONTEXT="kind-$KIND_CLUSTER_NAME"
# Seconds each wait may take before the script gives up with the object's state.
WAIT_TIMEOUT="${KIND_WAIT_TIMEOUT:-600}"
CHART_DIR="$REPO_ROOT/charts/realtime-offers"

log() { printf '[%s] %s\n' "${LOG_TAG:-kind}" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# helm from `make tools` (built from source at the pinned version) first, then PATH: any helm
# of the pinned major version (scripts/tools/install-helm.sh pins it) will do.
if [[ -x "$REPO_ROOT/.cache/bin/helm" ]]; then HELM="$REPO_ROOT/.cache/bin/helm"; else HELM=helm; fi
HELM_MAJOR="$(sed -n 's/^HELM_VERSION=\(v[0-9]*\)\..*/\1/p' "$REPO_ROOT/scripts/tools/install-helm.sh")"

kc() { kubectl --context "$KUBE_CONTEXT" "$@"; }
hm() { "$HELM" --kube-context "$KUBE_CONTEXT" "$@"; }

# Names every missing tool at once, with where to get it, instead of failing on the first.
require_tools() {
  local missing=() tool
  for tool in "$@"; do
    case "$tool" in
      helm) [[ -x "$REPO_ROOT/.cache/bin/helm" ]] || command -v helm >/dev/null || missing+=("helm $HELM_MAJOR (https://helm.sh/docs/intro/install/, or 'make tools' with Go: it builds the pinned version into .cache/bin)") ;;
      kind) command -v kind >/dev/null || missing+=("kind >= v$KIND_MIN_VERSION (go install sigs.k8s.io/kind@v$KIND_MIN_VERSION)") ;;
      kubectl) command -v kubectl >/dev/null || missing+=("kubectl (https://kubernetes.io/docs/tasks/tools/)") ;;
      docker) command -v docker >/dev/null || missing+=("docker (Docker Engine or Docker Desktop)") ;;
      *) command -v "$tool" >/dev/null || missing+=("$tool") ;;
    esac
  done
  if ((${#missing[@]} > 0)); then
    log "missing tools:"
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
  fi
  if [[ " $* " == *" helm "* ]]; then
    local version
    version="$("$HELM" version --template '{{ .Version }}' 2>/dev/null || true)"
    [[ "$version" == "$HELM_MAJOR".* ]] ||
      die "helm ${version:-(no version)} at $(command -v "$HELM"): the chart and these scripts need helm $HELM_MAJOR"
  fi
  if [[ " $* " == *" docker "* ]] && ! docker info >/dev/null 2>&1; then
    die "docker is installed but its engine does not answer ('docker info' fails): start it first"
  fi
}

STEP=0
STEPS="${STEPS:-1}"
STEP_STARTED=$SECONDS
step() {
  STEP=$((STEP + 1))
  STEP_STARTED=$SECONDS
  log "($STEP/$STEPS) $*"
}
done_step() { log "     done in $((SECONDS - STEP_STARTED)) s"; }

# wait_for DESCRIPTION COMMAND...: retries COMMAND every 5 s until it succeeds or
# WAIT_TIMEOUT passes, printing what it waits for every 30 s.
wait_for() {
  local what="$1" started=$SECONDS last=0
  shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - started >= WAIT_TIMEOUT)); then
      log "timed out after ${WAIT_TIMEOUT} s waiting for $what"
      return 1
    fi
    if ((SECONDS - last >= 30)); then
      log "     waiting for $what ($((SECONDS - started)) s)"
      last=$SECONDS
    fi
    sleep 5
  done
}

version_at_least() { # version_at_least HAVE WANT
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}
