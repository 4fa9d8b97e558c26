#!/usr/bin/env bash
# Stops what up.sh started and deletes its network namespace, mounts, cgroups and state, so
# that up.sh can run again on the same machine. Safe to run when nothing (or only part) is up.
# Usage: [INFRA_DIR=dir] scripts/cluster/down.sh
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pid_of() { [[ -f "$CLUSTER_DIR/pids/$1.pid" ]] && cat "$CLUSTER_DIR/pids/$1.pid"; }
stop() { # stop NAME...: SIGTERM, then SIGKILL after 10 s
  local name pid pids=()
  for name in "$@"; do
    pid="$(pid_of "$name")" || continue
    kill -0 "$pid" 2>/dev/null && kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$CLUSTER_DIR/pids/$name.pid"
  done
  local deadline=$((SECONDS + 10))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
  done
  return 0
}

[[ -d "$CLUSTER_DIR" ]] || [[ -e "/run/netns/$NETNS" ]] || exit 0
log "stopping the cluster in $CLUSTER_DIR"
stop keda-adapter keda-operator coredns kube-proxy kubelet
# The containers: every task of containerd's Kubernetes namespace, then its shims (each names
# this containerd's socket on its command line).
if [[ -S "$CONTAINERD_SOCK" ]]; then
  for task in $(ctr_ns -n k8s.io tasks ls -q 2>/dev/null); do
    ctr_ns -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1
  done
fi
stop containerd
for proc in /proc/[0-9]*; do
  if { tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null | grep -qF -- "-address $CONTAINERD_SOCK"; then
    kill -9 "${proc#/proc/}" 2>/dev/null
  fi
done
stop registry kube-scheduler kube-controller-manager kube-apiserver etcd

# Pod network namespaces left by containerd: those with an address of the pod network.
for ns in /run/netns/cni-*; do
  [[ -e "$ns" ]] || continue
  if ip -n "${ns##*/}" -4 addr show 2>/dev/null | grep -q "inet ${POD_CIDR%.0.0/16}\."; then
    ip netns delete "${ns##*/}" 2>/dev/null || umount -l "$ns" 2>/dev/null
  fi
done
# Mounts under the state dir (pod volumes, container root filesystems, shm), deepest first.
awk -v dir="$CLUSTER_DIR/" 'index($2, dir) == 1 {print $2}' /proc/self/mounts | sort -r |
  while read -r mount; do umount -l "$mount" 2>/dev/null; done
# The kubelet's pod cgroups (empty once their processes are gone).
for root in /sys/fs/cgroup/*/; do
  [[ -d "$root/kubepods" ]] || continue
  find "$root/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null
done
if [[ -e "/run/netns/$NETNS" ]]; then
  ip netns delete "$NETNS" && log "network namespace $NETNS deleted"
fi
rm -rf "$CLUSTER_DIR"
log "stopped"
