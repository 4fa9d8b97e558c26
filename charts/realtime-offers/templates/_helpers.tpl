{{/*
Names and labels follow the app.kubernetes.io conventions.
*/}}
{{- define "realtime-offers.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "realtime-offers.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "realtime-offers.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "realtime-offers.selectorLabels" -}}
app.kubernetes.io/name: {{ include "realtime-offers.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "realtime-offers.labels" -}}
helm.sh/chart: {{ include "realtime-offers.chart" . }}
{{ include "realtime-offers.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: realtime-offers
{{- with include "realtime-offers.commonLabels" . }}
{{ . }}
{{- end }}
{{- end }}

{{/* commonLabels, also on the pod templates and the test pod, which carry fewer labels. */}}
{{- define "realtime-offers.commonLabels" -}}
{{- with .Values.commonLabels }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* The consumer pods only: the Deployment, its Service and PDB select these. */}}
{{- define "realtime-offers.consumerSelectorLabels" -}}
{{ include "realtime-offers.selectorLabels" . }}
app.kubernetes.io/component: consumer
{{- end }}

{{- define "realtime-offers.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "realtime-offers.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "realtime-offers.image" -}}
{{- $registry := (.Values.global).imageRegistry | default .Values.image.registry }}
{{- $repository := ternary .Values.image.repository (printf "%s/%s" (trimSuffix "/" $registry) .Values.image.repository) (empty $registry) }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "realtime-offers.dlqTopic" -}}
{{- .Values.kafka.dlqTopic | default (printf "%s.dlq" .Values.kafka.topic) }}
{{- end }}

{{- define "realtime-offers.strimziNamespace" -}}
{{- .Values.strimzi.namespace | default .Release.Namespace }}
{{- end }}

{{- define "realtime-offers.kafkaUserName" -}}
{{- .Values.strimzi.user.name | default (include "realtime-offers.fullname" .) }}
{{- end }}

{{/* Kubernetes object name for a Kafka topic name: lower case, no underscores. */}}
{{- define "realtime-offers.topicResourceName" -}}
{{- . | lower | replace "_" "-" | trunc 253 | trimSuffix "-" | trimSuffix "." }}
{{- end }}

{{/*
Cross-field rules the schema cannot express. Rendering stops with a message naming the
values to change.
*/}}
{{- define "realtime-offers.validate" -}}
{{- $graceMs := mul .Values.terminationGracePeriodSeconds 1000 }}
{{- if le (int64 $graceMs) (int64 .Values.shutdownGraceMs) }}
{{- fail (printf "terminationGracePeriodSeconds (%v s) must be longer than shutdownGraceMs (%v ms): otherwise the kubelet kills the pod before the service can finish or give up cleanly" .Values.terminationGracePeriodSeconds .Values.shutdownGraceMs) }}
{{- end }}
{{- if ge (int64 .Values.kafka.heartbeatIntervalMs) (int64 .Values.kafka.sessionTimeoutMs) }}
{{- fail "kafka.heartbeatIntervalMs must be lower than kafka.sessionTimeoutMs" }}
{{- end }}
{{- if gt (int64 .Values.sinkRetry.initialMs) (int64 .Values.sinkRetry.maxMs) }}
{{- fail "sinkRetry.initialMs must not exceed sinkRetry.maxMs" }}
{{- end }}
{{- if eq (include "realtime-offers.dlqTopic" .) .Values.kafka.topic }}
{{- fail "kafka.dlqTopic must differ from kafka.topic" }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- if gt (int64 .Values.autoscaling.maxReplicas) (int64 .Values.kafka.topicPartitions) }}
{{- fail (printf "autoscaling.maxReplicas (%v) must not exceed kafka.topicPartitions (%v): a consumer beyond the partition count receives no partition" .Values.autoscaling.maxReplicas .Values.kafka.topicPartitions) }}
{{- end }}
{{- if gt (int64 .Values.autoscaling.minReplicas) (int64 .Values.autoscaling.maxReplicas) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}
{{- if and .Values.kafka.sasl.enabled (not .Values.strimzi.user.enabled) }}
{{- if not .Values.kafka.sasl.existingSecret }}
{{- fail "kafka.sasl.enabled needs kafka.sasl.existingSecret (a Secret holding the password), or strimzi.user.enabled to use the KafkaUser's Secret" }}
{{- end }}
{{- if and (not .Values.kafka.sasl.username) (not .Values.kafka.sasl.existingSecretUsernameKey) }}
{{- fail "kafka.sasl.enabled needs kafka.sasl.username or kafka.sasl.existingSecretUsernameKey" }}
{{- end }}
{{- end }}
{{- $userTls := and .Values.strimzi.user.enabled (eq .Values.strimzi.user.authentication "tls") }}
{{- if and .Values.kafka.sasl.enabled .Values.strimzi.user.enabled (not $userTls) (ne .Values.kafka.sasl.mechanism "scram-sha-512") }}
{{- fail "the KafkaUser authenticates with SCRAM-SHA-512: set kafka.sasl.mechanism to scram-sha-512" }}
{{- end }}
{{- if and $userTls .Values.kafka.sasl.enabled }}
{{- fail "strimzi.user.authentication tls authenticates with the KafkaUser's certificate: set kafka.sasl.enabled false" }}
{{- end }}
{{- if and $userTls (not .Values.kafka.tls.enabled) }}
{{- fail "strimzi.user.authentication tls needs kafka.tls.enabled (mutual TLS), and kafka.brokers on the cluster's TLS listener" }}
{{- end }}
{{- if and (not .Values.kafka.tls.enabled) (or .Values.kafka.tls.caSecret .Values.kafka.tls.certSecret) }}
{{- fail "kafka.tls.caSecret and kafka.tls.certSecret need kafka.tls.enabled" }}
{{- end }}
{{- if and (or .Values.clickhouse.tls.caSecret .Values.clickhouse.tls.certSecret) (not (hasPrefix "https://" .Values.clickhouse.url)) }}
{{- fail "clickhouse.tls needs an https:// clickhouse.url" }}
{{- end }}
{{- if and (or .Values.redis.tls.caSecret .Values.redis.tls.certSecret) (not .Values.redis.existingSecretUrlKey) (ne .Values.redis.scheme "rediss") }}
{{- fail "redis.tls needs redis.scheme rediss" }}
{{- end }}
{{- range $store := list "kafka" "clickhouse" "redis" }}
{{- $tls := get (get $.Values $store) "tls" }}
{{- if and $tls.keyPasswordSecretKey (not $tls.certSecret) (ne $store "kafka") }}
{{- fail (printf "%s.tls.keyPasswordSecretKey needs %s.tls.certSecret" $store $store) }}
{{- end }}
{{- end }}
{{- if and (not .Values.redis.existingSecretUrlKey) (not .Values.redis.host) }}
{{- fail "set redis.host, or redis.existingSecret with redis.existingSecretUrlKey" }}
{{- end }}
{{- if and .Values.redis.existingSecretUrlKey (not .Values.redis.existingSecret) }}
{{- fail "redis.existingSecretUrlKey needs redis.existingSecret" }}
{{- end }}
{{- if and (eq .Values.redis.mode "cluster") (ne (int64 .Values.redis.db) 0) }}
{{- fail "redis.mode cluster needs redis.db 0: a Redis Cluster has no other database" }}
{{- end }}
{{- if and (ne .Values.redis.mode "cluster") (gt (int64 .Values.redis.waitReplicas) 0) }}
{{- fail "redis.waitReplicas needs redis.mode cluster" }}
{{- end }}
{{- range $key, $value := .Values.podLabels }}
{{- if hasKey $.Values.commonLabels $key }}
{{- fail (printf "podLabels and commonLabels both set the label %s: set it in one of them" $key) }}
{{- end }}
{{- end }}
{{- include "realtime-offers.validateAdaptation" . }}
{{- end }}

{{/* SASL credentials: explicit values, or the Secret Strimzi creates for the KafkaUser. */}}
{{- define "realtime-offers.saslSecret" -}}
{{- .Values.kafka.sasl.existingSecret | default (include "realtime-offers.kafkaUserName" .) }}
{{- end }}

{{- define "realtime-offers.saslUsername" -}}
{{- .Values.kafka.sasl.username | default (include "realtime-offers.kafkaUserName" .) }}
{{- end }}

{{/*
Kafka connection variables (consumer and helm test). The argument is a dict with the root
context under "root" and, for the test pod, SASL credentials under "sasl" that replace the
consumer's.
*/}}
{{- define "realtime-offers.kafkaEnv" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
- name: KAFKA_BROKERS
  value: {{ $v.kafka.brokers | quote }}
- name: KAFKA_CLIENT_ID
  value: {{ $v.kafka.clientId | quote }}
- name: KAFKA_TOPIC
  value: {{ $v.kafka.topic | quote }}
- name: KAFKA_DLQ_TOPIC
  value: {{ include "realtime-offers.dlqTopic" $root | quote }}
- name: KAFKA_GROUP_ID
  value: {{ $v.kafka.groupId | quote }}
- name: KAFKA_TLS
  value: {{ $v.kafka.tls.enabled | quote }}
{{- if $v.kafka.sasl.enabled }}
{{- $sasl := .sasl | default dict }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $v.kafka.sasl.mechanism | quote }}
{{- if $sasl.secret }}
- name: KAFKA_SASL_USERNAME
  value: {{ $sasl.username | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $sasl.secret }}
      key: password
{{- else }}
{{- if $v.kafka.sasl.existingSecretUsernameKey }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "realtime-offers.saslSecret" $root }}
      key: {{ $v.kafka.sasl.existingSecretUsernameKey }}
{{- else }}
- name: KAFKA_SASL_USERNAME
  value: {{ include "realtime-offers.saslUsername" $root | quote }}
{{- end }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "realtime-offers.saslSecret" $root }}
      key: {{ $v.kafka.sasl.existingSecretPasswordKey }}
{{- end }}
{{- end }}
{{- end }}

{{/*
ClickHouse connection variables. The migration Job (argument "migrate") runs as
migration.clickhouse.user with its own Secret when that is set, else as the consumer's user.
*/}}
{{- define "realtime-offers.clickhouseEnv" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $user := $v.clickhouse.user }}
{{- $secret := $v.clickhouse.existingSecret }}
{{- $secretKey := $v.clickhouse.existingSecretPasswordKey }}
{{- if and (eq .component "migrate") $v.migration.clickhouse.user }}
{{- $user = $v.migration.clickhouse.user }}
{{- $secret = $v.migration.clickhouse.existingSecret }}
{{- $secretKey = $v.migration.clickhouse.existingSecretPasswordKey }}
{{- end }}
- name: CLICKHOUSE_URL
  value: {{ $v.clickhouse.url | quote }}
- name: CLICKHOUSE_USER
  value: {{ $user | quote }}
{{- if $secret }}
- name: CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $secretKey }}
{{- end }}
- name: CLICKHOUSE_DATABASE
  value: {{ $v.clickhouse.database | quote }}
- name: CLICKHOUSE_TABLE
  value: {{ $v.clickhouse.table | quote }}
- name: CLICKHOUSE_REQUEST_TIMEOUT_MS
  value: {{ $v.clickhouse.requestTimeoutMs | int64 | quote }}
- name: CLICKHOUSE_CLUSTER
  value: {{ $v.clickhouse.cluster | quote }}
- name: CLICKHOUSE_TTL_DAYS
  value: {{ $v.clickhouse.ttlDays | int64 | quote }}
{{- end }}

{{/*
REDIS_URL: from the Secret as a whole, or composed with the password through Kubernetes'
$(VAR) interpolation, which needs REDIS_PASSWORD defined before REDIS_URL.
*/}}
{{- define "realtime-offers.redisEnv" -}}
{{- $r := .Values.redis }}
- name: REDIS_MODE
  value: {{ $r.mode | quote }}
{{- if $r.existingSecretUrlKey }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $r.existingSecret }}
      key: {{ $r.existingSecretUrlKey }}
{{- else if $r.existingSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $r.existingSecret }}
      key: {{ $r.existingSecretPasswordKey }}
