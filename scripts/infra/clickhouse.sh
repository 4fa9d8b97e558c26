# shellcheck shell=bash
# ClickHouse 18.16: one server (the default) or a replicated cluster; config
# (templates/clickhouse/), start, readiness. Sourced by lib.sh.
#
# INFRA_CLICKHOUSE_MODE=cluster (given to the first `up` of a state dir, then remembered in
# `ports`) runs, instead of the single `clickhouse`, Debian's ZooKeeper (`zookeeper`, from its
# jars, standalone) and CLICKHOUSE_SHARDS x CLICKHOUSE_REPLICAS servers clickhouse-1 ..
# clickhouse-4: node N is replica ((N-1) % 2 + 1) of shard ((N-1) / 2 + 1), with its own HTTP,
# TCP and interserver ports and data dir, the macros {shard} and {replica}, and the cluster
# CLICKHOUSE_CLUSTER_NAME in remote_servers with internal_replication (a Distributed insert
# writes each shard's rows to one replica; replication copies them to the others). In
# service.sh, `clickhouse` stands for every server, clickhouse-N for node N.

# Readiness timeout (seconds).
INFRA_TIMEOUT_CLICKHOUSE="${INFRA_TIMEOUT_CLICKHOUSE:-60}"
INFRA_TIMEOUT_ZOOKEEPER="${INFRA_TIMEOUT_ZOOKEEPER:-60}"
CLICKHOUSE_SHARDS=2
CLICKHOUSE_REPLICAS=2
CLICKHOUSE_CLUSTER_NAME=offers_cluster
# The one server's own one-node cluster (remote_servers), in single mode.
CLICKHOUSE_SINGLE_NODE_CLUSTER=single_node
# Mark and uncompressed caches per server: 18.16's defaults (5 GiB marks) are for a server of
# its own; these hold far more than the tests' tables.
CLICKHOUSE_CACHE_BYTES=268435456
CLICKHOUSE_CLUSTER_CACHE_BYTES=67108864

# INFRA_CLICKHOUSE_MODE of this state dir: what `ports` says once loaded, else what the caller asks.
clickhouse_mode() {
  case "${INFRA_CLICKHOUSE_MODE:-single}" in
    single | cluster) printf '%s' "${INFRA_CLICKHOUSE_MODE:-single}" ;;
    *) die "INFRA_CLICKHOUSE_MODE must be single or cluster, not '$INFRA_CLICKHOUSE_MODE'" ;;
  esac
}
clickhouse_cluster_mode() { [[ "$(clickhouse_mode)" == cluster ]]; }
clickhouse_node_count() { printf '%d' $((CLICKHOUSE_SHARDS * CLICKHOUSE_REPLICAS)); }

# The ClickHouse services of this state dir, in start order: `clickhouse`, or zookeeper and
# clickhouse-1 .. clickhouse-N in cluster mode.
clickhouse_services() {
  local i
  if ! clickhouse_cluster_mode; then
    printf '%s\n' clickhouse
    return 0
  fi
  printf '%s\n' zookeeper
  for ((i = 1; i <= $(clickhouse_node_count); i++)); do printf 'clickhouse-%d\n' "$i"; done
}

# A ClickHouse server's port kinds (node_port SERVICE KIND): HTTP_PORT, TCP_PORT and
# INTERSERVER_PORT, and with INFRA_SECURITY=1 HTTPS_PORT. `clickhouse` keeps
# CLICKHOUSE_HTTP_PORT; clickhouse-2 has CLICKHOUSE_2_HTTP_PORT.
clickhouse_port_kinds() {
  printf '%s\n' HTTP_PORT TCP_PORT INTERSERVER_PORT
  if security_enabled; then printf '%s\n' HTTPS_PORT; fi
}

# How many ports choose_ports needs for ClickHouse (and ZooKeeper).
clickhouse_port_count() {
  local kinds
  kinds="$(clickhouse_port_kinds | wc -l)"
  if clickhouse_cluster_mode; then printf '%d' $((kinds * $(clickhouse_node_count) + 1)); else printf '%d' "$kinds"; fi
}

# The `ports` lines of ClickHouse, taking ports from the arguments in order.
clickhouse_ports_lines() { # clickhouse_ports_lines PORT...
  local svc kind i=1
  if clickhouse_cluster_mode; then
    printf 'INFRA_CLICKHOUSE_MODE=cluster\nZOOKEEPER_PORT=%s\n' "$1"
    i=2
  fi
  for svc in $(clickhouse_services); do
    [[ "$svc" == zookeeper ]] && continue
    for kind in $(clickhouse_port_kinds); do
      printf '%s=%s\n' "$(node_port_name "$svc" "$kind")" "${!i}"
      i=$((i + 1))
    done
  done
}

