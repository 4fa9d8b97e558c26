#!/usr/bin/env bash
# Builds the cluster's images with buildah, without a registry, into $IMAGE_DIR as archives
# that up.sh imports into containerd:
#   pause      the pod sandbox: a static program that waits for its signal, FROM scratch;
#   the stand-ins of the Dockerfile's base images, from this Debian 12 machine's own files:
#     node-build   Node.js of .node-version (npm package node-linux-<arch>) and npm, with
#                  busybox and Debian's sh, cp and find, for the Dockerfile's build stages;
#     node-runtime the distroless `cc` base: the Debian libraries node and onnxruntime link
#                  against, user 65532, no shell (the Dockerfile copies node in);
#   the service's image from the project's Dockerfile, the base images given as build
#   arguments, tagged with its image id (printed on stdout: realtime-offers:<id>).
# Base images are built once per Node.js version; the service's layers are cached by buildah.
# Usage: scripts/cluster/images.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v buildah >/dev/null || die "'buildah' is missing: run scripts/cluster/install.sh"
command -v busybox >/dev/null || die "'busybox' is missing: run scripts/cluster/install.sh"

case "$(uname -m)" in
  x86_64) node_arch=x64 ;;
  aarch64) node_arch=arm64 ;;
  *) die "no Node.js package for $(uname -m)" ;;
esac
work="$CACHE_DIR/build/images"
BUILDAH=(buildah --root "$CACHE_DIR/containers/storage" --runroot "$CACHE_DIR/containers/run"
  --storage-driver overlay)
NODE_BUILD_IMAGE="localhost/realtime-offers-test/node-build:$NODE_VERSION"
NODE_RUNTIME_IMAGE="localhost/realtime-offers-test/node-runtime:$NODE_VERSION"
mkdir -p "$work" "$IMAGE_DIR"

have_image() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }

