# shellcheck shell=bash
# Shared helpers of scripts/infra/*.sh. Sourced, never executed.
#
# State dir layout ($INFRA_DIR, default <repo>/.infra):
#   env                     KEY=VALUE lines for the app and the tests (shell-sourceable, dotenv-like)
#   ports                   ports chosen by the first `up` (reused by service.sh start)
#   .lock                   flock(1) lock serialising up/down/service on this dir
#   redis/      redis.conf  pid  stdout.log  redis.log  data/
#   clickhouse/ config.xml  users.xml  pid  stdout.log  logs/  data/  tmp/
#   kafka/      server.properties  pid  stdout.log  logs/server.log  data/
#   kafka-1/ .. kafka-N/        the same per node, instead of kafka/, when INFRA_KAFKA_NODES=N > 1
#   security/   (INFRA_SECURITY=1 only) test CA, broker key and certificate, credentials
#
# INFRA_KAFKA_NODES=N (default 1; given to the first `up` of a state dir, then remembered in
# `ports`) runs N Kafka nodes, each a combined broker + controller, with the internal topics
# replicated 3 times (fewer nodes: once per node) and min.insync.replicas=2 from 3 nodes on, so
# that a test can kill or stop one node and keep producing with acks=all. One node keeps the
# service name `kafka` and its set-up of old; more are named kafka-1 .. kafka-N.
#
# Every Kafka node also has a listener named PROXIED: bound to one loopback port, it advertises
# another one, where nothing listens until a test starts a TCP proxy there that forwards to the
# bound port. A client bootstrapping from the advertised addresses (KAFKA_PROXIED_BROKERS in
# `env`) is then sent back to the proxies by every Metadata answer, so the test can freeze or
# cut the network between that client and Kafka without touching the brokers, whose own
# traffic goes over PLAINTEXT.
#
# INFRA_SECURITY=1 (given to the first `up` of a state dir, then remembered in `ports`) adds
# what the security tests need on top of the plain set-up, which stays as it is for the
# tests' own admin work: Kafka SASL_PLAINTEXT and SASL_SSL listeners (SCRAM-SHA-512/256
# and PLAIN users, a certificate from a throw-away CA, the StandardAuthorizer with ACLs
# enforced; the PLAINTEXT listener's anonymous principal and user `admin` are super
# users) and a ClickHouse user with a password. Credentials are random per state dir.

INFRA_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$INFRA_SCRIPTS/../.." && pwd -P)"
export INFRA_SCRIPTS REPO_ROOT

# shellcheck source=versions.env
. "$INFRA_SCRIPTS/versions.env"

INFRA_CACHE_DIR="${INFRA_CACHE_DIR:-$REPO_ROOT/.cache}"
KAFKA_HOME="$INFRA_CACHE_DIR/kafka/$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_LIBS_MARKER="$KAFKA_HOME/.complete"

# The services of this state dir, in start order; load_ports sets it for INFRA_KAFKA_NODES.
# shellcheck disable=SC2034 # used by the scripts that source this file
ALL_SERVICES=(redis clickhouse kafka)

# Readiness timeouts (seconds).
INFRA_TIMEOUT_REDIS="${INFRA_TIMEOUT_REDIS:-20}"
INFRA_TIMEOUT_CLICKHOUSE="${INFRA_TIMEOUT_CLICKHOUSE:-60}"
INFRA_TIMEOUT_KAFKA="${INFRA_TIMEOUT_KAFKA:-120}"
# Graceful stop timeout (seconds) before SIGKILL.
INFRA_STOP_TIMEOUT="${INFRA_STOP_TIMEOUT:-30}"
# Max heap of each Kafka node (-Xms128m): a node takes ~250 MB resident once started, so that
# INFRA_KAFKA_NODES=3 (which must start together: no quorum before 2 of 3 run) fits easily.
KAFKA_HEAP="${KAFKA_HEAP:-512m}"

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