- name: REDIS_URL
  value: {{ printf "%s://%s:$(REDIS_PASSWORD)@%s:%d/%d" $r.scheme $r.username $r.host (int64 $r.port) (int64 $r.db) | quote }}
{{- else }}
- name: REDIS_URL
  value: {{ printf "%s://%s:%d/%d" $r.scheme $r.host (int64 $r.port) (int64 $r.db) | quote }}
{{- end }}
- name: REDIS_KEY_PREFIX
  value: {{ $r.keyPrefix | quote }}
{{- end }}

{{/*
The TLS files of one component ("consumer", "migrate" or "smoke"): a YAML list with, per store
that has a CA or a client certificate Secret, its variable prefix, volume names, mount dirs and
Secret keys. The env, volumes and mounts below are all made from it, so they cannot disagree.
Kafka's client certificate defaults to the chart's KafkaUser's Secret (the helm test's own
user for "smoke") when that user authenticates with TLS.
*/}}
{{- define "realtime-offers.tlsStores" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $component := .component }}
{{- $stores := list }}
{{- if and (ne $component "migrate") $v.kafka.tls.enabled }}
{{- $cert := $v.kafka.tls.certSecret }}
{{- if and (not $cert) $v.strimzi.user.enabled (eq $v.strimzi.user.authentication "tls") }}
{{- $cert = include "realtime-offers.kafkaUserName" $root }}
{{- if eq $component "smoke" }}
{{- $cert = printf "%s-smoke" $cert }}
{{- end }}
{{- end }}
{{- $stores = append $stores (dict "name" "kafka" "prefix" "KAFKA" "tls" $v.kafka.tls "certSecret" $cert) }}
{{- end }}
{{- if ne $component "smoke" }}
{{- $stores = append $stores (dict "name" "clickhouse" "prefix" "CLICKHOUSE" "tls" $v.clickhouse.tls "certSecret" $v.clickhouse.tls.certSecret) }}
{{- end }}
{{- if ne $component "migrate" }}
{{- $stores = append $stores (dict "name" "redis" "prefix" "REDIS" "tls" $v.redis.tls "certSecret" $v.redis.tls.certSecret) }}
{{- end }}
{{- $out := list }}
{{- range $stores }}
{{- if or .tls.caSecret .certSecret }}
{{- $out = append $out (dict
  "name" .name
  "prefix" .prefix
  "caSecret" .tls.caSecret
  "caKey" .tls.caSecretKey
  "certSecret" .certSecret
  "certKey" .tls.certSecretKey
  "keyKey" .tls.keySecretKey
  "passwordKey" .tls.keyPasswordSecretKey
) }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* The consumer's Kafka entry of realtime-offers.tlsStores, as YAML ({} without one). */}}
{{- define "realtime-offers.kafkaTls" -}}
{{- $kafka := dict }}
{{- range include "realtime-offers.tlsStores" (dict "root" . "component" "consumer") | fromYamlArray }}
{{- if eq .name "kafka" }}
{{- $kafka = . }}
{{- end }}
{{- end }}
{{- toYaml $kafka }}
{{- end }}

{{/* Non-empty when KEDA needs a TriggerAuthentication: SASL, or Kafka TLS files. */}}
{{- define "realtime-offers.kedaAuthentication" -}}
{{- if or .Values.kafka.sasl.enabled (include "realtime-offers.kafkaTls" . | fromYaml) }}true{{- end }}
{{- end }}

{{/* <STORE>_TLS_* variables of a component: the mounted files' paths, the key's password. */}}
{{- define "realtime-offers.tlsEnv" -}}
{{- range include "realtime-offers.tlsStores" . | fromYamlArray }}
{{- if .caSecret }}
- name: {{ .prefix }}_TLS_CA_FILE
  value: {{ printf "/etc/realtime-offers/%s-ca/%s" .name .caKey | quote }}
{{- end }}
{{- if .certSecret }}
- name: {{ .prefix }}_TLS_CERT_FILE
  value: {{ printf "/etc/realtime-offers/%s-client-cert/%s" .name .certKey | quote }}
- name: {{ .prefix }}_TLS_KEY_FILE
  value: {{ printf "/etc/realtime-offers/%s-client-cert/%s" .name .keyKey | quote }}
{{- if .passwordKey }}
- name: {{ .prefix }}_TLS_KEY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .certSecret }}
      key: {{ .passwordKey }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Secrets of a component's TLS files as volumes: only the keys it reads. */}}
{{- define "realtime-offers.tlsVolumes" -}}
{{- range include "realtime-offers.tlsStores" . | fromYamlArray }}
{{- if .caSecret }}
- name: {{ .name }}-ca
  secret:
    secretName: {{ .caSecret }}
    items:
      - key: {{ .caKey }}
        path: {{ .caKey }}
{{- end }}
{{- if .certSecret }}
- name: {{ .name }}-client-cert
  secret:
    secretName: {{ .certSecret }}
    items:
      - key: {{ .certKey }}
        path: {{ .certKey }}
      - key: {{ .keyKey }}
        path: {{ .keyKey }}
{{- end }}
{{- end }}
{{- end }}

{{- define "realtime-offers.tlsMounts" -}}
{{- range include "realtime-offers.tlsStores" . | fromYamlArray }}
{{- if .caSecret }}
- name: {{ .name }}-ca
  mountPath: {{ printf "/etc/realtime-offers/%s-ca" .name }}
  readOnly: true
{{- end }}
{{- if .certSecret }}
- name: {{ .name }}-client-cert
  mountPath: {{ printf "/etc/realtime-offers/%s-client-cert" .name }}
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/* Kubernetes identity of each span's process, then whatever the values add. */}}
{{- define "realtime-offers.otelResourceAttributes" -}}
{{- $attrs := list "k8s.namespace.name=$(K8S_NAMESPACE)" "k8s.pod.name=$(K8S_POD_NAME)" (printf "k8s.deployment.name=%s" (include "realtime-offers.fullname" .)) (printf "service.version=%s" (.Values.image.tag | default .Chart.AppVersion)) }}
{{- with .Values.otel.resourceAttributes }}
{{- $attrs = append $attrs . }}
{{- end }}
{{- join "," $attrs }}
{{- end }}

