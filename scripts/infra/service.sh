#!/usr/bin/env bash
# Stops or (re)starts ONE service of a running infra, or one Kafka node, or all of them (for
# fault-injection tests), on the same ports and state dir as before. `start` waits until the
# service answers (a Kafka node: until it is registered with the cluster again); data kept across
# stop/start: every service keeps its data (Redis through its append-only file).
# Usage: [INFRA_DIR=dir] scripts/infra/service.sh ACTION kafka|kafka-N|redis|redis-N|clickhouse|clickhouse-N|zookeeper
#   stop     SIGTERM (graceful), SIGKILL after $INFRA_STOP_TIMEOUT s
#   kill     SIGKILL at once (simulated crash)
#   start    start on the previous port and wait until it answers (no-op if running)
#   restart  stop + start
#   status   exit 0 if running and answering
#   logs     tail of the service's log files
# With INFRA_KAFKA_NODES=N > 1, kafka-N is node N and `kafka` means every node (started at once:
# a node alone has no controller quorum). With one node, kafka-1 is the same as `kafka`.
# With INFRA_REDIS_MODE=cluster, redis-N is Redis node N and `redis` every node; `start` then
# also waits until the cluster is settled again (every primary with an in-sync replica) once
# all nodes run.
# With INFRA_CLICKHOUSE_MODE=cluster, clickhouse-N is ClickHouse server N, `clickhouse` every
# server, and `zookeeper` the cluster's ZooKeeper.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "usage: $0 stop|kill|start|restart|status|logs kafka|kafka-N|redis|redis-N|clickhouse|clickhouse-N|zookeeper" >&2
  exit 2
}
action="${1:-}"
arg="${2:-}"
case "$arg" in
  redis | redis-[1-9]* | clickhouse | clickhouse-[1-9]* | zookeeper | kafka | kafka-[1-9]*) ;;
  *) usage ;;
esac

init_infra_dir
[[ -f "$PORTS_FILE" ]] || die "infra is not up in $INFRA_DIR (run scripts/infra/up.sh)"
load_ports
mapfile -t services < <(resolve_services "$arg")
if ((${#services[@]} == 0)); then
  if [[ "$arg" == redis-* ]]; then
    die "$INFRA_DIR has no Redis node $arg: its Redis services are $(redis_services | paste -sd ' ')"
  fi
  if [[ "$arg" == clickhouse-* || "$arg" == zookeeper ]]; then
    die "$INFRA_DIR has no $arg: its ClickHouse services are $(clickhouse_services | paste -sd ' ')"
  fi
  die "$INFRA_DIR has no Kafka node $arg: its nodes are $(kafka_services | paste -sd ' ')"
fi

# Services this call launched: stopped again if the call fails before they all answer.
started=()
ok=1
on_exit() {
  if ((ok == 0 && ${#started[@]} > 0)); then stop_services "${started[@]}" || true; fi
}
trap on_exit EXIT

do_start() {
  local svc t0 to_start=()
  for svc in "${services[@]}"; do
    if svc_alive "$svc"; then
      log "$svc already running on 127.0.0.1:$(svc_port "$svc")"
    elif port_in_use "$(svc_port "$svc")"; then
      die "port $(svc_port "$svc") for $svc is taken by another process"
    else
      to_start+=("$svc")
    fi
  done
  ok=0
  t0="$(now_ms)"
  for svc in "${to_start[@]}"; do
    start_service "$svc"
    started+=("$svc")
  done
  for svc in "${to_start[@]}"; do
    wait_ready "$svc" "$t0" || die "$svc did not become ready"
  done
  if [[ "${to_start[*]}" == *redis-* ]]; then
    redis_cluster_settle || die "the Redis Cluster did not settle"
  fi
  ok=1
}

stop_or_kill() { # stop_or_kill stopped|killed
  local svc running=()
  for svc in "${services[@]}"; do
    if svc_alive "$svc"; then running+=("$svc"); else log "$svc is not running"; fi
  done
  ((${#running[@]} > 0)) || return 0
  if [[ "$1" == killed ]]; then
    INFRA_STOP_TIMEOUT=0 stop_services "${running[@]}"
  else
    stop_services "${running[@]}"
  fi
}

case "$action" in
  stop)
    lock_infra_dir
    stop_or_kill stopped
    ;;
  kill)
    lock_infra_dir
    stop_or_kill killed
    ;;
  start)
    lock_infra_dir
    do_start
    ;;
  restart)
    lock_infra_dir
    stop_services "${services[@]}"
    do_start
    ;;
  status)
    rc=0
    for svc in "${services[@]}"; do
      if svc_alive "$svc" && svc_check "$svc"; then
        echo "$svc up on 127.0.0.1:$(svc_port "$svc") (pid $(svc_pid "$svc"))"
      elif svc_alive "$svc"; then
        echo "$svc running (pid $(svc_pid "$svc")) but not answering on 127.0.0.1:$(svc_port "$svc")"
        rc=1
      else
        echo "$svc down"
        rc=1
      fi
    done
    exit "$rc"
    ;;
  logs)
    for svc in "${services[@]}"; do show_logs "$svc" 2>&1; done
    ;;
  *) usage ;;
esac
