#!/usr/bin/env bash
# Whole-process replay throughput and peak memory on the peers' workload.
#
#   bash benches/replay_throughput.sh [N ...]        (default: 1000000 5000000)
#
# Generates the stream with ../shared/tools/gen_workload.py (deterministic, seed 42), builds
# the release binary, runs `feedpulse replay --no-enrich` with the peers' spike rule three times
# per size, and prints wall time, events/s, peak RSS (from /usr/bin/time or the binary's own
# VmHWM) and how many injected spike episodes were alerted.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 5000000)
gen=../shared/tools/gen_workload.py
[ -f "$gen" ] || { echo "needs $gen (the workspace's shared tools)"; exit 2; }
data=${FP_BENCH_DIR:-/tmp/feedpulse-bench}
mkdir -p "$data"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/feedpulse
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for n in "${sizes[@]}"; do
  input="$data/ev_$n.ndjson"
  [ -f "$input" ] || python3 "$gen" "$n" "$input" >/dev/null
  for run in 1 2 3; do
    "$bin" replay "$input" --no-enrich --rules benches/peer_rule.toml --stats \
      --alerts-out "$data/alerts_$n.ndjson" 2> "$data/stats_$n.txt"
    echo "n=$n run=$run: $(grep -E 'throughput|peak RSS' "$data/stats_$n.txt" | tr '\n' ' ')"
  done
  python3 - "$input.truth.json" "$data/alerts_$n.ndjson" <<'PY'
import json, sys
truth = json.load(open(sys.argv[1]))
episodes = {(w["category"], w["episode_start"]) for w in truth["spike_windows"]}
windows = {(w["category"], w["window_start"]) for w in truth["spike_windows"]}
fired = [json.loads(l) for l in open(sys.argv[2]) if '"status":"firing"' in l]
def start_ms(a):
    from datetime import datetime
    return int(datetime.fromisoformat(a["window"]["start"].replace("Z", "+00:00")).timestamp() * 1000)
hits = {(a["labels"]["category"], start_ms(a)) for a in fired}
found = {e for e in episodes if any((e[0], w) in hits for (c, w) in windows if c == e[0] and e[1] <= w < e[1] + 3 * 60000)}
false = [h for h in hits if h not in windows]
print(f"  spike episodes alerted: {len(found)}/{len(episodes)}, alerts outside injected windows: {len(false)}")
PY
done