{{/* Container security context plus the /tmp volume every container of the chart gets. */}}
{{- define "realtime-offers.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* KEDA spells the SASL mechanisms differently from the service. */}}
{{- define "realtime-offers.kedaSasl" -}}
{{- get (dict "plain" "plaintext" "scram-sha-256" "scram_sha256" "scram-sha-512" "scram_sha512") .Values.kafka.sasl.mechanism }}
{{- end }}

{{/*
Adaptation points (commonAnnotations, extra containers and objects, the pods' scheduling
and environment shared by the consumer, the migration Job and the helm test, the start-up
window, monitoring, KEDA).
*/}}

{{/*
`annotations:` with commonAnnotations and the object's own ("extra", which win), or nothing.
The argument is a dict with the root context under "root".
*/}}
{{- define "realtime-offers.annotations" -}}
{{- $annotations := merge (deepCopy (.extra | default dict)) (deepCopy (.root.Values.commonAnnotations | default dict)) }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A list value rendered through tpl, so that it may refer to the release and the values. */}}
{{- define "realtime-offers.tplList" -}}
{{- with .value }}
{{- tpl (toYaml .) $.root }}
{{- end }}
{{- end }}

{{/*
Scheduling fields of the consumer's pods, given to the migration Job and the helm test too:
on a tainted or dedicated node pool, a hook pod without them stays Pending.
*/}}
{{- define "realtime-offers.podScheduling" -}}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* extraEnv and extraEnvFrom of a container: `env` entries, then an `envFrom:` block. */}}
{{- define "realtime-offers.extraEnv" -}}
{{- with .Values.extraEnv }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{- define "realtime-offers.extraEnvFrom" -}}
{{- with .Values.extraEnvFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
How long the kubelet lets start-up run before it restarts the container: the startup
probe's window, or the liveness probe's without one. Kubernetes' defaults fill what a
probe leaves out.
*/}}
{{- define "realtime-offers.startupWindowSeconds" -}}
{{- $probe := ternary .Values.startupProbe .Values.livenessProbe .Values.startupProbe.enabled }}
{{- $initial := int64 ($probe.initialDelaySeconds | default 0) }}
{{- $period := int64 ($probe.periodSeconds | default 10) }}
{{- $failures := int64 ($probe.failureThreshold | default 3) }}
{{- add $initial (mul $period $failures) }}
{{- end }}

