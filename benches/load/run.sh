#!/usr/bin/env bash
# Load: the review API under wrk while the daemon crawls (issue 16 part 7). Run on demand, not
# in CI:
#
#   benches/load/run.sh          (PAGES=2000 DURATION=60 READ_RATE=500 ACTION_RATE=50)
#
# The release daemon patrols a generated site served by nginx on loopback, back to back. First
# DURATION seconds without API load measure its crawl rate (pages fetched per second); then,
# for DURATION seconds more, wrk drives the review API with reads (the flag list and single
# flags, alternately) at READ_RATE requests/s and actions (comments, each an audit event) at
# ACTION_RATE/s, while the crawl rate is measured again. wrk's latency percentiles, its
# errors and non-2xx answers, and the crawl rate's drop are printed, and kept in
# target/load/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SHARED=${SHARED:-$ROOT/../shared/data}
PAGES=${PAGES:-2000}
DURATION=${DURATION:-60}
READ_RATE=${READ_RATE:-500}
ACTION_RATE=${ACTION_RATE:-50}
WORK=$ROOT/target/load
rm -rf "$WORK/store" "$WORK/site-live"
mkdir -p "$WORK/store"

. benches/lib.sh
need wrk
need nginx nginx-light

cargo build --release --quiet
BIN=$ROOT/target/release/sitepatrol
SITE=$ROOT/target/soak/site-$PAGES
[ -f "$SITE/index.html" ] || python3 benches/crawl/gen_site.py "$PAGES" "$SITE" "$SHARED"
cp -r "$SITE" "$WORK/site-live"
# One page in ten carries a gambling phrase, so there are flags to read and act on.
find "$WORK/site-live" -name '*.html' | sort | awk 'NR % 10 == 0' |
  xargs sed -i 's|</body>|<p>LOAD-MARK 网上赌博 真人百家乐</p></body>|'

PORT=$((20000 + RANDOM % 20000))
start_nginx "$WORK/site-live"

TOKEN_OUT=$("$BIN" token new --role reviewer --name load)
TOKEN=$(echo "$TOKEN_OUT" | sed -n 's/^token: //p')
cat > "$WORK/config.toml" <<TOML
[store]
path = "$WORK/store/sitepatrol.db"
[http]
listen = ["127.0.0.1:0"]
$(echo "$TOKEN_OUT" | sed -n '/^\[\[api.tokens\]\]/,$p')
[crawl]
max_pages = 100000
max_depth = 1000
per_site_concurrency = 8
per_host_concurrency = 8
[schedule]
interval = "1s"
jitter = 0.0
[filing]
enabled = false
[logging]
level = "warn,sitepatrol::daemon=info"
[[sites]]
id = "load"
customer = "load"
domains = ["load.example.test"]
origin = "127.0.0.1"
port = $PORT
robots = "ignore"
allow_private_networks = true
TOML
"$BIN" daemon --config "$WORK/config.toml" 2> "$WORK/daemon.log" &
DAEMON=$!
cleanup() { kill "$DAEMON" 2>/dev/null || true; stop_nginx; }
trap cleanup EXIT

ADDR=$(daemon_addr "$WORK/daemon.log")
URL="http://$ADDR"

fetched() { metric "$ADDR" 'sitepatrol_pages_fetched_total{result="ok"}'; }

# Wait for the first whole crawl, so there are flags and the page states are warm.
for _ in $(seq 1 600); do
  [ "$(metric "$ADDR" 'sitepatrol_crawls_total{outcome="completed"}')" -gt 0 ] 2>/dev/null && break
  sleep 0.5
done
IDS=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/v1/flags?limit=200" |
  python3 -c 'import json,sys; print(",".join(str(f["id"]) for f in json.load(sys.stdin)["flags"]))')
[ -n "$IDS" ] || { echo "no flags to act on" >&2; exit 1; }
echo "flags to act on: $(echo "$IDS" | tr ',' '\n' | wc -l)"

rate_over() { # seconds → pages fetched per second over them
  local a b
  a=$(fetched); sleep "$1"; b=$(fetched)
  python3 -c "print(f'{($b - $a) / $1:.1f}')"
}

echo "== crawl alone, ${DURATION}s"
BASE=$(rate_over "$DURATION")
echo "crawl rate: $BASE pages/s"

echo "== crawl under API load, ${DURATION}s: reads at ${READ_RATE}/s, actions at ${ACTION_RATE}/s"
READ_CONNS=10
ACTION_CONNS=2
# wrk paces each connection by a delay between requests; the answer's own time (about 2 ms
# here) comes on top, so it is taken off the delay.
pace() { local d=$((1000 * $1 / $2 - 2)); echo $((d < 1 ? 1 : d)); }
TOKEN=$TOKEN IDS=$IDS DELAY_MS=$(pace $READ_CONNS "$READ_RATE") \
  wrk -t1 -c$READ_CONNS -d"${DURATION}s" --latency -s benches/load/reads.lua "$URL" \
  > "$WORK/wrk-reads.txt" &
READS=$!
TOKEN=$TOKEN IDS=$IDS DELAY_MS=$(pace $ACTION_CONNS "$ACTION_RATE") \
  wrk -t1 -c$ACTION_CONNS -d"${DURATION}s" --latency -s benches/load/actions.lua "$URL" \
  > "$WORK/wrk-actions.txt" &
ACTIONS=$!
LOADED=$(rate_over "$DURATION")
wait "$READS" "$ACTIONS"
echo "crawl rate: $LOADED pages/s"

summary() { # wrk output → one line
  awk '
    /Requests\/sec/ {rps = $2}
    /^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2}
    /requests in/ {n = $1}
    /Non-2xx/ {non2xx = $NF}
    /Socket errors/ {err = $0}
    END {printf "%s requests, %s/s, p50 %s, p99 %s, non-2xx %s, %s\n", n, rps, p50, p99, non2xx + 0, err ? err : "no socket errors"}
  ' "$1"
}
echo "reads:   $(summary "$WORK/wrk-reads.txt")"
echo "actions: $(summary "$WORK/wrk-actions.txt")"
python3 -c "print(f'crawl rate drop under load: {(1 - $LOADED / $BASE) * 100:.1f}%')"
kill -TERM "$DAEMON"
wait "$DAEMON" && echo "daemon exited 0 on SIGTERM"
