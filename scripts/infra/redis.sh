# shellcheck shell=bash
# Redis: config (templates/redis/redis.conf), start, readiness. Sourced by lib.sh.

# Readiness timeout (seconds).
INFRA_TIMEOUT_REDIS="${INFRA_TIMEOUT_REDIS:-20}"

write_redis_config() {
  local dir bind=127.0.0.1
  dir="$(svc_dir redis)"
  mkdir -p "$dir/data"
  [[ "$INFRA_HOST" == 127.0.0.1 ]] || bind+=" $INFRA_HOST"
  render_template redis/redis.conf PORT="$REDIS_PORT" DIR="$dir" BIND="$bind" >"$dir/redis.conf"
}

start_redis() {
  write_redis_config
  launch redis redis-server "$(svc_dir redis)/redis.conf"
}

redis_ready() { [[ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

redis_log_files() { printf '%s\n' "$(svc_dir redis)/redis.log" "$(svc_dir redis)/stdout.log"; }
