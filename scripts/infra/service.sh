#!/usr/bin/env bash
# Stops or (re)starts ONE service of a running infra (for fault-injection tests), on the same port
# and state dir as before. `start` waits until the service answers; data kept across stop/start:
# every service keeps its data (Redis through its append-only file).
# Usage: [INFRA_DIR=dir] scripts/infra/service.sh ACTION kafka|redis|clickhouse
#   stop     SIGTERM (graceful), SIGKILL after $INFRA_STOP_TIMEOUT s
#   kill     SIGKILL at once (simulated crash)
#   start    start on the previous port and wait until it answers (no-op if running)
#   restart  stop + start
#   status   exit 0 if running and answering
#   logs     tail of the service's log files
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "usage: $0 stop|kill|start|restart|status|logs kafka|redis|clickhouse" >&2
  exit 2
}
action="${1:-}"
svc="${2:-}"
valid_service "$svc" || usage

init_infra_dir
[[ -f "$PORTS_FILE" ]] || die "infra is not up in $INFRA_DIR (run scripts/infra/up.sh)"
load_ports

do_start() {
  local t0
  if svc_alive "$svc"; then
    log "$svc already running on 127.0.0.1:$(svc_port "$svc")"
    return 0
  fi
  if port_in_use "$(svc_port "$svc")"; then
    die "port $(svc_port "$svc") for $svc is taken by another process"
  fi
  t0="$(now_ms)"
  start_service "$svc"
  if ! wait_ready "$svc" "$t0"; then
    stop_services "$svc"
    die "$svc did not become ready"
  fi
}

case "$action" in
  stop)
    lock_infra_dir
    if svc_alive "$svc"; then stop_services "$svc"; else log "$svc is not running"; fi
    ;;
  kill)
    lock_infra_dir
    if svc_alive "$svc"; then
      INFRA_STOP_TIMEOUT=0 stop_services "$svc"
    else
      log "$svc is not running"
    fi
    ;;
  start)
    lock_infra_dir
    do_start
    ;;
  restart)
    lock_infra_dir
    stop_services "$svc"
    do_start
    ;;
  status)
    if svc_alive "$svc" && svc_check "$svc"; then
      echo "$svc up on 127.0.0.1:$(svc_port "$svc") (pid $(svc_pid "$svc"))"
    elif svc_alive "$svc"; then
      echo "$svc running (pid $(svc_pid "$svc")) but not answering on 127.0.0.1:$(svc_port "$svc")"
      exit 1
    else
      echo "$svc down"
      exit 1
    fi
    ;;
  logs) show_logs "$svc" 2>&1 ;;
  *) usage ;;
esac
