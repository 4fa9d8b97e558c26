#!/usr/bin/env bash
# Builds stand-ins for the Dockerfile's two base images from this Debian 12 machine's own
# files, for builds where the published ones cannot be pulled (no registry reachable):
#   node-build-stand-in    for node:<version>-bookworm-slim (the build stages): Node.js of
#                          .node-version (npm package node-linux-<arch>) and npm, with busybox
#                          and Debian's sh, cp, find, ls and rm;
#   node-runtime-stand-in  for gcr.io/distroless/cc-debian12:nonroot (the runtime): only the
#                          Debian 12 libraries node and onnxruntime link against, user 65532,
#                          no shell (the Dockerfile copies node in).
# They are not those images: no Debian package database, no apt, not Google's distroless build;
# only what the Dockerfile's stages use. Each is built once per Node.js version.
# Prints NODE_IMAGE=<name> and RUNTIME_IMAGE=<name> on stdout (the build arguments).
# Usage: scripts/images/stand-ins.sh        (needs buildah, busybox, npm install done)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v buildah >/dev/null || die "'buildah' is missing (Debian: apt-get install buildah)"
command -v busybox >/dev/null || die "'busybox' is missing (Debian: apt-get install busybox-static)"
[[ -n "$NODE_ARCH" ]] || die "no Node.js package for $(uname -m)"
work="$IMAGES_CACHE_DIR/build"
mkdir -p "$work"

# add_host_binary ROOTFS PATH [AS]: a program of this machine and the libraries it links.
add_host_binary() {
  local rootfs="$1" path="$2" as="${3:-$2}"
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
passwd_files() { # passwd_files ROOTFS: root and nonroot (65532) as distroless has them
  mkdir -p "$1/etc" "$1/tmp" "$1/home/nonroot" "$1/root"
  chmod 1777 "$1/tmp"
  chown 65532:65532 "$1/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$1/etc/group"
}

# --- Node.js and npm from the npm registry -------------------------------------------------
node_dir="$work/node-$NODE_VERSION-$NODE_ARCH"
if [[ ! -x "$node_dir/node/bin/node" ]]; then
  log "Node.js $NODE_VERSION ($NODE_ARCH) and npm $NPM_VERSION from the npm registry"
  rm -rf "$node_dir" && mkdir -p "$node_dir/node" "$node_dir/npm"
  (cd "$node_dir" && npm pack --silent "node-linux-$NODE_ARCH@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  tar xzf "$node_dir/node-linux-$NODE_ARCH-$NODE_VERSION.tgz" -C "$node_dir/node" --strip-components=1 package/bin/node
  tar xzf "$node_dir/npm-$NPM_VERSION.tgz" -C "$node_dir/npm" --strip-components=1
fi

onnx_libs=("$REPO_ROOT"/node_modules/onnxruntime-node/bin/napi-v*/linux/"$NODE_ARCH"/*)
[[ -e "${onnx_libs[0]}" ]] || die "no onnxruntime-node binaries for linux/$NODE_ARCH in node_modules (npm install first)"

if ! have_image "$STAND_IN_RUNTIME_IMAGE"; then
  log "image $STAND_IN_RUNTIME_IMAGE (stand-in for $UPSTREAM_RUNTIME_IMAGE)"
  rootfs="$work/node-runtime/ctx/rootfs"
  rm -rf "$work/node-runtime" && mkdir -p "$rootfs"
  passwd_files "$rootfs"
  add_libraries "$rootfs" "$node_dir/node/bin/node" "${onnx_libs[@]}"
  printf 'FROM scratch\nCOPY rootfs/ /\nUSER 65532:65532\nWORKDIR /home/nonroot\nENTRYPOINT ["/nodejs/bin/node"]\n' \
    >"$work/node-runtime/ctx/Containerfile"
  "${BUILDAH[@]}" build --quiet --isolation chroot -t "$STAND_IN_RUNTIME_IMAGE" \
    -f "$work/node-runtime/ctx/Containerfile" "$work/node-runtime/ctx" >/dev/null
fi

if ! have_image "$STAND_IN_BUILD_IMAGE"; then
  log "image $STAND_IN_BUILD_IMAGE (stand-in for $UPSTREAM_BUILD_IMAGE)"
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
  "${BUILDAH[@]}" build --quiet --isolation chroot -t "$STAND_IN_BUILD_IMAGE" \
    -f "$work/node-build/ctx/Containerfile" "$work/node-build/ctx" >/dev/null
fi

printf 'NODE_IMAGE=%s\nRUNTIME_IMAGE=%s\n' "$STAND_IN_BUILD_IMAGE" "$STAND_IN_RUNTIME_IMAGE"
