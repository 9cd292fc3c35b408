#!/usr/bin/env bash
# Whole-process crawl benchmark: sitepatrol (full scanning) vs wget --recursive (fetch only,
# one thread) vs Scrapy (decoding every page), on generated static sites served by nginx on
# loopback. Run on demand, not in CI:
#
#   benches/crawl/run.sh [PAGES...]        (default: 10000 50000)
#   BASELINE_BIN=path/to/old/sitepatrol TOOLS="sitepatrol baseline" benches/crawl/run.sh 10000
#                                           (this checkout against an older binary, run by run)
#   TOOLS="sitepatrol probes wget" benches/crawl/run.sh 10000
#                                           (`probes`: sitepatrol with the cloaking probes on)
#   SITE=realistic TOOLS="sitepatrol wget" RUNS=5 benches/crawl/run.sh 10000
#                                           (gen_realistic.py: pages shaped like pages-zh,
#                                           10-70 KB, ~68% GBK, ~100 links, inline JS and CSS)
#
# Prints pages/s, peak RSS and ratios, and writes them to $CARGO_TARGET_DIR/crawl-bench/results.txt
# (target/ by default). Each run's page count is checked against N: a tool that fetched fewer
# pages is reported as such ("coverage N/M").
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SHARED=${SHARED:-$ROOT/../shared/data}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/crawl-bench
# Which site: `generated` (gen_site.py, small pages) or `realistic` (gen_realistic.py).
SITE_KIND=${SITE:-generated}
RUNS=${RUNS:-3}
# Which crawlers run: `baseline` is BASELINE_BIN, an older sitepatrol, with the same flags;
# `probes` is this sitepatrol with `--probe` (the start page and 4 more, 14 probes each).
TOOLS=${TOOLS:-sitepatrol wget scrapy}
CONCURRENCY=${CONCURRENCY:-16}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 50000)
mkdir -p "$WORK"

. benches/lib.sh
need nginx nginx-light
case " $TOOLS " in *" scrapy "*) python3 -c 'import scrapy' 2>/dev/null || pip install -q scrapy ;; esac
case " $TOOLS " in *" wget "*) need wget ;; esac
case " $TOOLS " in *" baseline "*) [ -x "${BASELINE_BIN:-}" ] || { echo "error: TOOLS names baseline but BASELINE_BIN is no executable" >&2; exit 1; } ;; esac

cargo build --release --quiet
BIN=$TARGET/release/sitepatrol
PORT=$((20000 + RANDOM % 20000))

trap stop_nginx EXIT

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

RESULTS=$WORK/results.txt
: > "$RESULTS"
for N in "${SIZES[@]}"; do
  case $SITE_KIND in
    realistic) SITE=$WORK/realistic-$N; GEN=benches/crawl/gen_realistic.py ;;
    *) SITE=$WORK/site-$N; GEN=benches/crawl/gen_site.py ;;
  esac
  [ -f "$SITE/index.html" ] || python3 "$GEN" "$N" "$SITE" "$SHARED"
  stop_nginx
  start_nginx "$SITE"
  URL=http://127.0.0.1:$PORT/
  declare -A RATE RSS PAGES
  for tool in $TOOLS; do : > "$WORK/rates-$tool"; : > "$WORK/rss-$tool"; done
  # Tools take turns run by run, so that a change in the machine's load hits them alike.
  for run in $(seq "$RUNS"); do
    for tool in $TOOLS; do
      case $tool in
        sitepatrol|baseline|probes)
          bin=$BIN
          [ "$tool" = baseline ] && bin=$BASELINE_BIN
          extra=()
          [ "$tool" = probes ] && extra=(--probe)
          /usr/bin/time -f '%e %M %U %S' -o "$WORK/time" "$bin" scan --allow-private-networks --format jsonl "${extra[@]}" \
            --fail-on never --max-pages 1000000 --max-depth 1000 --concurrency "$CONCURRENCY" \
            --per-host-concurrency "$CONCURRENCY" --no-sitemaps --stats-json "$WORK/stats.json" "$URL" > /dev/null
          pages=$(python3 -c "import json;print(json.load(open('$WORK/stats.json'))['pages_fetched'])") ;;
        wget)
          rm -rf "$WORK/wget"
          /usr/bin/time -f '%e %M %U %S' -o "$WORK/time" wget --recursive --level=inf --no-parent -e robots=off \
            --no-verbose -P "$WORK/wget" "$URL" 2> "$WORK/wget.log" || true
          pages=$(find "$WORK/wget" -name '*.html' | wc -l) ;;
        scrapy)
          /usr/bin/time -f '%e %M %U %S' -o "$WORK/time" scrapy runspider benches/crawl/spider.py -a start="$URL" \
            -s CONCURRENT_REQUESTS="$CONCURRENCY" -s CONCURRENT_REQUESTS_PER_DOMAIN="$CONCURRENCY" \
            -s LOG_LEVEL=INFO -s TELNETCONSOLE_ENABLED=False 2> "$WORK/scrapy.log" || true
          pages=$(grep -o "'downloader/response_count': [0-9]*" "$WORK/scrapy.log" | grep -o '[0-9]*$' || echo 0) ;;
      esac
      # The last line: GNU time puts "Command exited with non-zero status N" before it (wget
      # exits 8 on any 404).
      read -r secs rss usr sys < <(tail -1 "$WORK/time")
      python3 -c "print(round($pages / max($secs, 0.001), 1))" >> "$WORK/rates-$tool"
      echo "$((rss / 1024))" >> "$WORK/rss-$tool"
      PAGES[$tool]=$pages
      cover=""
      [ "$pages" -lt "$N" ] && cover=" (coverage $pages/$N: NOT FULL)"
      echo "N=$N $tool run $run: $pages pages in ${secs}s (CPU ${usr}s user + ${sys}s sys), peak RSS $((rss / 1024)) MB$cover" >&2
    done
  done
  for tool in $TOOLS; do
    # shellcheck disable=SC2046
    RATE[$tool]=$(median $(cat "$WORK/rates-$tool")); RSS[$tool]=$(median $(cat "$WORK/rss-$tool"))
  done
  {
    echo "## $N pages, $SITE_KIND site (median of $RUNS runs, concurrency $CONCURRENCY)"
    for tool in $TOOLS; do
      # shellcheck disable=SC2046
      echo "$tool: ${PAGES[$tool]} pages, ${RATE[$tool]} pages/s (min $(sort -g "$WORK/rates-$tool" | head -1), max $(sort -g "$WORK/rates-$tool" | tail -1)), peak RSS ${RSS[$tool]} MB"
    done
    for other in wget scrapy baseline probes; do
      [ -z "${RATE[$other]:-}" ] || python3 -c "print('sitepatrol / $other: %.2fx' % (${RATE[sitepatrol]} / max(${RATE[$other]}, 0.001)))"
    done
  } | tee -a "$RESULTS"
  unset RATE RSS PAGES
done
