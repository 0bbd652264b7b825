#!/usr/bin/env bash
# The default rules on quiet streams (docs/notes/2026-12-07-exact-counts.md): false alerts over
# ten quiet fortnights (six categories at 2-8 messages an hour, no change), and the minutes from
# the start of a tripling of one category (4 an hour -> 12 from day 7) to its first alert.
#
#   bash benches/quiet_streams/run.sh BINARY [BINARY ...]     (release builds to compare)
set -euo pipefail
here=$(dirname "$0")
work=${FP_BENCH_DIR:-/tmp/feedpulse-bench}/quiet
mkdir -p "$work"
for bin in "$@"; do
  false_alerts=0
  delays=""
  for seed in 1 2 3 4 5 6 7 8 9 10; do
    python3 "$here/gen.py" "$seed" 1 > "$work/flat.ndjson"
    "$bin" replay "$work/flat.ndjson" --no-enrich --batch 64 --alerts-out "$work/flat.alerts" 2>/dev/null
    false_alerts=$((false_alerts + $(grep -c '"status":"firing"' "$work/flat.alerts" || true)))
    python3 "$here/gen.py" "$seed" 3 > "$work/step.ndjson"
    "$bin" replay "$work/step.ndjson" --no-enrich --batch 64 --alerts-out "$work/step.alerts" 2>/dev/null
    delays="$delays $(python3 - "$work/step.alerts" <<'PY'
import json, sys
from datetime import datetime
step = 1772409600000 + 7 * 86400000
ms = lambda s: int(datetime.fromisoformat(s.replace('Z', '+00:00')).timestamp() * 1000)
firing = [json.loads(l) for l in open(sys.argv[1])]
late = [(ms(a['starts_at']) - step) / 60000 for a in firing
        if a['status'] == 'firing' and a['labels'].get('category') == 'heater' and ms(a['starts_at']) >= step]
print(round(min(late)) if late else 'none')
PY
)"
  done
  echo "$bin: false alerts in 10 quiet fortnights: $false_alerts; minutes to the tripling's first alert, seeds 1-10:$delays"
done
