#!/usr/bin/env bash
# `sitepatrol scan DIR` on one thread against N threads, in the same run: MB/s of the files
# scanned, CPU% and peak RSS. Run on demand, not in CI:
#
#   benches/scan/run.sh                 (real-pages, 4 passes per process, 5 runs, -j1 and -j2)
#   CORPUS=../shared/data/pages-zh/original PASSES=10 RUNS=7 JOBS="1 2" benches/scan/run.sh
#
# The corpus directory is given PASSES times as targets, so each process scans enough bytes
# for its start-up (loading and compiling the rulesets, about a third of a second) to be a
# small share; the figures are also given without it, measured as the scan of one empty page.
# The -j settings take turns run by run, so that drift in the machine's load hits them alike;
# medians are printed, with the ratio of each against the first setting.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
CORPUS=${CORPUS:-$ROOT/../shared/data/real-pages}
PASSES=${PASSES:-4}
RUNS=${RUNS:-5}
JOBS=${JOBS:-1 2}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/scan-bench

if [ ! -d "$CORPUS" ]; then
  echo "notice: $CORPUS is missing; nothing measured" >&2
  exit 0
fi
command -v /usr/bin/time >/dev/null || { echo "error: /usr/bin/time is missing (Debian: time)" >&2; exit 1; }
mkdir -p "$WORK"
cargo build --release --quiet
BIN=$TARGET/release/sitepatrol

targets=()
for _ in $(seq "$PASSES"); do targets+=("$CORPUS"); done
empty=$WORK/empty.html
printf '<html><body></body></html>' > "$empty"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One scan: appends "wall user sys cpu% rss_kb bytes" to $WORK/runs-$1 (jobs) or prints it.
scan_once() {
  local jobs=$1; shift
  /usr/bin/time -f '%e %U %S %P %M' -o "$WORK/time" \
    "$BIN" scan --format jsonl --fail-on never -j "$jobs" "$@" > "$WORK/out.jsonl" 2> /dev/null || true
  local bytes
  bytes=$(tail -1 "$WORK/out.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
  echo "$(tr -d '%' < "$WORK/time") $bytes"
}

for jobs in $JOBS; do : > "$WORK/runs-$jobs"; done
: > "$WORK/startup"
for run in $(seq "$RUNS"); do
  for jobs in $JOBS; do
    line=$(scan_once "$jobs" "${targets[@]}")
    echo "$line" >> "$WORK/runs-$jobs"
    read -r wall _ _ cpu rss bytes <<< "$line"
    echo "run $run -j$jobs: $bytes bytes in ${wall}s, CPU ${cpu}%, peak RSS $((rss / 1024)) MB" >&2
  done
  scan_once 1 "$empty" | awk '{print $1}' >> "$WORK/startup"
done

startup=$(median $(cat "$WORK/startup"))
echo
echo "corpus: $CORPUS x $PASSES; $RUNS runs; start-up (one empty page) ${startup}s; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| threads | MB/s | MB/s without start-up | CPU% | peak RSS | ratio (without start-up) |"
echo "|---|---|---|---|---|---|"
first=""
for jobs in $JOBS; do
  f=$WORK/runs-$jobs
  wall=$(median $(awk '{print $1}' "$f"))
  cpu=$(median $(awk '{print $4}' "$f"))
  rss=$(median $(awk '{print $5}' "$f"))
  bytes=$(awk 'NR==1 {print $6}' "$f")
  # Prints the row, and the two rates of the first setting for the ratios of the others.
  out=$(python3 - "$jobs" "$wall" "$cpu" "$rss" "$bytes" "$startup" $first <<'PY'
import sys
jobs, wall, cpu, rss, nbytes, startup, *first = sys.argv[1:]
wall, nbytes, startup = float(wall), int(nbytes), float(startup)
rate = nbytes / 1e6 / wall
warm = nbytes / 1e6 / max(wall - startup, 1e-3)
if first:
    ratio = f"{rate / float(first[0]):.2f}× ({warm / float(first[1]):.2f}×)"
else:
    ratio = "baseline"
print(f"| {jobs} | {rate:.1f} | {warm:.1f} | {cpu}% | {int(rss) // 1024} MB | {ratio} |")
print(rate, warm)
PY
)
  echo "$out" | head -1
  [ -n "$first" ] || first=$(echo "$out" | tail -1)
done
