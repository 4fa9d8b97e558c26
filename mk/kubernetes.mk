# Kubernetes targets: kind cluster, image, Helm chart (see docs/kubernetes.md). Versions of
# the platform are pinned in scripts/kind/versions.env, helm's in scripts/tools/install-helm.sh.
HELM ?= $(CURDIR)/.cache/bin/helm
CHART_DIR := charts/realtime-offers
APP_IMAGE ?= realtime-offers:dev
# The load test's Job runs its own image: the service's holds no load test.
LOADTEST_IMAGE ?= realtime-offers-loadtest:dev
KIND_CLUSTER_NAME := $(shell sed -n 's/^KIND_CLUSTER_NAME=//p' scripts/kind/versions.env)
# The kind node's Kubernetes version (make test-cluster runs it too): `helm lint` checks the
# chart's kubeVersion against it rather than against whatever version a helm binary assumes.
KUBE_VERSION := $(shell sed -n 's/^K8S_VERSION=//p' scripts/cluster/versions.env)

.PHONY: image
image: ## Build the service's container image (APP_IMAGE=realtime-offers:dev)
	docker build -t $(APP_IMAGE) .

.PHONY: image-loadtest
image-loadtest: ## Build the load test's image, which its Kubernetes Job runs (LOADTEST_IMAGE=realtime-offers-loadtest:dev)
	docker build --target loadtest -t $(LOADTEST_IMAGE) .

.PHONY: kind-up
# Docker, kind, kubectl and helm are all it needs (no Go, npm or root): it builds nothing here.
kind-up: ## Local cluster: kind + Strimzi Kafka, ClickHouse, Redis, Jaeger, KEDA, the image and the chart
	scripts/kind/up.sh

.PHONY: kind-down
kind-down: ## Delete the local kind cluster
	scripts/kind/down.sh

.PHONY: port-forward-clickhouse
port-forward-clickhouse: ## Forward localhost:8123 to ClickHouse in kind and print the query commands
	scripts/kind/port-forward.sh clickhouse

.PHONY: port-forward-redis
port-forward-redis: ## Forward localhost:6379 to Redis in kind and print the query commands
	scripts/kind/port-forward.sh redis

.PHONY: port-forward-jaeger
port-forward-jaeger: ## Forward localhost:16686 to the Jaeger UI in kind
	scripts/kind/port-forward.sh jaeger

.PHONY: port-forward-metrics
port-forward-metrics: ## Forward localhost:8080 to one consumer's /metrics and /readyz in kind
	scripts/kind/port-forward.sh metrics

.PHONY: helm-lint
helm-lint: deps tools ## helm lint --strict the chart with its default, kind, production example and ClickHouse cluster values
	$(HELM) lint --strict $(CHART_DIR) --kube-version $(KUBE_VERSION)
	$(HELM) lint --strict $(CHART_DIR) --kube-version $(KUBE_VERSION) -f $(CHART_DIR)/values-kind.yaml
	$(HELM) lint --strict $(CHART_DIR) --kube-version $(KUBE_VERSION) -f $(CHART_DIR)/values-production-example.yaml
	$(HELM) lint --strict $(CHART_DIR) --kube-version $(KUBE_VERSION) -f $(CHART_DIR)/values-production-example.yaml -f $(CHART_DIR)/values-clickhouse-cluster.yaml

.PHONY: test-chart
test-chart: deps tools ## Chart tests: lint, render, schema checks of every object, README and schema descriptions up to date, Dockerfile checks
	npm run --silent test:chart

.PHONY: chart-docs
chart-docs: node_modules/.package-lock.json ## Regenerate the chart's README.md and values.schema.json descriptions from the values.yaml comments (helm-docs)
	scripts/tools/install-helm-docs.sh
	node --import tsx test/chart/values-docs.ts

# `make test` (and so CI) runs the chart tests too: a prerequisite added here keeps the
# Makefile's own test recipe untouched.
test: test-chart

.PHONY: load-test-kind
# The Job copies the Deployment's pull policy, Never in kind: its image is built and loaded
# onto the node first (both quick when nothing changed).
load-test-kind: node_modules/.package-lock.json image-loadtest ## Load test against the kind cluster: KEDA scaling, lag, latency (LOAD_TEST_ARGS=)
	kind load docker-image $(LOADTEST_IMAGE) --name $(KIND_CLUSTER_NAME)
	npm run --silent load-test -- --mode kubernetes --image $(LOADTEST_IMAGE) $(LOAD_TEST_ARGS)

.PHONY: test-cluster
# The chart on a single-node Kubernetes cluster built on this machine (see docs/kubernetes.md):
# as root on Debian 12, without Docker. Its services get a state dir of their own.
test-cluster: deps ## The release on a real cluster (root, no Docker): published to the cluster's registry, installed from oci:// and pulled by digest; helm test, KEDA scaling on lag, upgrade and scale-down with every message accounted for
	INFRA_DIR="$(INFRA_DIR)/cluster" scripts/cluster/test.sh
