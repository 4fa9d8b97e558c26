# realtime-offers: every command a user runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
INFRA_DIR ?= $(CURDIR)/.infra
export INFRA_DIR
# One Node.js for everything a target runs (tests, bench, load test, demo, the image): the
# version in .node-version, put first on PATH from .cache/node (scripts/tools/install-node.sh
# links the machine's node when it is that version, else takes it from the npm registry).
NODE_VERSION := $(shell tr -d '[:space:]' < .node-version)
NODE_BIN := $(CURDIR)/.cache/node/$(NODE_VERSION)/bin
export PATH := $(NODE_BIN):$(PATH)
CLI := node --import tsx src/cli/main.ts
# Loads the local services' addresses written by `make infra-up`.
WITH_ENV := set -a && . "$(INFRA_DIR)/env" && set +a &&
# make soak: how long and which fault schedule; soak-ci's fixed seed.
DURATION ?= 60m
SEED ?= 1
SOAK_CI_SEED := 1

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# `npm install` honours the lock file; `npm ci` refuses it because chdb lists optional
# per-platform libraries (darwin, arm64) that the lock cannot record where they are not
# published, and then reports the lock as out of sync.
# One install for the service and the tools (npm workspaces, one lock file), made by the pinned
# Node so that native packages match it; a new pin reinstalls.
node_modules/.package-lock.json: package.json package-lock.json .npmrc $(wildcard patches/*.patch) $(wildcard tools/*/package.json) $(NODE_BIN)/node
	npm install --no-audit --no-fund
	@touch $@

$(NODE_BIN)/node: .node-version
	scripts/tools/install-node.sh >/dev/null

.PHONY: node
node: $(NODE_BIN)/node ## Install the pinned Node.js (.node-version) into .cache/node when the machine's differs
	@node --version

# What the pipeline needs on this machine: the pinned Node, npm packages, the local services'
# Debian packages and the Kafka jars. No Go: helm, helm-docs and hadolint are built by the
# targets that use them (tools).
.PHONY: deps
deps: node_modules/.package-lock.json ## Install the pinned Node, npm packages, the local services' Debian packages and the Kafka jars
	scripts/infra/install.sh

.PHONY: tools
tools: ## Build helm, helm-docs and hadolint from source (needs Go) into .cache/bin
	scripts/tools/install-helm.sh
	scripts/tools/install-helm-docs.sh
	scripts/tools/install-hadolint.sh

.PHONY: demo
demo: deps ## Run the whole pipeline locally: services, consumer, 1,000 registrations, results
	scripts/demo.sh

.PHONY: test
test: deps ## Lint, format, type check; unit, tools, chart, integration and fault-injection tests (real Kafka, Redis, ClickHouse, chDB, model)
	npm run --silent lint
	npm run --silent format:check
	npm run --silent typecheck
	npm run --silent test:unit
	npm run --silent test:tools
	scripts/infra/stop-after.sh sh -c 'npm run --silent test:integration && npm run --silent test:faults'

.PHONY: test-unit
test-unit: node_modules/.package-lock.json ## Unit tests only (no services): the service's and the tools'
	npm run --silent test:unit
	npm run --silent test:tools

.PHONY: test-integration
test-integration: deps ## Integration tests only (start their own services, and stop those they started)
	scripts/infra/stop-after.sh npm run --silent test:integration

.PHONY: soak
soak: deps ## Soak: an hour of load with seeded random faults (3 brokers, Redis Cluster, ClickHouse cluster, 3 consumers); exact accounting, faults, exits, memory slopes in reports/soak-* (DURATION=60m SEED=1)
	SOAK_DURATION=$(DURATION) SOAK_SEED=$(SEED) node --import tsx test/soak/soak.ts

.PHONY: soak-ci
soak-ci: deps ## The soak's 5-minute variant with a fixed seed, as CI runs it
	SOAK_DURATION=5m SOAK_SEED=$(SOAK_CI_SEED) node --import tsx test/soak/soak.ts

.PHONY: infra-up
infra-up: deps ## Start Kafka, Redis and ClickHouse on free local ports (addresses in .infra/env)
	scripts/infra/up.sh

.PHONY: infra-down
infra-down: ## Stop the local services and delete their data
	scripts/infra/down.sh

.PHONY: migrate
migrate: node_modules/.package-lock.json ## Create the ClickHouse table (against .infra/env, or CLICKHOUSE_* variables)
	@if [ -f "$(INFRA_DIR)/env" ] && [ -z "$$CLICKHOUSE_URL" ]; then $(WITH_ENV) $(CLI) migrate; else $(CLI) migrate; fi

.PHONY: topics
topics: node_modules/.package-lock.json ## Create the input (12 partitions) and DLQ topics
	@if [ -f "$(INFRA_DIR)/env" ] && [ -z "$$KAFKA_BROKERS" ]; then $(WITH_ENV) $(CLI) topics --partitions 12; else $(CLI) topics --partitions 12; fi

.PHONY: consume
consume: node_modules/.package-lock.json ## Run the consumer in the foreground against the local services
	$(WITH_ENV) $(CLI) consume

.PHONY: send
send: node_modules/.package-lock.json ## Send 1,000 registrations to the local Kafka (COUNT=, RATE=)
	$(WITH_ENV) $(CLI) send --count $${COUNT:-1000} --rate $${RATE:-0}

.PHONY: load-test
load-test: deps ## Load test against the local services: rate, lag, latency, errors; report.json and report.html; exits non-zero when a --threshold fails (LOAD_TEST_ARGS=)
	npm run --silent load-test -- --mode local $(LOAD_TEST_ARGS)

.PHONY: bench
bench: deps ## Pipeline benchmark: drain msgs/s and CPU µs per message (service vs raw kafkajs), latency at 1,000 and 5,000/s, CPU profile (BENCH_SECTIONS=settings,scaling,sustained for more)
	npm run --silent bench

.PHONY: model
model: ## Retrain the model: venv, pinned requirements, data, training, ONNX export, card, fixtures
	model/build.sh

.PHONY: bench-scoring
bench-scoring: node_modules/.package-lock.json ## Scoring throughput for batch sizes 1, 100, 1000, 5000; the model µs/row, shipped vs previous release
	npm run --silent bench:scoring

.PHONY: bench-model-metrics
bench-model-metrics: node_modules/.package-lock.json ## CPU per message the model metrics add (encoding alone vs encoding, counting and observing)
	npm run --silent bench:model-metrics

.PHONY: bench-shadow
bench-shadow: node_modules/.package-lock.json ## CPU per message shadow scoring adds (the live model alone vs live and shadow models with their rows)
	npm run --silent bench:shadow

.PHONY: build
build: node_modules/.package-lock.json ## Compile TypeScript to dist/
	npm run --silent build

.PHONY: clean
clean: ## Remove build output and local service state
	scripts/infra/down.sh || true
	rm -rf dist .infra

# Kubernetes: kind cluster, image, chart (see docs/kubernetes.md).
include mk/kubernetes.mk
# Releases: make release, make publish.
include mk/release.mk
