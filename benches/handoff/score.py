#!/usr/bin/env python3
"""How sentiment accuracy turns into hand-off precision, recall and delay (in customer turns).

    python3 benches/handoff/score.py BIN [SEEDS...]    # e.g. target/release/feedpulse 1 2 3

For each seed: generates the pseudo-conversations (gen.py), replays them through `BIN replay`
with the real models and only the default `upset_customer` escalation (`[conversation]
negative_below` as shipped, not tuned here), and compares each conversation's hand-off with
the labels' ground truth. Prints per seed and mean ± spread.
"""
import json, statistics, subprocess, sys, tempfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RULES = """
[[escalation]]
name = "upset_customer"
negative_streak = 2
priority = "P2"
"""


def turn_of(ms: int, start_of: dict, cid: str) -> int:
    # Customer turn i is at start + 20 s × i.
    return (ms - start_of[cid]) // 20_000


def run(binary: str, seed: int, tmp: Path) -> dict:
    data = tmp / f"conv{seed}.ndjson"
    subprocess.run([sys.executable, HERE / "gen.py", str(seed), data], check=True)
    truth = json.load(open(str(data) + ".truth.json"))
    start_of = {}
    for line in open(data, encoding="utf-8"):
        r = json.loads(line)
        start_of.setdefault(r["conversation"], r["ts"])
    rules = tmp / "rules.toml"
    rules.write_text(RULES)
    out = subprocess.run([binary, "replay", str(data), "--rules", str(rules), "--batch", "1"],
                         check=True, capture_output=True, text=True).stdout
    fired = {}
    for line in out.splitlines():
        a = json.loads(line)
        if a["rule"] == "handoff" and a["status"] == "firing":
            ms = int(datetime.fromisoformat(a["starts_at"].replace("Z", "+00:00")).timestamp() * 1000)
            cid = a["labels"]["conversation"]
            fired[cid] = turn_of(ms, start_of, cid)
    should = {c for c, t in truth.items() if t is not None}
    hits = [c for c in fired if c in should]
    delays = [fired[c] - truth[c] for c in hits]
    return {
        "seed": seed, "conversations": len(truth), "should": len(should), "fired": len(fired),
        "precision": len(hits) / len(fired) if fired else float("nan"),
        "recall": len(hits) / len(should) if should else float("nan"),
        "median_delay_turns": statistics.median(delays) if delays else float("nan"),
        "early": sum(d < 0 for d in delays),
    }


def main() -> None:
    binary, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]] or [1, 2, 3]
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(binary, s, Path(tmp)) for s in seeds]
    for r in results:
        print(json.dumps(r))
    for k in ["precision", "recall", "median_delay_turns"]:
        xs = [r[k] for r in results]
        spread = statistics.pstdev(xs) if len(xs) > 1 else 0.0
        print(f"{k}: mean {statistics.mean(xs):.3f} ± {spread:.3f} over seeds {seeds}")


if __name__ == "__main__":
    main()
