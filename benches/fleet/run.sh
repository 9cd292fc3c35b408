#!/usr/bin/env bash
# Fleet benchmark (issue 15): the patrol rate, in sites per minute, of 1, 2 and 3 daemons
# sharing one PostgreSQL store, and of one daemon on the default SQLite store in the same run,
# against generated sites on loopback. Run on demand, not in CI:
#
#   benches/fleet/run.sh                          (builds the release binary first)
#   BIN=path/to/sitepatrol ROUNDS=3 DURATION=120 benches/fleet/run.sh
#
# Knobs (environment): BIN (a release sitepatrol; else `cargo build --release`, honouring
# CARGO_TARGET_DIR), PG (a PostgreSQL URL; default $SITEPATROL_TEST_PG or
# postgres://postgres@127.0.0.1:5432/test), SITES (200), PAGES per site (6), CONFIGS
# ("sqlite 1 2 3": a number is that many daemons on PostgreSQL), ROUNDS (2), WARMUP (10 s),
# DURATION (60 s), CRAWLS (schedule.max_concurrent_crawls, 4 as by default), PROBES (0: the
# cloaking probes off; 1: on, as by default), SHARED (the shared data with real Chinese text).
#
# Every site is `site<k>.fleet.bench`, pinned to 127.0.0.1 by the inventory's `origin`, and
# served by one python3 server (benches/fleet/sites.py) that tells them apart by Host: no
# request leaves loopback. Each site's interval is 1 s, so every site is due again at once and
# the daemons crawl back to back: the rate is what they sustain. Each configuration gets a fresh
# PostgreSQL schema (`options=-csearch_path=...`, dropped afterwards) or a fresh SQLite file; its
# daemons run WARMUP seconds, then DURATION seconds are measured: the crawl runs the store
# holds that finished inside the window (completed ones, all outcomes beside), their pages, and
# each daemon's share from its /metrics. Configurations take turns round by round (the order
# reversed every other round), so a change in the machine's load hits them alike.
#
# Prints a table and writes it to $WORK/results.txt (WORK: target/fleet-bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SHARED=${SHARED:-$ROOT/../shared/data}
WORK=${WORK:-${CARGO_TARGET_DIR:-$ROOT/target}/fleet-bench}
PG=${PG:-${SITEPATROL_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}}
SITES=${SITES:-200}
PAGES=${PAGES:-6}
CONFIGS=${CONFIGS:-sqlite 1 2 3}
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-10}
DURATION=${DURATION:-60}
CRAWLS=${CRAWLS:-4}
PROBES=${PROBES:-0}
rm -rf "$WORK"
mkdir -p "$WORK"

. benches/lib.sh
command -v psql >/dev/null || need psql postgresql-client
psql "$PG" -Atqc 'SELECT 1' >/dev/null ||
  { echo "error: cannot connect to PostgreSQL at $PG (set PG=...)" >&2; exit 1; }

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin sitepatrol
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/sitepatrol
fi
[ -x "$BIN" ] || { echo "error: BIN=$BIN is no executable" >&2; exit 1; }

