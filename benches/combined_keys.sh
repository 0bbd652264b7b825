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
# spike rule, so the extra keys cost aggregation and state, not judgement. The runs are
# benches/compare_replay.sh's (alternating; records/s and peak RSS of each run, the medians,
# whether the alerts are identical).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000000} rounds=${2:-3}
gen=../shared/tools/gen_workload.py
[ -f "$gen" ] || { echo "needs $gen (the workspace's shared tools)"; exit 2; }
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
echo "old: the default configuration (one combined key); new: three combined keys"
OLD_ARGS="--rules benches/peer_rule.toml" NEW_ARGS="--config $combined" \
  bash benches/compare_replay.sh "$bin" "$bin" "$n" "$rounds"
rm -rf "$combined"