# The `env` lines of ClickHouse: CLICKHOUSE_URL (in cluster mode node 1, replica 1 of shard 1),
# and in cluster mode the cluster's name and every node's URL, shard by shard.
clickhouse_env_lines() {
  local svc urls=''
  if ! clickhouse_cluster_mode; then
    printf 'CLICKHOUSE_URL=http://127.0.0.1:%s\n' "$CLICKHOUSE_HTTP_PORT"
    return 0
  fi
  for svc in $(clickhouse_services); do
    [[ "$svc" == zookeeper ]] && continue
    urls+="${urls:+,}http://127.0.0.1:$(node_port "$svc" HTTP_PORT)"
  done
  cat <<EOF
CLICKHOUSE_URL=http://127.0.0.1:$(node_port clickhouse-1 HTTP_PORT)
CLICKHOUSE_CLUSTER=$CLICKHOUSE_CLUSTER_NAME
# Every server of the cluster (node N: shard (N-1)/$CLICKHOUSE_REPLICAS+1, replica (N-1)%$CLICKHOUSE_REPLICAS+1), for tests that query one node's local table.
CLICKHOUSE_NODE_URLS=$urls
CLICKHOUSE_SHARDS=$CLICKHOUSE_SHARDS
CLICKHOUSE_REPLICAS=$CLICKHOUSE_REPLICAS
ZOOKEEPER_ADDRESS=127.0.0.1:$ZOOKEEPER_PORT
EOF
}

# The <remote_servers> entry of the cluster: every shard with its replicas' TCP ports.
clickhouse_remote_servers() {
  local shard replica node
  printf '        <%s>\n' "$CLICKHOUSE_CLUSTER_NAME"
  for ((shard = 1; shard <= CLICKHOUSE_SHARDS; shard++)); do
    printf '            <shard>\n                <internal_replication>true</internal_replication>\n'
    for ((replica = 1; replica <= CLICKHOUSE_REPLICAS; replica++)); do
      node=$(((shard - 1) * CLICKHOUSE_REPLICAS + replica))
      printf '                <replica><host>127.0.0.1</host><port>%s</port></replica>\n' \
        "$(node_port "clickhouse-$node" TCP_PORT)"
    done
    printf '            </shard>\n'
  done
  printf '        </%s>\n' "$CLICKHOUSE_CLUSTER_NAME"
}

# INFRA_SECURITY=1: the `env` line of the HTTPS port (CLICKHOUSE_HTTPS_URL), nothing without.
clickhouse_tls_env_lines() {
  local port
  port="$(node_port "$(clickhouse_services | grep -v '^zookeeper$' | head -1)" HTTPS_PORT)"
  [[ -n "$port" ]] || return 0
  printf 'CLICKHOUSE_HTTPS_URL=https://127.0.0.1:%s\n' "$port"
}