PORT=$((20000 + RANDOM % 20000))
PIDS=()        # the daemons running now
SCHEMAS=()     # the schemas still to drop
SERVER=""
cleanup() {
  local pid schema
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  for schema in "${SCHEMAS[@]}"; do
    psql "$PG" -Atqc "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# The sites: the inventory, and their server.
python3 benches/fleet/sites.py inventory "$SITES" "$PORT" > "$WORK/sites.csv"
python3 benches/fleet/sites.py serve "$SITES" "$PORT" "$PAGES" "$SHARED" 2> "$WORK/server.log" &
SERVER=$!
for _ in $(seq 1 100); do
  curl -sf -o /dev/null -H "Host: site0.fleet.bench" "http://127.0.0.1:$PORT/" && break
  sleep 0.1
done
curl -sf -o /dev/null -H "Host: site0.fleet.bench" "http://127.0.0.1:$PORT/" ||
  { cat "$WORK/server.log" >&2; exit 1; }
mkdir -p "$WORK/rules"

# config DIR STORE_LINES: one daemon's config.
config() {
  mkdir -p "$1"
  cat > "$1/config.toml" <<CONF
[store]
$2
[http]
listen = ["127.0.0.1:0"]
[rules]
paths = ["bundled"]
[logging]
level = "info"
[schedule]
interval = "1s"
jitter = 0.0
max_concurrent_crawls = $CRAWLS
shutdown_grace = "2s"
lease_ttl = "10s"
lease_renew_interval = "3s"
leader_check_interval = "1s"
[crawl]
sitemaps = false
[crawl.probes]
enabled = $([ "$PROBES" = 1 ] && echo true || echo false)
[filing]
enabled = false
[inventory]
file = "$WORK/sites.csv"
CONF
}

# crawls ADDR: the daemon's finished crawls so far (every outcome), from /metrics.
crawls() {
  curl -s "http://$1/metrics" | awk '$1 ~ /^sitepatrol_crawls_total/ {s += $2} END {print s + 0}'
}

# The store's figures for runs finished in [T0, T1): completed, all, pages, sites seen, runs of
# one site overlapping in time (must be 0), flags; one line, space-separated.
FIGURES="SELECT
  (SELECT count(*) FROM crawl_runs WHERE finished_at >= :t0 AND finished_at < :t1 AND outcome = 'completed'),
  (SELECT count(*) FROM crawl_runs WHERE finished_at >= :t0 AND finished_at < :t1),
  (SELECT coalesce(sum(CAST(JSON_EXTRACT_PAGES AS BIGINT)), 0) FROM crawl_runs
     WHERE finished_at >= :t0 AND finished_at < :t1),
  (SELECT count(DISTINCT site_id) FROM crawl_runs WHERE finished_at >= :t0 AND finished_at < :t1),
  (SELECT count(*) FROM crawl_runs a JOIN crawl_runs b ON a.site_id = b.site_id AND a.id < b.id
     AND a.started_at < b.finished_at AND b.started_at < a.finished_at),
  (SELECT count(*) FROM flags)"
pg_figures() { # URL T0 T1
  local sql=${FIGURES//:t0/$2}
  sql=${sql//:t1/$3}
  local pages="stats::json->>'pages_fetched'"
  psql "$1" -AtF' ' -qc "${sql//JSON_EXTRACT_PAGES/$pages}"
}
sqlite_figures() { # FILE T0 T1
  local sql=${FIGURES//:t0/$2}
  sql=${sql//:t1/$3}
  local pages="json_extract(stats, '\$.pages_fetched')"
  python3 - "$1" "${sql//JSON_EXTRACT_PAGES/$pages}" <<'PY'
import sqlite3, sys
print(*sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone())
PY
}

# measure CONFIG ROUND: one configuration's run; appends a line to $WORK/raw.
measure() {
  local what=$1 round=$2 n store url="" schema="" dir i pid
  local -a addrs=() before=() after=()
  dir=$WORK/$what-r$round
  if [ "$what" = sqlite ]; then
    n=1
    store="path = \"$dir/d0/sitepatrol.db\""
  else
    n=$what
    schema=sp_fleetbench_$$_${what}_r$round
    psql "$PG" -Atqc "CREATE SCHEMA $schema" >/dev/null
    SCHEMAS+=("$schema")
    url="$PG$([[ $PG == *\?* ]] && echo '&' || echo '?')options=-csearch_path%3D$schema"
    store="url = \"$url\""
  fi
  PIDS=()
  for i in $(seq 0 $((n - 1))); do
    config "$dir/d$i" "$store"
    "$BIN" daemon --config "$dir/d$i/config.toml" > "$dir/d$i/stdout" 2> "$dir/d$i/log" &
    PIDS+=($!)
  done
  for i in $(seq 0 $((n - 1))); do addrs+=("$(daemon_addr "$dir/d$i/log")"); done
  sleep "$WARMUP"
  for i in $(seq 0 $((n - 1))); do before+=("$(crawls "${addrs[$i]}")"); done
  local t0 t1 load
  t0=$(date +%s)
  load=$(cut -d' ' -f1 /proc/loadavg)
  sleep "$DURATION"
  t1=$(date +%s)
  for i in $(seq 0 $((n - 1))); do after+=("$(crawls "${addrs[$i]}")"); done
  for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
  for pid in "${PIDS[@]}"; do wait "$pid" || echo "warning: a daemon of $what exited $?" >&2; done
  PIDS=()
  local figures share=""
  if [ "$what" = sqlite ]; then
    figures=$(sqlite_figures "$dir/d0/sitepatrol.db" "$t0" "$t1")
  else
    figures=$(pg_figures "$url" "$t0" "$t1")
    psql "$PG" -Atqc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null
  fi
  for i in $(seq 0 $((n - 1))); do share+="${share:+/}$((after[i] - before[i]))"; done
  # what round seconds load completed all pages sites overlaps flags share
  echo "$what $round $((t1 - t0)) $load $figures $share" | tee -a "$WORK/raw" >&2
}

echo "sitepatrol fleet bench: $SITES sites x $PAGES pages on 127.0.0.1:$PORT, configs: $CONFIGS," \
  "$ROUNDS rounds of ${WARMUP}s warm-up + ${DURATION}s measured; $(nproc) cores;" \
  "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
read -ra ORDER <<< "$CONFIGS"
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 0 ]; then
    mapfile -t ORDER < <(printf '%s\n' "${ORDER[@]}" | tac)
  fi
  for what in "${ORDER[@]}"; do measure "$what" "$round"; done
done

# The table: one row per configuration, each round's rate and their mean.
python3 - "$WORK/raw" "$CONFIGS" <<'PY' | tee "$WORK/results.txt"
import sys
rows = {}
for line in open(sys.argv[1]):
    what, rnd, secs, load, done, runs, pages, sites, overlaps, flags, share = line.split()
    rows.setdefault(what, []).append(dict(
        secs=int(secs), load=float(load), done=int(done), runs=int(runs), pages=int(pages),
        sites=int(sites), overlaps=int(overlaps), flags=int(flags), share=share))
print("| store, daemons | sites/min, each round | mean sites/min | pages/s (mean) "
      "| crawls per daemon (last round) | distinct sites in window | overlapping runs | flags | load at start |")
print("|---|---|---|---|---|---|---|---|---|")
for what in sys.argv[2].split():
    rs = rows.get(what)
    if not rs:
        continue
    rates = [r["done"] * 60 / r["secs"] for r in rs]
    pps = sum(r["pages"] / r["secs"] for r in rs) / len(rs)
    name = "SQLite, 1" if what == "sqlite" else f"PostgreSQL, {what}"
    print(f"| {name} | {', '.join(f'{x:.0f}' for x in rates)} | {sum(rates) / len(rates):.0f} "
          f"| {pps:.0f} | {rs[-1]['share']} | {min(r['sites'] for r in rs)} "
          f"| {sum(r['overlaps'] for r in rs)} | {'/'.join(str(r['flags']) for r in rs)} "
          f"| {'/'.join('%.1f' % r['load'] for r in rs)} |")
PY
