#!/usr/bin/env bash
# Start the daemon on the bundled demo site (a temporary store, HTTP on a free loopback port),
# wait for the demo's flags to reach /metrics, and run `promtool check metrics` on the output.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin="$PWD/target/debug/sitepatrol"
work=$(mktemp -d)
cleanup() {
  if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cat > "$work/config.toml" <<TOML
[store]
path = "$work/sitepatrol.db"
[http]
listen = ["127.0.0.1:0"]
[demo]
enabled = true
[[sites]]
id = "demo"
customer = "demo-customer"
domains = ["demo.sitepatrol.test"]
demo = true
allow_private_networks = true
TOML
"$bin" daemon --config "$work/config.toml" 2>"$work/log" &
pid=$!

fetch() {
  # Plain bash, so no HTTP client has to be installed: HTTP/1.0 over /dev/tcp.
  local addr=$1 host port
  host=${addr%:*}
  port=${addr##*:}
  exec 3<>"/dev/tcp/$host/$port"
  printf 'GET /metrics HTTP/1.0\r\nHost: ci\r\n\r\n' >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}

addr=""
for _ in $(seq 1 600); do
  addr=$(sed -n 's/.*http server listening addr=\([0-9.:]*\).*/\1/p' "$work/log" | head -1)
  if [ -n "$addr" ] && fetch "$addr" | grep -q '^sitepatrol_flags{'; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$work/log" >&2; echo "the daemon exited" >&2; exit 1; fi
  sleep 0.1
done
fetch "$addr" > "$work/metrics"
if ! grep -q '^sitepatrol_flags{' "$work/metrics"; then
  cat "$work/log" >&2
  echo "the demo's flags never reached /metrics" >&2
  exit 1
fi
promtool check metrics < "$work/metrics"
echo "promtool check metrics: ok ($(grep -c '^sitepatrol_' "$work/metrics") samples)"
kill -TERM "$pid"
wait "$pid"
pid=""
