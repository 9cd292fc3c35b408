#!/usr/bin/env bash
# The whole file pipeline of this checkout against a baseline commit, in one run.
#
#   benches/baseline.sh [BASELINE_COMMIT] [RUNS]      (default: 4f24e8d, 7 runs)
#   BASELINE_BIN=path/to/sitepatrol benches/baseline.sh   (a baseline built before)
#   PASSES=10 benches/baseline.sh                         (scans of pages-zh per run)
#   PAGES=../shared/data/real-pages benches/baseline.sh   (another corpus; a tree is walked)
#   CURRENT_BIN=path/to/sitepatrol benches/baseline.sh    (another build of this checkout,
#                                                          e.g. another release profile)
#
# Builds the baseline in a temporary worktree (release, its own target dir) and this checkout,
# then scans ../shared/data/pages-zh/original with each binary on one thread (`scan -j 1`),
# alternating baseline and current run by run so that load drift hits both alike, PASSES times
# per run (default 10). It prints median and minimum user times, MiB/s of HTML per core, and
# the ratio (the minimum is the run least disturbed by the machine). When valgrind is installed it
# also counts instructions of one scan each (callgrind): those counts do not move with the
# machine's load, so they settle a ratio that the wall clock leaves in the noise.
#
# Each figure is also given without start-up (loading and compiling the rulesets, measured as
# the scan of one empty page): the daemon pays that once per rules reload, not per page, so the
# pipeline's throughput is the difference. A warm figure in user time follows: the passes after
# the first (a run of all passes less a run of one), since the first pass also compiles what is
# compiled on first use. The instruction counts add a warm figure too: the second
# of two passes over pages-zh in one process, after the first built the regexes' lazy DFA
# states, which is what a long-running daemon pays per page.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${1:-4f24e8d}
runs=${2:-7}
pages=${PAGES:-../shared/data/pages-zh/original}
if [ ! -d "$pages" ]; then
  echo "error: $pages is missing" >&2
  exit 1
fi

work=$(mktemp -d)
cleanup() {
  git worktree remove --force "$work/base" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${BASELINE_BIN:-}" ]; then
  # A baseline binary built earlier from $base (its release build takes minutes on 2 cores).
  old=$BASELINE_BIN
else
  git worktree add --detach --quiet "$work/base" "$base"
  # The baseline's own target dir, but the shared registry: only its own crate builds twice.
  (cd "$work/base" && CARGO_TARGET_DIR="$work/target" cargo build --release --quiet)
  old="$work/target/release/sitepatrol"
fi
if [ -n "${CURRENT_BIN:-}" ]; then
  new=$CURRENT_BIN
else
  cargo build --release --quiet
  new="target/release/sitepatrol"
fi
# What the scan reads (a walked tree holds files it passes over: READMEs, labels, licences).
bytes=$("$new" scan -j 1 --format jsonl --fail-on never "$pages" 2>/dev/null | tail -n 1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["bytes"])')
empty="$work/empty.html"
printf '<html><body></body></html>' >"$empty"

# pages-zh is scanned `passes` times per process, so that per-page time stands well above the
# timer's 10 ms resolution and start-up is a small share.
passes=${PASSES:-10}
declare -a targets=()
for _ in $(seq "$passes"); do targets+=("$pages"); done

time_one() {
  local bin=$1
  shift
  [ $# -gt 0 ] || set -- "${targets[@]}"
  /usr/bin/time -f "%U" "$bin" scan -j 1 --format jsonl --fail-on never "$@" \
    2>&1 >/dev/null | tail -n 1
}

declare -a old_user new_user old_start new_start old_once new_once
for _ in $(seq "$runs"); do
  old_user+=("$(time_one "$old")")
  new_user+=("$(time_one "$new")")
  old_start+=("$(time_one "$old" "$empty")")
  new_start+=("$(time_one "$new" "$empty")")
  old_once+=("$(time_one "$old" "$pages")")
  new_once+=("$(time_one "$new" "$pages")")
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minimum() { printf '%s\n' "$@" | sort -g | head -n 1; }
# Per-page user time: the run's user time less start-up, for `passes` passes.
report() {
  local name=$1 user=$2 start=$3
  awk -v n="$name" -v u="$user" -v s="$start" -v b="$bytes" -v p="$passes" \
    'BEGIN { printf "%-9s user %6.3f s, start-up %5.3f s: %6.1f MiB/s per core without start-up\n",
      n, u, s, b * p / (u - s) / 1048576 }'
}
echo "$pages: $bytes bytes scanned, $passes times per run; $runs runs each"
for stat in median minimum; do
  ou=$($stat "${old_user[@]}"); nu=$($stat "${new_user[@]}")
  os=$($stat "${old_start[@]}"); ns=$($stat "${new_start[@]}")
  echo "$stat:"
  report "baseline" "$ou" "$os"
  report "current" "$nu" "$ns"
  awk -v o="$ou" -v n="$nu" -v os="$os" -v ns="$ns" \
    'BEGIN { printf "current / baseline throughput without start-up (user time): %.3f\n", (o - os) / (n - ns) }'
  # Warm: the passes after the first, (all passes - one pass) / (passes - 1). The first pass
  # also pays what is built on first use (regexes compiled lazily, their DFA states), which a
  # daemon pays once per rules reload, like start-up.
  oo=$($stat "${old_once[@]}"); no=$($stat "${new_once[@]}")
  awk -v o="$ou" -v n="$nu" -v oo="$oo" -v no="$no" -v p="$passes" -v b="$bytes" \
    'BEGIN { printf "warm passes: baseline %.1f, current %.1f MiB/s per core; current / baseline (user time): %.3f\n",
      b * (p - 1) / (o - oo) / 1048576, b * (p - 1) / (n - no) / 1048576, (o - oo) / (n - no) }'
done

if command -v valgrind >/dev/null 2>&1; then
  count() {
    local bin=$1
    shift
    [ $# -gt 0 ] || set -- "$pages"
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" scan -j 1 --format jsonl \
      --fail-on never "$@" 2>&1 >/dev/null | awk '/Collected/ {print $4}'
  }
  oi=$(count "$old"); ni=$(count "$new")
  os=$(count "$old" "$empty"); ns=$(count "$new" "$empty")
  echo "instructions: baseline $oi, current $ni; start-up: baseline $os, current $ns"
  awk -v o="$oi" -v n="$ni" 'BEGIN { printf "current / baseline throughput (instructions): %.3f\n", o / n }'
  awk -v o="$oi" -v n="$ni" -v os="$os" -v ns="$ns" \
    'BEGIN { printf "without start-up (instructions): %.3f\n", (o - os) / (n - ns) }'
  # A second pass over the same pages in the same process: what a daemon pays per page once
  # the regexes' lazy DFAs hold the states its pages need (the first pass builds them).
  ot=$(count "$old" "$pages" "$pages"); nt=$(count "$new" "$pages" "$pages")
  echo "second pass (warm): baseline $((ot - oi)), current $((nt - ni))"
  awk -v o="$((ot - oi))" -v n="$((nt - ni))" \
    'BEGIN { printf "warm, current / baseline throughput (instructions): %.3f\n", o / n }'
fi
