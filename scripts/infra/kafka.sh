# shellcheck shell=bash
# Kafka in KRaft mode: nodes and their ports, config (templates/kafka/), storage format, start,
# readiness (kafka-probe.mjs). The jars come from Maven Central (install.sh). Sourced by lib.sh.
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

KAFKA_HOME="$INFRA_CACHE_DIR/kafka/$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_LIBS_MARKER="$KAFKA_HOME/.complete"

# Readiness timeout (seconds).
INFRA_TIMEOUT_KAFKA="${INFRA_TIMEOUT_KAFKA:-120}"
# Max heap of each Kafka node (-Xms128m): a node takes ~250 MB resident once started, so that
# INFRA_KAFKA_NODES=3 (which must start together: no quorum before 2 of 3 run) fits easily.
KAFKA_HEAP="${KAFKA_HEAP:-512m}"

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

# A Kafka node's port kinds (node_port SERVICE KIND): PORT (PLAINTEXT), CONTROLLER_PORT,
# PROXIED_PORT (where the PROXIED listener binds) and PROXIED_ADVERTISED_PORT (where it sends
# clients). `kafka` keeps the names of old (KAFKA_PORT, ...), kafka-2 has KAFKA_2_PORT, ...

# A Kafka cluster id is a base64url-encoded random 16-byte UUID (22 chars, no padding); like
# Kafka's own generator, avoid a leading '-' (it would read as a command-line option).
new_kafka_cluster_id() {
  local cluster_id=-
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  printf '%s' "$cluster_id"
}

# Renders server.properties: the listener lists are put together here, the rest is
# templates/kafka/server.properties plus, when they apply, its fragments for 3+ nodes and for
# INFRA_SECURITY=1.
write_kafka_config() { # write_kafka_config SERVICE
  local svc="$1" dir node s voters='' listeners advertised protocols port cport pport aport rf isr
  dir="$(svc_dir "$svc")"
  node="$(kafka_node_id "$svc")"
  mkdir -p "$dir/data" "$dir/logs"
  for s in $(kafka_services); do
    voters+="${voters:+,}$(kafka_node_id "$s")@127.0.0.1:$(node_port "$s" CONTROLLER_PORT)"
  done
  port="$(node_port "$svc" PORT)"
  cport="$(node_port "$svc" CONTROLLER_PORT)"
  pport="$(node_port "$svc" PROXIED_PORT)"
  aport="$(node_port "$svc" PROXIED_ADVERTISED_PORT)"
  listeners="PLAINTEXT://$INFRA_HOST:$port,CONTROLLER://127.0.0.1:$cport"
  advertised="PLAINTEXT://$INFRA_HOST:$port"
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
    # Mutual TLS (see security.sh); a state dir from before it has no port for it.
    if [[ -n "${KAFKA_SSL_PORT:-}" ]]; then
      listeners+=",SSL://127.0.0.1:$KAFKA_SSL_PORT"
      advertised+=",SSL://127.0.0.1:$KAFKA_SSL_PORT"
      protocols+=",SSL:SSL"
    fi
  fi
  # Internal topics on up to 3 nodes, their min ISR up to 2: one node keeps the values of old.
  rf=$((INFRA_KAFKA_NODES < 3 ? INFRA_KAFKA_NODES : 3))
  isr=$((INFRA_KAFKA_NODES < 2 ? INFRA_KAFKA_NODES : 2))
  {
    render_template kafka/server.properties NODE="$node" NODES="$INFRA_KAFKA_NODES" \
      VOTERS="$voters" LISTENERS="$listeners" ADVERTISED="$advertised" PROTOCOLS="$protocols" \
      DIR="$dir" RF="$rf" ISR="$isr" AUTO_CREATE_TOPICS="${KAFKA_AUTO_CREATE_TOPICS:-false}"
    if ((INFRA_KAFKA_NODES >= 3)); then render_template kafka/min-insync.properties; fi
    if security_enabled; then
      load_credentials
      render_template kafka/security.properties KEYSTORE="$(security_dir)/broker-keystore.pem" \
        ADMIN_USER="$KAFKA_ADMIN_USER"
      local listener
      for listener in sasl_plaintext sasl_ssl; do
        render_template kafka/sasl-listener.properties LISTENER="$listener" \
          SERVICE_USER="$KAFKA_SERVICE_USER" SERVICE_PASSWORD="$KAFKA_SERVICE_PASSWORD" \
          ADMIN_USER="$KAFKA_ADMIN_USER" ADMIN_PASSWORD="$KAFKA_ADMIN_PASSWORD"
      done
      if [[ -n "${KAFKA_SSL_PORT:-}" ]]; then
        render_template kafka/ssl-listener.properties TRUSTSTORE="$(security_dir)/ca.pem"
      fi
    fi
  } >"$dir/server.properties"
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

start_kafka() { # start_kafka SERVICE
  local svc="$1" dir
  dir="$(svc_dir "$svc")"
  [[ -f "$KAFKA_LIBS_MARKER" ]] || die "Kafka $KAFKA_VERSION jars missing: run scripts/infra/install.sh"
  write_kafka_config "$svc"
  kafka_format_storage "$svc"
  kafka_cmd "$svc" server.log kafka.Kafka "$dir/server.properties"
  launch "$svc" "${KAFKA_CMD[@]}"
}

# Readiness probe in plain Kafka wire protocol, see kafka-probe.mjs (node, no npm packages, so
# that it runs before `npm install`):
#   kafka_probe HOST:PORT [timeoutMs] [nodeId]
# Exit 0 when the broker answers and has registered (with nodeId: that node), the group
# coordinator and producer ids are available; exit 1 otherwise.
kafka_probe() { node "$INFRA_SCRIPTS/kafka-probe.mjs" "$@"; }

kafka_ready() { # kafka_ready SERVICE
  kafka_probe "$INFRA_HOST:$(node_port "$1" PORT)" 3000 "$(kafka_node_id "$1")" >/dev/null 2>&1
}

kafka_log_files() { # kafka_log_files SERVICE
  printf '%s\n' "$(svc_dir "$1")/logs/server.log" "$(svc_dir "$1")/stdout.log"
}

# Fingerprint of what install.sh resolved the Kafka jars from (pom + versions).
kafka_fingerprint() { cat "$INFRA_SCRIPTS/kafka/pom.xml" "$INFRA_SCRIPTS/versions.env" | sha256sum | cut -d' ' -f1; }
