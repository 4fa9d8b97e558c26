#!/usr/bin/env bash
# The platform of the kind setup (k8s/) on the cluster of up.sh, with the project's own local
# services in place of what the operators would run:
#   - the operators' CRDs (Strimzi, Altinity, Prometheus Operator; KEDA's came with up.sh),
#     read from $CRD_DIR, never copied into the project;
#   - every object of k8s/ validated by the API server (server-side dry run, strict field
#     validation); the namespace and the Strimzi and ClickHouseInstallation resources applied
#     (server-side), the workloads that need registry images (Redis, Jaeger) only validated;
#   - namespace `offers` enforcing Pod Security "restricted" (k8s/ enforces baseline, for the
#     operators' pods, which do not run here);
#   - the Secrets make kind-up creates, their passwords set on the local Redis and ClickHouse;
#   - Services named as the operators name them (kafka-kafka-bootstrap, clickhouse-offers,
#     redis), each with an EndpointSlice to the local service on the bridge, so that the chart's
#     values-kind.yaml works unchanged;
#   - the Kafka topics the chart's KafkaTopic resources describe, created as Strimzi's topic
#     operator would (before the chart, as make kind-up does).
# Needs the cluster of up.sh and the services of scripts/infra/up.sh (INFRA_HOST=$NODE_IP).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f "$INFRA_DIR/env" ]] || die "no $INFRA_DIR/env: start the services first (scripts/infra/up.sh)"
set -a
# shellcheck source=/dev/null
. "$INFRA_DIR/env"
set +a
kafka_port="${KAFKA_BROKERS##*:}"
redis_port="${REDIS_URL##*:}"
clickhouse_port="${CLICKHOUSE_URL##*:}"
[[ "${KAFKA_BROKERS%:*}" == "$NODE_IP" ]] || die "Kafka serves on ${KAFKA_BROKERS%:*}, not on the bridge $NODE_IP"

log "CRDs from $CRD_DIR"
require_crds
for dir in strimzi-1.2.0 altinity-0.27.1 prometheus-operator-v0.93.0; do
  kc apply --server-side -f "$CRD_DIR/$dir/" >/dev/null
done
kc wait crd --all --for=condition=Established --timeout=60s >/dev/null

log "k8s/: every object validated by the API server, the namespace and custom resources applied"
kc apply --server-side --validate=strict -f "$REPO_ROOT/k8s/namespace.yaml" >/dev/null
kc apply --server-side --dry-run=server --validate=strict -f "$REPO_ROOT/k8s/" >/dev/null
# The production ClickHouse cluster example (ClickHouseInstallation + Keeper): validated only.
kc -n "$NAMESPACE" apply --server-side --dry-run=server --validate=strict -f "$REPO_ROOT/k8s/production/" >/dev/null
kc apply --server-side --validate=strict -f "$REPO_ROOT/k8s/kafka.yaml" -f "$REPO_ROOT/k8s/clickhouse.yaml" >/dev/null
kc label namespace "$NAMESPACE" --overwrite pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/enforce-version=latest >/dev/null

log "Secrets and the local services' passwords"
clickhouse_password="$(openssl rand -hex 16)"
redis_password="$(openssl rand -hex 16)"
kc -n "$NAMESPACE" create secret generic clickhouse-credentials --from-literal=password="$clickhouse_password" >/dev/null
kc -n "$NAMESPACE" create secret generic redis-credentials --from-literal=password="$redis_password" >/dev/null
in_ns redis-cli -h 127.0.0.1 -p "$redis_port" config set requirepass "$redis_password" >/dev/null
# User `offers` as k8s/clickhouse.yaml defines it, reachable from the pod network.
mkdir -p "$INFRA_DIR/clickhouse/users.d"
cat >"$INFRA_DIR/clickhouse/users.d/offers.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <users>
        <offers>
            <password_sha256_hex>$(printf '%s' "$clickhouse_password" | sha256sum | cut -d' ' -f1)</password_sha256_hex>
            <networks><ip>$POD_CIDR</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </offers>
    </users>
</yandex>
EOF
printf 'REDIS_PASSWORD=%s\nCLICKHOUSE_OFFERS_PASSWORD=%s\n' "$redis_password" "$clickhouse_password" >"$CLUSTER_DIR/passwords"
chmod 600 "$CLUSTER_DIR/passwords"
# ClickHouse reads users.d on its own within seconds: wait until the user answers.
offers_user_loaded() {
  [[ "$(in_ns curl -fsS "http://$NODE_IP:$clickhouse_port/?user=offers&password=$clickhouse_password&query=SELECT+1")" == 1 ]]
}
wait_until 60 "ClickHouse user offers" offers_user_loaded

log "Services of the platform, each with an EndpointSlice to the local service on $NODE_IP"
service() { # service NAME PORT TARGET_PORT
  cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: $NAMESPACE}
spec:
  ports: [{name: main, port: $2, targetPort: $3, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $1-local
  namespace: $NAMESPACE
  labels: {kubernetes.io/service-name: $1, endpointslice.kubernetes.io/managed-by: realtime-offers-test}
addressType: IPv4
ports: [{name: main, port: $3, protocol: TCP}]
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
EOF
}
{
  service kafka-kafka-bootstrap 9092 "$kafka_port"
  service clickhouse-offers 8123 "$clickhouse_port"
  service redis 6379 "$redis_port"
} | kc apply --server-side -f - >/dev/null

log "Kafka topics of the chart's KafkaTopic resources"
"$HELM" template "$RELEASE" "$REPO_ROOT/charts/realtime-offers" --namespace "$NAMESPACE" --kube-version "$K8S_VERSION" \
  -f "$REPO_ROOT/charts/realtime-offers/values-kind.yaml" --show-only templates/kafkatopics.yaml |
  (cd "$REPO_ROOT" && in_ns node --import tsx test/cluster/create-topics.ts "$KAFKA_BROKERS")
log "platform ready"
