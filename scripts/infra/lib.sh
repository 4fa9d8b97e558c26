# shellcheck shell=bash
# Shared helpers of scripts/infra/*.sh. Sourced, never executed: the scripts source this file
# only, and it sources the rest by concern:
#   lib.sh         paths and versions, logging, the state dir and its lock, service names,
#                  ports, the env file, templates, processes, readiness polling
#   security.sh    INFRA_SECURITY=1: test CA, broker certificate, credentials
#   redis.sh       Redis: one node or a cluster (INFRA_REDIS_MODE), redis.conf, start,
#                  readiness, cluster creation
#   clickhouse.sh  ClickHouse: one server or a replicated cluster with ZooKeeper
#                  (INFRA_CLICKHOUSE_MODE), config.xml and users.xml, start, readiness
#   kafka.sh       Kafka nodes (INFRA_KAFKA_NODES) and their ports, server.properties, storage
#                  format, start, readiness (kafka-probe.mjs)
#   templates/     the config files, rendered by render_template
#   kafka-probe.mjs, free-ports.mjs   plain Node (they run before `npm install`), typed with
#                  JSDoc; tsconfig.json here makes eslint and `tsc -p scripts/infra` check them
#
# State dir layout ($INFRA_DIR, default <repo>/.infra):
#   env                     KEY=VALUE lines for the app and the tests (shell-sourceable, dotenv-like)
#   ports                   ports chosen by the first `up` (reused by service.sh start)
#   .lock                   flock(1) lock serialising up/down/service on this dir
#   redis/      redis.conf  pid  stdout.log  redis.log  data/
#   redis-1/ .. redis-6/        the same per node, instead of redis/, when INFRA_REDIS_MODE=cluster
#   clickhouse/ config.xml  users.xml  pid  stdout.log  logs/  data/  tmp/
#   zookeeper/ clickhouse-1/ .. clickhouse-4/   instead of clickhouse/ when
#                           INFRA_CLICKHOUSE_MODE=cluster (zoo.cfg, data/; each server as above)
#   kafka/      server.properties  pid  stdout.log  logs/server.log  data/
#   kafka-1/ .. kafka-N/        the same per node, instead of kafka/, when INFRA_KAFKA_NODES=N > 1
#   security/   (INFRA_SECURITY=1 only) test CAs, server and client keys and certificates,
#               credentials
#
# Given to the first `up` of a state dir, then remembered in `ports`:
#   INFRA_KAFKA_NODES=N (default 1) runs N Kafka nodes kafka-1 .. kafka-N, with their internal
#     topics replicated, so that a test can take one node down (see kafka.sh);
#   INFRA_REDIS_MODE=cluster runs a Redis Cluster of 3 primaries and 3 replicas redis-1 ..
#     redis-6 instead of the single Redis (see redis.sh);
#   INFRA_CLICKHOUSE_MODE=cluster runs ZooKeeper and 2 shards x 2 replicas of ClickHouse
#     clickhouse-1 .. clickhouse-4 instead of the single ClickHouse (see clickhouse.sh);
#   INFRA_SECURITY=1 adds SASL, TLS and mutual-TLS Kafka listeners with ACLs, ClickHouse over
#     HTTPS with a consumer and a migration user, Redis over TLS with an ACL user (see
#     security.sh).

INFRA_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$INFRA_SCRIPTS/../.." && pwd -P)"
export INFRA_SCRIPTS REPO_ROOT

# shellcheck source-path=SCRIPTDIR source=versions.env
. "$INFRA_SCRIPTS/versions.env"

INFRA_CACHE_DIR="${INFRA_CACHE_DIR:-$REPO_ROOT/.cache}"

# The services of this state dir, in start order; load_ports sets it for INFRA_KAFKA_NODES.
# shellcheck disable=SC2034 # used by the scripts that source this file
ALL_SERVICES=(redis clickhouse kafka)

