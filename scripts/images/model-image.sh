#!/usr/bin/env bash
# make model-image: builds the model image, the ONNX model apart from the service's image, for
# the chart's model.source ociImage and imageVolume (docs/kubernetes.md, "Delivering the model"):
#   /model/offer_model.onnx   the model, read-only, owned by root
#   /bin/cp                   Debian's static busybox, which runs as `cp` under that name: the
#                             init container of model.source ociImage copies the model with it
#                             (an image volume ignores it)
# Nothing else: no shell, no libraries. User 65532, like the service.
# Labels: org.opencontainers.image.version = the model's own model_version (its ONNX metadata),
# realtime-offers.model.sha256 = the file's SHA-256 (the chart's model.sha256, the service's
# MODEL_SHA256). The tag is the version with "+" as "_" (OCI tags have no "+", as helm does
# for chart versions). Every file time and `created` are the model file's last commit time, so
# the same model gives the same image digest.
# Writes dist/model-image/realtime-offers-model-<tag>.oci.tar (an OCI archive) and, with
# REGISTRY=host:port[/path], pushes it there (REGISTRY_PLAIN_HTTP=1 for http).
# Env: MODEL (default model/offer_model.onnx), MODEL_IMAGE_NAME (default realtime-offers-model),
#   MODEL_IMAGE_DIR (default dist/model-image).
set -euo pipefail
LOG_TAG="model-image"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in buildah file sha256sum tar; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (Debian: apt-get install buildah)"
done
busybox="$(command -v busybox || true)"
[[ -n "$busybox" ]] || die "'busybox' is missing (Debian: apt-get install busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
  die "$busybox is not statically linked: the image has no libraries (Debian: apt-get install busybox-static)"
cd "$REPO_ROOT"

model="${MODEL:-model/offer_model.onnx}"
[[ -f "$model" ]] || die "no model at $model (MODEL=)"
name="${MODEL_IMAGE_NAME:-realtime-offers-model}"
out_dir="${MODEL_IMAGE_DIR:-$REPO_ROOT/dist/model-image}"

version="$(node --import tsx scripts/images/model-version.ts "$model")" ||
  die "cannot read the model_version of $model"
sha256="$(sha256sum "$model" | cut -d' ' -f1)"
tag="${version//+/_}"
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "model_version '$version' makes no OCI tag"
epoch="$(git log -1 --format=%ct -- "$model" 2>/dev/null || true)"
epoch="${epoch:-0}"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
image="localhost/$name:$tag"
archive="$out_dir/$name-$tag.oci.tar"
log "model $model: version $version, sha256 $sha256"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/model" "$ctx/rootfs/bin"
install -m 0444 "$model" "$ctx/rootfs/model/offer_model.onnx"
install -m 0555 "$busybox" "$ctx/rootfs/bin/cp"
cat >"$ctx/Containerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
USER 65532:65532
EOF

started=$SECONDS
"${BUILDAH[@]}" build --quiet --isolation chroot --timestamp "$epoch" \
  --label org.opencontainers.image.title="$name" \
  --label org.opencontainers.image.description="The realtime-offers ONNX model ($model), for the chart's model.source ociImage or imageVolume" \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.created="$created" \
  --label org.opencontainers.image.source="$(sed -n 's/^SOURCE_URL=//p' scripts/release/release.env)" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --label realtime-offers.model.sha256="$sha256" \
  --label realtime-offers.model.path=/model/offer_model.onnx \
  -t "$image" -f "$ctx/Containerfile" "$ctx" >/dev/null
mkdir -p "$out_dir"
rm -f "$archive"
"${BUILDAH[@]}" push --quiet --format oci "$image" "oci-archive:$archive:$name:$tag" >/dev/null

# The archive must hold the model as it was given: its digest, read back from the layer.
digest="$(tar -xOf "$archive" index.json | sed -n 's/.*"digest":"\(sha256:[0-9a-f]\{64\}\)".*/\1/p')"
[[ -n "$digest" ]] || die "$archive holds no image manifest"
label="$("${BUILDAH[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "realtime-offers.model.sha256"}}' "$image")"
[[ "$label" == "$sha256" ]] || die "the image's realtime-offers.model.sha256 label is '$label', not $sha256"

# Pushed from the archive with its digests kept (as make publish does), so the registry serves
# the digest printed here.
pushed=""
if [[ -n "${REGISTRY:-}" ]]; then
  command -v skopeo >/dev/null || die "'skopeo' is missing (Debian: apt-get install skopeo)"
  tls=(--dest-tls-verify=true)
  [[ "${REGISTRY_PLAIN_HTTP:-0}" == 1 ]] && tls=(--dest-tls-verify=false)
  skopeo copy --quiet --preserve-digests "${tls[@]}" \
    "oci-archive:$archive:$name:$tag" "docker://$REGISTRY/$name:$tag"
  pushed="$REGISTRY/$name@$digest"
fi

cat >&2 <<EOF
[model-image] $image built in $((SECONDS - started)) s: $archive ($(du -h "$archive" | cut -f1))
  model version  $version (tag $tag)
  model sha256   $sha256
  image digest   $digest${pushed:+
  pushed         $pushed}
  install with   helm upgrade --install offers <chart> --reuse-values --set model.source=ociImage \\
                   --set model.image.repository=<registry>/$name --set-string model.image.tag=$tag \\
                   --set model.sha256=$sha256
EOF
