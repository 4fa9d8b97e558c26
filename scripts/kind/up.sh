#!/usr/bin/env bash
# make kind-up: a kind cluster with Strimzi (Kafka), the Altinity ClickHouse operator, KEDA,
# Redis and Jaeger, the service's image, and the chart installed with values-kind.yaml.
# Idempotent: a second run reuses the cluster and upgrades what changed.
# Env: KIND_WAIT_TIMEOUT (seconds per wait, default 600), KIND_SKIP_TEST=1 (no helm test).
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
LOG_TAG="kind-up"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC2034  # read by lib.sh
STEPS=9
started_all=$SECONDS

step "checking tools"
require_tools kind kubectl docker helm
kind_version="$(kind version | sed -n 's/^kind v\([0-9.]*\).*/\1/p')"
if [[ -n "$kind_version" ]] && ! version_at_least "$kind_version" "$KIND_MIN_VERSION"; then
  die "kind v$kind_version is older than v$KIND_MIN_VERSION, which the pinned node image needs (go install sigs.k8s.io/kind@v$KIND_MIN_VERSION)"
fi
log "     kind v${kind_version:-?}, $(kubectl version --client 2>/dev/null | head -n1), helm $("$HELM" version --template '{{ .Version }}')"
done_step

step "cluster $KIND_CLUSTER_NAME"
if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER_NAME"; then
  log "     exists, reusing it"
else
  kind create cluster --name "$KIND_CLUSTER_NAME" --image "$KIND_NODE_IMAGE" \
    --config "$REPO_ROOT/kind-config.yaml" --wait "${WAIT_TIMEOUT}s"
fi
kc apply -f "$REPO_ROOT/k8s/namespace.yaml" >/dev/null
done_step

step "secrets (random passwords, created once)"
for secret in clickhouse-credentials redis-credentials; do
  if kc -n "$NAMESPACE" get secret "$secret" >/dev/null 2>&1; then
    log "     $secret exists"
  else
    # Hex keeps the password URL-safe: the chart puts Redis' into REDIS_URL.
    kc -n "$NAMESPACE" create secret generic "$secret" \
      --from-literal=password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >/dev/null
    log "     $secret created"
  fi
done
done_step

step "operators: Strimzi $STRIMZI_CHART_VERSION, Altinity clickhouse-operator $ALTINITY_CHART_VERSION, KEDA $KEDA_CHART_VERSION"
"$HELM" repo add --force-update "$ALTINITY_REPO_NAME" "$ALTINITY_REPO_URL" >/dev/null
"$HELM" repo add --force-update "$KEDA_REPO_NAME" "$KEDA_REPO_URL" >/dev/null
"$HELM" repo update "$ALTINITY_REPO_NAME" "$KEDA_REPO_NAME" >/dev/null
hm upgrade --install strimzi "$STRIMZI_CHART" --version "$STRIMZI_CHART_VERSION" \
  --namespace strimzi --create-namespace --set-json "watchNamespaces=[\"$NAMESPACE\"]" \
  --wait --timeout "${WAIT_TIMEOUT}s"
hm upgrade --install clickhouse-operator "$ALTINITY_CHART" --version "$ALTINITY_CHART_VERSION" \
  --namespace clickhouse-operator --create-namespace --wait --timeout "${WAIT_TIMEOUT}s"
hm upgrade --install keda "$KEDA_CHART" --version "$KEDA_CHART_VERSION" \
  --namespace keda --create-namespace --wait --timeout "${WAIT_TIMEOUT}s"
done_step

step "platform: Kafka $KAFKA_VERSION (KRaft), ClickHouse, Redis, Jaeger"
kc apply -f "$REPO_ROOT/k8s/"
wait_for "Kafka cluster 'kafka' to be Ready" \
  kc -n "$NAMESPACE" wait kafka/kafka --for=condition=Ready --timeout=5s