# The address Redis, ClickHouse and Kafka's client listener serve on besides (Kafka: instead of)
# loopback, given to the first `up` of a state dir, then remembered in `ports`. Only for a
# network namespace of their own (scripts/cluster), where it is a bridge that pods reach.
INFRA_HOST="${INFRA_HOST:-127.0.0.1}"
if [[ ! "$INFRA_HOST" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
  printf '[infra] ERROR: INFRA_HOST must be an IPv4 address, not %s\n' "'$INFRA_HOST'" >&2
  exit 1
fi

# Graceful stop timeout (seconds) before SIGKILL.
INFRA_STOP_TIMEOUT="${INFRA_STOP_TIMEOUT:-30}"

# shellcheck source-path=SCRIPTDIR source=security.sh
. "$INFRA_SCRIPTS/security.sh"
# shellcheck source-path=SCRIPTDIR source=redis.sh
. "$INFRA_SCRIPTS/redis.sh"
# shellcheck source-path=SCRIPTDIR source=clickhouse.sh
. "$INFRA_SCRIPTS/clickhouse.sh"
# shellcheck source-path=SCRIPTDIR source=kafka.sh
. "$INFRA_SCRIPTS/kafka.sh"

log() { printf '[infra] %s\n' "$*" >&2; }
die() {
  printf '[infra] ERROR: %s\n' "$*" >&2
  exit 1
}
now_ms() { date +%s%3N; }
elapsed() { # elapsed START_MS -> "1.23s"
  local ms=$(($(now_ms) - $1))
  printf '%d.%02ds' $((ms / 1000)) $((ms % 1000 / 10))
}

# ---------------------------------------------------------------------------------------------
# State dir

# Resolve $INFRA_DIR to an absolute path (relative values are relative to the caller's cwd).
init_infra_dir() {
  local dir="${INFRA_DIR:-$REPO_ROOT/.infra}"
  mkdir -p "$dir"
  INFRA_DIR="$(cd "$dir" && pwd -P)"
  export INFRA_DIR
  # The path ends up in redis.conf, ClickHouse XML and Kafka properties unquoted.
  if [[ "$INFRA_DIR" =~ [[:space:]\"\'\&\<\>\\] ]]; then
    die "INFRA_DIR must not contain whitespace, quotes, &, <, > or backslashes: $INFRA_DIR"
  fi
  ENV_FILE="$INFRA_DIR/env"
  PORTS_FILE="$INFRA_DIR/ports"
}

# Serialise up/down/service.sh invocations on one state dir.
lock_infra_dir() {
  exec 9>"$INFRA_DIR/.lock"
  flock -w 900 9 || die "could not lock $INFRA_DIR/.lock"
}

svc_dir() { printf '%s/%s' "$INFRA_DIR" "$1"; }

# The services a service.sh argument stands for: `kafka` is every Kafka node, kafka-I is node I
# (with a single node kafka-1 is `kafka`, so a test can name node 1 whatever the node count).
# Prints nothing for a node this state dir does not have.
resolve_services() {
  case "$1" in
    clickhouse) clickhouse_services | grep -v '^zookeeper$' ;;
    zookeeper) clickhouse_cluster_mode && printf '%s\n' "$1" ;;
    clickhouse-[1-9]*)
      local server="${1#clickhouse-}"
      [[ "$server" =~ ^[0-9]+$ ]] && clickhouse_cluster_mode && ((server <= $(clickhouse_node_count))) || return 0
      printf '%s\n' "$1"
      ;;
    redis) redis_services ;;
    redis-[1-9]*)
      local node="${1#redis-}"
      [[ "$node" =~ ^[0-9]+$ ]] && redis_cluster_mode && ((node <= REDIS_CLUSTER_NODES)) || return 0
      printf '%s\n' "$1"
      ;;
    kafka) kafka_services ;;
    kafka-[1-9]*)
      local id="${1#kafka-}"
      [[ "$id" =~ ^[0-9]+$ ]] && ((id <= INFRA_KAFKA_NODES)) || return 0
      if ((INFRA_KAFKA_NODES == 1)); then printf '%s\n' kafka; else printf '%s\n' "$1"; fi
      ;;
  esac
}

