#!/usr/bin/env bash
# The whole pipeline on this machine: starts Kafka, Redis and ClickHouse, creates the table
# and a 12-partition topic, runs the consumer, sends 1,000 registrations, then shows one
# ClickHouse row, one Redis value and a summary. The services stay up for querying;
# `make infra-down` stops them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export INFRA_DIR="${INFRA_DIR:-$PWD/.infra}"
COUNT="${COUNT:-1000}"
cli() { node --import tsx src/cli/main.ts "$@"; }
say() { printf '\n==> %s\n' "$*"; }

say "starting Kafka, Redis and ClickHouse"
scripts/infra/up.sh >/dev/null
set -a
# shellcheck disable=SC1091
. "$INFRA_DIR/env"
set +a
export KAFKA_TOPIC="${KAFKA_TOPIC:-streaming-user-registration}"
export LOG_LEVEL="${LOG_LEVEL:-warn}"
echo "Kafka $KAFKA_BROKERS, Redis $REDIS_URL, ClickHouse $CLICKHOUSE_URL"

say "creating the ClickHouse table and the Kafka topics"
cli migrate
cli topics --partitions 12

HTTP_PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
export HTTP_PORT HTTP_HOST=127.0.0.1
consumer_log="$INFRA_DIR/demo-consumer.log"
say "starting the consumer (metrics on http://127.0.0.1:$HTTP_PORT/metrics, log in $consumer_log)"
# Started directly, not through the cli function: `$!` must be node's pid, or the TERM at
# exit reaches a subshell and the consumer keeps running after the demo.
node --import tsx src/cli/main.ts consume >"$consumer_log" 2>&1 &
consumer_pid=$!
stop_consumer() {
  if kill -0 "$consumer_pid" 2>/dev/null; then
    kill -TERM "$consumer_pid"
    wait "$consumer_pid" || true
  fi
}
trap stop_consumer EXIT
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$consumer_pid" 2>/dev/null; then
    tail -n 30 "$consumer_log" >&2
    echo "the consumer exited during start-up (log above)" >&2
    exit 1
  fi
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null || {
  tail -n 30 "$consumer_log" >&2
  echo "the consumer did not become ready within 60 s (log above)" >&2
  exit 1
}

metric() { # sum of one metric's samples from the consumer's /metrics
  curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" |
    awk -v name="$1" '$1 == name || index($1, name "{") == 1 { sum += $2 } END { printf "%d", sum }'
}
scored_before="$(metric offers_scored_total)"
dlq_before="$(metric offers_dead_lettered_total)"

say "sending $COUNT registrations"
started_ms="$(date +%s%3N)"
cli send --count "$COUNT" --invalid "${INVALID:-10}"
cli lag --wait --timeout 180 | tail -n 1
finished_ms="$(date +%s%3N)"

scored=$(($(metric offers_scored_total) - scored_before))
dlq=$(($(metric offers_dead_lettered_total) - dlq_before))
seconds="$(awk -v ms=$((finished_ms - started_ms)) 'BEGIN { printf "%.2f", ms / 1000 }')"
rate="$(awk -v n=$((scored + dlq)) -v ms=$((finished_ms - started_ms)) 'BEGIN { printf "%d", n * 1000 / (ms > 0 ? ms : 1) }')"

say "ClickHouse: select * from personal_offer FINAL limit 1 format Vertical"
curl -fsS "$CLICKHOUSE_URL/" --user "$CLICKHOUSE_USER:$CLICKHOUSE_PASSWORD" \
  --data-binary "SELECT * FROM personal_offer FINAL ORDER BY user_id LIMIT 1 FORMAT Vertical"

redis_port="${REDIS_URL##*:}"
say "Redis: redis-cli -p $redis_port get 1"
redis-cli -p "$redis_port" get 1

say "summary"
echo "realtime-offers $(cli --version)"
echo "sent $((COUNT + ${INVALID:-10})) ($COUNT valid), scored $scored, dead-lettered $dlq, $seconds s from first send to zero lag, $rate msgs/s end to end (a demo with a cold consumer, not a benchmark: make bench measures throughput)"
echo "the services keep running for queries (see README); stop them with: make infra-down"
