# shellcheck shell=bash
# Shared settings of the image builds: the release (scripts/release) and the cluster test
# (scripts/cluster) build with one buildah storage and one set of base images. Sourced, never
# executed.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
IMAGES_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$IMAGES_SCRIPTS/../.." && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=versions.env
. "$IMAGES_SCRIPTS/versions.env"
# The one Node.js of the project (the image's, the tests').
NODE_VERSION="$(tr -d '[:space:]' <"$REPO_ROOT/.node-version")"

LOG_TAG="${LOG_TAG:-images}"
log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() {
  printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2
  exit 1
}

# Images, their layers and the stand-ins' files, kept between runs (outside the repository).
IMAGES_CACHE_DIR="${IMAGES_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/realtime-offers-images}"
BUILDAH=(buildah --root "$IMAGES_CACHE_DIR/storage" --runroot "$IMAGES_CACHE_DIR/run"
  --storage-driver overlay)

# The Dockerfile's base images (its NODE_IMAGE and RUNTIME_IMAGE build arguments) as published,
# and the stand-ins stand-ins.sh builds from this machine's files when those cannot be pulled.
UPSTREAM_BUILD_IMAGE="docker.io/library/node:$NODE_VERSION-bookworm-slim"
UPSTREAM_RUNTIME_IMAGE="gcr.io/distroless/cc-debian12:nonroot"
STAND_IN_BUILD_IMAGE="localhost/realtime-offers/node-build-stand-in:$NODE_VERSION"
STAND_IN_RUNTIME_IMAGE="localhost/realtime-offers/node-runtime-stand-in:$NODE_VERSION"

# The platform buildah builds for without emulation: this machine's.
case "$(uname -m)" in
  x86_64) NATIVE_ARCH=amd64 NODE_ARCH=x64 ;;
  aarch64) NATIVE_ARCH=arm64 NODE_ARCH=arm64 ;;
  *) NATIVE_ARCH="$(uname -m)" NODE_ARCH="" ;;
esac

have_image() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }
