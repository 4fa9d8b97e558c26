# syntax=docker/dockerfile:1
# realtime-offers: the compiled consumer, its production dependencies and the ONNX model.
#   docker build -t realtime-offers:dev .                                (make image)
# A second target is the load test's generator, which its Kubernetes Job runs:
#   docker build --target loadtest -t realtime-offers-loadtest:dev .     (make image-loadtest)
# make release builds both with buildah into OCI archives, labelled (scripts/release/release.sh).
# The service's stage stays last, so a plain build is the service; the load test and its
# Kubernetes client are never in the service's image.
# One Node.js everywhere: NODE_VERSION is the version in .node-version (a test compares them),
# which the tests, the bench and the demo run on too. The build stages run the official Node
# image of that exact version; the runtime is distroless (no shell, no package manager, uid
# 65532) with that same node binary copied in, on the same Debian 12 as the build stages, so
# the glibc that node and onnxruntime's prebuilt library link against matches. The distroless
# Node images carry a Node release of their own choosing; the `cc` image is their base (glibc,
# libstdc++, libgomp) without one.
ARG NODE_VERSION=26.12.1
ARG NODE_IMAGE=node:${NODE_VERSION}-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# --- production dependencies --------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# .npmrc carries onnxruntime-node-install=skip: the package's install script would otherwise
# try to download CUDA libraries, which neither the build nor the service needs.
# patches/ holds a fix to kafkajs that the postinstall script applies (patch-package).
# package.json names the tools (tools/loadtest, tools/bench) as workspaces; without their
# folders here the install is the service's alone.
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
# `npm ci` refuses this lock even with --omit=dev: the lock-sync check runs before omission,
# and chdb (a devDependency) lists per-platform optional libraries that were never published,
# so the lock cannot record them. `npm install` honours the versions in the lock and, with
# --omit=dev, never resolves chdb at all. onnxruntime-node ships binaries for every platform
# (about 290 MB): only the image's own stays, linux/x64 or linux/arm64 (Node's process.arch
# in this stage is the architecture the image is built for).
RUN npm install --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && arch="$(node -p process.arch)" \
 && find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 2 -type d ! -path '*/linux' -exec rm -rf {} + \
 && find node_modules/onnxruntime-node/bin -mindepth 3 -maxdepth 3 -type d ! -path "*/linux/$arch" -exec rm -rf {} + \
 && ls node_modules/onnxruntime-node/bin/napi-v*/linux/"$arch"/onnxruntime_binding.node

# --- compile TypeScript -------------------------------------------------------------------
FROM deps AS build
# Only the compiler and the type packages the sources need, at the versions package.json
# pins, installed beside the project: a full dev install would pull chdb's 500 MB engine.
WORKDIR /compiler
RUN echo '{"private":true}' > package.json \
 && dev() { node -p "require('/app/package.json').devDependencies['$1']"; } \
 && npm install --no-audit --no-fund --no-package-lock \
      "typescript@$(dev typescript)" "@types/node@$(dev @types/node)" \
      "@types/cli-progress@$(dev @types/cli-progress)"
WORKDIR /app
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN cp -rn /compiler/node_modules/@types/. node_modules/@types/ \
 && /compiler/node_modules/.bin/tsc -p tsconfig.build.json \
 && find dist -name '*.map' -delete

# --- load test: dependencies --------------------------------------------------------------
# The service's production packages (the generator produces through the service's patched
# Kafka client) and the load test's own. Its package lists them as devDependencies, which
# keeps them out of every production install, hence no --omit=dev here; -w installs that
# workspace's packages only, none of the root's development tools.
FROM deps AS loadtest-deps
COPY tools/loadtest/package.json ./tools/loadtest/
RUN npm install --workspace=tools/loadtest --no-audit --no-fund \
 && npm cache clean --force \
 && ls node_modules/@kubernetes/client-node/package.json

# --- load test: compile -------------------------------------------------------------------
# tools/loadtest/tsconfig.build.json compiles the load test with the service modules it
# imports into tools/loadtest/dist, mirroring the repository (dist/tools/loadtest/src/...).
FROM loadtest-deps AS loadtest-build
COPY --from=build /compiler /compiler
COPY tsconfig.json ./
COPY src ./src
COPY tools/dev ./tools/dev
COPY tools/loadtest/tsconfig.json tools/loadtest/tsconfig.build.json ./tools/loadtest/
COPY tools/loadtest/src ./tools/loadtest/src
RUN cp -rn /compiler/node_modules/@types/. node_modules/@types/ \
 && /compiler/node_modules/.bin/tsc -p tools/loadtest/tsconfig.build.json \
 && find tools/loadtest/dist -name '*.map' -delete

# --- load test: runtime (the image of the load test's Kubernetes Job) ----------------------
# The Job copies the Deployment's environment, security context and volumes, so this image
# runs under the same policies: distroless, read-only files, the same non-root user.
FROM ${RUNTIME_IMAGE} AS loadtest
# make release adds version, revision, created, source and base.name (scripts/release).
LABEL org.opencontainers.image.title="realtime-offers-loadtest" \
      org.opencontainers.image.description="Load generator of realtime-offers, run as a Kubernetes Job by its load test" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps --chown=0:0 /usr/local/bin/node /nodejs/bin/node
COPY --from=loadtest-deps --chown=0:0 /app/node_modules ./node_modules
COPY --from=loadtest-build --chown=0:0 /app/tools/loadtest/dist ./dist
# "type": "module" for the compiled files.
COPY --chown=0:0 package.json ./
USER 65532:65532
# The Job gives the arguments (--mode generate ...); without any, the usage.
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/tools/loadtest/src/main.js"]
CMD ["--help"]

# --- service runtime (the default target: keep it last) -----------------------------------
FROM ${RUNTIME_IMAGE} AS service
# make release adds version, revision, created, source and base.name (scripts/release).
LABEL org.opencontainers.image.title="realtime-offers" \
      org.opencontainers.image.description="Kafka consumer that scores user registrations with an ONNX model and writes personal offers to ClickHouse and Redis" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps --chown=0:0 /usr/local/bin/node /nodejs/bin/node
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /app/dist ./dist
COPY --chown=0:0 package.json ./
# The model at a fixed path; the service's default MODEL_PATH (model/offer_model.onnx,
# relative to the working directory /app) finds it, and MODEL_PATH can point elsewhere.
COPY --chown=0:0 model/offer_model.onnx ./model/offer_model.onnx
# Files are owned by root and read-only to the service user, which writes nothing outside
# /tmp: the container runs with a read-only root filesystem.
USER 65532:65532
EXPOSE 8080
# The Deployment stops pods with SIGTERM; the service finishes and commits its batches.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/cli/main.js"]
CMD ["consume"]
