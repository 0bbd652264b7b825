"""Quiet category streams for benches/quiet_streams/run.sh: six categories at 2-8 messages an hour
(Poisson) for 14 days from Monday 2026-03-02; with STEP != 1, heater runs at STEP times its rate
from day 7 on.  Usage: gen.py SEED STEP > out.ndjson"""
import json, random, sys
seed, step = int(sys.argv[1]), float(sys.argv[2])
rng = random.Random(seed)
t0 = 1772409600000  # Monday 2026-03-02
rates = {"heater": 4.0, "phone": 6.0, "fruit": 5.0, "hotel": 3.0, "books": 2.0, "shoes": 8.0}
out = []
for hour in range(14 * 24):
    for cat, r in rates.items():
        rate = r * (step if cat == "heater" and hour >= 7 * 24 else 1.0)
        # Poisson by exponential gaps within the hour
        t = rng.expovariate(rate)
        while t < 1.0:
            ts = t0 + hour * 3600000 + int(t * 3600000)
            out.append((ts, json.dumps({"id": f"q{len(out)}", "ts": ts, "channel": "app", "category": cat, "sentiment": -0.4, "text": "质量太差了"})))
            t += rng.expovariate(rate)
out.sort()
sys.stdout.write("".join(l + "\n" for _, l in out))
