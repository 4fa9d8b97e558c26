# shellcheck shell=bash
# Redis: one node (the default) or a Redis Cluster; config (templates/redis/), start,
# readiness. Sourced by lib.sh.
#
# INFRA_REDIS_MODE=cluster (given to the first `up` of a state dir, then remembered in `ports`)
# runs a Redis Cluster instead of the single `redis`: REDIS_CLUSTER_NODES nodes redis-1 ..
# redis-6, each with a client port and a cluster bus port of its own, joined by
# `redis-cli --cluster create` with one replica per primary (3 primaries + 3 replicas). A node
# keeps its cluster identity in data/nodes.conf, so a killed and restarted one rejoins (a
# primary whose replica took over comes back as that replica's replica). `redis` in
# service.sh stands for every node, redis-N for node N.

# Readiness timeout (seconds) of one node, and of the whole cluster settling after a start.
INFRA_TIMEOUT_REDIS="${INFRA_TIMEOUT_REDIS:-20}"
INFRA_TIMEOUT_REDIS_CLUSTER="${INFRA_TIMEOUT_REDIS_CLUSTER:-120}"
REDIS_CLUSTER_NODES=6
REDIS_CLUSTER_REPLICAS=1
# How long a primary may be unreachable before its replica is promoted (ms). Long enough that
# a busy machine does not fail over by mistake, short enough for a test to wait for it.
REDIS_CLUSTER_NODE_TIMEOUT_MS="${REDIS_CLUSTER_NODE_TIMEOUT_MS:-5000}"

# INFRA_REDIS_MODE of this state dir: what `ports` says once loaded, else what the caller asks.
redis_mode() {
  case "${INFRA_REDIS_MODE:-single}" in
    single | cluster) printf '%s' "${INFRA_REDIS_MODE:-single}" ;;
    *) die "INFRA_REDIS_MODE must be single or cluster, not '$INFRA_REDIS_MODE'" ;;
  esac
}
redis_cluster_mode() { [[ "$(redis_mode)" == cluster ]]; }

# The Redis services of this state dir: `redis`, or redis-1 .. redis-N in cluster mode.
redis_services() {
  local i
  if ! redis_cluster_mode; then
    printf '%s\n' redis
    return 0
  fi
  for ((i = 1; i <= REDIS_CLUSTER_NODES; i++)); do printf 'redis-%d\n' "$i"; done
}

# A Redis node's port kinds (node_port SERVICE KIND): PORT (clients) and BUS_PORT (cluster
# bus), and with INFRA_SECURITY=1 TLS_PORT (clients over TLS). `redis` keeps REDIS_PORT;
# redis-2 has REDIS_2_PORT, REDIS_2_BUS_PORT and REDIS_2_TLS_PORT.

# How many ports choose_ports needs for Redis.
redis_port_count() {
  local per_node=1
  redis_cluster_mode && per_node=2
  security_enabled && per_node=$((per_node + 1))
  if redis_cluster_mode; then printf '%d' $((per_node * REDIS_CLUSTER_NODES)); else printf '%d' "$per_node"; fi
}

# The `ports` lines of Redis, taking ports from the arguments in order.
redis_ports_lines() { # redis_ports_lines PORT...
  local svc i=1
  if ! redis_cluster_mode; then
    printf 'REDIS_PORT=%s\n' "$1"
    if security_enabled; then printf 'REDIS_TLS_PORT=%s\n' "$2"; fi
    return 0
  fi
  printf 'INFRA_REDIS_MODE=cluster\n'
  for svc in $(redis_services); do
    printf '%s=%s\n' "$(node_port_name "$svc" PORT)" "${!i}"
    i=$((i + 1))
    printf '%s=%s\n' "$(node_port_name "$svc" BUS_PORT)" "${!i}"
    i=$((i + 1))
    if security_enabled; then
      printf '%s=%s\n' "$(node_port_name "$svc" TLS_PORT)" "${!i}"
      i=$((i + 1))
    fi
  done
}

# INFRA_SECURITY=1: the `env` lines of the TLS ports (REDIS_TLS_URL, like REDIS_URL: in
# cluster mode every node) and nothing when this state dir has none.
redis_tls_env_lines() {
  local svc port urls=''
  for svc in $(redis_services); do
    port="$(node_port "$svc" TLS_PORT)"
    [[ -n "$port" ]] || return 0
    urls+="${urls:+,}rediss://127.0.0.1:$port"
  done
  printf 'REDIS_TLS_URL=%s\n' "$urls"
}

# The `env` lines of Redis: REDIS_URL (in cluster mode every node, as a comma-separated list
# of URLs: the service takes them as seeds) and REDIS_MODE.
redis_env_lines() {
  local svc urls=''
  if ! redis_cluster_mode; then
    printf 'REDIS_URL=redis://127.0.0.1:%s\n' "$REDIS_PORT"
    return 0
  fi
  for svc in $(redis_services); do
    urls+="${urls:+,}redis://127.0.0.1:$(node_port "$svc" PORT)"
  done
  printf 'REDIS_MODE=cluster\nREDIS_URL=%s\n' "$urls"
}

