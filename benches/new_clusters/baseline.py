"""The shipped clusterer's rule (similarity 0.62, merge 0.85, novelty 0.6, 8 in 30 min), re-written
in Python to check the harness against the Rust eval."""
import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__file__)); from harness import run
def baseline(X, kp, sim=0.62, merge=0.85, nov=0.6, k=8, win=1800):
    C=[]; S=[]; cnt=[]; est=[]; recent=[]; first=[]; alive=[]; alerts=[]
    for p,x in enumerate(X):
        if C:
            M=np.array(C); sims=M@x; sims[~np.array(alive)]=-9; j=int(sims.argmax())
            if sims[j] < sim: j=None
        else: j=None
        if j is None:
            C.append(x.copy()); S.append(np.zeros_like(x)); cnt.append(0); est.append(False); recent.append([]); first.append([]); alive.append(True); j=len(C)-1
        S[j]+=x; cnt[j]+=1; C[j]=S[j]/np.linalg.norm(S[j])
        if len(first[j])<8: first[j].append(p)
        if not est[j]:
            recent[j].append(p); recent[j]=recent[j][-k:]
            if len(recent[j])==k and recent[j][-1]-recent[j][0]<=win:
                est[j]=True
                if p>=kp and cnt[j]<=k+k//2:
                    others=[i for i in range(len(C)) if alive[i] and est[i] and i!=j]
                    if not others or max(float(C[i]@C[j]) for i in others) < nov: alerts.append((p, first[j]))
        if cnt[j]>1 and (cnt[j]&(cnt[j]-1)==0 or cnt[j]%64==0):
            for i in range(len(C)):
                if i!=j and alive[i] and float(C[i]@C[j])>=merge:
                    keep,gone=min(i,j),max(i,j); S[keep]+=S[gone]; cnt[keep]+=cnt[gone]; est[keep]|=est[gone]; alive[gone]=False; C[keep]=S[keep]/np.linalg.norm(S[keep]); j=keep
    return alerts
if __name__=='__main__': run(baseline, verbose=False)
