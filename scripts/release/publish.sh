#!/usr/bin/env bash
# make publish: pushes release VERSION (built by make release into dist/release/VERSION) to the
# OCI registry REGISTRY (host[:port][/path]):
#   the images    skopeo copy --preserve-digests of the OCI archives, so the registry holds the
#                 very manifests the chart names (each checked after the push);
#   the chart     packaged again for REGISTRY (image REGISTRY/realtime-offers@<digest>) and
#                 pushed with helm push to oci://REGISTRY/charts.
# Prints the digests and the helm install command. Credentials: log in first with
# `skopeo login REGISTRY` and `helm registry login REGISTRY` (or their --authfile/--registry-config).
# Env: REGISTRY (required), VERSION (default package.json's), RELEASE_DIR (default dist/release),
#   REGISTRY_PLAIN_HTTP=1 for a registry served over plain http (the default is https, with the
#   certificate checked against the system's CAs).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

started_all=$SECONDS
[[ -n "${REGISTRY:-}" ]] || die "REGISTRY is required: make publish REGISTRY=host:port[/path]"
REGISTRY="${REGISTRY%/}"
command -v skopeo >/dev/null || die "'skopeo' is missing (Debian: apt-get install skopeo)"
[[ -x "$HELM" ]] || die "no helm at $HELM: run scripts/tools/install-helm.sh (make tools)"
[[ -f "$RELEASE_FILE" ]] || die "no release $VERSION in $OUT: run make release VERSION=$VERSION first"
# shellcheck source=/dev/null
. "$RELEASE_FILE"

skopeo_tls=(--dest-tls-verify=true)
helm_tls=()
if [[ "${REGISTRY_PLAIN_HTTP:-0}" == 1 ]]; then
  skopeo_tls=(--dest-tls-verify=false)
  helm_tls=(--plain-http)
fi

# push ARCHIVE NAME DIGEST: the image to REGISTRY/NAME:VERSION, checked by digest.
push() {
  local archive="$OUT/$1" name="$2" digest="$3" started=$SECONDS pushed
  [[ "$(archive_digest "$archive")" == "$digest" ]] || die "$archive no longer holds $digest"
  skopeo copy --quiet --preserve-digests "${skopeo_tls[@]}" \
    "oci-archive:$archive" "docker://$REGISTRY/$name:$VERSION"
  # What the registry now serves under the tag: the same manifest, byte for byte.
  pushed="sha256:$(skopeo inspect --raw "${skopeo_tls[@]/--dest-/--}" "docker://$REGISTRY/$name:$VERSION" | sha256sum | cut -d' ' -f1)"
  [[ "$pushed" == "$digest" ]] || die "$REGISTRY/$name:$VERSION has manifest $pushed, not the release's $digest"
  log "pushed $REGISTRY/$name:$VERSION ($digest) in $((SECONDS - started)) s"
}
push "$SERVICE_ARCHIVE" "$SERVICE_IMAGE_NAME" "$SERVICE_DIGEST"
push "$LOADTEST_ARCHIVE" "$LOADTEST_IMAGE_NAME" "$LOADTEST_DIGEST"

chart="$(package_chart "$REGISTRY" "$SERVICE_DIGEST")"
pushed="$("$HELM" push "$chart" "oci://$REGISTRY/$CHART_PATH" "${helm_tls[@]}" 2>&1)" ||
  die "helm push failed: $pushed"
chart_digest="$(sed -n 's/^Digest: //p' <<<"$pushed")"
printf 'REGISTRY=%s\nCHART=oci://%s/%s/realtime-offers\nCHART_DIGEST=%s\n' \
  "$REGISTRY" "$REGISTRY" "$CHART_PATH" "$chart_digest" >"$OUT/published-$(registry_dir "$REGISTRY").env"

plain=""
[[ "${REGISTRY_PLAIN_HTTP:-0}" == 1 ]] && plain=" --plain-http"
cat >&2 <<EOF
[release] published $VERSION to $REGISTRY in $((SECONDS - started_all)) s
  service    $REGISTRY/$SERVICE_IMAGE_NAME:$VERSION  $SERVICE_DIGEST
  load test  $REGISTRY/$LOADTEST_IMAGE_NAME:$VERSION  $LOADTEST_DIGEST
  chart      oci://$REGISTRY/$CHART_PATH/realtime-offers:$VERSION  $chart_digest
  install    helm install offers oci://$REGISTRY/$CHART_PATH/realtime-offers --version $VERSION$plain -n offers -f my-values.yaml
  load test  npm run load-test -- --mode kubernetes --image $REGISTRY/$LOADTEST_IMAGE_NAME@$LOADTEST_DIGEST
EOF
