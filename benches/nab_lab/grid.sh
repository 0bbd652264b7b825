#!/usr/bin/env bash
# The experiments of docs/notes/2026-12-07-nab-decisions.md: every scoring of the shipped rule's
# judgements, each scored in sample and cross-validated (../shared/tools/nab_cv.py), and the
# grid of "decision" variants chosen between on held-out folds.
#
#   bash benches/nab_lab/grid.sh      (after a release build; uses $CARGO_TARGET_DIR or target)
set -euo pipefail
cd "$(dirname "$0")/../.."
nab=../shared/eval-data/nab-dev
work=${FP_BENCH_DIR:-/tmp/feedpulse-bench}/nab_lab
rm -rf "$work" && mkdir -p "$work"
"${CARGO_TARGET_DIR:-target}"/release/feedpulse backtest --nab "$nab/data" --out "$work/rust" 2>/dev/null
cv() {
  local args=() c
  for c in "$@"; do args+=(--candidate "$c"); done
  for p in standard reward_low_FP_rate; do
    python3 ../shared/tools/nab_cv.py --data "$nab/data" --windows "$nab/labels/combined_windows.json" \
      --profiles "$nab/config/profiles.json" "${args[@]}" --folds both --profile "$p" | awk 'NR > 1 {printf "%s %s %s / ", $2, $3, $4}'
  done
  echo
}
variant() { # name options...
  local name=$1; shift
  python3 benches/nab_lab/rescore.py "$work/rust" "$work/$name" "$@" >/dev/null
  printf '%-14s ' "$name"; cv "$name=$work/$name"
}
echo "name           standard: folds in-sample CV / ... ; low-FP: folds in-sample CV / ..."
variant shipped
variant decided decided=True
for t in 0.01 0.02 0.05; do variant "tail$t" tail=$t; done
variant order_tail decided=True order="'tail'"
variant order_z decided=True order="'z'"
grid=()
for spec in f995:fire_at=0.995 f997:fire_at=0.997 f998:fire_at=0.998 f9985:fire_at=0.9985 f999:fire_at=0.999 \
  sens1.5:sens=1.5 sens3:sens=3.0 shape_off:shape=False quiet100:quiet=100 quiet400:quiet=400; do
  name=bin_${spec%%:*}
  variant "$name" decided=True binary=True "${spec#*:}"
  grid+=("$name=$work/$name")
done
for f in 0.997 0.998 0.9985; do variant "prior_f$f" decided=True binary=True prior=1 fire_at=$f; done
printf '%-14s ' "grid (chosen)"; cv "${grid[@]}"