# Every service that may have left processes or a state dir here, whatever node count this or
# an earlier `up` had (for down.sh and the clean-up before a fresh start).
state_services() {
  local dir
  printf '%s\n' redis clickhouse kafka
  for dir in "$INFRA_DIR"/kafka-[1-9]* "$INFRA_DIR"/redis-[1-9]* "$INFRA_DIR"/clickhouse-[1-9]* "$INFRA_DIR"/zookeeper; do
    [[ -d "$dir" ]] && printf '%s\n' "${dir##*/}"
  done
  return 0
}

# Removes everything up.sh creates in the state dir (other content, e.g. .infra/test, stays).
remove_state() {
  local svc
  for svc in $(state_services); do rm -rf "$(svc_dir "$svc")"; done
  rm -rf "$(security_dir)" "$ENV_FILE" "$PORTS_FILE"
}

# ---------------------------------------------------------------------------------------------
# Ports

# Print N distinct free TCP ports on 127.0.0.1, chosen at random in 20000..32767 (below Linux's
# ephemeral range, so outgoing connections cannot grab them while a service is stopped).
free_ports() { node "$INFRA_SCRIPTS/free-ports.mjs" "$1"; }

# Picks the ports of a fresh start for INFRA_KAFKA_NODES and INFRA_SECURITY and writes `ports`.
choose_ports() {
  local ports count svc kind i=0
  count=$((4 * INFRA_KAFKA_NODES + $(clickhouse_port_count) + $(redis_port_count)))
  security_enabled && count=$((count + 3))
  read -r -a ports <<<"$(free_ports "$count")"
  [[ ${#ports[@]} -eq $count ]] || die "could not find free ports"
  {
    # Every node's storage is formatted with this id, so that they form one cluster.
    printf 'INFRA_KAFKA_NODES=%s\nKAFKA_CLUSTER_ID=%s\n' "$INFRA_KAFKA_NODES" "$(new_kafka_cluster_id)"
    printf 'INFRA_HOST=%s\n' "$INFRA_HOST"
    for svc in $(kafka_services); do
      for kind in PORT CONTROLLER_PORT PROXIED_PORT PROXIED_ADVERTISED_PORT; do
        printf '%s=%s\n' "$(node_port_name "$svc" "$kind")" "${ports[i++]}"
      done
    done
    redis_ports_lines "${ports[@]:i:$(redis_port_count)}"
    i=$((i + $(redis_port_count)))
    clickhouse_ports_lines "${ports[@]:i:$(clickhouse_port_count)}"
    i=$((i + $(clickhouse_port_count)))
    if security_enabled; then
      cat <<EOF
INFRA_SECURITY=1
KAFKA_SASL_PORT=${ports[i]}
KAFKA_SASL_SSL_PORT=${ports[i + 1]}
KAFKA_SSL_PORT=${ports[i + 2]}
EOF
    fi
  } >"$PORTS_FILE"
}

# Loads `ports` and sets INFRA_KAFKA_NODES (a `ports` without it is from one node),
# INFRA_REDIS_MODE (single unless it says cluster) and ALL_SERVICES from it.
load_ports() {
  [[ -f "$PORTS_FILE" ]] || die "no $PORTS_FILE: run scripts/infra/up.sh first"
  INFRA_KAFKA_NODES=1
  INFRA_REDIS_MODE=single
  INFRA_CLICKHOUSE_MODE=single
  INFRA_HOST=127.0.0.1
  # shellcheck source=/dev/null
  . "$PORTS_FILE"
  [[ "$INFRA_KAFKA_NODES" =~ ^[1-9][0-9]*$ ]] || die "bad INFRA_KAFKA_NODES in $PORTS_FILE"
  # shellcheck disable=SC2034 # used by the scripts that source this file
  mapfile -t ALL_SERVICES < <(redis_services && clickhouse_services && kafka_services)
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Name of a node's port variable in `ports`: the service's name in capitals, the node number
# after the first node, then KIND (`redis` PORT -> REDIS_PORT, `redis-2` PORT -> REDIS_2_PORT,
# `clickhouse-3` HTTP_PORT -> CLICKHOUSE_3_HTTP_PORT). Each service's file lists its kinds.
node_port_name() { # node_port_name SERVICE KIND
  local base="${1%%-*}" id=''
  [[ "$1" == *-* ]] && id="${1#*-}_"
  printf '%s_%s%s' "${base^^}" "$id" "$2"
}

node_port() { # node_port SERVICE KIND -> the port (empty if `ports` has none)
  local name
  name="$(node_port_name "$1" "$2")"
  printf '%s' "${!name:-}"
}

svc_port() {
  case "$1" in
    redis | redis-*) node_port "$1" PORT ;;
    clickhouse | clickhouse-*) node_port "$1" HTTP_PORT ;;
    zookeeper) printf '%s' "$ZOOKEEPER_PORT" ;;
    kafka | kafka-*) node_port "$1" PORT ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# The env file

write_env_file() {
  local tmp="$ENV_FILE.tmp.$$" svc brokers='' proxied='' targets='' have_proxied=1
  for svc in $(kafka_services); do
    brokers+="${brokers:+,}$INFRA_HOST:$(node_port "$svc" PORT)"
    [[ -n "$(node_port "$svc" PROXIED_PORT)" ]] || have_proxied=0
    proxied+="${proxied:+,}127.0.0.1:$(node_port "$svc" PROXIED_ADVERTISED_PORT)"
    targets+="${targets:+,}127.0.0.1:$(node_port "$svc" PROXIED_PORT)"
  done
  cat >"$tmp" <<EOF
# Local test infrastructure, written by scripts/infra/up.sh (state dir: $INFRA_DIR).
KAFKA_BROKERS=$brokers
$(redis_env_lines)
$(clickhouse_env_lines)
CLICKHOUSE_USER=default
CLICKHOUSE_PASSWORD=
KAFKA_NODES=$INFRA_KAFKA_NODES
EOF
  # No PROXIED ports in a state dir whose services were started before that listener existed.
  if ((have_proxied)); then
    cat >>"$tmp" <<EOF
# Each node's PROXIED listener: clients bootstrapping from KAFKA_PROXIED_BROKERS are sent back
# there by Metadata, where a test runs TCP proxies forwarding to KAFKA_PROXIED_TARGETS (the
# same order: one per node). Nothing listens on KAFKA_PROXIED_BROKERS until a test does.
KAFKA_PROXIED_BROKERS=$proxied
KAFKA_PROXIED_TARGETS=$targets
EOF
  fi
  if security_enabled; then
    load_credentials
    cat >>"$tmp" <<EOF
# INFRA_SECURITY=1: the listeners and users the security tests connect to.
KAFKA_SASL_BROKERS=127.0.0.1:$KAFKA_SASL_PORT
KAFKA_SASL_SSL_BROKERS=127.0.0.1:$KAFKA_SASL_SSL_PORT
KAFKA_SSL_BROKERS=127.0.0.1:${KAFKA_SSL_PORT:-}
$(security_env_lines)
$(redis_tls_env_lines)
$(clickhouse_tls_env_lines)
KAFKA_TEST_CA_FILE=$(security_dir)/ca.pem
KAFKA_TEST_OTHER_CA_FILE=$(security_dir)/other-ca.pem
KAFKA_SERVICE_USER=$KAFKA_SERVICE_USER
KAFKA_SERVICE_PASSWORD=$KAFKA_SERVICE_PASSWORD
KAFKA_ADMIN_USER=$KAFKA_ADMIN_USER
KAFKA_ADMIN_PASSWORD=$KAFKA_ADMIN_PASSWORD
CLICKHOUSE_SERVICE_USER=$CLICKHOUSE_SERVICE_USER
CLICKHOUSE_SERVICE_PASSWORD=$CLICKHOUSE_SERVICE_PASSWORD
CLICKHOUSE_MIGRATE_USER=$CLICKHOUSE_MIGRATE_USER
CLICKHOUSE_MIGRATE_PASSWORD=$CLICKHOUSE_MIGRATE_PASSWORD
CLICKHOUSE_SERVICE_DATABASE=offers
REDIS_SERVICE_USER=$REDIS_SERVICE_USER
REDIS_SERVICE_PASSWORD=$REDIS_SERVICE_PASSWORD
REDIS_SERVICE_KEY_PREFIX=$REDIS_SERVICE_KEY_PREFIX
EOF
    chmod 600 "$tmp"
  fi
  mv -f "$tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------------------------------------
# Templates

# Prints templates/TEMPLATE with every ${NAME} replaced by the VALUE given as NAME=VALUE, in one
# pass (a value is never itself searched for placeholders). A placeholder without a value is an
# error rather than an empty string, so that a typo cannot leave a config half filled in.
# Values are inserted as they are: callers keep them free of what the format would need escaped
# (init_infra_dir rejects such state dirs; ports, ids and credentials are plain).
render_template() { # render_template TEMPLATE [NAME=VALUE]...
  local file="$INFRA_SCRIPTS/templates/$1" text='' out='' before pair name
  local placeholder='\$\{([A-Za-z_][A-Za-z0-9_]*)\}'
  local -A values=()
  [[ -f "$file" && -r "$file" ]] || die "no template $file"
  shift
  for pair in "$@"; do
    [[ "$pair" == *=* ]] || die "render_template: '$pair' is not NAME=VALUE"
    values[${pair%%=*}]="${pair#*=}"
  done
  # All of it, trailing newline included (read stops at the NUL that never comes: status 1).
  IFS= read -r -d '' text <"$file" || true
  while [[ "$text" =~ $placeholder ]]; do
    name="${BASH_REMATCH[1]}"
    [[ -v "values[$name]" ]] || die "template $file: no value for \${$name}"
    # The leftmost match is the first occurrence of its text.
    before="${text%%"${BASH_REMATCH[0]}"*}"
    out+="$before${values[$name]}"
    text="${text:${#before}+${#BASH_REMATCH[0]}}"
  done
  printf '%s' "$out$text"
}

# ---------------------------------------------------------------------------------------------
# Processes

svc_pid() { # prints the recorded pid of a service, fails if none
  local pid
  pid="$(cat "$(svc_dir "$1")/pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  printf '%s' "$pid"
}

# True if the service's recorded pid is a live (non-zombie) process started for this state dir.
svc_alive() {
  local pid state
  pid="$(svc_pid "$1")" || return 1
  [[ -r "/proc/$pid/stat" ]] || return 1
  state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(svc_dir "$1")/"
}

# PIDs of live processes whose command line contains DIR/ (a service's state dir): finds
# services whose pid file is gone. Pure bash (a grep would match its own command line).
pids_using() { # pids_using DIR
  local needle="$1/" proc pid args
  for proc in /proc/[0-9]*; do
    pid="${proc#/proc/}"
    [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
    mapfile -d '' args 2>/dev/null <"$proc/cmdline" || continue
    [[ "${args[*]}" == *"$needle"* ]] && printf '%s\n' "$pid"
  done
  return 0
}

# SIGKILL processes of this state dir that have no valid pid file (see pids_using).
kill_leftovers() {
  local svc pid
  for svc in $(state_services); do
    while read -r pid; do
      [[ -n "$pid" ]] || continue
      log "killing leftover $svc process $pid"
      kill -KILL "$pid" 2>/dev/null || true
    done < <(pids_using "$(svc_dir "$svc")")
  done
}

# Run a command detached (own session, no inherited stdio) and record its pid.
launch() { # launch SERVICE CMD...
  local svc="$1" dir
  shift
  dir="$(svc_dir "$svc")"
  # fds 8/9 are our flock locks: the service must not inherit (and hold) them.
  (cd "$dir" && exec setsid "$@" >>"$dir/stdout.log" 2>&1 </dev/null 8>&- 9>&-) &
  printf '%s\n' "$!" >"$dir/pid"
}

# Writes the service's config and launches it (does not wait for it to answer).
start_service() {
  local svc="$1" dir
  dir="$(svc_dir "$svc")"
  mkdir -p "$dir"
  if security_enabled; then write_security_material; fi
  : >"$dir/stdout.log"
  case "$svc" in
    redis | redis-*) start_redis "$svc" ;;
    clickhouse | clickhouse-*) start_clickhouse "$svc" ;;
    zookeeper) start_zookeeper ;;
    kafka | kafka-*) start_kafka "$svc" ;;
  esac
}

