# shellcheck shell=bash
# INFRA_SECURITY=1 (given to the first `up` of a state dir, then remembered in `ports`) adds
# what the security tests need on top of the plain set-up, which stays as it is for the
# tests' own admin work:
#   - Kafka: SASL_PLAINTEXT and SASL_SSL listeners (SCRAM-SHA-512/256 and PLAIN users) and an
#     SSL listener that requires a client certificate from the test CA (mutual TLS; the
#     principal is the certificate's subject, User:CN=offers-client); the StandardAuthorizer
#     with ACLs enforced (the PLAINTEXT listener's anonymous principal and user `admin` are
#     super users; the tests grant the service's principals what their topics need);
#   - ClickHouse: an HTTPS port with the test CA's server certificate (clients may present a
#     certificate from that CA), a consumer user that may not run DDL (allow_ddl=0) and a
#     migration user that may, both with passwords and confined to the database `offers`;
#   - Redis: a TLS port on every node (in cluster mode the cluster bus and replication run
#     over TLS too; the plain ports stay), clients may present a certificate from the test CA,
#     and an ACL user confined to the keys `offers:*` and the commands the service sends.
# One server certificate (CN=localhost, for 127.0.0.1 and localhost) serves every store.
# Beside it: a client certificate from the test CA (its key also encrypted with a password),
# and a CA and client certificate that nothing trusts. Credentials are random per state dir.
#
# The material is made once per state dir and kept across restarts (the SCRAM credentials are
# written into Kafka's storage when it is formatted). Sourced by lib.sh.

security_enabled() { [[ "${INFRA_SECURITY:-0}" == 1 ]]; }

security_dir() { printf '%s/security' "$INFRA_DIR"; }

write_security_material() {
  local dir out
  dir="$(security_dir)"
  if [[ -f "$dir/credentials" ]]; then
    [[ -f "$dir/client.crt" ]] || die "$dir was made before the client certificates: run scripts/infra/down.sh (INFRA_DIR=$INFRA_DIR) first"
    return 0
  fi
  command -v openssl >/dev/null || die "openssl is required for INFRA_SECURITY=1"
  mkdir -p "$dir"
  chmod 700 "$dir"
  local key_password
  key_password="$(openssl rand -hex 16)"
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
    # Client certificates: from the test CA, and one of the same name from the unrelated CA.
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
      -subj "/CN=offers-client" 2>&1
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile client.ext -out client.crt 2>&1
    openssl pkcs8 -topk8 -v2 aes-256-cbc -in client.key -out client-encrypted.key \
      -passout "pass:$key_password" 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout other-client.key -out other-client.csr \
      -subj "/CN=offers-client" 2>&1
    openssl x509 -req -in other-client.csr -CA other-ca.pem -CAkey other-ca.key \
      -CAcreateserial -days 30 -extfile client.ext -out other-client.crt 2>&1
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
CLICKHOUSE_MIGRATE_USER=offers_migrate
CLICKHOUSE_MIGRATE_PASSWORD=$(openssl rand -hex 24)
REDIS_SERVICE_USER=offers
REDIS_SERVICE_PASSWORD=$(openssl rand -hex 24)
REDIS_SERVICE_KEY_PREFIX=offers:
TLS_CLIENT_KEY_PASSWORD=$key_password
EOF
  )
}

load_credentials() {
  # shellcheck source=/dev/null
  . "$(security_dir)/credentials"
}

# The `env` lines of the TLS material (INFRA_SECURITY=1).
security_env_lines() {
  local dir
  dir="$(security_dir)"
  load_credentials
  cat <<EOF
TLS_CA_FILE=$dir/ca.pem
TLS_OTHER_CA_FILE=$dir/other-ca.pem
TLS_CLIENT_CERT_FILE=$dir/client.crt
TLS_CLIENT_KEY_FILE=$dir/client.key
TLS_CLIENT_ENCRYPTED_KEY_FILE=$dir/client-encrypted.key
TLS_CLIENT_KEY_PASSWORD=$TLS_CLIENT_KEY_PASSWORD
TLS_OTHER_CLIENT_CERT_FILE=$dir/other-client.crt
TLS_OTHER_CLIENT_KEY_FILE=$dir/other-client.key
KAFKA_MTLS_PRINCIPAL=User:CN=offers-client
EOF
}
