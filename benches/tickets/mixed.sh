#!/usr/bin/env bash
# Service-desk throughput: a replay of N events of which a share are ticket lifecycle events,
# against the same build on N messages alone, alternating, with enrichment off:
#
#   bash benches/tickets/mixed.sh [BINARY] [N] [ROUNDS]     (default: the release build, 1000000, 3)
#
# The messages are ../shared/tools/gen_workload.py's stream (seed 42); gen_mixed.py replaces a
# fifth of them with ticket events over the same day (≈ 48 k tickets, 200 agents, 5 businesses,
# the shipped SLAs and threshold rules: benches/tickets/rules.toml). Prints each run's records/s
# and peak RSS (the binary's `--stats`) and the alerts by rule of the mixed run.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-${CARGO_TARGET_DIR:-target}/release/feedpulse} n=${2:-1000000} rounds=${3:-3}
data=${FP_BENCH_DIR:-/tmp/feedpulse-bench}
mkdir -p "$data"
messages="$data/ev_$n.ndjson"
[ -f "$messages" ] || python3 ../shared/tools/gen_workload.py "$n" "$messages" >/dev/null
mixed="$data/mixed_$n.ndjson"
[ -f "$mixed" ] || python3 benches/tickets/gen_mixed.py "$messages" "$n" "$mixed"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
results=$(mktemp)
for round in $(seq "$rounds"); do
  for which in messages mixed; do
    input=$messages
    [ "$which" = mixed ] && input=$mixed
    "$bin" replay "$input" --no-enrich --rules benches/tickets/rules.toml --stats \
      --alerts-out "$data/alerts_$which.ndjson" 2> "$data/stats_$which.txt"
    eps=$(grep -oE 'throughput [0-9.]+' "$data/stats_$which.txt" | awk '{print $2}')
    rss=$(grep -oE 'peak RSS [0-9.]+' "$data/stats_$which.txt" | awk '{print $3}')
    echo "round $round $which: $eps records/s, peak RSS $rss MB"
    echo "$which $eps $rss" >> "$results"
  done
done
python3 - "$results" "$data/alerts_mixed.ndjson" <<'PY'
import collections, json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for which in ("messages", "mixed"):
    eps = [float(r[1]) for r in rows if r[0] == which]
    rss = [float(r[2]) for r in rows if r[0] == which]
    print(f"{which}: median {statistics.median(eps):,.0f} records/s (min {min(eps):,.0f}, max {max(eps):,.0f}); "
          f"median peak RSS {statistics.median(rss):.0f} MB")
fired = collections.Counter(json.loads(l)["labels"]["rule"] for l in open(sys.argv[2]) if '"status":"firing"' in l)
print("mixed run, alerts fired by rule:", dict(sorted(fired.items())))
PY
