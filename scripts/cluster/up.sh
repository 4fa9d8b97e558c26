#!/usr/bin/env bash
# Starts a single-node Kubernetes cluster inside a network namespace of its own: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, an OCI registry (CNCF Distribution),
# containerd (runc, bridge CNI, pulling from that registry), kubelet, kube-proxy, CoreDNS, the
# KEDA operator and its metrics API server, all as plain processes of this machine. The namespace has loopback and one bridge (NODE_IP/16) and
# nothing else: no route leaves it, and no port of it is reachable from outside, so the
# fixed ports below cannot clash with anything on the machine.
# Needs root, the programs of build.sh and Debian's etcd-server, containerd, runc and
# containernetworking-plugins (install.sh). State, logs and kubeconfig go to $CLUSTER_DIR.
# Usage: [INFRA_DIR=dir] scripts/cluster/up.sh     (down.sh stops it and deletes the namespace)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ "$(id -u)" == 0 ]] || die "the cluster needs root (network namespace, containerd, kubelet)"
for tool in etcd containerd runc ip iptables nsenter openssl; do
  command -v "$tool" >/dev/null || die "'$tool' is missing: run scripts/cluster/install.sh"
done
for bin in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl coredns keda-operator keda-adapter registry; do
  [[ -x "$BIN_DIR/$bin" ]] || die "$BIN_DIR/$bin is missing: run scripts/cluster/build.sh"
done
[[ -x /usr/lib/cni/bridge ]] || die "the CNI plugins are missing: run scripts/cluster/install.sh"
if [[ -e "/run/netns/$NETNS" ]]; then
  die "network namespace $NETNS exists: run scripts/cluster/down.sh first"
fi

mkdir -p "$CLUSTER_DIR"/{pki,logs,pids,etcd,containerd,cni/net.d,cni/ipam,kubelet,keda-certs,registry/data}
PKI="$CLUSTER_DIR/pki"

log "network namespace $NETNS: lo and bridge $BRIDGE ($NODE_IP/16)"
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
ip -n "$NETNS" link add "$BRIDGE" type bridge
ip -n "$NETNS" addr add "$NODE_IP/16" dev "$BRIDGE"
ip -n "$NETNS" link set "$BRIDGE" up
# Service addresses, for the node's own processes (KEDA): kube-proxy translates them on the
# way out, as on a node whose default route covers them.
ip -n "$NETNS" route add "$SERVICE_CIDR" dev "$BRIDGE" src "$NODE_IP"
# Pods reach Services (kube-proxy DNAT) and the services on the bridge address.
in_ns sysctl -qw net.ipv4.ip_forward=1

