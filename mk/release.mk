# Releases (see README, "Releases and upgrades"): images as OCI archives, SBOM and the chart,
# then pushed to an OCI registry. Names and the default registry: scripts/release/release.env.

.PHONY: release
release: node_modules/.package-lock.json ## Build release VERSION (default: package.json's) from a clean git tree into dist/release/VERSION: service and load-test images (OCI archives, buildah), SBOM, chart pinned by digest (REGISTRY=, RELEASE_BASE=auto|upstream|stand-in)
	scripts/tools/install-helm.sh
	VERSION="$(VERSION)" scripts/release/release.sh

.PHONY: publish
publish: node_modules/.package-lock.json ## Push release VERSION's images (by digest) and chart to REGISTRY=host:port[/path] (REGISTRY_PLAIN_HTTP=1 for http); prints the digests and the helm install command
	scripts/tools/install-helm.sh
	VERSION="$(VERSION)" scripts/release/publish.sh

.PHONY: model-image
model-image: node_modules/.package-lock.json ## Build the model image (buildah): model/offer_model.onnx and a static cp, labelled with its model_version and sha256, into dist/model-image (MODEL=, REGISTRY= to push, REGISTRY_PLAIN_HTTP=1)
	scripts/images/model-image.sh
