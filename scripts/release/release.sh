#!/usr/bin/env bash
# make release: builds release VERSION from a clean git tree into dist/release/VERSION/:
#   realtime-offers-VERSION-linux-<arch>.oci.tar           the service's image (OCI archive)
#   realtime-offers-loadtest-VERSION-linux-<arch>.oci.tar  the load test's image (Dockerfile
#                                                          target loadtest)
#   realtime-offers-VERSION.cdx.json                       CycloneDX SBOM of the production
#                                                          dependencies (npm sbom)
#   charts/<registry>/realtime-offers-VERSION.tgz          the chart, its image pinned by digest
#   release.env                                            digests, revision, base images
#   SHA256SUMS
# The images are built with buildah for this machine's platform only: the Dockerfile's build
# stages run node and npm, which for another architecture would need an emulator.
# Both images carry the org.opencontainers.image.* labels (title, description and licenses from
# the Dockerfile, the rest from here); `created` and every file time are the commit's time
# (buildah --timestamp), not the build's.
# Env: VERSION (default package.json's, which it must equal), REGISTRY (the chart's image
#   registry, default release.env's DEFAULT_REGISTRY), RELEASE_BASE=auto|upstream|stand-in
#   (auto: the published base images when they can be pulled, else scripts/images/stand-ins.sh),
#   RELEASE_DIR (default dist/release), RELEASE_ALLOW_DIRTY=1 (build an uncommitted tree; its
#   revision label ends in -dirty: for tests, never for a release).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

started_all=$SECONDS
REGISTRY="${REGISTRY:-$DEFAULT_REGISTRY}"
for tool in buildah git tar sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (Debian: apt-get install buildah skopeo)"
done
[[ -x "$HELM" ]] || die "no helm at $HELM: run scripts/tools/install-helm.sh (make tools)"
cd "$REPO_ROOT"

# --- what is released -------------------------------------------------------------------------
changes="$(git status --porcelain --untracked-files=all)"
revision="$(git rev-parse HEAD)"
if [[ -n "$changes" ]]; then
  if [[ "${RELEASE_ALLOW_DIRTY:-0}" != 1 ]]; then
    die "the git tree is not clean; commit or remove these first:
$changes"
  fi
  log "RELEASE_ALLOW_DIRTY=1: building uncommitted changes; revision label $revision-dirty"
  revision="$revision-dirty"
fi
grep -qE "^## \[${VERSION//./\\.}\] - [0-9]{4}-[0-9]{2}-[0-9]{2}$" CHANGELOG.md ||
  die "CHANGELOG.md has no section '## [$VERSION] - YYYY-MM-DD'"
epoch="$(git log -1 --format=%ct)"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
rm -rf "$OUT"
mkdir -p "$OUT"
log "release $VERSION of $revision (committed $created) into $OUT"

# --- base images -------------------------------------------------------------------------------
# Published bases are pinned by the digest pulled, so the build and its label name one image.
pull_upstream() {
  local image digest
  for image in "$UPSTREAM_BUILD_IMAGE" "$UPSTREAM_RUNTIME_IMAGE"; do
    timeout "${RELEASE_PULL_TIMEOUT:-120}" "${BUILDAH[@]}" pull --quiet --platform "linux/$NATIVE_ARCH" "$image" >/dev/null || return 1
  done
  digest="$("${BUILDAH[@]}" inspect --type image --format '{{.FromImageDigest}}' "$UPSTREAM_BUILD_IMAGE")"
  NODE_IMAGE="$UPSTREAM_BUILD_IMAGE@$digest"
  digest="$("${BUILDAH[@]}" inspect --type image --format '{{.FromImageDigest}}' "$UPSTREAM_RUNTIME_IMAGE")"
  RUNTIME_IMAGE="$UPSTREAM_RUNTIME_IMAGE@$digest"
  BASE_KIND=upstream
}
use_stand_ins() {
  local printed
  printed="$("$IMAGES_SCRIPTS/stand-ins.sh")"
  NODE_IMAGE="$(sed -n 's/^NODE_IMAGE=//p' <<<"$printed")"
  RUNTIME_IMAGE="$(sed -n 's/^RUNTIME_IMAGE=//p' <<<"$printed")"
  [[ -n "$NODE_IMAGE" && -n "$RUNTIME_IMAGE" ]] || die "stand-ins.sh named no base images: $printed"
  BASE_KIND=stand-in
}
case "${RELEASE_BASE:-auto}" in
  upstream) pull_upstream || die "cannot pull $UPSTREAM_BUILD_IMAGE and $UPSTREAM_RUNTIME_IMAGE (RELEASE_BASE=upstream)" ;;
  stand-in) use_stand_ins ;;
  auto)
    if ! pull_upstream; then
      log "the published base images cannot be pulled here: using this machine's stand-ins (scripts/images/stand-ins.sh)"
      use_stand_ins
    fi
    ;;
  *) die "RELEASE_BASE must be auto, upstream or stand-in, not '${RELEASE_BASE}'" ;;
