#!/usr/bin/env bash
# Soak benchmark: the daemon patrols a generated local site over and over for DURATION seconds
# while its resident memory is sampled. A leak shows as RSS that keeps climbing after the first
# crawls have warmed the caches. Run on demand, not in CI:
#
#   benches/soak/run.sh                 (DURATION=600 PAGES=2000 INTERVAL=5s SAMPLE=10)
#
# Every minute 20 pages gain or lose a gambling phrase, so crawls keep creating, resolving and
# reopening flags rather than finding only unchanged pages. Writes target/soak/rss.csv
# (elapsed seconds, RSS in MiB, crawls committed, pages fetched, flags) and a summary.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SHARED=${SHARED:-$ROOT/../shared/data}
DURATION=${DURATION:-600}
PAGES=${PAGES:-2000}
INTERVAL=${INTERVAL:-5s}
SAMPLE=${SAMPLE:-10}
WORK=$ROOT/target/soak
rm -rf "$WORK/store" "$WORK/site-live"
mkdir -p "$WORK/store"

. benches/lib.sh
cargo build --release --quiet
BIN=$ROOT/target/release/sitepatrol
SITE=$WORK/site-$PAGES
[ -f "$SITE/index.html" ] || python3 benches/crawl/gen_site.py "$PAGES" "$SITE" "$SHARED"
cp -r "$SITE" "$WORK/site-live"
PORT=$((20000 + RANDOM % 20000))
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/site-live" >/dev/null 2>&1 &
SERVER=$!
cat > "$WORK/config.toml" <<TOML
[store]
path = "$WORK/store/sitepatrol.db"
[http]
listen = ["127.0.0.1:0"]
[crawl]
max_pages = 100000
max_depth = 1000
per_site_concurrency = 8
per_host_concurrency = 8
[schedule]
interval = "$INTERVAL"
jitter = 0.0
[logging]
level = "warn,sitepatrol::daemon=info"
[[sites]]
id = "soak"
customer = "soak"
domains = ["soak.example.test"]
origin = "127.0.0.1"
port = $PORT
robots = "ignore"
allow_private_networks = true
TOML
"$BIN" daemon --config "$WORK/config.toml" 2> "$WORK/daemon.log" &
DAEMON=$!
cleanup() { kill "$DAEMON" "$SERVER" ${MUTATOR:-} 2>/dev/null || true; }
trap cleanup EXIT

ADDR=$(daemon_addr "$WORK/daemon.log")

# The mutator: every 60 s, toggle a gambling phrase in 20 pages.
(
  round=0
  while true; do
    sleep 60
    round=$((round + 1))
    find "$WORK/site-live" -name '*.html' | sort | awk -v r="$round" 'NR % 97 == r % 97' | head -20 |
      while read -r f; do
        if grep -q 'SOAK-MARK' "$f"; then
          sed -i 's|<p>SOAK-MARK 网上赌博 真人百家乐</p>||' "$f"
        else
          sed -i 's|</body>|<p>SOAK-MARK 网上赌博 真人百家乐</p></body>|' "$f"
        fi
      done
  done
) &
MUTATOR=$!


echo "elapsed_s,rss_mib,crawls,pages_fetched,flags_open" > "$WORK/rss.csv"
START=$(date +%s)
while true; do
  NOW=$(date +%s)
  ELAPSED=$((NOW - START))
  RSS=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$DAEMON/status")
  CRAWLS=$(metric "$ADDR" 'sitepatrol_crawls_total{outcome="completed"}')
  FETCHED=$(metric "$ADDR" 'sitepatrol_pages_fetched_total{result="ok"}')
  OPEN=$(curl -s "http://$ADDR/metrics" |
         awk '/^sitepatrol_flags\{/ && /state="(open|reopened)"/ {s += $2} END {print s + 0}')
  echo "$ELAPSED,$RSS,${CRAWLS:-0},${FETCHED:-0},$OPEN" | tee -a "$WORK/rss.csv"
  [ "$ELAPSED" -ge "$DURATION" ] && break
  sleep "$SAMPLE"
done
kill -TERM "$DAEMON"
wait "$DAEMON" && echo "daemon exited 0 on SIGTERM"
python3 - "$WORK/rss.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rss = [float(r["rss_mib"]) for r in rows]
t = [int(r["elapsed_s"]) for r in rows]
warm = [r for r, s in zip(rss, t) if s >= 60] or rss
half = len(warm) // 2
first, last = warm[:max(half, 1)], warm[half:] or warm
print(f"samples {len(rows)}, crawls {rows[-1]['crawls']}, pages fetched {rows[-1]['pages_fetched']}")
print(f"RSS MiB: start {rss[0]:.1f}, after 60 s {warm[0]:.1f}, max {max(rss):.1f}, end {rss[-1]:.1f}")
print(f"mean RSS, first half after warm-up {sum(first)/len(first):.1f} MiB, second half {sum(last)/len(last):.1f} MiB")
PY
