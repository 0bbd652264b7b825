"""The eval's protocol (feedpulse eval new-clusters) in Python, for trying groupings quickly on
embeddings dumped by dump.sh. Orders come from Python's RNG, not feedpulse's SplitMix, so
single seeds differ from the Rust eval; means over seeds 1-6 agree within about one standard deviation (baseline.py)."""
import numpy as np, random, sys, collections, os
DIR = os.environ.get('NC_DIR', '/tmp/nc')
SETS = {'banking77': (10, None), 'hwu64': (10, None), 'shop': (2, 10000)}
def load(name):
    E = np.load(f'{DIR}/{name}.npy'); L = open(f'{DIR}/{name}.labels').read().split('\n')[:len(E)]
    return E, L
def stream(E, L, holdout_n, limit, seed):
    rng = random.Random(seed)
    idx = list(range(len(E)))
    if limit: rng.shuffle(idx); idx = idx[:limit]
    labels = sorted(set(L[i] for i in idx)); rng.shuffle(labels); hold = set(labels[:holdout_n])
    held = [i for i in idx if L[i] in hold]; bg = [i for i in idx if L[i] not in hold]
    rng.shuffle(held); rng.shuffle(bg)
    kp = round(len(bg) * 0.5)
    order = bg[:kp]; rest = bg[kp:]; h = held
    ri = hi = 0
    while ri < len(rest) or hi < len(h):
        r, hh = len(rest) - ri, len(h) - hi
        if rng.randrange(r + hh) < hh: order.append(h[hi]); hi += 1
        else: order.append(rest[ri]); ri += 1
    return order, kp, hold
def ceiling(E, L, order, kp, hold, g=8):
    warm = collections.defaultdict(list); groups = collections.defaultdict(list)
    for p, i in enumerate(order):
        if p < kp: warm[L[i]].append(E[i])
        elif len(groups[L[i]]) < g: groups[L[i]].append(E[i])
    P = np.array([np.mean(v, 0) for v in warm.values()]); P /= np.linalg.norm(P, axis=1, keepdims=True)
    ho, bgc = [], []
    for l, v in groups.items():
        if len(v) < g: continue
        c = np.mean(v, 0); c /= np.linalg.norm(c); m = float((P @ c).max())
        (ho if l in hold else bgc).append(m)
    bgc.sort()
    one = bgc[1] if len(bgc) > 1 else 9
    return sum(x < one for x in ho) / len(hold)
def score(alerts, L, order, kp, hold, n):
    # alerts: list of (position, [positions of first members])
    seen = collections.Counter(); det = {}; false = 0
    ai = 0; alerts = sorted(alerts)
    for p, i in enumerate(order):
        seen[L[i]] += 1
        while ai < len(alerts) and alerts[ai][0] == p:
            votes = collections.Counter(L[order[q]] for q in alerts[ai][1])
            lab = max(votes.items(), key=lambda x: (x[1], x[0]))[0]
            if lab in hold and lab not in det: det[lab] = seen[lab]
            else: false += 1
            ai += 1
    d = sorted(det.values())
    med = None if not d else (d[len(d)//2] if len(d) % 2 else (d[len(d)//2-1] + d[len(d)//2]) / 2)
    return len(det) / len(hold), med, false * 10000 / n
def run(algo, names=('banking77', 'hwu64', 'shop'), seeds=range(1, 7), verbose=False, **kw):
    out = {}
    for name in names:
        E, L = load(name); hn, lim = SETS[name]
        rs, ds, fs, cs = [], [], [], []
        for s in seeds:
            order, kp, hold = stream(E, L, hn, lim, s)
            alerts = algo(E[order], kp, **kw)
            alerts = [(p, m) for p, m in alerts]
            r, d, f = score(alerts, L, order, kp, hold, len(order))
            c = ceiling(E, L, order, kp, hold)
            rs.append(r); fs.append(f); cs.append(c)
            if d is not None: ds.append(d)
            if verbose: print(f'  {name} seed {s}: recall {r:.2f} delay {d} false/10k {f:.2f} ceiling {c:.2f}')
        out[name] = (np.mean(rs), np.std(rs), np.mean(ds) if ds else None, np.mean(fs), np.mean(cs))
        print(f'{name:10s} recall {np.mean(rs):.3f}±{np.std(rs):.3f} delay {out[name][2]} false/10k {np.mean(fs):.2f} ceiling1 {np.mean(cs):.3f} ratio {np.mean(rs)/max(np.mean(cs),1e-9):.2f}', flush=True)
    return out
