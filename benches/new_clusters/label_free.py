"""The label-free ceiling for several K: each label's first 8 messages after the known point,
judged against the mean of the K warm-up messages nearest their centroid (no labels used).
The Rust eval reports K = 16 as `label-free ceiling`."""
import numpy as np, sys, collections
sys.path.insert(0, __import__('os').path.dirname(__file__)); from harness import load, stream, SETS
for name in SETS:
    E,L=load(name); hn,lim=SETS[name]
    res=collections.defaultdict(list)
    for seed in range(1,7):
        order,kp,hold=stream(E,L,hn,lim,seed); X=E[order]; lab=[L[i] for i in order]
        ref=X[:kp]
        groups=collections.defaultdict(list)
        for p in range(kp,len(X)):
            if len(groups[lab[p]])<8: groups[lab[p]].append(p)
        for K in (4,8,16,32):
            ho=[];bg=[]
            for l,g in groups.items():
                if len(g)<8: continue
                c=X[g].mean(0); c/=np.linalg.norm(c); s=ref@c; nn=np.argpartition(-s,K-1)[:K]
                pr=ref[nn].mean(0); pr/=np.linalg.norm(pr); m=float(pr@c)
                (ho if l in hold else bg).append(m)
            bg.sort(); res[K].append(sum(x<bg[1] for x in ho)/len(hold))
    for k,v in res.items(): print(name,'K',k,'label-free ceiling recall1',round(np.mean(v),3), np.round(v,2))
