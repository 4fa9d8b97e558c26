#!/usr/bin/env bash
# Builds the pod sandbox image with buildah, without a registry, into $IMAGE_DIR as an archive
# that up.sh imports into containerd: pause, a static program that waits for its signal,
# FROM scratch. Everything else the cluster runs is pulled by containerd from the cluster's
# registry, where the test publishes the release (scripts/release). Built once.
# Usage: scripts/cluster/images.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../images/lib.sh
. "$REPO_ROOT/scripts/images/lib.sh"

command -v buildah >/dev/null || die "'buildah' is missing: run scripts/cluster/install.sh"

work="$IMAGES_CACHE_DIR/build/pause"
mkdir -p "$work/ctx" "$IMAGE_DIR"
if ! have_image "$PAUSE_IMAGE"; then
  log "image $PAUSE_IMAGE"
  cat >"$work/main.go" <<'GO'
// The pod sandbox's process: holds the pod's namespaces until it is told to stop.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
GO
  printf 'module pause\n\ngo 1.22\n' >"$work/go.mod"
  (cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o ctx/pause .)
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$work/ctx/Containerfile"
  "${BUILDAH[@]}" build --quiet --isolation chroot -t "$PAUSE_IMAGE" -f "$work/ctx/Containerfile" "$work/ctx" >/dev/null
fi
rm -f "$IMAGE_DIR"/*.tar
"${BUILDAH[@]}" push --quiet "$PAUSE_IMAGE" "docker-archive:$IMAGE_DIR/pause.tar:$PAUSE_IMAGE" >/dev/null