# add_host_binary ROOTFS PATH [AS]: a program of this machine and the libraries it links.
add_host_binary() {
  local rootfs="$1" path="$2" as="${3:-$2}" lib
  mkdir -p "$rootfs$(dirname "$as")"
  cp -L "$path" "$rootfs$as"
  add_libraries "$rootfs" "$path"
}
add_libraries() { # add_libraries ROOTFS FILE...: the shared libraries FILEs need (ldd)
  local rootfs="$1" lib
  shift
  for lib in $(ldd "$@" 2>/dev/null | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | sort -u); do
    [[ "$lib" == "$REPO_ROOT"/* ]] && continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
}

# --- Node.js and npm from the npm registry -------------------------------------------------
node_dir="$work/node-$NODE_VERSION-$node_arch"
if [[ ! -x "$node_dir/node/bin/node" ]]; then
  log "Node.js $NODE_VERSION ($node_arch) and npm $NPM_VERSION from the npm registry"
  rm -rf "$node_dir" && mkdir -p "$node_dir/node" "$node_dir/npm"
  (cd "$node_dir" && npm pack --silent "node-linux-$node_arch@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  tar xzf "$node_dir/node-linux-$node_arch-$NODE_VERSION.tgz" -C "$node_dir/node" --strip-components=1 package/bin/node
  tar xzf "$node_dir/npm-$NPM_VERSION.tgz" -C "$node_dir/npm" --strip-components=1
fi

# --- pause ------------------------------------------------------------------------------------
if ! have_image "$PAUSE_IMAGE"; then
  log "image $PAUSE_IMAGE"
  mkdir -p "$work/pause/ctx"
  cat >"$work/pause/main.go" <<'GO'
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
  printf 'module pause\n\ngo 1.22\n' >"$work/pause/go.mod"
  (cd "$work/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o ctx/pause .)
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$work/pause/ctx/Containerfile"
  "${BUILDAH[@]}" build --quiet --isolation chroot -t "$PAUSE_IMAGE" -f "$work/pause/ctx/Containerfile" "$work/pause/ctx" >/dev/null
fi

# --- the base images' stand-ins -----------------------------------------------------------------
passwd_files() { # passwd_files ROOTFS: root and nonroot (65532) as distroless has them
  mkdir -p "$1/etc" "$1/tmp" "$1/home/nonroot" "$1/root"
  chmod 1777 "$1/tmp"
  chown 65532:65532 "$1/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$1/etc/group"
}
onnx_libs=("$REPO_ROOT"/node_modules/onnxruntime-node/bin/napi-v*/linux/"$node_arch"/*)
[[ -e "${onnx_libs[0]}" ]] || die "no onnxruntime-node binaries for linux/$node_arch in node_modules (npm install first)"

if ! have_image "$NODE_RUNTIME_IMAGE"; then
  log "image $NODE_RUNTIME_IMAGE (stand-in for the distroless cc base)"
  rootfs="$work/node-runtime/ctx/rootfs"
  rm -rf "$work/node-runtime" && mkdir -p "$rootfs"
  passwd_files "$rootfs"
  add_libraries "$rootfs" "$node_dir/node/bin/node" "${onnx_libs[@]}"
  printf 'FROM scratch\nCOPY rootfs/ /\nUSER 65532:65532\nWORKDIR /home/nonroot\nENTRYPOINT ["/nodejs/bin/node"]\n' \
    >"$work/node-runtime/ctx/Containerfile"
  "${BUILDAH[@]}" build --quiet --isolation chroot -t "$NODE_RUNTIME_IMAGE" \
    -f "$work/node-runtime/ctx/Containerfile" "$work/node-runtime/ctx" >/dev/null
fi

if ! have_image "$NODE_BUILD_IMAGE"; then
  log "image $NODE_BUILD_IMAGE (stand-in for node:$NODE_VERSION-bookworm-slim)"
  rootfs="$work/node-build/ctx/rootfs"
  rm -rf "$work/node-build" && mkdir -p "$rootfs/bin" "$rootfs/usr/bin" "$rootfs/usr/local/bin" "$rootfs/usr/local/lib"
  passwd_files "$rootfs"
  cp "$(command -v busybox)" "$rootfs/bin/busybox"
  for applet in $(busybox --list); do
    [[ -e "$rootfs/bin/$applet" ]] || ln -s busybox "$rootfs/bin/$applet"
  done
  ln -s /bin/env "$rootfs/usr/bin/env"
  # Debian's own where the Dockerfile uses options busybox lacks (cp -n, find -exec +).
  for tool in /bin/sh /bin/dash /bin/cp /usr/bin/find /bin/ls /bin/rm; do
    rm -f "$rootfs$tool"
    add_host_binary "$rootfs" "$tool"
  done
  add_host_binary "$rootfs" "$node_dir/node/bin/node" /usr/local/bin/node
  add_libraries "$rootfs" "${onnx_libs[@]}"
  # The certificate authorities this machine trusts, for npm's downloads in the build stages
  # (where a proxy presents a certificate of its own, Node's built-in list alone fails).
  mkdir -p "$rootfs/etc/ssl/certs"
  cp -L "${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  cp -r "$node_dir/npm" "$rootfs/usr/local/lib/npm"
  ln -s ../lib/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/root NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\nCMD ["node"]\n' \
    >"$work/node-build/ctx/Containerfile"
  "${BUILDAH[@]}" build --quiet --isolation chroot -t "$NODE_BUILD_IMAGE" \
    -f "$work/node-build/ctx/Containerfile" "$work/node-build/ctx" >/dev/null
fi

# --- the service ------------------------------------------------------------------------------
log "image realtime-offers from the Dockerfile (buildah, base images as build arguments)"
started=$SECONDS
"${BUILDAH[@]}" build --quiet --layers --isolation chroot --network host \
  --build-arg NODE_IMAGE="$NODE_BUILD_IMAGE" --build-arg RUNTIME_IMAGE="$NODE_RUNTIME_IMAGE" \
  -t localhost/realtime-offers-test/service:build -f "$REPO_ROOT/Dockerfile" "$REPO_ROOT" >"$work/service.id"
id="$(head -c 12 "$work/service.id")"
[[ "$id" =~ ^[0-9a-f]{12}$ ]] || die "buildah printed no image id: $(cat "$work/service.id")"
log "image realtime-offers:$id built in $((SECONDS - started)) s"

rm -f "$IMAGE_DIR"/*.tar
"${BUILDAH[@]}" push --quiet "$PAUSE_IMAGE" "docker-archive:$IMAGE_DIR/pause.tar:$PAUSE_IMAGE" >/dev/null
"${BUILDAH[@]}" push --quiet localhost/realtime-offers-test/service:build \
  "docker-archive:$IMAGE_DIR/service.tar:docker.io/library/realtime-offers:$id" >/dev/null
echo "realtime-offers:$id"