esac
log "base images ($BASE_KIND): build stages $NODE_IMAGE, runtime $RUNTIME_IMAGE"

# --- SBOM ----------------------------------------------------------------------------------------
sbom="$OUT/realtime-offers-$VERSION.cdx.json"
node --import tsx scripts/release/sbom.ts --out "$sbom" --created "$created" --revision "$revision"

# --- images --------------------------------------------------------------------------------------
# build TARGET IMAGE_NAME: the Dockerfile's TARGET, labelled, into its OCI archive.
build() {
  local target="$1" name="$2" started=$SECONDS tag
  tag="localhost/realtime-offers/release/$name:$VERSION"
  log "image $name (Dockerfile target $target, linux/$NATIVE_ARCH)"
  "${BUILDAH[@]}" build --quiet --layers --isolation chroot --network host \
    --platform "linux/$NATIVE_ARCH" --timestamp "$epoch" --target "$target" \
    --build-arg NODE_VERSION="$NODE_VERSION" --build-arg NODE_IMAGE="$NODE_IMAGE" \
    --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
    --label org.opencontainers.image.version="$VERSION" \
    --label org.opencontainers.image.revision="$revision" \
    --label org.opencontainers.image.created="$created" \
    --label org.opencontainers.image.source="$SOURCE_URL" \
    --label org.opencontainers.image.base.name="$RUNTIME_IMAGE" \
    -t "$tag" -f Dockerfile . >/dev/null
  "${BUILDAH[@]}" push --quiet --format oci "$tag" "oci-archive:$(archive "$name"):$name:$VERSION" >/dev/null
  log "image $name: $(size "$(archive "$name")") compressed, in $((SECONDS - started)) s"
}
build service "$SERVICE_IMAGE_NAME"
build loadtest "$LOADTEST_IMAGE_NAME"
service_digest="$(archive_digest "$(archive "$SERVICE_IMAGE_NAME")")"
loadtest_digest="$(archive_digest "$(archive "$LOADTEST_IMAGE_NAME")")"

# --- chart ---------------------------------------------------------------------------------------
chart="$(package_chart "$REGISTRY" "$service_digest")"

cat >"$RELEASE_FILE" <<EOF
VERSION=$VERSION
REVISION=$revision
CREATED=$created
PLATFORMS=linux/$NATIVE_ARCH
BASE_KIND=$BASE_KIND
NODE_IMAGE=$NODE_IMAGE
RUNTIME_IMAGE=$RUNTIME_IMAGE
SERVICE_ARCHIVE=${SERVICE_IMAGE_NAME}-$VERSION-linux-$NATIVE_ARCH.oci.tar
SERVICE_DIGEST=$service_digest
LOADTEST_ARCHIVE=${LOADTEST_IMAGE_NAME}-$VERSION-linux-$NATIVE_ARCH.oci.tar
LOADTEST_DIGEST=$loadtest_digest
SBOM=${sbom##*/}
EOF
sums="$(cd "$OUT" && find . -type f -printf '%P\n' | sort | xargs sha256sum)"
printf '%s\n' "$sums" >"$OUT/SHA256SUMS"

other=arm64
[[ "$NATIVE_ARCH" == arm64 ]] && other=amd64
cat >&2 <<EOF
[release] release $VERSION built in $((SECONDS - started_all)) s: $OUT
  architectures  linux/$NATIVE_ARCH (linux/$other not built: the build stages would run $other node and npm under emulation)
  base images    $BASE_KIND: $RUNTIME_IMAGE (runtime), $NODE_IMAGE (build stages)
  service        ${SERVICE_IMAGE_NAME}@$service_digest  $(size "$(archive "$SERVICE_IMAGE_NAME")")
  load test      ${LOADTEST_IMAGE_NAME}@$loadtest_digest  $(size "$(archive "$LOADTEST_IMAGE_NAME")")
  SBOM           ${sbom##*/} (CycloneDX, production dependencies)
  chart          ${chart#"$OUT"/} (image $REGISTRY/$SERVICE_IMAGE_NAME@$service_digest)
  publish with   make publish REGISTRY=host:port VERSION=$VERSION
EOF