# The Kafka services for INFRA_KAFKA_NODES: `kafka` alone (as before there could be more), else
# kafka-1 .. kafka-N.
kafka_services() {
  local i
  if ((INFRA_KAFKA_NODES == 1)); then
    printf '%s\n' kafka
    return 0
  fi
  for ((i = 1; i <= INFRA_KAFKA_NODES; i++)); do printf 'kafka-%d\n' "$i"; done
}

kafka_node_id() { # kafka -> 1, kafka-3 -> 3
  local id="${1#kafka}"
  id="${id#-}"
  printf '%s' "${id:-1}"
}

# The services a service.sh argument stands for: `kafka` is every Kafka node, kafka-I is node I
# (with a single node kafka-1 is `kafka`, so a test can name node 1 whatever the node count).
# Prints nothing for a node this state dir does not have.
resolve_services() {
  case "$1" in
    redis | clickhouse) printf '%s\n' "$1" ;;
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
  for dir in "$INFRA_DIR"/kafka-[1-9]*; do
    [[ -d "$dir" ]] && printf '%s\n' "${dir##*/}"
  done
  return 0
}

# Removes everything up.sh creates in the state dir (other content, e.g. .infra/test, stays).
remove_state() {
  local svc
  for svc in $(state_services); do rm -rf "$(svc_dir "$svc")"; done
  rm -rf "$INFRA_DIR/security" "$ENV_FILE" "$PORTS_FILE"
}

# ---------------------------------------------------------------------------------------------
# Ports

# Print N distinct free TCP ports on 127.0.0.1, chosen at random in 20000..32767 (below Linux's
# ephemeral range, so outgoing connections cannot grab them while a service is stopped).
free_ports() {
  node -e '
    const net = require("node:net");
    const want = Number(process.argv[1]);
    const got = new Set();
    const tryOne = () => {
      if (got.size === want) { console.log([...got].join(" ")); return; }
      const port = 20000 + Math.floor(Math.random() * 12768);
      if (got.has(port)) return tryOne();
      const s = net.createServer();
      s.once("error", () => tryOne());
      s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => { got.add(port); tryOne(); }));
    };
    tryOne();
  ' "$1"
}

# Name of a Kafka node's port variable in `ports`: KIND is PORT (PLAINTEXT), CONTROLLER_PORT,
# PROXIED_PORT (where the PROXIED listener binds) or PROXIED_ADVERTISED_PORT (where it sends
# clients). `kafka` keeps the names of old (KAFKA_PORT, ...), kafka-2 has KAFKA_2_PORT, ...
kafka_port_name() { # kafka_port_name SERVICE KIND
  local id="${1#kafka}"
  id="${id#-}"
  printf 'KAFKA_%s%s' "${id:+${id}_}" "$2"
}

kafka_port() { # kafka_port SERVICE KIND -> the port (empty if `ports` has none)
  local name
  name="$(kafka_port_name "$1" "$2")"
  printf '%s' "${!name:-}"
}

