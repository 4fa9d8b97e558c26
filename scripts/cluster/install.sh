#!/usr/bin/env bash
# Installs the Debian packages `make test-cluster` runs (as root): etcd, containerd, runc, the
# CNI plugins, buildah and busybox (for the build stages' base image), skopeo (make publish
# pushes the release's OCI archives with it), iptables (kube-proxy).
# Does nothing when they are all there.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

packages=(etcd-server containerd runc containernetworking-plugins buildah skopeo busybox-static iptables iproute2 util-linux openssl curl)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0
[[ "$(id -u)" == 0 ]] || die "missing Debian packages: ${missing[*]} (install them as root)"
log "installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts containerd as a service; the cluster runs its own, with its own socket.
