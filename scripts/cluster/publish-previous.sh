#!/usr/bin/env bash
# Pushes the previous release that previous-release.sh built (its folder is $1) to the cluster's
# registry, as that release's own `make publish` would have: both images with their digests,
# and the chart it packaged for this registry, unchanged (the working tree's publish.sh would
# package the working tree's chart). Runs inside the cluster's network namespace (in_ns).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../release/release.env
. "$REPO_ROOT/scripts/release/release.env"

dir="${1:?usage: publish-previous.sh RELEASE_FOLDER}/$PREVIOUS_RELEASE"
# shellcheck source=/dev/null
. "$dir/release.env"
for image in "$SERVICE_ARCHIVE:$SERVICE_IMAGE_NAME:$SERVICE_DIGEST" "$LOADTEST_ARCHIVE:$LOADTEST_IMAGE_NAME:$LOADTEST_DIGEST"; do
  IFS=: read -r archive name digest <<<"$image"
  skopeo copy --quiet --preserve-digests --dest-tls-verify=false \
    "oci-archive:$dir/$archive" "docker://$REGISTRY_ADDRESS/$name:$PREVIOUS_RELEASE"
  pushed="sha256:$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_ADDRESS/$name:$PREVIOUS_RELEASE" | sha256sum | cut -d' ' -f1)"
  [[ "$pushed" == "sha256:${digest#sha256:}" ]] || die "$name:$PREVIOUS_RELEASE was pushed as $pushed, not $digest"
done
chart="$dir/charts/$(printf '%s' "$REGISTRY_ADDRESS" | tr ':/' '__')/realtime-offers-$PREVIOUS_RELEASE.tgz"
[[ -f "$chart" ]] || die "the previous release has no chart packaged for $REGISTRY_ADDRESS: $chart"
"${HELM:-$REPO_ROOT/.cache/bin/helm}" push "$chart" "oci://$REGISTRY_ADDRESS/$CHART_PATH" --plain-http >/dev/null
log "published the previous release $PREVIOUS_RELEASE: $REGISTRY_ADDRESS/$SERVICE_IMAGE_NAME@$SERVICE_DIGEST"
printf '%s\n' "$SERVICE_DIGEST"