# Picks the ports of a fresh start for INFRA_KAFKA_NODES and INFRA_SECURITY and writes `ports`.
choose_ports() {
  local ports count svc kind i=0
  count=$((4 * INFRA_KAFKA_NODES + 4))
  security_enabled && count=$((count + 2))
  read -r -a ports <<<"$(free_ports "$count")"
  [[ ${#ports[@]} -eq $count ]] || die "could not find free ports"
  {
    # Every node's storage is formatted with this id, so that they form one cluster.
    printf 'INFRA_KAFKA_NODES=%s\nKAFKA_CLUSTER_ID=%s\n' "$INFRA_KAFKA_NODES" "$(new_kafka_cluster_id)"
    for svc in $(kafka_services); do
      for kind in PORT CONTROLLER_PORT PROXIED_PORT PROXIED_ADVERTISED_PORT; do
        printf '%s=%s\n' "$(kafka_port_name "$svc" "$kind")" "${ports[i++]}"
      done
    done
    cat <<EOF
REDIS_PORT=${ports[i]}
CLICKHOUSE_HTTP_PORT=${ports[i + 1]}
CLICKHOUSE_TCP_PORT=${ports[i + 2]}
CLICKHOUSE_INTERSERVER_PORT=${ports[i + 3]}
EOF
    if security_enabled; then
      cat <<EOF
INFRA_SECURITY=1
KAFKA_SASL_PORT=${ports[i + 4]}
KAFKA_SASL_SSL_PORT=${ports[i + 5]}
EOF
    fi
  } >"$PORTS_FILE"
}

security_enabled() { [[ "${INFRA_SECURITY:-0}" == 1 ]]; }

# ---------------------------------------------------------------------------------------------
# Security material (INFRA_SECURITY=1): made once per state dir and kept across restarts (the
# SCRAM credentials are written into Kafka's storage when it is formatted).

security_dir() { printf '%s/security' "$INFRA_DIR"; }

write_security_material() {
  local dir out
  dir="$(security_dir)"
  [[ -f "$dir/credentials" ]] && return 0
  command -v openssl >/dev/null || die "openssl is required for INFRA_SECURITY=1"
  mkdir -p "$dir"
  chmod 700 "$dir"
  if ! out="$(
    set -e
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout ca.key -out ca.pem \
      -subj "/CN=realtime-offers test CA" 2>&1
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout other-ca.key -out other-ca.pem \
      -subj "/CN=an unrelated CA" 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=localhost" 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile broker.ext -out broker.crt 2>&1
    # Kafka's PEM keystore: the unencrypted PKCS#8 key followed by the certificate chain.
    cat broker.key broker.crt >broker-keystore.pem
  )"; then
    printf '%s\n' "$out" >&2
    die "creating the test certificates failed"
  fi
  (
    umask 077
    cat >"$dir/credentials" <<EOF
KAFKA_SERVICE_USER=offers
KAFKA_SERVICE_PASSWORD=$(openssl rand -hex 24)
KAFKA_ADMIN_USER=admin
KAFKA_ADMIN_PASSWORD=$(openssl rand -hex 24)
CLICKHOUSE_SERVICE_USER=offers
CLICKHOUSE_SERVICE_PASSWORD=$(openssl rand -hex 24)
EOF
  )
}

load_credentials() {
  # shellcheck source=/dev/null
  . "$(security_dir)/credentials"
}

# Loads `ports` and sets INFRA_KAFKA_NODES (a `ports` without it is from one node) and
# ALL_SERVICES from it.
load_ports() {
  [[ -f "$PORTS_FILE" ]] || die "no $PORTS_FILE: run scripts/infra/up.sh first"
  INFRA_KAFKA_NODES=1
  # shellcheck source=/dev/null
  . "$PORTS_FILE"
  [[ "$INFRA_KAFKA_NODES" =~ ^[1-9][0-9]*$ ]] || die "bad INFRA_KAFKA_NODES in $PORTS_FILE"
  # shellcheck disable=SC2034 # used by the scripts that source this file
  mapfile -t ALL_SERVICES < <(printf '%s\n' redis clickhouse && kafka_services)
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_env_file() {
  local tmp="$ENV_FILE.tmp.$$" svc brokers='' proxied='' targets='' have_proxied=1
  for svc in $(kafka_services); do
    brokers+="${brokers:+,}127.0.0.1:$(kafka_port "$svc" PORT)"
    [[ -n "$(kafka_port "$svc" PROXIED_PORT)" ]] || have_proxied=0
    proxied+="${proxied:+,}127.0.0.1:$(kafka_port "$svc" PROXIED_ADVERTISED_PORT)"
    targets+="${targets:+,}127.0.0.1:$(kafka_port "$svc" PROXIED_PORT)"
  done
  cat >"$tmp" <<EOF
# Local test infrastructure, written by scripts/infra/up.sh (state dir: $INFRA_DIR).
KAFKA_BROKERS=$brokers
REDIS_URL=redis://127.0.0.1:$REDIS_PORT
CLICKHOUSE_URL=http://127.0.0.1:$CLICKHOUSE_HTTP_PORT
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
KAFKA_TEST_CA_FILE=$(security_dir)/ca.pem
KAFKA_TEST_OTHER_CA_FILE=$(security_dir)/other-ca.pem
KAFKA_SERVICE_USER=$KAFKA_SERVICE_USER
KAFKA_SERVICE_PASSWORD=$KAFKA_SERVICE_PASSWORD
KAFKA_ADMIN_USER=$KAFKA_ADMIN_USER
KAFKA_ADMIN_PASSWORD=$KAFKA_ADMIN_PASSWORD
CLICKHOUSE_SERVICE_USER=$CLICKHOUSE_SERVICE_USER
CLICKHOUSE_SERVICE_PASSWORD=$CLICKHOUSE_SERVICE_PASSWORD
CLICKHOUSE_SERVICE_DATABASE=offers
EOF
    chmod 600 "$tmp"
  fi
  mv -f "$tmp" "$ENV_FILE"
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
# Per-service configuration, start and readiness

write_redis_config() {
  local dir
  dir="$(svc_dir redis)"
  mkdir -p "$dir/data"
  cat >"$dir/redis.conf" <<EOF
# Generated by scripts/infra (ports/paths are per state dir). Append-only file on, as a
# production Redis would have it, so a stopped and restarted Redis comes back with its keys.
port $REDIS_PORT
bind 127.0.0.1
protected-mode yes
daemonize no
set-proc-title no
dir $dir/data
logfile $dir/redis.log
loglevel notice
save ""
appendonly yes
appendfsync everysec
databases 16
EOF
}

write_clickhouse_config() {
  local dir
  dir="$(svc_dir clickhouse)"
  mkdir -p "$dir/data" "$dir/tmp" "$dir/logs" "$dir/user_files" "$dir/format_schemas"
  cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/infra for clickhouse-server 18.16: everything under this state dir. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$dir/logs/clickhouse-server.log</log>
        <errorlog>$dir/logs/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$CLICKHOUSE_HTTP_PORT</http_port>
    <tcp_port>$CLICKHOUSE_TCP_PORT</tcp_port>
    <interserver_http_port>$CLICKHOUSE_INTERSERVER_PORT</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <max_connections>512</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <!-- On SIGTERM wait at most 1 s for open connections/queries (fast fault-injection stops). -->
    <shutdown_wait_unfinished>1</shutdown_wait_unfinished>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
  local service_user=''
  if security_enabled; then
    load_credentials
    # ClickHouse 18.16 has no GRANTs: the service user is confined to one database.
    service_user="        <$CLICKHOUSE_SERVICE_USER>
            <password_sha256_hex>$(printf '%s' "$CLICKHOUSE_SERVICE_PASSWORD" | sha256sum | cut -d' ' -f1)</password_sha256_hex>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
            <allow_databases>
                <database>offers</database>
            </allow_databases>
        </$CLICKHOUSE_SERVICE_USER>"
  fi
  cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/infra: user "default", no password, loopback only. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
        <readonly>
            <readonly>1</readonly>
        </readonly>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
$service_user
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

write_kafka_config() { # write_kafka_config SERVICE
  local svc="$1" dir node s voters='' listeners advertised protocols port cport pport aport rf isr
  dir="$(svc_dir "$svc")"
  node="$(kafka_node_id "$svc")"
  mkdir -p "$dir/data" "$dir/logs"
  for s in $(kafka_services); do
    voters+="${voters:+,}$(kafka_node_id "$s")@127.0.0.1:$(kafka_port "$s" CONTROLLER_PORT)"
  done
  port="$(kafka_port "$svc" PORT)"
  cport="$(kafka_port "$svc" CONTROLLER_PORT)"
  pport="$(kafka_port "$svc" PROXIED_PORT)"
  aport="$(kafka_port "$svc" PROXIED_ADVERTISED_PORT)"
  listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  advertised="PLAINTEXT://127.0.0.1:$port"
  protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  # PROXIED advertises another port than it binds (see the top of this file). A state dir
  # started before this listener existed has no ports for it in `ports`: it goes without.
  if [[ -n "$pport" ]]; then
    listeners+=",PROXIED://127.0.0.1:$pport"
    advertised+=",PROXIED://127.0.0.1:$aport"
    protocols+=",PROXIED:PLAINTEXT"
  fi
  if security_enabled; then
    listeners+=",SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT"
    advertised+=",SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT"
    protocols+=",SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
  fi
  # Internal topics on up to 3 nodes, their min ISR up to 2: one node keeps the values of old.
  rf=$((INFRA_KAFKA_NODES < 3 ? INFRA_KAFKA_NODES : 3))
  isr=$((INFRA_KAFKA_NODES < 2 ? INFRA_KAFKA_NODES : 2))
  cat >"$dir/server.properties" <<EOF
# Generated by scripts/infra: KRaft node $node of $INFRA_KAFKA_NODES, combined broker + controller, on loopback.
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$protocols
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$rf
auto.create.topics.enable=${KAFKA_AUTO_CREATE_TOPICS:-false}
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
# A broker restarted after SIGKILL must wait for its old session to expire (default 9 s); in a
# cluster, the controller fences a killed node and moves its leaderships after this time.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
EOF
  if ((INFRA_KAFKA_NODES >= 3)); then
    cat >>"$dir/server.properties" <<EOF
# acks=all needs 2 copies: a test can take one node down and keep producing, not two.
min.insync.replicas=2
EOF
  fi
  if security_enabled; then
    load_credentials
    local listener scram='org.apache.kafka.common.security.scram.ScramLoginModule required;'
    cat >>"$dir/server.properties" <<EOF
# INFRA_SECURITY=1: SASL listeners (SCRAM or PLAIN over plain TCP, and over TLS), ACLs enforced.
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
ssl.keystore.type=PEM
ssl.keystore.location=$(security_dir)/broker-keystore.pem
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
# The controller and the broker talk over PLAINTEXT as ANONYMOUS, so it must be a super user;
# that listener (and PROXIED, the same) serves the infrastructure and the tests only.
super.users=User:ANONYMOUS;User:$KAFKA_ADMIN_USER
EOF
    for listener in sasl_plaintext sasl_ssl; do
      cat >>"$dir/server.properties" <<EOF
listener.name.$listener.scram-sha-512.sasl.jaas.config=$scram
listener.name.$listener.scram-sha-256.sasl.jaas.config=$scram
listener.name.$listener.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SERVICE_USER="$KAFKA_SERVICE_PASSWORD" user_$KAFKA_ADMIN_USER="$KAFKA_ADMIN_PASSWORD";
EOF
    done
  fi
}

# Sets KAFKA_CMD to a java command line running MAINCLASS on the cached Kafka class path.
kafka_cmd() { # kafka_cmd SERVICE LOGFILE MAINCLASS ARGS...
  local dir logfile="$2"
  dir="$(svc_dir "$1")"
  shift 2
  KAFKA_CMD=(java "-Xmx$KAFKA_HEAP" -Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dkafka.logs.dir=$dir/logs" "-Dkafka.log.file=$logfile"
    "-Dlog4j2.configurationFile=$INFRA_SCRIPTS/kafka/log4j2.properties"
    -cp "$KAFKA_LIBS/*" "$@")
}

# A Kafka cluster id is a base64url-encoded random 16-byte UUID (22 chars, no padding); like
# Kafka's own generator, avoid a leading '-' (it would read as a command-line option).
new_kafka_cluster_id() {
  local cluster_id=-
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  printf '%s' "$cluster_id"
}

kafka_format_storage() { # kafka_format_storage SERVICE
  local svc="$1" dir cluster_id out
  dir="$(svc_dir "$svc")"
  [[ -f "$dir/data/meta.properties" ]] && return 0
  # `ports` of a state dir started before KAFKA_CLUSTER_ID was kept there: a single node.
  cluster_id="${KAFKA_CLUSTER_ID:-$(new_kafka_cluster_id)}"
  local scram_args=()
  if security_enabled; then
    load_credentials
    scram_args=(
      --add-scram "SCRAM-SHA-512=[name=$KAFKA_SERVICE_USER,password=$KAFKA_SERVICE_PASSWORD]"
      --add-scram "SCRAM-SHA-256=[name=$KAFKA_SERVICE_USER,password=$KAFKA_SERVICE_PASSWORD]"
      --add-scram "SCRAM-SHA-512=[name=$KAFKA_ADMIN_USER,password=$KAFKA_ADMIN_PASSWORD]"
    )
  fi
  kafka_cmd "$svc" storage.log kafka.tools.StorageTool format --ignore-formatted \
    -t "$cluster_id" -c "$dir/server.properties" "${scram_args[@]}"
  if ! out="$("${KAFKA_CMD[@]}" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "formatting the storage of $svc failed (see above and $dir/logs/storage.log)"
  fi
}

start_service() {
  local svc="$1" dir
  dir="$(svc_dir "$svc")"
  mkdir -p "$dir"
  if security_enabled; then write_security_material; fi
  : >"$dir/stdout.log"
  case "$svc" in
    redis)
      write_redis_config
      launch redis redis-server "$dir/redis.conf"
      ;;
    clickhouse)
      write_clickhouse_config
      launch clickhouse clickhouse-server "--config-file=$dir/config.xml"
      ;;
    kafka | kafka-*)
      [[ -f "$KAFKA_LIBS_MARKER" ]] || die "Kafka $KAFKA_VERSION jars missing: run scripts/infra/install.sh"
      write_kafka_config "$svc"
      kafka_format_storage "$svc"
      kafka_cmd "$svc" server.log kafka.Kafka "$dir/server.properties"
      launch "$svc" "${KAFKA_CMD[@]}"
      ;;
  esac
}

svc_port() {
  case "$1" in
    redis) printf '%s' "$REDIS_PORT" ;;
    clickhouse) printf '%s' "$CLICKHOUSE_HTTP_PORT" ;;
    kafka | kafka-*) kafka_port "$1" PORT ;;
  esac
}

