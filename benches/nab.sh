#!/usr/bin/env bash
# The spike detector on the Numenta Anomaly Benchmark subset in ../shared/eval-data/nab-dev.
#
#   bash benches/nab.sh
#
# Builds the release binary, scores every series with `feedpulse backtest --nab` (the embedded
# rule benches/nab_rule.toml), scores the results with ../shared/tools/nab_score.py (standard,
# low-FP and low-FN profiles, per file), then measures how much of that score is choice: every
# variant in benches/nab_variants/ is scored too and ../shared/tools/nab_cv.py picks variant and
# threshold on the other folds only (leave-one-category-out, and 5-fold by file name), printing
# the in-sample and the cross-validated score side by side. Last, it times a corpus of NAB's
# full size (58 files, about 440 k rows, more than NAB's 365 k) made of copies of nab-dev's 23.
set -euo pipefail
cd "$(dirname "$0")/.."
nab=../shared/eval-data/nab-dev
scorer=../shared/tools/nab_score.py
[ -d "$nab" ] && [ -f "$scorer" ] || { echo "needs $nab and $scorer (the workspace's shared data)"; exit 2; }
work=${FP_BENCH_DIR:-/tmp/feedpulse-bench}/nab
rm -rf "$work" && mkdir -p "$work"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/feedpulse
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

"$bin" backtest --nab "$nab/data" --out "$work/feedpulse"
python3 "$scorer" --data "$nab/data" --windows "$nab/labels/combined_windows.json" \
  --profiles "$nab/config/profiles.json" --results "$work/feedpulse" --per-file

# Generalisation: the shipped rule and its variants, chosen between on held-out folds only.
cv=../shared/tools/nab_cv.py
candidates=(--candidate "nab_rule=$work/feedpulse")
for variant in benches/nab_variants/*.toml; do
  name=$(basename "$variant" .toml)
  "$bin" backtest --nab "$nab/data" --out "$work/variants/$name" --rules "$variant" 2>/dev/null
  candidates+=(--candidate "$name=$work/variants/$name")
done
for profile in standard reward_low_FP_rate; do
  python3 "$cv" --data "$nab/data" --windows "$nab/labels/combined_windows.json" \
    --profiles "$nab/config/profiles.json" "${candidates[@]}" --folds both --profile "$profile"
done

# Full-size timing: 58 series (copies of nab-dev's 23), more rows than NAB's 365 k.
big="$work/full-size-data"
mkdir -p "$big"
copy=0
while [ "$(find "$big" -name '*.csv' | wc -l)" -lt 58 ]; do
  for f in "$nab"/data/*/*.csv; do
    [ "$(find "$big" -name '*.csv' | wc -l)" -lt 58 ] || break
    mkdir -p "$big/copy$copy"
    cp "$f" "$big/copy$copy/"
  done
  copy=$((copy + 1))
done
echo "full-size corpus: $(find "$big" -name '*.csv' | wc -l) files, $(cat "$big"/*/*.csv | grep -vc '^timestamp') rows"
/usr/bin/time -f "wall %e s, peak RSS %M KB" "$bin" backtest --nab "$big" --out "$work/full-size-results" 2>&1 | tail -2