chi_completed() { [[ "$(kc -n "$NAMESPACE" get chi offers -o jsonpath='{.status.status}')" == Completed ]]; }
wait_for "ClickHouseInstallation 'offers' to complete" chi_completed
wait_for "Redis" kc -n "$NAMESPACE" rollout status statefulset/redis --timeout=5s
wait_for "Jaeger" kc -n "$NAMESPACE" rollout status deployment/jaeger --timeout=5s
done_step

step "image $APP_IMAGE"
# For this machine's architecture (the kind node's): the Dockerfile keeps onnxruntime's
# binary for the architecture it builds on. Tagged with its image id as well, so that the
# chart's pod template changes, and the pods roll, exactly when the image does.
docker build -t "$APP_IMAGE" "$REPO_ROOT"
image_id="$(docker image inspect "$APP_IMAGE" --format '{{.Id}}')"
image_tag="${image_id#sha256:}" && image_tag="${image_tag:0:12}"
docker tag "$APP_IMAGE" "${APP_IMAGE%:*}:$image_tag"
log "     ${APP_IMAGE%:*}:$image_tag, $(docker image inspect "$APP_IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
done_step

step "loading ${APP_IMAGE%:*}:$image_tag into the cluster"
kind load docker-image "${APP_IMAGE%:*}:$image_tag" --name "$KIND_CLUSTER_NAME"
done_step

step "chart: release $RELEASE with values-kind.yaml"
# --set-string: an image id's first twelve hex digits can be all digits (229989923213), which
# --set reads as a number (and a leading zero would be lost); the chart's schema wants a string.
chart_args=("$RELEASE" "$CHART_DIR" --namespace "$NAMESPACE" -f "$CHART_DIR/values-kind.yaml"
  --set-string "image.tag=$image_tag")
# `helm template` talks to no cluster: it checks the chart's kubeVersion against the node
# image's version, not against the default of whichever helm 3 is on PATH.
kube_version="${KIND_NODE_IMAGE#*:}" && kube_version="${kube_version%@*}"
# The consumer exits when its topics do not exist, so on the first install the chart's
# KafkaTopics go first, marked as the release's (Helm adopts them), and Strimzi creates the
# topics before the Deployment exists. The pre-install hook creates the ClickHouse table.
if ! hm status "$RELEASE" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  hm template "${chart_args[@]}" --kube-version "$kube_version" --show-only templates/kafkatopics.yaml |
    kc annotate --local -f - -o yaml "meta.helm.sh/release-name=$RELEASE" \
      "meta.helm.sh/release-namespace=$NAMESPACE" |
    kc apply -f - >/dev/null
fi
wait_for "KafkaTopics to be Ready" \
  kc -n "$NAMESPACE" wait kafkatopic --all --for=condition=Ready --timeout=5s
hm upgrade --install "${chart_args[@]}" --wait --timeout "${WAIT_TIMEOUT}s"
done_step

step "helm test (one registration in, its offer out of Redis)"
if [[ "${KIND_SKIP_TEST:-0}" == 1 ]]; then
  log "     skipped (KIND_SKIP_TEST=1)"
else
  # No --logs: a passed test pod is deleted (hook-succeeded) before helm could read them. A
  # failed one stays, and its logs say why.
  if ! hm test "$RELEASE" --namespace "$NAMESPACE" --timeout "${WAIT_TIMEOUT}s"; then
    kc -n "$NAMESPACE" logs "$RELEASE-realtime-offers-smoke" >&2 || true
    die "helm test failed (the smoke pod's logs are above)"
  fi
fi
done_step

log "ready in $((SECONDS - started_all)) s. Next:"
log "  make port-forward-clickhouse    # then the query it prints"
log "  make port-forward-redis"
log "  make load-test-kind             # lag, KEDA scaling, latency"
log "  kubectl --context $KUBE_CONTEXT -n $NAMESPACE get scaledobject,hpa,pods"