# Readiness probe for the Kafka broker in plain Kafka wire protocol (node, no npm packages; kept
# inline so that the repo's eslint, which type-checks every *.js/*.mjs file, does not see it).
#   kafka_probe HOST:PORT [timeoutMs] [nodeId]
# Exit 0 when the broker answers ApiVersions, then a Metadata request listing at least one broker
# (with nodeId: that node, i.e. the probed node has registered, or re-registered after a restart,
# and is not fenced) and a controller id, then FindCoordinator for a consumer group and InitProducerId without error.
# The last two warm the broker up: it creates __consumer_offsets and fetches its first block of
# producer ids, so a test's first consumer group / idempotent producer does not get (and log)
# COORDINATOR_NOT_AVAILABLE / COORDINATOR_LOAD_IN_PROGRESS.
# Exit 1 otherwise (connection refused, timeout, no broker registered yet, coordinator loading).
kafka_probe() {
  node --input-type=module - "$@" <<'JS'
import net from 'node:net';

const [target = '', timeoutArg = '2000', nodeArg = ''] = process.argv.slice(2);
const sep = target.lastIndexOf(':');
const host = target.slice(0, sep);
const port = Number(target.slice(sep + 1));
const timeoutMs = Number(timeoutArg);
if (sep <= 0 || !Number.isInteger(port)) {
  console.error('usage: kafka_probe HOST:PORT [timeoutMs] [nodeId]');
  process.exit(2);
}

const API_METADATA = 3;
const API_FIND_COORDINATOR = 10;
const API_INIT_PRODUCER_ID = 22;
const API_VERSIONS = 18;
const CLIENT_ID = Buffer.from('infra-ready');

function request(apiKey, apiVersion, correlationId, body) {
  const header = Buffer.alloc(10);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(CLIENT_ID.length, 8);
  const payload = Buffer.concat([header, CLIENT_ID, body]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length, 0);
  return Buffer.concat([size, payload]);
}

class Reader {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
  }
  int8() {
    const v = this.buf.readInt8(this.pos);
    this.pos += 1;
    return v;
  }
  int16() {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32() {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  string() {
    const len = this.int16();
    if (len < 0) return null;
    const v = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return v;
  }
}

function probe() {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let pending = Buffer.alloc(0);
    let step = 0;
    let metadataVersion = 0;
    let coordinatorRange = null;
    let coordinatorVersion = 0;
    let producerIdRange = null;
    let info = null;
    const timer = setTimeout(() => fail(new Error(`timeout after ${timeoutMs}ms`)), timeoutMs);
    function fail(err) {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    function done(value) {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    }
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
    socket.on('connect', () => socket.write(request(API_VERSIONS, 0, 1, Buffer.alloc(0))));
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const frame = pending.subarray(4, 4 + pending.readInt32BE(0));
        pending = pending.subarray(4 + frame.length);
        try {
          handle(new Reader(frame));
        } catch (err) {
          fail(err);
        }
      }
    });
    function handle(r) {
      r.int32(); // correlation id
      if (step === 0) handleApiVersions(r);
      else if (step === 1) handleMetadata(r);
      else if (step === 2) handleCoordinator(r);
      else handleProducerId(r);
    }
    function handleApiVersions(r) {
      const errorCode = r.int16();
      if (errorCode !== 0) throw new Error(`ApiVersions error ${errorCode}`);
      const n = r.int32();
      let range = null;
      for (let i = 0; i < n; i++) {
        const key = r.int16();
        const min = r.int16();
        const max = r.int16();
        if (key === API_METADATA) range = { min, max };
        if (key === API_FIND_COORDINATOR) coordinatorRange = { min, max };
        if (key === API_INIT_PRODUCER_ID) producerIdRange = { min, max };
      }
      if (!range) throw new Error('broker does not list the Metadata API');
      // Use the lowest supported version in 4..8 (non-flexible encoding, same leading layout).
      metadataVersion = Math.max(4, range.min);
      if (metadataVersion > Math.min(8, range.max)) {
        throw new Error(`unsupported Metadata versions ${range.min}..${range.max}`);
      }
      const body = Buffer.alloc(metadataVersion >= 8 ? 7 : 5);
      body.writeInt32BE(-1, 0); // all topics
      body.writeInt8(0, 4); // allow_auto_topic_creation = false (v8+: two more false flags)
      socket.write(request(API_METADATA, metadataVersion, 2, body));
      step = 1;
    }
    function handleMetadata(r) {
      r.int32(); // throttle_time_ms (v3+)
      const brokers = [];
      const nBrokers = r.int32();
      for (let i = 0; i < nBrokers; i++) {
        const nodeId = r.int32();
        const brokerHost = r.string();
        const brokerPort = r.int32();
        r.string(); // rack
        brokers.push(`${nodeId}@${brokerHost}:${brokerPort}`);
      }
      const clusterId = r.string();
      const controllerId = r.int32();
      if (brokers.length === 0 || controllerId < 0) throw new Error('no broker registered yet');
      if (nodeArg !== '' && !brokers.some((b) => b.startsWith(`${nodeArg}@`))) {
        throw new Error(`node ${nodeArg} not among the brokers yet: ${brokers.join(' ')}`);
      }
      info = { clusterId, controllerId, brokers };
      // FindCoordinator v0..v2 (non-flexible): v0 body = group id; v1+ adds key_type (0 = group).
      if (!coordinatorRange || coordinatorRange.min > 2) return done(info);
      coordinatorVersion = coordinatorRange.min;
      const group = Buffer.from('infra-ready');
      const body = Buffer.alloc(2 + group.length + (coordinatorVersion >= 1 ? 1 : 0));
      body.writeInt16BE(group.length, 0);
      group.copy(body, 2);
      socket.write(request(API_FIND_COORDINATOR, coordinatorVersion, 3, body));
      step = 2;
    }
    function handleCoordinator(r) {
      if (coordinatorVersion >= 1) r.int32(); // throttle_time_ms
      const errorCode = r.int16();
      if (errorCode !== 0) throw new Error(`group coordinator not available yet (error ${errorCode})`);
      // InitProducerId v0 without transactional id, as an idempotent producer sends it: the
      // broker answers COORDINATOR_LOAD_IN_PROGRESS until it has its first producer id block.
      if (!producerIdRange || producerIdRange.min > 0) return done(info);
      const body = Buffer.alloc(6);
      body.writeInt16BE(-1, 0); // transactional_id = null
      body.writeInt32BE(60000, 2); // transaction_timeout_ms
      socket.write(request(API_INIT_PRODUCER_ID, 0, 4, body));
      step = 3;
    }
    function handleProducerId(r) {
      r.int32(); // throttle_time_ms
      const errorCode = r.int16();
      if (errorCode !== 0) throw new Error(`producer ids not available yet (error ${errorCode})`);
      done(info);
    }
  });
}

