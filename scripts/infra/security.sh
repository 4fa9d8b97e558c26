# shellcheck shell=bash
# INFRA_SECURITY=1 (given to the first `up` of a state dir, then remembered in `ports`) adds
# what the security tests need on top of the plain set-up, which stays as it is for the
# tests' own admin work: Kafka SASL_PLAINTEXT and SASL_SSL listeners (SCRAM-SHA-512/256
# and PLAIN users, a certificate from a throw-away CA, the StandardAuthorizer with ACLs
# enforced; the PLAINTEXT listener's anonymous principal and user `admin` are super
# users) and a ClickHouse user with a password. Credentials are random per state dir.
#
# The material is made once per state dir and kept across restarts (the SCRAM credentials are
# written into Kafka's storage when it is formatted). Sourced by lib.sh.

security_enabled() { [[ "${INFRA_SECURITY:-0}" == 1 ]]; }

security_dir() { printf '%s/security' "$INFRA_DIR"; }

write_security_material() {
  local dir out
  dir="$(security_dir)"
  [[ -f "$dir/credentials" ]] && return 0
  command -v openssl >/dev/null || die "openssl is required for INFRA_SECURITY=1"
  mkdir -p "$dir"
  chmod 700 "$dir"
  if ! out="$(
    set -e
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout ca.key -out ca.pem \
      -subj "/CN=realtime-offers test CA" 2>&1
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout other-ca.key -out other-ca.pem \
      -subj "/CN=an unrelated CA" 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=localhost" 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile broker.ext -out broker.crt 2>&1
    # Kafka's PEM keystore: the unencrypted PKCS#8 key followed by the certificate chain.
    cat broker.key broker.crt >broker-keystore.pem
  )"; then
    printf '%s\n' "$out" >&2
    die "creating the test certificates failed"
  fi
  (
    umask 077
    cat >"$dir/credentials" <<EOF
KAFKA_SERVICE_USER=offers
KAFKA_SERVICE_PASSWORD=$(openssl rand -hex 24)
KAFKA_ADMIN_USER=admin
KAFKA_ADMIN_PASSWORD=$(openssl rand -hex 24)
CLICKHOUSE_SERVICE_USER=offers
CLICKHOUSE_SERVICE_PASSWORD=$(openssl rand -hex 24)
EOF
  )
}

load_credentials() {
  # shellcheck source=/dev/null
  . "$(security_dir)/credentials"
}
