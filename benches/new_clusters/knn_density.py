"""Rejected: a density-ratio test per message instead of clusters. The ball around a message
reaching its 7th nearest neighbour among the last window's messages is compared with how many
older messages fall in it (binomial tail at the recent share); p < alpha alerts, once per group.
Usage: python3 knn_density.py ALPHA [-v]"""
import numpy as np, sys, math
sys.path.insert(0, __import__('os').path.dirname(__file__)); from harness import run
from math import comb
def binom_tail(n, k, q):
    return sum(comb(n, j) * q**j * (1-q)**(n-j) for j in range(k, n+1))
def knn(X, kp, k=8, W=1800, alpha=1e-4, Rcap=None):
    alerts = []; alerted = np.zeros(len(X), bool)
    for p in range(kp, len(X)):
        lo = max(0, p - W)
        rec = X[lo:p]; ref = X[:lo]
        if Rcap and len(ref) > Rcap: ref = ref[-Rcap:]
        x = X[p]
        sr = rec @ x
        nn = np.argpartition(-sr, k - 2)[:k - 1]
        r = sr[nn].min()
        m = int((ref @ x >= r).sum())
        q = len(rec) / (len(rec) + len(ref))
        pv = binom_tail(k - 1 + m, k - 1, q)
        if pv < alpha:
            members = [lo + i for i in nn]
            if alerted[members].any() or alerted[p]:
                alerted[p] = True; continue
            alerted[members] = True; alerted[p] = True
            alerts.append((p, sorted(members + [p])[:8]))
    return alerts
if __name__ == '__main__':
    a = float(sys.argv[1]) if len(sys.argv) > 1 else 1e-4
    run(knn, alpha=a, verbose='-v' in sys.argv)