write_clickhouse_config() { # write_clickhouse_config SERVICE
  local svc="$1" dir service_user='' extra_host='' extra_network='' cluster_config='' node
  local https_config='' https_port
  local cache="$CLICKHOUSE_CACHE_BYTES"
  dir="$(svc_dir "$svc")"
  if [[ "$INFRA_HOST" != 127.0.0.1 ]]; then
    extra_host="<listen_host>$INFRA_HOST</listen_host>"
    extra_network="<ip>$INFRA_HOST</ip>"
  fi
  if [[ "$svc" == clickhouse ]]; then
    # One server is also a one-node cluster in remote_servers, as a server the Altinity
    # operator runs always is: what `migrate` must refuse when CLICKHOUSE_CLUSTER names it over
    # the single-server table. No ZooKeeper, so no ON CLUSTER DDL runs here.
    cluster_config="$(printf '    <remote_servers>\n        <%s>\n            <shard><replica><host>127.0.0.1</host><port>%s</port></replica></shard>\n        </%s>\n    </remote_servers>' \
      "$CLICKHOUSE_SINGLE_NODE_CLUSTER" "$(node_port "$svc" TCP_PORT)" "$CLICKHOUSE_SINGLE_NODE_CLUSTER")"
  fi
  if [[ "$svc" == clickhouse-* ]]; then
    node="${svc#clickhouse-}"
    cache="$CLICKHOUSE_CLUSTER_CACHE_BYTES"
    cluster_config="$(render_template clickhouse/cluster.xml \
      SHARD="$(((node - 1) / CLICKHOUSE_REPLICAS + 1))" REPLICA="$svc" \
      ZOOKEEPER_PORT="$ZOOKEEPER_PORT" REMOTE_SERVERS="$(clickhouse_remote_servers)")"
  fi
  mkdir -p "$dir/data" "$dir/tmp" "$dir/logs" "$dir/user_files" "$dir/format_schemas"
  https_port="$(node_port "$svc" HTTPS_PORT)"
  if security_enabled && [[ -n "$https_port" ]]; then
    https_config="$(render_template clickhouse/https.xml HTTPS_PORT="$https_port" \
      CERT="$(security_dir)/broker.crt" KEY="$(security_dir)/broker.key" CA="$(security_dir)/ca.pem")"
  fi
  render_template clickhouse/config.xml DIR="$dir" HTTP_PORT="$(node_port "$svc" HTTP_PORT)" \
    TCP_PORT="$(node_port "$svc" TCP_PORT)" \
    INTERSERVER_PORT="$(node_port "$svc" INTERSERVER_PORT)" \
    EXTRA_LISTEN_HOST="$extra_host" CACHE_SIZE="$cache" CLUSTER_CONFIG="$cluster_config" \
    HTTPS_CONFIG="$https_config" >"$dir/config.xml"
  if security_enabled; then
    load_credentials
    # ClickHouse 18.16 has no GRANTs: both users are confined to one database, and the
    # consumer's profile forbids DDL (allow_ddl=0), so it may insert and select but not
    # create, alter, truncate or drop; the migration user may.
    service_user="$(
      render_template clickhouse/service-user.xml USER="$CLICKHOUSE_SERVICE_USER" \
        PROFILE=consumer \
        PASSWORD_SHA256="$(printf '%s' "$CLICKHOUSE_SERVICE_PASSWORD" | sha256sum | cut -d' ' -f1)"
      render_template clickhouse/service-user.xml USER="$CLICKHOUSE_MIGRATE_USER" \
        PROFILE=default \
        PASSWORD_SHA256="$(printf '%s' "$CLICKHOUSE_MIGRATE_PASSWORD" | sha256sum | cut -d' ' -f1)"
    )"
  fi
  # Without the service user its line stays empty.
  render_template clickhouse/users.xml SERVICE_USER="$service_user" EXTRA_NETWORK="$extra_network" >"$dir/users.xml"
}

start_clickhouse() { # start_clickhouse SERVICE
  write_clickhouse_config "$1"
  launch "$1" clickhouse-server "--config-file=$(svc_dir "$1")/config.xml"
}

clickhouse_ready() { # clickhouse_ready SERVICE
  [[ "$(curl -fsS --max-time 3 "http://127.0.0.1:$(node_port "${1:-clickhouse}" HTTP_PORT)/ping" 2>/dev/null)" == "Ok." ]]
}

clickhouse_log_files() { # clickhouse_log_files SERVICE
  printf '%s\n' "$(svc_dir "$1")/logs/clickhouse-server.err.log" "$(svc_dir "$1")/stdout.log"
}

# --- ZooKeeper (cluster mode) ------------------------------------------------------------------

# Debian's package; its jar's manifest names the libraries it needs.
ZOOKEEPER_JAR="${ZOOKEEPER_JAR:-/usr/share/java/zookeeper.jar}"

start_zookeeper() {
  local dir
  dir="$(svc_dir zookeeper)"
  [[ -f "$ZOOKEEPER_JAR" ]] || die "no $ZOOKEEPER_JAR: install Debian's zookeeper package (scripts/infra/install.sh)"
  mkdir -p "$dir/data"
  render_template zookeeper/zoo.cfg DIR="$dir" PORT="$ZOOKEEPER_PORT" >"$dir/zoo.cfg"
  launch zookeeper java -Xms64m -Xmx256m -Dzookeeper.admin.enableServer=false \
    -cp "$ZOOKEEPER_JAR" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg"
}

zookeeper_ready() {
  local reply=''
  reply="$(exec 3<>"/dev/tcp/127.0.0.1/$ZOOKEEPER_PORT" && printf 'ruok' >&3 && timeout 3 head -c 4 <&3)" 2>/dev/null || return 1
  [[ "$reply" == imok ]]
}

zookeeper_log_files() { printf '%s\n' "$(svc_dir zookeeper)/stdout.log"; }
