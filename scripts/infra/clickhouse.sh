# shellcheck shell=bash
# ClickHouse 18.16: config (templates/clickhouse/), start, readiness. Sourced by lib.sh.

# Readiness timeout (seconds).
INFRA_TIMEOUT_CLICKHOUSE="${INFRA_TIMEOUT_CLICKHOUSE:-60}"

write_clickhouse_config() {
  local dir service_user='' extra_host='' extra_network=''
  dir="$(svc_dir clickhouse)"
  if [[ "$INFRA_HOST" != 127.0.0.1 ]]; then
    extra_host="<listen_host>$INFRA_HOST</listen_host>"
    extra_network="<ip>$INFRA_HOST</ip>"
  fi
  mkdir -p "$dir/data" "$dir/tmp" "$dir/logs" "$dir/user_files" "$dir/format_schemas"
  render_template clickhouse/config.xml DIR="$dir" HTTP_PORT="$CLICKHOUSE_HTTP_PORT" \
    TCP_PORT="$CLICKHOUSE_TCP_PORT" INTERSERVER_PORT="$CLICKHOUSE_INTERSERVER_PORT" \
    EXTRA_LISTEN_HOST="$extra_host" >"$dir/config.xml"
  if security_enabled; then
    load_credentials
    # ClickHouse 18.16 has no GRANTs: the service user is confined to one database.
    service_user="$(render_template clickhouse/service-user.xml USER="$CLICKHOUSE_SERVICE_USER" \
      PASSWORD_SHA256="$(printf '%s' "$CLICKHOUSE_SERVICE_PASSWORD" | sha256sum | cut -d' ' -f1)")"
  fi
  # Without the service user its line stays empty.
  render_template clickhouse/users.xml SERVICE_USER="$service_user" EXTRA_NETWORK="$extra_network" >"$dir/users.xml"
}

start_clickhouse() {
  write_clickhouse_config
  launch clickhouse clickhouse-server "--config-file=$(svc_dir clickhouse)/config.xml"
}

clickhouse_ready() {
  [[ "$(curl -fsS --max-time 3 "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping" 2>/dev/null)" == "Ok." ]]
}

clickhouse_log_files() {
  printf '%s\n' "$(svc_dir clickhouse)/logs/clickhouse-server.err.log" "$(svc_dir clickhouse)/stdout.log"
}
