#!/usr/bin/env bash
# Fuzz the review API of a real daemon against the OpenAPI document it serves, for a bounded
# time: no 5xx, and no status, content type, header or body outside what the document says.
#
#   .ci/schemathesis.sh [path/to/sitepatrol]
#
# The daemon patrols the bundled demo site (so there are flags, runs and page copies to
# fetch) with an admin token, so every route is reachable. Schemathesis comes from PyPI into a
# virtualenv under target/ when it is not installed. ST_MAX_EXAMPLES and ST_MAX_TIME bound the
# run (defaults: 25 cases per operation, 150 s).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-target/debug/sitepatrol}
[ -x "$BIN" ] || cargo build --quiet --bin sitepatrol
BIN=$(realpath "$BIN")

ST=$(command -v schemathesis || true)
if [ -z "$ST" ]; then
  VENV=target/schemathesis-venv
  if [ ! -x "$VENV/bin/schemathesis" ]; then
    # A fresh Debian machine may lack Python or its venv module (python3-venv).
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
      sudo=""
      if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 python3-venv >/dev/null
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'schemathesis>=4,<5'
  fi
  ST=$(realpath "$VENV/bin/schemathesis")
fi

WORK=$(mktemp -d)
DAEMON_PID=
cleanup() {
  if [ -n "$DAEMON_PID" ]; then kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" token new --role admin --name schemathesis > "$WORK/token.txt"
TOKEN=$(sed -n 's/^token: //p' "$WORK/token.txt")
cat > "$WORK/config.toml" <<EOF
[store]
path = "$WORK/sitepatrol.db"
[http]
listen = ["127.0.0.1:0"]
[schedule]
interval = "1h"
[demo]
enabled = true
[api]
# Schemathesis also sends requests without the token; they must not lock it out.
max_failures = 1000000
$(sed -n '/^\[\[api.tokens\]\]/,$p' "$WORK/token.txt")

[[sites]]
id = "demo"
customer = "demo-customer"
domains = ["demo.sitepatrol.test"]
demo = true
allow_private_networks = true
agents = "both"
EOF

# The log exists before the daemon starts: the redirection happens in the background child.
: > "$WORK/daemon.log"
"$BIN" daemon --config "$WORK/config.toml" 2> "$WORK/daemon.log" &
DAEMON_PID=$!
ADDR=
for _ in $(seq 1 300); do
  ADDR=$(sed -n 's/.*http server listening addr=\([0-9.:]*\).*/\1/p' "$WORK/daemon.log" | head -1)
  if [ -n "$ADDR" ] && grep -q "crawl committed" "$WORK/daemon.log"; then break; fi
  if ! kill -0 "$DAEMON_PID" 2>/dev/null; then cat "$WORK/daemon.log" >&2; exit 1; fi
  sleep 0.2
done
if [ -z "$ADDR" ] || ! grep -q "crawl committed" "$WORK/daemon.log"; then
  echo "error: the daemon did not listen and crawl the demo site in time" >&2
  cat "$WORK/daemon.log" >&2
  exit 1
fi

# From the scratch directory, so that schemathesis' own files stay out of the checkout.
status=0
cd "$WORK"
"$ST" run "http://$ADDR/api/v1/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "${ST_MAX_EXAMPLES:-25}" \
  --max-time "${ST_MAX_TIME:-150}" \
  --request-timeout 30 \
  --workers 1 \
  --generation-database none \
  --no-color || status=$?

if grep -q "panicked" "$WORK/daemon.log"; then
  echo "error: the daemon panicked during the run" >&2
  grep -B2 -A10 "panicked" "$WORK/daemon.log" >&2
  status=1
fi
exit "$status"
