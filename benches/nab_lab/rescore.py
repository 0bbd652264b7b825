"""Re-score `feedpulse backtest --nab` results from their `surprise` and `discord` columns.

The Rust scorer (src/dataflow/spike/rarity.rs, SeriesScorer) turns each row's surprise z and
shape discord into the NAB score: rarity among the series' own remembered values, scaled down
under the sensitivity, then the cooldown. This re-implements that step in Python (it reproduces
the Rust scores to the rounding of the dumped columns) so that other scorings can be tried in
seconds instead of a release build each:

    python3 rescore.py RESULTS OUT [option=value ...]

options: cap (rarity memory, 8000), min_history (30), sens (2.0), quiet (cooldown in rows, 200),
fire_at (0.998), shape (True), decided (damp every row that does not fire), binary (a row that
fires scores 1), tail (rank the top share of remembered surprises by an exponential tail fit),
prior (a Gaussian prior worth 1/(1 - fire_at) remembered surprises), order ('tail' or 'z':
order the fired rows by that instead of their rank). See docs/notes/2026-12-07-nab-decisions.md.
"""
import bisect, glob, math, os, sys
from collections import deque

INF_KEY = 1e3


def key(z):
    return math.log1p(z) if math.isfinite(z) else INF_KEY


class Rarity:
    def __init__(self, cap, tail=None):
        self.cap, self.order, self.sorted, self.tail = cap, deque(), [], tail

    def __len__(self):
        return len(self.order)

    def score(self, z, prior=0):
        if z <= 0:
            return 0.0
        k, n = key(z), len(self.sorted)
        at_least = n - bisect.bisect_left(self.sorted, k)
        p = (at_least + 1) / (n + 1)
        if prior:
            q = math.erfc(z / math.sqrt(2)) if math.isfinite(z) else 0.0
            p = (at_least + prior * q + 1) / (n + prior + 1)
        if self.tail and n >= 30:
            p = min(p, self.tail_p(k, n))
        return 1 - p

    def tail_p(self, k, n):
        """Peaks over threshold: the top share's excesses over the next value, exponential."""
        m = max(int(self.tail * n), 5)
        u = self.sorted[n - m - 1]
        if k <= u:
            return 1.0
        top = [t for t in self.sorted[n - m:] if t < INF_KEY]
        if k >= INF_KEY or not top:
            return 0.0 if k >= INF_KEY else 1.0
        beta = sum(t - u for t in top) / len(top)
        if beta <= 0:
            return 1.0
        return (m + 1) / (n + 1) * math.exp(-(k - u) / beta)

    def record(self, z):
        k = key(max(z, 0.0))
        self.order.append(k)
        bisect.insort_left(self.sorted, k)
        if len(self.order) > self.cap:
            del self.sorted[bisect.bisect_left(self.sorted, self.order.popleft())]


def rescore(rows, cap=8000, min_history=30, sens=2.0, quiet=200, fire_at=0.998, damping=0.1,
            tail=None, shape=True, decided=False, binary=False, order=None, prior=0):
    sur, shp, tails = Rarity(cap, tail), Rarity(cap, tail), Rarity(cap, 0.02)
    recent, since, out = deque(), 10**18, []
    pseudo = round(prior / (1 - fire_at)) if prior else 0
    for z, d in rows:
        raw = strength = 0.0
        if z is not None:
            if len(sur) >= min_history:
                s = sur.score(z, pseudo)
                if shape and d is not None:
                    s = max(s, shp.score(d))
                raw = s * min(z / sens, 1.0)
            if order == 'tail' and len(tails) >= 30:
                strength = 1 - tails.tail_p(key(z), len(tails))
            elif order == 'z':
                strength = key(z) / INF_KEY
            tails.record(z)
            sur.record(z)
            if d is not None:
                shp.record(d)
        before = max(recent) if recent else 0.0
        recent.append(raw)
        if len(recent) > quiet:
            recent.popleft()
        since += 1
        if raw > before and since > quiet and (raw >= fire_at or not decided):
            fired = raw >= fire_at
            if fired:
                since = 0
            if binary:
                out.append(1.0)
            elif order and fired:
                out.append(fire_at + (1 - fire_at) * strength)
            else:
                out.append(raw)
        else:
            out.append(raw * damping)
    return out


def load(path):
    rows, meta = [], []
    for line in open(path).read().splitlines()[1:]:
        t, v, s, z, d = line.split(',')
        rows.append((float(z) if z else None, float(d) if d else None))
        meta.append((t, v, float(s)))
    return rows, meta


def run(src, dst, **kw):
    worst = 0.0
    for path in sorted(glob.glob(f'{src}/*/*.csv')):
        rows, meta = load(path)
        rel = os.path.relpath(path, src)
        os.makedirs(os.path.dirname(f'{dst}/{rel}'), exist_ok=True)
        with open(f'{dst}/{rel}', 'w') as f:
            f.write('timestamp,value,anomaly_score\n')
            for (t, v, s0), s in zip(meta, rescore(rows, **kw)):
                worst = max(worst, abs(s - s0))
                f.write(f'{t},{v},{s:.9f}\n')
    return worst


if __name__ == '__main__':
    src, dst = sys.argv[1], sys.argv[2]
    kw = {k: eval(v) for k, v in (a.split('=', 1) for a in sys.argv[3:])}
    print(f'{dst}: largest difference from the Rust scores {run(src, dst, **kw):.2e}')
