#!/usr/bin/env bash
# `sitepatrol scan DIR` against `rg -c -F -i -E gbk -f TERMS DIR`, the same thread counts, in
# the same run (issue 17). TERMS is every literal term and `near` term of the bundled
# rulesets, read from rulesets/*.toml. DIR is pages-zh's original pages copied COPIES times.
# Run on demand, not in CI:
#
#   benches/scan/vs_rg.sh                       (pages-zh x20, 5 runs, -j1 and -j2)
#   COPIES=20 RUNS=7 JOBS="1 2" benches/scan/vs_rg.sh
#
# The four commands take turns run by run, so that drift in the machine's load hits them
# alike; medians are printed, with sitepatrol's time as a multiple of rg's at each -j.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PAGES=${PAGES:-$ROOT/../shared/data/pages-zh/original}
COPIES=${COPIES:-20}
RUNS=${RUNS:-5}
JOBS=${JOBS:-1 2}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/scan-vs-rg

if [ ! -d "$PAGES" ]; then
  echo "notice: $PAGES is missing; nothing measured" >&2
  exit 0
fi
. benches/lib.sh
need rg ripgrep
command -v /usr/bin/time >/dev/null || need /usr/bin/time time
cargo build --release --quiet
BIN=${BIN:-$TARGET/release/sitepatrol}

rm -rf "$WORK" && mkdir -p "$WORK/pages"
for i in $(seq -w 1 "$COPIES"); do cp -r "$PAGES" "$WORK/pages/copy$i"; done
python3 - "$ROOT/rulesets" "$WORK/terms.txt" <<'PY'
import glob, sys, tomllib
terms = set()
for path in sorted(glob.glob(f"{sys.argv[1]}/*.toml")):
    with open(path, "rb") as f:
        rules = tomllib.load(f).get("rule", [])
    for rule in rules:
        terms.update(rule.get("terms", []))
        near = rule.get("near") or []
        for context in near if isinstance(near, list) else [near]:
            terms.update(context.get("terms", []))
terms = sorted(t for t in terms if t.strip())
with open(sys.argv[2], "w") as f:
    f.write("\n".join(terms) + "\n")
print(f"{len(terms)} terms", file=sys.stderr)
PY
bytes=$(du -sb "$WORK/pages" | cut -f1)

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Appends "wall user+sys cpu%" of one command to $WORK/runs-NAME.
timed() {
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %P' -o "$WORK/time" "$@" > /dev/null 2>&1 || true
  awk '{gsub("%", "", $4); print $1, $2 + $3, $4}' "$WORK/time" >> "$WORK/runs-$name"
}

for jobs in $JOBS; do : > "$WORK/runs-rg$jobs"; : > "$WORK/runs-sp$jobs"; done
for run in $(seq "$RUNS"); do
  for jobs in $JOBS; do
    timed "rg$jobs" rg -j"$jobs" -c -F -i -E gbk -f "$WORK/terms.txt" "$WORK/pages"
    timed "sp$jobs" "$BIN" scan -j "$jobs" --format jsonl --fail-on never "$WORK/pages"
  done
  echo "run $run of $RUNS done" >&2
done

echo
echo "pages-zh original x$COPIES ($bytes bytes), $(wc -l < "$WORK/terms.txt") terms; $RUNS runs;" \
  "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| threads | rg s | rg CPU% | sitepatrol s | sitepatrol CPU% | sitepatrol MB/s | sitepatrol / rg (time) |"
echo "|---|---|---|---|---|---|---|"
for jobs in $JOBS; do
  rg_wall=$(median $(awk '{print $1}' "$WORK/runs-rg$jobs"))
  rg_cpu=$(median $(awk '{print $3}' "$WORK/runs-rg$jobs"))
  sp_wall=$(median $(awk '{print $1}' "$WORK/runs-sp$jobs"))
  sp_cpu=$(median $(awk '{print $3}' "$WORK/runs-sp$jobs"))
  python3 -c "import sys; j, rw, rc, sw, sc, b = sys.argv[1:]; \
print(f'| {j} | {float(rw):.2f} | {rc}% | {float(sw):.2f} | {sc}% | {int(b) / 1e6 / float(sw):.1f} | **{float(sw) / float(rw):.2f}×** |')" \
    "$jobs" "$rg_wall" "$rg_cpu" "$sp_wall" "$sp_cpu" "$bytes"
done
