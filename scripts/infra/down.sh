#!/usr/bin/env bash
# Stops Kafka (every node), Redis and ClickHouse of a state dir (SIGTERM, SIGKILL after
# $INFRA_STOP_TIMEOUT s) and removes their data, configs, logs, ports and env file. Safe to run
# when nothing is up.
# Only touches what up.sh creates: other content of the dir (e.g. .infra/test) is left alone.
# Usage: [INFRA_DIR=dir] scripts/infra/down.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t_start="$(now_ms)"
if [[ ! -d "${INFRA_DIR:-$REPO_ROOT/.infra}" ]]; then
  log "nothing to stop (no ${INFRA_DIR:-$REPO_ROOT/.infra})"
  exit 0
fi
init_infra_dir
lock_infra_dir

mapfile -t services < <(state_services)
stop_services "${services[@]}"
kill_leftovers # processes whose pid file was lost, e.g. by an interrupted up.sh
remove_state
log "down ($(elapsed "$t_start")): removed the state in $INFRA_DIR"
