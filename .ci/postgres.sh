#!/usr/bin/env bash
# A PostgreSQL server on 127.0.0.1:$PG_PORT (5432) with trust auth for loopback TCP and a
# `test` database, for the tests that read SITEPATROL_TEST_PG. The project's machines start
# one before each session; elsewhere this installs Debian's `postgresql` package, makes or
# starts the cluster `$PG_CLUSTER` (main) and waits for it. Idempotent: a server already
# listening is left as it is. Bounded: apt, then at most 30 s for the server to listen.
#
# Trust on loopback is for a throwaway test server only (no password to keep in CI); a
# production database takes a URL with its password from `[store] url_file` or `url_env`.
set -euo pipefail
port=${PG_PORT:-5432}
cluster=${PG_CLUSTER:-main}
SUDO=$(command -v sudo || true)
if [ "$(id -u)" -eq 0 ]; then SUDO=""; fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

ensure_test_database() {
  local admin="postgres://postgres@127.0.0.1:$port/postgres"
  if [ "$(psql "$admin" -Atc "SELECT count(*) FROM pg_database WHERE datname = 'test'")" = 0 ]; then
    psql "$admin" -qc "CREATE DATABASE test"
  fi
}

if listening; then
  echo "PostgreSQL already listens on 127.0.0.1:$port"
  if command -v psql >/dev/null 2>&1; then ensure_test_database; fi
  exit 0
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
  echo "installing Debian's postgresql"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version $cluster"; then
  $SUDO pg_createcluster --port "$port" "$version" "$cluster" >/dev/null
fi
hba=/etc/postgresql/$version/$cluster/pg_hba.conf
if ! grep -q "sitepatrol CI" "$hba"; then
  # Before the package's lines: the first matching line decides.
  $SUDO sh -c "{ printf '%s\n' '# sitepatrol CI: trust on loopback TCP (a test server)' \
    'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust'; cat '$hba'; } > '$hba.new' \
    && cat '$hba.new' > '$hba' && rm '$hba.new'"
fi
$SUDO pg_ctlcluster "$version" "$cluster" start 2>/dev/null || $SUDO pg_ctlcluster "$version" "$cluster" restart
for _ in $(seq 1 30); do
  listening && break
  sleep 1
done
if ! listening; then
  echo "error: PostgreSQL $version/$cluster does not listen on 127.0.0.1:$port" >&2
  exit 1
fi
ensure_test_database
echo "PostgreSQL $version/$cluster listens on 127.0.0.1:$port"
