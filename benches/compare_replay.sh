#!/usr/bin/env bash
# Two builds on the same replay, run alternately (the machine is shared: alternating spreads its
# noise over both), three rounds by default:
#
#   bash benches/compare_replay.sh OLD_BINARY NEW_BINARY [N] [ROUNDS]
#   OLD_ARGS=… NEW_ARGS=… bash benches/compare_replay.sh BIN BIN   (one build, two configurations)
#
# Input: ../shared/tools/gen_workload.py's stream of N events (default 1000000, seed 42),
# replayed with `--no-enrich` and the peers' spike rule, as benches/replay_throughput.sh does.
# Prints each run's records/s and peak RSS (the binary's own `--stats`), then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 n=${3:-1000000} rounds=${4:-3}
gen=../shared/tools/gen_workload.py
data=${FP_BENCH_DIR:-/tmp/feedpulse-bench}
mkdir -p "$data"
input="$data/ev_$n.ndjson"
[ -f "$input" ] || python3 "$gen" "$n" "$input" >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
results=$(mktemp)
for round in $(seq "$rounds"); do
  for which in old new; do
    bin=$old args=${OLD_ARGS:---rules benches/peer_rule.toml}
    [ "$which" = new ] && bin=$new args=${NEW_ARGS:---rules benches/peer_rule.toml}
    # shellcheck disable=SC2086 # the arguments are words
    "$bin" replay "$input" --no-enrich $args --stats \
      --alerts-out "$data/alerts_$which.ndjson" 2> "$data/stats_$which.txt"
    eps=$(grep -oE 'throughput [0-9.]+' "$data/stats_$which.txt" | awk '{print $2}')
    rss=$(grep -oE 'peak RSS [0-9.]+' "$data/stats_$which.txt" | awk '{print $3}')
    echo "round $round $which: $eps records/s, peak RSS $rss MB"
    echo "$which $eps $rss" >> "$results"
  done
done
python3 - "$results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
for which in ("old", "new"):
    eps = [float(r[1]) for r in rows if r[0] == which]
    rss = [float(r[2]) for r in rows if r[0] == which]
    print(f"{which}: median {statistics.median(eps):,.0f} records/s (min {min(eps):,.0f}, max {max(eps):,.0f}); "
          f"median peak RSS {statistics.median(rss):.0f} MB")
PY
cmp -s "$data/alerts_old.ndjson" "$data/alerts_new.ndjson" && echo "alerts: identical" || echo "alerts: DIFFER"
