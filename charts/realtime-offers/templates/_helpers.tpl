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
{{- include "realtime-offers.validateModel" . }}
{{- include "realtime-offers.validateReplay" . }}
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

{{/*
The model file (model.source): where it comes from, where the consumer reads it (MODEL_PATH),
and the volumes, mounts and init container that put it there. Every source but "image" mounts
the model under one directory; only the consumer reads the model (the migration Job and the
helm test do not).
*/}}
{{- define "realtime-offers.modelDir" -}}
/etc/realtime-offers/model
{{- end }}

{{/* The model image's reference, built like the service's (realtime-offers.image). */}}
{{- define "realtime-offers.modelImage" -}}
{{- $image := .Values.model.image }}
{{- $registry := (.Values.global).imageRegistry | default $image.registry }}
{{- $repository := ternary $image.repository (printf "%s/%s" (trimSuffix "/" $registry) $image.repository) (empty $registry) }}
{{- if $image.digest }}
{{- printf "%s@%s" $repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $repository $image.tag }}
{{- end }}
{{- end }}

{{- define "realtime-offers.modelPath" -}}
{{- $m := .Values.model }}
{{- $dir := include "realtime-offers.modelDir" . }}
{{- if eq $m.source "configMap" }}
{{- printf "%s/%s" $dir $m.configMap.key }}
{{- else if eq $m.source "persistentVolumeClaim" }}
{{- printf "%s/%s" $dir $m.persistentVolumeClaim.file }}
{{- else if eq $m.source "ociImage" }}
{{- printf "%s/%s" $dir (base $m.image.file) }}
{{- else if eq $m.source "imageVolume" }}
{{- printf "%s%s" $dir $m.image.file }}
{{- else }}
{{- $m.path }}
{{- end }}
{{- end }}

{{/*
The shadow model (model.shadow): MODEL_SHADOW_PATH, empty when shadow scoring is off; from a
ConfigMap mounted under its own directory when model.shadow.configMap.name is set.
*/}}
{{- define "realtime-offers.shadowModelDir" -}}
/etc/realtime-offers/shadow-model
{{- end }}

{{- define "realtime-offers.shadowModelPath" -}}
{{- $s := .Values.model.shadow }}
{{- if $s.configMap.name }}
{{- printf "%s/%s" (include "realtime-offers.shadowModelDir" .) $s.configMap.key }}
{{- else }}
{{- $s.path }}
{{- end }}
{{- end }}

{{/*
MODEL_SHADOW_PATH alone, the migration Job's only MODEL_* variable (and only with a shadow
model): it creates the shadow table when the variable is set, and loads no model.
*/}}
{{- define "realtime-offers.shadowModelEnv" -}}
- name: MODEL_SHADOW_PATH
  value: {{ include "realtime-offers.shadowModelPath" . | quote }}
{{- end }}

{{/* MODEL_* variables of the consumer. */}}
{{- define "realtime-offers.modelEnv" -}}
- name: MODEL_PATH
  value: {{ include "realtime-offers.modelPath" . | quote }}
- name: MODEL_SHA256
  value: {{ .Values.model.sha256 | quote }}
- name: MODEL_THREADS
  value: {{ .Values.model.threads | int64 | quote }}
- name: MODEL_WORKERS
  value: {{ .Values.model.workers | int64 | quote }}
{{ include "realtime-offers.shadowModelEnv" . }}
- name: MODEL_SHADOW_SHA256
  value: {{ .Values.model.shadow.sha256 | quote }}
{{- end }}

{{- define "realtime-offers.modelVolumes" -}}
{{- $m := .Values.model }}
{{- if eq $m.source "configMap" }}
- name: model
  configMap:
    name: {{ $m.configMap.name }}
    items:
      - key: {{ $m.configMap.key }}
        path: {{ $m.configMap.key }}
{{- else if eq $m.source "persistentVolumeClaim" }}
- name: model
  persistentVolumeClaim:
    claimName: {{ $m.persistentVolumeClaim.claimName }}
    readOnly: true
{{- else if eq $m.source "ociImage" }}
- name: model
  emptyDir:
    sizeLimit: {{ $m.image.sizeLimit }}
{{- else if eq $m.source "imageVolume" }}
- name: model
  image:
    reference: {{ include "realtime-offers.modelImage" . | quote }}
    pullPolicy: {{ $m.image.pullPolicy }}
{{- end }}
{{- with $m.shadow.configMap.name }}
- name: shadow-model
  configMap:
    name: {{ . }}
    items:
      - key: {{ $m.shadow.configMap.key }}
        path: {{ $m.shadow.configMap.key }}
{{- end }}
{{- end }}