# --- certificates -------------------------------------------------------------------------
cert() { # cert NAME CN [O] [SAN] [CA]: a key and a certificate signed by CA (default: ca)
  local name="$1" cn="$2" org="${3:-}" san="${4:-}" ca="${5:-ca}" subj="/CN=$2"
  [[ -n "$org" ]] && subj="/O=$org/CN=$cn"
  openssl req -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -out "$PKI/$name.csr" \
    -subj "$subj" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n "$san" ]] && echo "subjectAltName=$san"
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -CAcreateserial -days 2 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
}
ca() { # ca NAME CN
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$PKI/$1.key" -out "$PKI/$1.crt" \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}
log "certificates"
ca ca "realtime-offers test cluster CA"
ca front-proxy-ca "realtime-offers test front-proxy CA"
cert apiserver kube-apiserver "" "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:$API_SERVICE_IP,IP:$NODE_IP,IP:127.0.0.1"
cert admin admin system:masters
cert node "system:node:$NODE_NAME" system:nodes "DNS:$NODE_NAME,IP:$NODE_IP"
cert front-proxy-client front-proxy-client "" "" front-proxy-ca
# KEDA's operator and metrics API server authenticate each other with one certificate (mTLS).
cert keda keda-operator "" "DNS:keda-operator,DNS:keda-operator.keda,DNS:keda-operator.keda.svc,DNS:keda-operator.keda.svc.cluster.local,DNS:keda-operator-metrics-apiserver.keda.svc,DNS:localhost,IP:$NODE_IP,IP:127.0.0.1"
cp "$PKI/ca.crt" "$CLUSTER_DIR/keda-certs/ca.crt"
cp "$PKI/keda.crt" "$CLUSTER_DIR/keda-certs/tls.crt"
cp "$PKI/keda.key" "$CLUSTER_DIR/keda-certs/tls.key"
openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null

kubeconfig() { # kubeconfig FILE CERT-NAME
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: $CLUSTER_NAME
    cluster:
      server: https://$NODE_IP:$API_PORT
      certificate-authority: $PKI/ca.crt
users:
  - name: $2
    user:
      client-certificate: $PKI/$2.crt
      client-key: $PKI/$2.key
contexts:
  - name: $CLUSTER_NAME
    context: {cluster: $CLUSTER_NAME, user: $2}
current-context: $CLUSTER_NAME
EOF
}
kubeconfig "$KUBECONFIG_FILE" admin
kubeconfig "$CLUSTER_DIR/kubelet.kubeconfig" node

# --- etcd and the control plane -----------------------------------------------------------
log "etcd $(etcd --version | sed -n 's/^etcd Version: //p')"
start etcd etcd --name "$NODE_NAME" --data-dir "$CLUSTER_DIR/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --log-level warn
wait_until 60 "etcd" in_ns curl -fsS http://127.0.0.1:2379/health

log "kube-apiserver $K8S_VERSION"
start kube-apiserver "$BIN_DIR/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 \
  --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port="$API_PORT" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --authorization-mode=Node,RBAC \
  --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --enable-aggregator-routing=true \
  --profiling=false
wait_until 120 "kube-apiserver" kc get --raw /readyz

# The HPA reads KEDA's lag metric every 5 s (default 15 s): a backlog that one consumer
# drains in half a minute still gets seen.
log "kube-controller-manager, kube-scheduler"
start kube-controller-manager "$BIN_DIR/kube-controller-manager" \
  --kubeconfig="$KUBECONFIG_FILE" --authentication-kubeconfig="$KUBECONFIG_FILE" \
  --authorization-kubeconfig="$KUBECONFIG_FILE" --bind-address=127.0.0.1 \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --use-service-account-credentials=true --leader-elect=false \
  --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false \
  --horizontal-pod-autoscaler-sync-period=5s
start kube-scheduler "$BIN_DIR/kube-scheduler" --kubeconfig="$KUBECONFIG_FILE" \
  --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false

# --- the OCI registry ---------------------------------------------------------------------
# Where the test publishes the release (make publish) and the kubelet's pulls go: plain http on
# the bridge, storage in the run's state dir (deleted by down.sh).
cat >"$CLUSTER_DIR/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog: {disabled: true}
storage:
  filesystem: {rootdirectory: $CLUSTER_DIR/registry/data}
  delete: {enabled: true}
http:
  addr: $REGISTRY_ADDRESS
EOF
log "Distribution registry $DISTRIBUTION_VERSION on $REGISTRY_ADDRESS (plain http)"
# No trace exporter: nothing collects the registry's spans here.
start registry env OTEL_TRACES_EXPORTER=none "$BIN_DIR/registry" serve "$CLUSTER_DIR/registry/config.yml"
wait_until 30 "the registry" in_ns curl -fsS "http://$REGISTRY_ADDRESS/v2/"

# --- containerd and the kubelet -----------------------------------------------------------
cat >"$CLUSTER_DIR/cni/net.d/10-offers.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "offers",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CLUSTER_DIR/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "rangeStart": "$POD_RANGE_START", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
# restrict_oom_score_adj: without CAP_SYS_RESOURCE containerd may not lower a container's OOM
# score below its own. runc, not crun: crun refuses the hybrid cgroup layout of this host.
cat >"$CLUSTER_DIR/containerd/config.toml" <<EOF
version = 2
root = "$CLUSTER_DIR/containerd/root"
state = "$CLUSTER_DIR/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_DIR/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$CLUSTER_DIR/containerd/certs.d"
EOF
# The cluster's registry speaks plain http: one hosts.toml for its host:port.
mkdir -p "$CLUSTER_DIR/containerd/certs.d/$REGISTRY_ADDRESS"
cat >"$CLUSTER_DIR/containerd/certs.d/$REGISTRY_ADDRESS/hosts.toml" <<EOF
server = "http://$REGISTRY_ADDRESS"
[host."http://$REGISTRY_ADDRESS"]
  capabilities = ["pull", "resolve"]
EOF
log "containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | sed -n 's/^runc version //p')"
start containerd containerd --config "$CLUSTER_DIR/containerd/config.toml"
wait_until 60 "containerd" ctr_ns version

log "image: pause (built by images.sh; every other image is pulled from $REGISTRY_ADDRESS)"
ctr_ns -n k8s.io images import --no-unpack=false "$IMAGE_DIR/pause.tar" >/dev/null

# The kubelet's own resolv.conf: pods get cluster DNS first, nothing upstream (the namespace
# has no way out).
printf 'nameserver %s\n' "$NODE_IP" >"$CLUSTER_DIR/resolv.conf"
cat >"$CLUSTER_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has cgroup v1, which kubelet 1.35 refuses unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
resolvConf: $CLUSTER_DIR/resolv.conf
podLogsDir: $CLUSTER_DIR/pod-logs
failSwapOn: false
tlsCertFile: $PKI/node.crt
tlsPrivateKeyFile: $PKI/node.key
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
enforceNodeAllocatable: []
localStorageCapacityIsolation: true
EOF
log "kubelet"
start kubelet "$BIN_DIR/kubelet" --config="$CLUSTER_DIR/kubelet.yaml" \
  --kubeconfig="$CLUSTER_DIR/kubelet.kubeconfig" --hostname-override="$NODE_NAME" \
  --node-ip="$NODE_IP" --root-dir="$CLUSTER_DIR/kubelet"
wait_until 120 "node $NODE_NAME Ready" kc wait "node/$NODE_NAME" --for=condition=Ready --timeout=5s

cat >"$CLUSTER_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KUBECONFIG_FILE}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# No conntrack sysctls to set (they are not per network namespace).
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
# Every Service connection is masqueraded: a pod reaching another pod on the bridge through a
# Service gets its answer back through the same NAT (no br_netfilter here).
iptables: {masqueradeAll: true, localhostNodePorts: false}
EOF
log "kube-proxy"
start kube-proxy "$BIN_DIR/kube-proxy" --config="$CLUSTER_DIR/kube-proxy.yaml"

# --- cluster DNS ------------------------------------------------------------------------------
cat >"$CLUSTER_DIR/Corefile" <<EOF
.:53 {
    errors
    health 127.0.0.1:8181
    ready 127.0.0.1:8182
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG_FILE $CLUSTER_NAME
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
EOF
log "CoreDNS $COREDNS_VERSION on $NODE_IP:53"
start coredns "$BIN_DIR/coredns" -conf "$CLUSTER_DIR/Corefile"
wait_until 60 "CoreDNS" in_ns curl -fsS http://127.0.0.1:8182/ready

# --- KEDA -------------------------------------------------------------------------------------
# Out of the cluster, but as the chart would run it: the operator and the metrics API server in
# namespace keda, resolving names with keda's DNS search path (a mount namespace of their own
# with that resolv.conf), the metrics API server behind the APIService through a Service.
kc apply --server-side -f "$CRD_DIR/keda-2.21.0/" >/dev/null
kc wait crd --all --for=condition=Established --timeout=60s >/dev/null
kc create namespace keda >/dev/null
printf 'nameserver %s\nsearch keda.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n' \
  "$NODE_IP" >"$CLUSTER_DIR/keda-resolv.conf"
log "KEDA operator $KEDA_VERSION"
KEDA_ENV=(KUBECONFIG="$KUBECONFIG_FILE" WATCH_NAMESPACE="" POD_NAMESPACE=keda
  KEDA_CLUSTER_OBJECT_NAMESPACE=keda OPERATOR_NAME=keda-operator KEDA_HTTP_DEFAULT_TIMEOUT=3000)
start_with_resolv "$CLUSTER_DIR/keda-resolv.conf" keda-operator env "${KEDA_ENV[@]}" \
  "$BIN_DIR/keda-operator" --leader-elect=false --cert-dir="$CLUSTER_DIR/keda-certs" \
  --enable-cert-rotation=false --enable-webhook-patching=false --enable-apiservice-patching=false \
  --metrics-bind-address=127.0.0.1:8090 --health-probe-bind-address=127.0.0.1:8091 \
  --metrics-service-bind-address="$NODE_IP:9666" --zap-log-level=info
log "KEDA metrics API server $KEDA_VERSION"
start_with_resolv "$CLUSTER_DIR/keda-resolv.conf" keda-adapter env "${KEDA_ENV[@]}" \
  "$BIN_DIR/keda-adapter" --secure-port="$KEDA_ADAPTER_PORT" --bind-address="$NODE_IP" \
  --cert-dir="$CLUSTER_DIR/keda-certs" --tls-cert-file="$CLUSTER_DIR/keda-certs/tls.crt" \
  --tls-private-key-file="$CLUSTER_DIR/keda-certs/tls.key" \
  --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
  --lister-kubeconfig="$KUBECONFIG_FILE" \
  --metrics-service-address="$NODE_IP:9666" --metrics-service-grpc-authority=keda-operator.keda.svc.cluster.local \
  --v=0
kc apply --server-side -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: keda-operator-metrics-apiserver, namespace: keda}
spec:
  ports: [{name: https, port: 443, targetPort: $KEDA_ADAPTER_PORT}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: keda-operator-metrics-apiserver-host
  namespace: keda
  labels: {kubernetes.io/service-name: keda-operator-metrics-apiserver}
addressType: IPv4
ports: [{name: https, port: $KEDA_ADAPTER_PORT, protocol: TCP}]
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.external.metrics.k8s.io}
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {name: keda-operator-metrics-apiserver, namespace: keda, port: 443}
  caBundle: $(base64 -w0 "$PKI/ca.crt")
EOF
wait_until 120 "the external metrics API (KEDA)" kc get --raw /apis/external.metrics.k8s.io/v1beta1
log "cluster up in $SECONDS s: KUBECONFIG=$KUBECONFIG_FILE (reachable inside the namespace only)"
