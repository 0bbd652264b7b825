#!/usr/bin/env bash
# Embeds the three new-cluster dev sets once (feedpulse enrich --embeddings) into
# $OUT/{banking77,hwu64,shop}.{npy,labels} for the Python experiments beside this script.
# Usage: benches/new_clusters/dump.sh FEEDPULSE_BINARY [OUT=/tmp/nc]   (needs python3 + numpy)
set -euo pipefail
bin=$1; out=${2:-/tmp/nc}; data=${EVAL_DATA:-$(dirname "$0")/../../../shared/eval-data}
mkdir -p "$out"
python3 - "$data" "$out" <<'PY'
import csv, json, sys
data, out = sys.argv[1:]
sets = {'banking77': 'banking77/train.csv', 'hwu64': 'hwu64/hwu64.csv',
        'shop': 'online_shopping_10_cats/online_shopping_10_cats.csv'}
for name, path in sets.items():
    rows = list(csv.reader(open(f'{data}/{path}', encoding='utf-8')))
    h = rows[0]
    t = next(h.index(n) for n in ['text', 'review'] if n in h)
    l = next(h.index(n) for n in ['category', 'cat', 'intent', 'label'] if n in h)
    with open(f'{out}/{name}.ndjson', 'w') as texts, open(f'{out}/{name}.labels', 'w') as labels:
        for i, r in enumerate(r for r in rows[1:] if len(r) > max(t, l) and r[t].strip()):
            texts.write(json.dumps({'id': str(i), 'text': r[t]}, ensure_ascii=False) + '\n')
            labels.write(r[l] + '\n')
PY
for s in banking77 hwu64 shop; do
  "$bin" enrich --embeddings "$out/$s.ndjson" 2>/dev/null > "$out/$s.enriched"
  python3 -c "
import json, numpy as np, sys
E = np.array([json.loads(l)['embedding'] for l in open('$out/$s.enriched')], dtype=np.float32)
np.save('$out/$s.npy', E / np.linalg.norm(E, axis=1, keepdims=True))"
done
