#!/usr/bin/env bash
# Starts Kafka (KRaft: one node, or INFRA_KAFKA_NODES), Redis and ClickHouse on free loopback
# ports, each with its own config and data under the state dir, waits until each answers, writes
# $INFRA_DIR/env and prints it on stdout (progress goes to stderr).
#   - already up (all pids alive): does nothing but a quick readiness check and prints the env;
#   - partly up (e.g. after `service.sh stop`): starts the missing services on their old ports;
#   - nothing alive: wipes stale state, picks new ports, starts everything.
# Runs install.sh first when something is missing.
# Usage: [INFRA_DIR=dir] [INFRA_SECURITY=1] [INFRA_KAFKA_NODES=N] [INFRA_REDIS_MODE=cluster]
#        [INFRA_CLICKHOUSE_MODE=cluster] scripts/infra/up.sh
#   (default state dir: <repo>/.infra)
#   INFRA_SECURITY=1: also SASL/TLS Kafka listeners with ACLs and a ClickHouse user with a
#   password (see security.sh); the state dir remembers it.
#   INFRA_REDIS_MODE=cluster: a Redis Cluster of 3 primaries + 3 replicas redis-1 .. redis-6
#   instead of one Redis (see redis.sh); the state dir remembers it.
#   INFRA_CLICKHOUSE_MODE=cluster: ZooKeeper and 2 shards x 2 replicas of ClickHouse
#   clickhouse-1 .. clickhouse-4 instead of one server, with the cluster in every server's
#   remote_servers (see clickhouse.sh); the state dir remembers it.
#   INFRA_KAFKA_NODES=N: a Kafka cluster of N nodes kafka-1 .. kafka-N instead of one node
#   `kafka` (see kafka.sh; not with INFRA_SECURITY=1); the state dir remembers it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t_start="$(now_ms)"
# What this call asks for; load_ports replaces INFRA_KAFKA_NODES by what the state dir has.
requested_nodes="${INFRA_KAFKA_NODES:-}"
requested_redis_mode="${INFRA_REDIS_MODE:-}"
if [[ -n "$requested_redis_mode" ]]; then requested_redis_mode="$(redis_mode)"; fi
requested_clickhouse_mode="${INFRA_CLICKHOUSE_MODE:-}"
if [[ -n "$requested_clickhouse_mode" ]]; then requested_clickhouse_mode="$(clickhouse_mode)"; fi
if [[ -n "$requested_nodes" && ! "$requested_nodes" =~ ^[1-9][0-9]*$ ]]; then
  die "INFRA_KAFKA_NODES must be a positive number of Kafka nodes, not '$requested_nodes'"
fi
if security_enabled && ((${requested_nodes:-1} > 1)); then
  die "INFRA_SECURITY=1 runs a single Kafka node; it cannot be combined with INFRA_KAFKA_NODES=$requested_nodes"
fi
init_infra_dir
lock_infra_dir

installed || "$INFRA_SCRIPTS/install.sh"

alive=()
if [[ -f "$PORTS_FILE" ]]; then
  for svc in $(state_services); do
    if svc_alive "$svc"; then alive+=("$svc"); fi
  done
fi

fresh=0
if ((${#alive[@]} == 0)); then
  # Nothing of ours is running here: start from scratch with new ports.
  kill_leftovers
  remove_state
  INFRA_KAFKA_NODES="${requested_nodes:-1}"
  INFRA_REDIS_MODE="${requested_redis_mode:-single}"
  INFRA_CLICKHOUSE_MODE="${requested_clickhouse_mode:-single}"
  choose_ports
  fresh=1
fi
load_ports
if security_enabled && [[ -z "${KAFKA_SASL_PORT:-}" ]]; then
  die "$INFRA_DIR runs without INFRA_SECURITY=1; run scripts/infra/down.sh (INFRA_DIR=$INFRA_DIR) first"
fi
if [[ -n "$requested_nodes" && "$requested_nodes" != "$INFRA_KAFKA_NODES" ]]; then
  die "$INFRA_DIR runs $INFRA_KAFKA_NODES Kafka node(s), not INFRA_KAFKA_NODES=$requested_nodes; run scripts/infra/down.sh (INFRA_DIR=$INFRA_DIR) first"
fi
if [[ -n "$requested_redis_mode" && "$requested_redis_mode" != "$INFRA_REDIS_MODE" ]]; then
  die "$INFRA_DIR runs Redis in $INFRA_REDIS_MODE mode, not INFRA_REDIS_MODE=$requested_redis_mode; run scripts/infra/down.sh (INFRA_DIR=$INFRA_DIR) first"
fi
if [[ -n "$requested_clickhouse_mode" && "$requested_clickhouse_mode" != "$INFRA_CLICKHOUSE_MODE" ]]; then
  die "$INFRA_DIR runs ClickHouse in $INFRA_CLICKHOUSE_MODE mode, not INFRA_CLICKHOUSE_MODE=$requested_clickhouse_mode; run scripts/infra/down.sh (INFRA_DIR=$INFRA_DIR) first"
fi

to_start=()
for svc in "${ALL_SERVICES[@]}"; do
  svc_alive "$svc" || to_start+=("$svc")
done
if ((fresh)); then
  log "starting ${to_start[*]} in $INFRA_DIR"
elif ((${#to_start[@]} > 0)); then
  log "already running: ${alive[*]}; starting ${to_start[*]} on their previous ports"
fi

started=()
ok=0
on_exit() {
  if ((ok == 0 && ${#started[@]} > 0)); then
    log "startup failed: stopping ${started[*]} (logs kept in $INFRA_DIR)"
    stop_services "${started[@]}" || true
  fi
}
trap on_exit EXIT

declare -A t0
for svc in "${to_start[@]}"; do
  port="$(svc_port "$svc")"
  if port_in_use "$port"; then
    die "port $port for $svc is taken by another process; run scripts/infra/down.sh (INFRA_DIR=$INFRA_DIR) and up.sh again"
  fi
  t0[$svc]="$(now_ms)"
  start_service "$svc"
  started+=("$svc")
done

for svc in "${ALL_SERVICES[@]}"; do
  wait_ready "$svc" "${t0[$svc]:-$(now_ms)}" || die "$svc did not become ready"
done
redis_cluster_settle || die "the Redis Cluster did not settle"

write_env_file
ok=1
log "up ($(elapsed "$t_start")): env in $ENV_FILE"
cat "$ENV_FILE"
