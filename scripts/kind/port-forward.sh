#!/usr/bin/env bash
# make port-forward-{clickhouse,redis,jaeger,metrics}: forwards a local port to the kind
# cluster and prints how to query through it. Runs in the foreground; Ctrl-C stops it.
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
LOG_TAG="port-forward"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools kubectl

password() { # password SECRET
  kc -n "$NAMESPACE" get secret "$1" -o jsonpath='{.data.password}' | base64 -d
}

case "${1:-}" in
  clickhouse)
    port="${LOCAL_PORT:-8123}"
    log "ClickHouse HTTP on localhost:$port; in another shell:"
    log "  PASS=\$(kubectl --context $KUBE_CONTEXT -n $NAMESPACE get secret clickhouse-credentials -o jsonpath='{.data.password}' | base64 -d)"
    log "  curl -s --user \"offers:\$PASS\" localhost:$port/ --data-binary 'SELECT count(), avg(predicted_cost) FROM personal_offer FINAL'"
    log "  curl -s --user \"offers:\$PASS\" localhost:$port/ --data-binary 'SELECT * FROM personal_offer FINAL ORDER BY processed_at DESC LIMIT 1 FORMAT Vertical'"
    password clickhouse-credentials >/dev/null || die "secret clickhouse-credentials not found: run make kind-up"
    exec kubectl --context "$KUBE_CONTEXT" -n "$NAMESPACE" port-forward svc/clickhouse-offers "$port:8123"
    ;;
  redis)
    port="${LOCAL_PORT:-6379}"
    log "Redis on localhost:$port; in another shell:"
    log "  export REDISCLI_AUTH=\$(kubectl --context $KUBE_CONTEXT -n $NAMESPACE get secret redis-credentials -o jsonpath='{.data.password}' | base64 -d)"
    log "  redis-cli -p $port --scan --count 1000 | head    # offer keys (user ids)"
    log "  redis-cli -p $port get <user_id>                 # one of those keys"
    exec kubectl --context "$KUBE_CONTEXT" -n "$NAMESPACE" port-forward svc/redis "$port:6379"
    ;;
  jaeger)
    port="${LOCAL_PORT:-16686}"
    log "Jaeger UI on http://localhost:$port (service realtime-offers)"
    exec kubectl --context "$KUBE_CONTEXT" -n "$NAMESPACE" port-forward svc/jaeger "$port:16686"
    ;;
  metrics)
    port="${LOCAL_PORT:-8080}"
    log "consumer metrics on http://localhost:$port/metrics (one pod behind the Service)"
    exec kubectl --context "$KUBE_CONTEXT" -n "$NAMESPACE" port-forward "svc/$RELEASE-realtime-offers" "$port:8080"
    ;;
  *)
    die "usage: $0 clickhouse|redis|jaeger|metrics"
    ;;
esac
