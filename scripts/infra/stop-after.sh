#!/usr/bin/env bash
# Runs a command, then stops the local services it started: every state dir $INFRA_DIR and
# $INFRA_DIR-* (the suites' own: -faults, -security, -redis-cluster, ...) whose services were not
# running before the command and run after it. Services that were up before (e.g. the demo's,
# which `make test` reuses) stay up. The command's exit status is kept; the stop runs on failure
# and on interruption too.
# Usage: [INFRA_DIR=dir] scripts/infra/stop-after.sh COMMAND [ARG...]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root="${INFRA_DIR:-$REPO_ROOT/.infra}"
# running_dirs: the state dirs that have services running now, one per line.
running_dirs() {
  local dir svc
  for dir in "$root" "$root"-*; do
    [[ -f "$dir/ports" ]] || continue
    for svc in $(INFRA_DIR="$dir" state_services); do
      if INFRA_DIR="$dir" svc_alive "$svc"; then
        printf '%s\n' "$dir"
        break
      fi
    done
  done
}

mapfile -t before < <(running_dirs)
stop_started() {
  local dir was
  for dir in $(running_dirs); do
    for was in "${before[@]}"; do [[ "$dir" == "$was" ]] && continue 2; done
    log "stopping the services this run started in $dir"
    INFRA_DIR="$dir" "$INFRA_SCRIPTS/down.sh" >/dev/null 2>&1 || log "could not stop $dir (scripts/infra/down.sh)"
  done
}
trap stop_started EXIT
trap 'exit 130' INT TERM
"$@"