# Send SIGTERM to the given services, wait up to INFRA_STOP_TIMEOUT s, then SIGKILL the rest
# (INFRA_STOP_TIMEOUT=0: SIGKILL at once).
stop_services() {
  local svc pid t0 deadline how=stopped running=()
  t0="$(now_ms)"
  ((INFRA_STOP_TIMEOUT > 0)) || how=killed
  for svc in "$@"; do
    if svc_alive "$svc"; then
      pid="$(svc_pid "$svc")"
      if [[ "$how" == killed ]]; then kill -KILL "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
      running+=("$svc")
    fi
  done
  deadline=$(($(date +%s) + INFRA_STOP_TIMEOUT))
  for svc in "${running[@]}"; do
    while svc_alive "$svc"; do
      if [[ "$how" == stopped ]] && (($(date +%s) >= deadline)); then
        log "$svc did not stop within ${INFRA_STOP_TIMEOUT}s, killing it"
        kill -KILL "$(svc_pid "$svc")" 2>/dev/null || true
      fi
      sleep 0.1
    done
    rm -f "$(svc_dir "$svc")/pid"
    log "$svc $how ($(elapsed "$t0"))"
  done
}

# ---------------------------------------------------------------------------------------------
# Readiness

svc_check() { # one readiness probe
  case "$1" in
    redis | redis-*) redis_ready "$1" ;;
    clickhouse | clickhouse-*) clickhouse_ready "$1" ;;
    zookeeper) zookeeper_ready ;;
    kafka | kafka-*) kafka_ready "$1" ;;
  esac
}

