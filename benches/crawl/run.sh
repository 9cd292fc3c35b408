#!/usr/bin/env bash
# Whole-process crawl benchmark: sitepatrol (full scanning) vs wget --recursive (fetch only,
# one thread) vs Scrapy (decoding every page), on generated static sites served by nginx on
# loopback. Run on demand, not in CI:
#
#   benches/crawl/run.sh [PAGES...]        (default: 10000 50000)
#
# Prints pages/s, peak RSS and ratios, and writes them to target/crawl-bench/results.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SHARED=${SHARED:-$ROOT/../shared/data}
WORK=$ROOT/target/crawl-bench
RUNS=${RUNS:-3}
CONCURRENCY=${CONCURRENCY:-16}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 50000)
mkdir -p "$WORK"

. benches/lib.sh
need nginx nginx-light
python3 -c 'import scrapy' 2>/dev/null || pip install -q scrapy
need wget

cargo build --release --quiet
BIN=$ROOT/target/release/sitepatrol
PORT=$((20000 + RANDOM % 20000))

trap stop_nginx EXIT

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

RESULTS=$WORK/results.txt
: > "$RESULTS"
for N in "${SIZES[@]}"; do
  SITE=$WORK/site-$N
  [ -f "$SITE/index.html" ] || python3 benches/crawl/gen_site.py "$N" "$SITE" "$SHARED"
  stop_nginx
  start_nginx "$SITE"
  URL=http://127.0.0.1:$PORT/
  declare -A RATE RSS PAGES
  for tool in sitepatrol wget scrapy; do
    rates=(); rsss=()
    for run in $(seq "$RUNS"); do
      case $tool in
        sitepatrol)
          /usr/bin/time -f '%e %M' -o "$WORK/time" "$BIN" scan --allow-private-networks --format jsonl \
            --fail-on never --max-pages 1000000 --max-depth 1000 --concurrency "$CONCURRENCY" \
            --per-host-concurrency "$CONCURRENCY" --no-sitemaps --stats-json "$WORK/stats.json" "$URL" > /dev/null
          pages=$(python3 -c "import json;print(json.load(open('$WORK/stats.json'))['pages_fetched'])") ;;
        wget)
          rm -rf "$WORK/wget"
          /usr/bin/time -f '%e %M' -o "$WORK/time" wget --recursive --level=inf --no-parent -e robots=off \
            --no-verbose -P "$WORK/wget" "$URL" 2> "$WORK/wget.log" || true
          pages=$(find "$WORK/wget" -name '*.html' | wc -l) ;;
        scrapy)
          /usr/bin/time -f '%e %M' -o "$WORK/time" scrapy runspider benches/crawl/spider.py -a start="$URL" \
            -s CONCURRENT_REQUESTS="$CONCURRENCY" -s CONCURRENT_REQUESTS_PER_DOMAIN="$CONCURRENCY" \
            -s LOG_LEVEL=INFO -s TELNETCONSOLE_ENABLED=False 2> "$WORK/scrapy.log" || true
          pages=$(grep -o "'downloader/response_count': [0-9]*" "$WORK/scrapy.log" | grep -o '[0-9]*$' || echo 0) ;;
      esac
      read -r secs rss < "$WORK/time"
      rates+=("$(python3 -c "print(round($pages / max($secs, 0.001), 1))")")
      rsss+=("$((rss / 1024))")
      echo "N=$N $tool run $run: $pages pages in ${secs}s, peak RSS $((rss / 1024)) MB" >&2
    done
    RATE[$tool]=$(median "${rates[@]}"); RSS[$tool]=$(median "${rsss[@]}"); PAGES[$tool]=$pages
  done
  {
    echo "## $N pages (median of $RUNS runs, concurrency $CONCURRENCY)"
    for tool in sitepatrol wget scrapy; do
      echo "$tool: ${PAGES[$tool]} pages, ${RATE[$tool]} pages/s, peak RSS ${RSS[$tool]} MB"
    done
    python3 -c "print('sitepatrol / wget: %.2fx, sitepatrol / scrapy: %.1fx' % (${RATE[sitepatrol]} / ${RATE[wget]}, ${RATE[sitepatrol]} / max(${RATE[scrapy]}, 0.001)))"
  } | tee -a "$RESULTS"
  unset RATE RSS PAGES
done