{{/* The consumer's model mount: read-only, whatever the source. */}}
{{- define "realtime-offers.modelMounts" -}}
{{- $m := .Values.model }}
{{- if ne $m.source "image" }}
- name: model
  mountPath: {{ include "realtime-offers.modelDir" . }}
  readOnly: true
  {{- if and (eq $m.source "persistentVolumeClaim") $m.persistentVolumeClaim.subPath }}
  subPath: {{ $m.persistentVolumeClaim.subPath }}
  {{- end }}
{{- end }}
{{- if $m.shadow.configMap.name }}
- name: shadow-model
  mountPath: {{ include "realtime-offers.shadowModelDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
source ociImage: an init container of the model image copies the file into the emptyDir the
consumer then reads, so the model needs no registry support beyond an ordinary image pull.
*/}}
{{- define "realtime-offers.modelInitContainer" -}}
{{- $m := .Values.model }}
{{- if eq $m.source "ociImage" }}
- name: model
  image: {{ include "realtime-offers.modelImage" . | quote }}
  imagePullPolicy: {{ $m.image.pullPolicy }}
  command: ["cp", {{ $m.image.file | quote }}, {{ include "realtime-offers.modelPath" . | quote }}]
  resources:
    {{- toYaml $m.image.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: model
      mountPath: {{ include "realtime-offers.modelDir" . }}
{{- end }}
{{- end }}

{{/* The consumer pods' init containers: the model's copy first, then those of the values. */}}
{{- define "realtime-offers.initContainers" -}}
{{- include "realtime-offers.modelInitContainer" . | trim }}
{{- with include "realtime-offers.tplList" (dict "value" .Values.initContainers "root" .) | trim }}
{{ . }}
{{- end }}
{{- end }}

{{/*
source configMap: the pod template changes with the ConfigMap's content, so a new model in the
same ConfigMap rolls the pods on helm upgrade. The content is read from the cluster (lookup);
a rendering without one (helm template, GitOps tools) sees only the name, key and sha256.
*/}}
{{- define "realtime-offers.modelChecksum" -}}
{{- $m := .Values.model }}
{{- $content := "" }}
{{- with (lookup "v1" "ConfigMap" .Release.Namespace $m.configMap.name) }}
{{- $content = (get (.binaryData | default dict) $m.configMap.key) | default (get (.data | default dict) $m.configMap.key) }}
{{- end }}
{{- printf "%s\n%s\n%s\n%s" $m.configMap.name $m.configMap.key $m.sha256 $content | sha256sum }}
{{- end }}

{{- define "realtime-offers.validateModel" -}}
{{- $m := .Values.model }}
{{- if and (eq $m.source "configMap") (not $m.configMap.name) }}
{{- fail "model.source configMap needs model.configMap.name: an existing ConfigMap with the model under model.configMap.key (kubectl create configmap offers-model --from-file=offer_model.onnx=model/offer_model.onnx)" }}
{{- end }}
{{- if eq $m.source "configMap" }}
{{- with (lookup "v1" "ConfigMap" .Release.Namespace $m.configMap.name) }}
{{- if not (or (hasKey (.binaryData | default dict) $m.configMap.key) (hasKey (.data | default dict) $m.configMap.key)) }}
{{- fail (printf "model.configMap.key %s is not a key of ConfigMap %s: set model.configMap.key to the key that holds the model" $m.configMap.key $m.configMap.name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq $m.source "persistentVolumeClaim") (not $m.persistentVolumeClaim.claimName) }}
{{- fail "model.source persistentVolumeClaim needs model.persistentVolumeClaim.claimName: an existing claim holding the model file (model.persistentVolumeClaim.file, in subPath)" }}
{{- end }}
{{- if or (eq $m.source "ociImage") (eq $m.source "imageVolume") }}
{{- if not $m.image.repository }}
{{- fail (printf "model.source %s needs model.image.repository: the model image (make model-image builds one)" $m.source) }}
{{- end }}
{{- if not (or $m.image.tag $m.image.digest) }}
{{- fail (printf "model.source %s needs model.image.tag or model.image.digest: the model image has no default version" $m.source) }}
{{- end }}
{{- end }}
{{- if and (eq $m.source "imageVolume") (semverCompare "<1.31.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "model.source imageVolume needs Kubernetes 1.31 or later (image volumes; the ImageVolume feature gate on before 1.35), and this cluster is %s: use model.source ociImage, which copies the model with an init container" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- end }}

{{/* The consumer pods' annotations: podAnnotations, and the model's checksum with source configMap. */}}
{{- define "realtime-offers.podAnnotations" -}}
{{- $annotations := deepCopy (.Values.podAnnotations | default dict) }}
{{- if eq .Values.model.source "configMap" }}
{{- $_ := set $annotations "checksum/model" (include "realtime-offers.modelChecksum" .) }}
{{- end }}
{{- with $annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
The variables of the pipeline (Kafka, ClickHouse, Redis, the model, retries, logs, start-up,
tracing) that the consumer and the replay Job share, so that a replay reaches the same sinks
with the same settings. `component` picks the TLS files' volumes and the ClickHouse user.
*/}}
{{- define "realtime-offers.pipelineEnv" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $component := .component }}
{{- include "realtime-offers.kafkaEnv" (dict "root" $root) | trim | nindent 0 }}
- name: KAFKA_OFFSET_RESET
  value: {{ $v.kafka.offsetReset | quote }}
- name: KAFKA_PARTITIONS_CONCURRENCY
  value: {{ $v.kafka.partitionsConcurrency | int64 | quote }}
- name: KAFKA_MAX_BYTES_PER_PARTITION
  value: {{ $v.kafka.maxBytesPerPartition | int64 | quote }}
- name: KAFKA_SESSION_TIMEOUT_MS
  value: {{ $v.kafka.sessionTimeoutMs | int64 | quote }}
- name: KAFKA_HEARTBEAT_INTERVAL_MS
  value: {{ $v.kafka.heartbeatIntervalMs | int64 | quote }}
- name: KAFKA_METADATA_MAX_AGE_MS
  value: {{ $v.kafka.metadataMaxAgeMs | int64 | quote }}
- name: MESSAGE_MAX_BYTES
  value: {{ $v.messages.maxBytes | int64 | quote }}
- name: BATCH_MAX_MESSAGES
  value: {{ $v.messages.batchMaxMessages | int64 | quote }}
{{- include "realtime-offers.clickhouseEnv" (dict "root" $root "component" $component) | trim | nindent 0 }}
- name: CLICKHOUSE_CREATE_TABLE
  value: {{ $v.clickhouse.createTable | quote }}
- name: CLICKHOUSE_INSERT_WINDOW_MS
  value: {{ $v.clickhouse.insertWindowMs | int64 | quote }}
- name: CLICKHOUSE_INSERT_MAX_ROWS
  value: {{ $v.clickhouse.insertMaxRows | int64 | quote }}
- name: CLICKHOUSE_DEDUPLICATION_TOKEN
  value: {{ $v.clickhouse.deduplicationToken | quote }}
{{- include "realtime-offers.redisEnv" $root | trim | nindent 0 }}
- name: REDIS_TTL_SECONDS
  value: {{ $v.redis.ttlSeconds | int64 | quote }}
- name: REDIS_WAIT_REPLICAS
  value: {{ $v.redis.waitReplicas | int64 | quote }}
{{- include "realtime-offers.modelEnv" $root | trim | nindent 0 }}
- name: SINK_RETRY_INITIAL_MS
  value: {{ $v.sinkRetry.initialMs | int64 | quote }}
- name: SINK_RETRY_MAX_MS
  value: {{ $v.sinkRetry.maxMs | int64 | quote }}
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
{{- if $v.nodeOptions }}
- name: NODE_OPTIONS
  value: {{ $v.nodeOptions | quote }}
{{- end }}
- name: SHUTDOWN_GRACE_MS
  value: {{ $v.shutdownGraceMs | int64 | quote }}
- name: STARTUP_TIMEOUT_MS
  value: {{ $v.startupTimeoutMs | int64 | quote }}
- name: NETWORK_POLICY_ENABLED
  value: {{ $v.networkPolicy.enabled | quote }}
{{- with include "realtime-offers.tlsEnv" (dict "root" $root "component" $component) | trim }}
{{- . | nindent 0 }}
{{- end }}
{{- with $v.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ $v.otel.serviceName | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $v.otel.tracesSampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $v.otel.tracesSamplerArg | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ include "realtime-offers.otelResourceAttributes" $root | quote }}
{{- end }}

{{/*
The replay Job's name: another range, group or model is another Job, since a Job's pod template
cannot change; the same ones keep the name, and the finished Job is left alone.
*/}}
{{- define "realtime-offers.replayJobName" -}}
{{- $r := .Values.replay }}
{{- $m := .Values.model }}
{{- $model := printf "%s\n%s\n%s\n%s" $m.source (include "realtime-offers.modelPath" .) $m.sha256 (toJson $m.image) }}
{{- if eq $m.source "configMap" }}
{{- $model = printf "%s\n%s" $model (include "realtime-offers.modelChecksum" .) }}
{{- end }}
{{- $hash := printf "%v\n%v\n%s\n%s" $r.from $r.to $r.group $model | sha256sum | trunc 8 }}
{{- printf "%s-replay-%s" (include "realtime-offers.fullname" . | trunc 46 | trimSuffix "-") $hash }}
{{- end }}

{{- define "realtime-offers.validateReplay" -}}
{{- $r := .Values.replay }}
{{- if $r.enabled }}
{{- range $key := list "from" "to" }}
{{- if eq (toString (get $r $key)) "" }}
{{- fail (printf "replay.enabled needs replay.%s: an ISO 8601 time with its zone (2026-01-31T00:00:00Z), a date (midnight UTC) or milliseconds since the epoch" $key) }}
{{- end }}
{{- end }}
{{- if eq $r.group .Values.kafka.groupId }}
{{- fail (printf "replay.group must differ from kafka.groupId (%s): the replay would move the live consumers' offsets; leave it empty for <kafka.groupId>-replay-<from>-<to>" .Values.kafka.groupId) }}
{{- end }}
{{- $from := toString $r.from }}
{{- $to := toString $r.to }}
{{- if and (regexMatch "^[0-9]+$" $from) (regexMatch "^[0-9]+$" $to) }}
{{- if ge (int64 $from) (int64 $to) }}
{{- fail (printf "replay.from (%s) must be before replay.to (%s)" $from $to) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