svc_logs() { # log files worth showing when a service fails
  case "$1" in
    redis | redis-*) redis_log_files "$1" ;;
    clickhouse | clickhouse-*) clickhouse_log_files "$1" ;;
    zookeeper) zookeeper_log_files ;;
    kafka | kafka-*) kafka_log_files "$1" ;;
  esac
}

show_logs() {
  local f
  while IFS= read -r f; do
    if [[ -s "$f" ]]; then
      printf '[infra] ---- tail -n 40 %s\n' "$f" >&2
      tail -n 40 "$f" >&2
    fi
  done < <(svc_logs "$1")
}

svc_timeout() {
  case "$1" in
    redis | redis-*) printf '%s' "$INFRA_TIMEOUT_REDIS" ;;
    clickhouse | clickhouse-*) printf '%s' "$INFRA_TIMEOUT_CLICKHOUSE" ;;
    zookeeper) printf '%s' "$INFRA_TIMEOUT_ZOOKEEPER" ;;
    kafka | kafka-*) printf '%s' "$INFRA_TIMEOUT_KAFKA" ;;
  esac
}

# Poll until the service answers; fail fast if its process exits. Prints the log tail on failure.
wait_ready() { # wait_ready SERVICE START_MS
  local svc="$1" t0="$2" timeout deadline
  timeout="$(svc_timeout "$svc")"
  deadline=$(($(date +%s) + timeout))
  until svc_check "$svc"; do
    if ! svc_alive "$svc"; then
      show_logs "$svc"
      log "$svc exited during startup (state dir: $(svc_dir "$svc"))"
      return 1
    fi
    if (($(date +%s) >= deadline)); then
      show_logs "$svc"
      log "$svc not ready after ${timeout}s on port $(svc_port "$svc") (state dir: $(svc_dir "$svc"))"
      return 1
    fi
    sleep 0.2
  done
  log "$svc ready on 127.0.0.1:$(svc_port "$svc") ($(elapsed "$t0"))"
}

# ---------------------------------------------------------------------------------------------
# Installation

# True if install.sh has nothing to do (tools on PATH, Kafka jars cached for this pom/version).
installed() {
  local cmd
  for cmd in redis-server redis-cli clickhouse-server java javac node curl flock setsid; do
    command -v "$cmd" >/dev/null || return 1
  done
  [[ -f "$ZOOKEEPER_JAR" ]] || return 1
  [[ -d "$KAFKA_LIBS" && "$(cat "$KAFKA_LIBS_MARKER" 2>/dev/null)" == "$(kafka_fingerprint)" ]]
}