write_redis_config() { # write_redis_config SERVICE
  local svc="$1" dir bind=127.0.0.1 tls_port
  dir="$(svc_dir "$svc")"
  mkdir -p "$dir/data"
  [[ "$INFRA_HOST" == 127.0.0.1 ]] || bind+=" $INFRA_HOST"
  tls_port="$(node_port "$svc" TLS_PORT)"
  {
    render_template redis/redis.conf PORT="$(node_port "$svc" PORT)" DIR="$dir" BIND="$bind"
    if [[ "$svc" != redis ]]; then
      render_template redis/cluster.conf BUS_PORT="$(node_port "$svc" BUS_PORT)" \
        NODE_TIMEOUT="$REDIS_CLUSTER_NODE_TIMEOUT_MS"
    fi
    if security_enabled && [[ -n "$tls_port" ]]; then
      load_credentials
      render_template redis/tls.conf TLS_PORT="$tls_port" CA="$(security_dir)/ca.pem" \
        CERT="$(security_dir)/broker.crt" KEY="$(security_dir)/broker.key" \
        CLUSTER_TLS="$([[ "$svc" == redis ]] && printf no || printf yes)"
      # The service's user: its key prefix and the commands the sink sends (README,
      # "Security"); in cluster mode also the slot map, the cluster state, what ioredis sends
      # to replicas and its slot-map connection (READONLY, CLIENT SETNAME), and WAIT.
      render_template redis/service-user.conf USER="$REDIS_SERVICE_USER" \
        PASSWORD="$REDIS_SERVICE_PASSWORD" PREFIX="$REDIS_SERVICE_KEY_PREFIX" \
        CLUSTER_COMMANDS="$([[ "$svc" == redis ]] || printf ' +cluster|slots +cluster|info +readonly +client|setname +wait')"
    fi
  } >"$dir/redis.conf"
}

start_redis() { # start_redis SERVICE
  write_redis_config "$1"
  launch "$1" redis-server "$(svc_dir "$1")/redis.conf"
}

redis_cli() { # redis_cli SERVICE ARG...
  local svc="$1"
  shift
  timeout 3 redis-cli -h 127.0.0.1 -p "$(node_port "$svc" PORT)" "$@" 2>/dev/null
}

redis_ready() { [[ "$(redis_cli "${1:-redis}" ping)" == PONG ]]; }

redis_log_files() { printf '%s\n' "$(svc_dir "$1")/redis.log" "$(svc_dir "$1")/stdout.log"; }

# True when every node of the cluster is up, sees the cluster as ok with all six nodes, and
# every primary has its replica attached and in sync: a write that waits for one replica can
# succeed on every slot.
redis_cluster_settled() {
  local svc role
  for svc in $(redis_services); do
    svc_alive "$svc" || return 1
    [[ "$(redis_cli "$svc" cluster info | tr -d '\r' | sed -n 's/^cluster_state://p')" == ok ]] || return 1
    [[ "$(redis_cli "$svc" cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')" == "$REDIS_CLUSTER_NODES" ]] || return 1
    role="$(redis_cli "$svc" info replication | tr -d '\r' | sed -n 's/^role://p')"
    case "$role" in
      master)
        redis_cli "$svc" info replication | tr -d '\r' | grep -q '^slave0:.*state=online' || return 1
        ;;
      slave)
        [[ "$(redis_cli "$svc" info replication | tr -d '\r' | sed -n 's/^master_link_status://p')" == up ]] || return 1
        ;;
      *) return 1 ;;
    esac
  done
}

# After cluster nodes were started: joins them into a cluster on a fresh start (no slot
# assigned yet), then waits until the cluster is settled (see redis_cluster_settled). With a
# node still stopped (a test restarting nodes one at a time) there is nothing to wait for.
redis_cluster_settle() {
  local t0 deadline svc nodes=() out
  redis_cluster_mode || return 0
  for svc in $(redis_services); do
    svc_alive "$svc" || return 0
  done
  t0="$(now_ms)"
  if [[ "$(redis_cli redis-1 cluster info | tr -d '\r' | sed -n 's/^cluster_slots_assigned://p')" == 0 ]]; then
    for svc in $(redis_services); do nodes+=("127.0.0.1:$(node_port "$svc" PORT)"); done
    if ! out="$(redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$REDIS_CLUSTER_REPLICAS" --cluster-yes 2>&1)"; then
      printf '%s\n' "$out" >&2
      log "redis-cli --cluster create failed"
      return 1
    fi
    log "Redis Cluster created: ${#nodes[@]} nodes, $REDIS_CLUSTER_REPLICAS replica per primary"
  fi
  deadline=$(($(date +%s) + INFRA_TIMEOUT_REDIS_CLUSTER))
  until redis_cluster_settled; do
    if (($(date +%s) >= deadline)); then
      for svc in $(redis_services); do
        printf '[infra] ---- %s: %s\n' "$svc" "$(redis_cli "$svc" cluster info | tr -d '\r' | head -1)" >&2
      done
      redis_cli redis-1 cluster nodes >&2 || true
      log "Redis Cluster not settled after ${INFRA_TIMEOUT_REDIS_CLUSTER}s"
      return 1
    fi
    sleep 0.2
  done
  log "Redis Cluster ok: every primary has an in-sync replica ($(elapsed "$t0"))"
}