{{/*
Kafka's client may finish its last connection attempt about 8 s after the start-up window:
the kubelet must wait that long beyond STARTUP_TIMEOUT_MS.
*/}}
{{- define "realtime-offers.startupMarginSeconds" -}}
10
{{- end }}

{{- define "realtime-offers.validateAdaptation" -}}
{{- $window := int64 (include "realtime-offers.startupWindowSeconds" .) }}
{{- $margin := int64 (include "realtime-offers.startupMarginSeconds" .) }}
{{- $needed := add (div (add (int64 .Values.startupTimeoutMs) 999) 1000) $margin }}
{{- if lt $window $needed }}
{{- if .Values.startupProbe.enabled }}
{{- $p := .Values.startupProbe }}
{{- $period := int64 ($p.periodSeconds | default 10) }}
{{- $failures := div (add (sub $needed (int64 ($p.initialDelaySeconds | default 0))) (sub $period 1)) $period }}
{{- fail (printf "startupTimeoutMs (%v ms) plus %d s does not fit the startup probe's window (initialDelaySeconds %v + periodSeconds %v x failureThreshold %v = %d s): the kubelet would restart the pod before the service can exit naming the store it waited for. Raise startupProbe.failureThreshold to at least %d, or lower startupTimeoutMs" .Values.startupTimeoutMs $margin ($p.initialDelaySeconds | default 0) $period ($p.failureThreshold | default 3) $window $failures) }}
{{- else }}
{{- fail (printf "startupTimeoutMs (%v ms) plus %d s does not fit the liveness probe's window (%d s) and startupProbe.enabled is false: the kubelet would restart the pod before the service can exit naming the store it waited for. Enable startupProbe, raise livenessProbe.failureThreshold, or lower startupTimeoutMs" .Values.startupTimeoutMs $margin $window) }}
{{- end }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled .Values.podMonitor.enabled }}
{{- fail "serviceMonitor.enabled and podMonitor.enabled both scrape the same pods, so every series would be doubled: enable one of them" }}
{{- end }}
{{- /* Client-side rendering (helm template, helm lint) cannot see the cluster's APIs; a real
cluster always serves apiregistration.k8s.io/v1, which helm's built-in list lacks. */}}
{{- if and .Values.autoscaling.enabled (.Capabilities.APIVersions.Has "apiregistration.k8s.io/v1") (not (.Capabilities.APIVersions.Has "keda.sh/v1alpha1")) }}
{{- fail "autoscaling.enabled needs KEDA, but this cluster does not serve its API (keda.sh/v1alpha1, kind ScaledObject): install KEDA 2.x first (helm install keda kedacore/keda -n keda --create-namespace), or set autoscaling.enabled=false and replicaCount" }}
{{- end }}
{{- end }}
