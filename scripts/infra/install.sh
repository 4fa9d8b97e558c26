#!/usr/bin/env bash
# Installs what the local test infrastructure needs. Idempotent; a second run only checks.
#   - Debian packages: redis-server, clickhouse-server, zookeeper (for INFRA_CLICKHOUSE_MODE=cluster),
#     prometheus (its promtool lints /metrics and tests the alert rules; the monitoring test runs
#     a real Prometheus) and java/maven/curl if those are missing
#   - Apache Kafka broker jars ($KAFKA_VERSION from versions.env), resolved with Maven from
#     scripts/infra/kafka/pom.xml into <repo>/.cache/kafka/<version>/libs (git-ignored).
# Usage: scripts/infra/install.sh      (env: INFRA_CACHE_DIR to move .cache elsewhere)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t_start="$(now_ms)"

# --- Debian packages ---------------------------------------------------------------------------
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
[[ -f "$ZOOKEEPER_JAR" ]] || missing+=(zookeeper)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
# javac too: the tests' foreign producer is Kafka's Java client, compiled at first use.
command -v java >/dev/null || missing+=(default-jdk-headless)
command -v javac >/dev/null || missing+=(default-jdk-headless)
command -v mvn >/dev/null || [[ -f "$KAFKA_LIBS_MARKER" ]] || missing+=(maven)
command -v curl >/dev/null || missing+=(curl)
command -v flock >/dev/null || missing+=(util-linux)
command -v setsid >/dev/null || missing+=(util-linux)

if ((${#missing[@]} > 0)); then
  read -r -a missing <<<"$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
  if [[ "$(id -u)" != 0 ]]; then
    log "missing packages: ${missing[*]}"
    log "install them as root, e.g.: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  t0="$(now_ms)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  log "Debian packages installed ($(elapsed "$t0"))"
else
  log "Debian packages present (redis-server, clickhouse-server, zookeeper, prometheus, java, javac, curl)"
fi

command -v node >/dev/null || die "node is required on PATH (make puts the version of .node-version first: make node)"
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
if ! [[ "${java_major:-}" =~ ^[0-9]+$ ]] || ((java_major < 17)); then
  die "Kafka $KAFKA_VERSION needs Java >= 17, found '${java_major:-none}' (apt-get install openjdk-17-jre-headless)"
fi

# --- Kafka jars ---------------------------------------------------------------------------------
pom="$INFRA_SCRIPTS/kafka/pom.xml"
fingerprint="$(kafka_fingerprint)"

kafka_libs_ok() { [[ -d "$KAFKA_LIBS" && "$(cat "$KAFKA_LIBS_MARKER" 2>/dev/null)" == "$fingerprint" ]]; }

if ! kafka_libs_ok; then
  mkdir -p "$KAFKA_HOME"
  exec 8>"$KAFKA_HOME/.lock"
  flock -w 900 8 || die "could not lock $KAFKA_HOME/.lock"
fi
if kafka_libs_ok; then
  log "Kafka $KAFKA_VERSION jars cached: $KAFKA_LIBS ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
else
  command -v mvn >/dev/null || die "mvn is required to fetch the Kafka jars (apt-get install maven)"
  log "resolving Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS"
  t0="$(now_ms)"
  tmp="$KAFKA_HOME/libs.tmp.$$"
  mvn_log="$KAFKA_HOME/mvn.log"
  rm -rf "$tmp"
  if ! mvn -B --no-transfer-progress -f "$pom" \
    "-Dkafka.version=$KAFKA_VERSION" "-Dlog4j.version=$LOG4J_VERSION" \
    dependency:copy-dependencies "-DoutputDirectory=$tmp" >"$mvn_log" 2>&1; then
    tail -n 40 "$mvn_log" >&2
    rm -rf "$tmp"
    die "Maven could not resolve the Kafka jars (full log: $mvn_log)"
  fi
  for jar in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-server-$KAFKA_VERSION.jar" \
    "kafka-storage-$KAFKA_VERSION.jar" "log4j-core-$LOG4J_VERSION.jar" "log4j-slf4j-impl-$LOG4J_VERSION.jar"; do
    [[ -f "$tmp/$jar" ]] || die "expected $jar among the resolved jars (see $mvn_log)"
  done
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  printf '%s\n' "$fingerprint" >"$KAFKA_LIBS_MARKER"
  log "Kafka $KAFKA_VERSION jars ready: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$KAFKA_LIBS" | cut -f1) ($(elapsed "$t0"))"
fi

log "install done ($(elapsed "$t_start"))"