try {
  const info = await probe();
  console.log(JSON.stringify(info));
  process.exit(0);
} catch (err) {
  console.error(
    `kafka not ready at ${target}: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exit(1);
}
JS
}

svc_check() { # one readiness probe
  case "$1" in
    redis) [[ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] ;;
    clickhouse) [[ "$(curl -fsS --max-time 3 "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping" 2>/dev/null)" == "Ok." ]] ;;
    kafka | kafka-*) kafka_probe "127.0.0.1:$(kafka_port "$1" PORT)" 3000 "$(kafka_node_id "$1")" >/dev/null 2>&1 ;;
  esac
}

svc_logs() { # log files worth showing when a service fails
  local dir
  dir="$(svc_dir "$1")"
  case "$1" in
    redis) printf '%s\n' "$dir/redis.log" "$dir/stdout.log" ;;
    clickhouse) printf '%s\n' "$dir/logs/clickhouse-server.err.log" "$dir/stdout.log" ;;
    kafka | kafka-*) printf '%s\n' "$dir/logs/server.log" "$dir/stdout.log" ;;
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
    redis) printf '%s' "$INFRA_TIMEOUT_REDIS" ;;
    clickhouse) printf '%s' "$INFRA_TIMEOUT_CLICKHOUSE" ;;
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

# Fingerprint of what install.sh resolved the Kafka jars from (pom + versions).
kafka_fingerprint() { cat "$INFRA_SCRIPTS/kafka/pom.xml" "$INFRA_SCRIPTS/versions.env" | sha256sum | cut -d' ' -f1; }

# True if install.sh has nothing to do (tools on PATH, Kafka jars cached for this pom/version).
installed() {
  local cmd
  for cmd in redis-server redis-cli clickhouse-server java javac node curl flock setsid; do
    command -v "$cmd" >/dev/null || return 1
  done
  [[ -d "$KAFKA_LIBS" && "$(cat "$KAFKA_LIBS_MARKER" 2>/dev/null)" == "$(kafka_fingerprint)" ]]
}
