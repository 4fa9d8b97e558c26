# shellcheck shell=bash
# Shared by scripts/release/*.sh (make release, make publish). Sourced, never executed.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
RELEASE_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
LOG_TAG="${LOG_TAG:-release}"
# shellcheck source-path=SCRIPTDIR source=../images/lib.sh
. "$RELEASE_SCRIPTS/../images/lib.sh"
# shellcheck source-path=SCRIPTDIR source=release.env
. "$RELEASE_SCRIPTS/release.env"
HELM="${HELM:-$REPO_ROOT/.cache/bin/helm}"
CHART_SRC="$REPO_ROOT/charts/realtime-offers"

# The version: package.json's unless VERSION says otherwise, and then they must agree, so that
# the image's label, the chart and `realtime-offers --version` name one version.
PACKAGE_VERSION="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$REPO_ROOT/package.json")"
VERSION="${VERSION:-$PACKAGE_VERSION}"
# Semantic Versioning 2.0 without build metadata (helm and OCI tags refuse the "+").
[[ "$VERSION" =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]] ||
  die "VERSION '$VERSION' is not a semantic version (x.y.z or x.y.z-pre)"
[[ "$VERSION" == "$PACKAGE_VERSION" ]] ||
  die "VERSION $VERSION differs from package.json's $PACKAGE_VERSION: set it there first (npm version $VERSION --no-git-tag-version) and add its CHANGELOG.md section"

RELEASE_ROOT="${RELEASE_DIR:-$REPO_ROOT/dist/release}"
OUT="$RELEASE_ROOT/$VERSION"
# What release.sh wrote: digests, revision, base images (KEY=value lines).
RELEASE_FILE="$OUT/release.env"

# archive NAME: the OCI archive of one image of this release, for this machine's platform.
archive() { printf '%s/%s-%s-linux-%s.oci.tar\n' "$OUT" "$1" "$VERSION" "$NATIVE_ARCH"; }

# archive_digest ARCHIVE: the digest of the image manifest an OCI archive holds (sha256 of the
# manifest's bytes, which a registry keeps when the archive is copied with its digests).
archive_digest() {
  local index digest
  index="$(tar -xOf "$1" index.json)" || die "$1 has no index.json"
  digest="$(sed -n 's/.*"digest":"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' <<<"$index")"
  [[ -n "$digest" && "$(grep -o '"digest":' <<<"$index" | wc -l)" == 1 ]] ||
    die "$1 does not hold exactly one image manifest: $index"
  [[ "$(tar -xOf "$1" "blobs/sha256/${digest#sha256:}" | sha256sum | cut -d' ' -f1)" == "${digest#sha256:}" ]] ||
    die "$1: the manifest blob does not match its digest $digest"
  printf '%s\n' "$digest"
}

# registry_dir REGISTRY: a folder name for a registry address (host:port/path -> host_port_path).
registry_dir() { printf '%s\n' "$1" | tr ':/' '__'; }

# package_chart REGISTRY DIGEST: the chart, stamped for this release (version, appVersion, the
# image REGISTRY/realtime-offers pinned by DIGEST, Artifact Hub's images and changes from
# CHANGELOG.md), linted and packaged into $OUT/charts/<registry>/; prints the package's path.
package_chart() {
  local registry="$1" digest="$2" stage dest repository rendered
  repository="$registry/$SERVICE_IMAGE_NAME"
  dest="$OUT/charts/$(registry_dir "$registry")"
  stage="$(mktemp -d)"
  mkdir -p "$dest"
  cp -r "$CHART_SRC" "$stage/realtime-offers"
  (cd "$REPO_ROOT" && node --import tsx scripts/release/stamp-chart.ts --chart "$stage/realtime-offers" \
    --version "$VERSION" --repository "$repository" --digest "$digest" --changelog CHANGELOG.md) >&2
  "$HELM" lint --strict "$stage/realtime-offers" >/dev/null || {
    "$HELM" lint --strict "$stage/realtime-offers" >&2
    die "helm lint refused the stamped chart"
  }
  rm -f "$dest/realtime-offers-$VERSION.tgz"
  "$HELM" package "$stage/realtime-offers" --destination "$dest" >/dev/null
  rm -rf "$stage"
  # The packaged chart renders the image by digest, whatever the tag.
  rendered="$("$HELM" template offers "$dest/realtime-offers-$VERSION.tgz" --show-only templates/deployment.yaml)"
  grep -qF "image: \"$repository@$digest\"" <<<"$rendered" ||
    die "the packaged chart does not render $repository@$digest: $(grep 'image:' <<<"$rendered")"
  printf '%s\n' "$dest/realtime-offers-$VERSION.tgz"
}

# size FILE: its size in MB, one decimal.
size() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.1f MB", b / 1e6}'; }
