"""Two-level new-kind detection (docs/notes/2026-12-07-two-level-new-kinds.md), a prototype on the
eval's protocol. Tight micro-clusters (leader clustering at tau); a micro-cluster is *known* once
its second member is older than the window. A message is novel when no known micro-cluster
takes it and none lies within tk of it; the young micro-clusters of novel messages are linked when their centroids come within
`link`; a linked group with k novel members inside the window alerts once, unless its centroid
lies within `dedup` of a group that already alerted (the same new kind, seen again). tau, link
and dedup are quantiles (q, qlink, qdedup) of the stream's own nearest-neighbour cosines over its
first n0 messages (tk: the qk-quantile), not constants.
Usage: python3 two_level.py [SET ...] [q=0.4 qlink=0.75 qdedup=0.1 qk=0.35]   (embeddings from dump.sh)"""
import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__file__)); from harness import run


def calibrate(X, n0, q):
    """The q-quantile of each of the first n0 messages' largest cosine to an earlier one."""
    A = X[:n0]; S = A @ A.T
    return float(np.quantile([S[i, :i].max() for i in range(1, n0)], q))


def two_level(X, kp, q=0.4, qlink=0.75, qdedup=0.1, qk=0.35, k=8, win=1800, n0=2000):
    tau, link, dedup = (calibrate(X, min(n0, kp), x) for x in (q, qlink, qdedup))
    tk = calibrate(X, min(n0, kp), qk) if qk is not None else None
    M = np.zeros((4096, X.shape[1]), np.float32); S = np.zeros_like(M)
    sec = np.full(len(X) + 1, 1 << 60)  # each micro-cluster's second member, as an array
    n = 0; second = []; parent = []; members = []; alerted = []; seen = []; alerts = []

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]; i = parent[i]
        return i

    for p, x in enumerate(X):
        sims = M[:n] @ x if n else np.zeros(0)
        j = int(sims.argmax()) if n and sims.max() >= tau else None
        if j is None:
            if n == len(M):
                M = np.vstack([M, np.zeros_like(M)]); S = np.vstack([S, np.zeros_like(S)])
            j = n; n += 1; second.append(None); parent.append(j); members.append([]); alerted.append(False)
        S[j] += x; M[j] = S[j] / np.linalg.norm(S[j]); members[j].append(p)
        if len(members[j]) == 2: second[j] = p; sec[j] = p
        known = lambda i: second[i] is not None and second[i] < p - win
        if known(j) or p < kp:
            continue
        known_now = sec[:len(sims)] < p - win
        if tk is not None and known_now.any() and sims[known_now].max() >= tk:
            continue
        for i in np.nonzero(sims >= link)[0]:
            if i != j and not known(i):
                a, b = find(i), find(j)
                if a != b: parent[a] = b
        r = find(j)
        if alerted[r]:
            continue
        recent = sorted(m for i in range(n) if find(i) == r for m in members[i] if m >= p - win)
        if len(recent) >= k:
            alerted[r] = True
            c = X[recent].sum(0); c /= np.linalg.norm(c)
            if seen and max(float(c @ o) for o in seen) >= dedup:
                continue
            seen.append(c); alerts.append((p, recent[:8]))
    return alerts


if __name__ == '__main__':
    kw = {a.split('=')[0]: float(a.split('=')[1]) for a in sys.argv[1:] if '=' in a}
    names = [a for a in sys.argv[1:] if '=' not in a] or ['banking77', 'hwu64', 'shop']
    run(two_level, names=names, **kw)
