#!/usr/bin/env bash
# Replay with combined keys: the peers' workload aggregated by three combined keys besides the
# single dimensions, against the same replay with only the default one (business × category),
# run alternately (the machine is shared), three rounds by default:
#
#   bash benches/combined_keys.sh [N] [ROUNDS]        (default: 5000000 3)
#   KEY_WINDOWS='["1h"]' bash benches/combined_keys.sh  (the two added keys at hours only)
#
# The three keys are business × category (the default `[[aggregate]]`, kept at hours only;
# business from the default scopes' keywords, where they match), channel × category and
# campaign × category (every window size, or those of KEY_WINDOWS); every rule is the peers'
# spike rule, so the extra keys cost aggregation and state, not judgement. Prints records/s and peak RSS of
# each run (the binary's own `--stats`) and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000000} rounds=${2:-3}
gen=../shared/tools/gen_workload.py
[ -f "$gen" ] || { echo "needs $gen (the workspace's shared tools)"; exit 2; }
data=${FP_BENCH_DIR:-/tmp/feedpulse-bench}
mkdir -p "$data"
input="$data/ev_$n.ndjson"
[ -f "$input" ] || python3 "$gen" "$n" "$input" >/dev/null
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/feedpulse
combined=$(mktemp -d)
mkdir -p "$combined/dataflows" "$combined/alerts"
{ cat dataflows/default.toml
  for key in '"channel", "category"' '"campaign", "category"'; do
    printf '\n[[aggregate]]\nkeys = [%s]\n' "$key"
    [ -z "${KEY_WINDOWS:-}" ] || printf 'windows = %s\n' "$KEY_WINDOWS"
  done
} > "$combined/dataflows/default.toml"
cp benches/peer_rule.toml "$combined/alerts/"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
results=$(mktemp)
for round in $(seq "$rounds"); do
  for which in one three; do
    config=(--rules benches/peer_rule.toml)
    [ "$which" = three ] && config=(--config "$combined")
    "$bin" replay "$input" --no-enrich "${config[@]}" --stats \
      --alerts-out "$data/alerts_keys_$which.ndjson" 2> "$data/stats_keys_$which.txt"
    eps=$(grep -oE 'throughput [0-9.]+' "$data/stats_keys_$which.txt" | awk '{print $2}')
    rss=$(grep -oE 'peak RSS [0-9.]+' "$data/stats_keys_$which.txt" | awk '{print $3}')
    echo "round $round, $which combined key(s): $eps records/s, peak RSS $rss MB"
    echo "$which $eps $rss" >> "$results"
  done
done
cmp -s "$data/alerts_keys_one.ndjson" "$data/alerts_keys_three.ndjson" \
  && echo "alerts: identical" || echo "alerts: DIFFER"
for which in one three; do
  eps=$(awk -v w="$which" '$1 == w { print $2 }' "$results" | sort -n | awk '{ e[NR] = $1 } END { print e[int((NR + 1) / 2)] }')
  rss=$(awk -v w="$which" '$1 == w { print $3 }' "$results" | sort -n | tail -1)
  echo "median, $which combined key(s): $eps records/s; peak RSS up to $rss MB"
done
rm -rf "$combined" "$results"
