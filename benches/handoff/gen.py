#!/usr/bin/env python3
"""Pseudo-conversations from labelled sentences, with known hand-off ground truth.

No public dialogue corpus with hand-off labels is at hand, so customer turns are review
sentences of ChnSentiCorp's test split (label 0 negative, 1 positive), chained into chats with a
bot turn between customer turns and an agent turn at the end. The ground truth of the default
escalation (two negative customer turns in a row, no agent yet) follows from the labels: the
conversation should be handed off at the second negative turn of its first negative pair.

    python3 benches/handoff/gen.py SEED OUT.ndjson      # writes OUT.ndjson and OUT.truth.json
"""
import csv, json, random, sys
from pathlib import Path

EVAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "eval-data" / "chnsenticorp" / "test.csv"
START_MS = 1_767_225_600_000


def main(seed: int, out: Path, conversations: int = 300) -> None:
    rows = [(int(r["label"]), r["text"].strip()) for r in csv.DictReader(open(EVAL, encoding="utf-8"))]
    rows = [(label, text[:200]) for label, text in rows if text]
    negative = [t for label, t in rows if label == 0]
    positive = [t for label, t in rows if label == 1]
    rng = random.Random(seed)
    records, truth = [], {}
    for c in range(conversations):
        cid = f"s{seed}-c{c}"
        start = START_MS + c * 600_000
        turns = rng.randint(3, 7)
        # Each customer turn negative with probability p, p per conversation: some calm chats,
        # some angry, most mixed.
        p = rng.choice([0.1, 0.3, 0.5, 0.7])
        labels = [0 if rng.random() < p else 1 for _ in range(turns)]
        fire = next((i for i in range(1, turns) if labels[i] == 0 and labels[i - 1] == 0), None)
        truth[cid] = fire
        t = start
        for i, label in enumerate(labels):
            text = rng.choice(negative if label == 0 else positive)
            records.append({"id": f"{cid}-u{i}", "ts": t, "conversation": cid, "role": "customer",
                            "seq": 2 * i, "text": text, "category": "other"})
            t += 10_000
            if i + 1 < turns:
                records.append({"id": f"{cid}-b{i}", "ts": t, "conversation": cid, "role": "bot",
                                "seq": 2 * i + 1, "text": "请稍等，正在为您查询", "sentiment": 0.0})
                t += 10_000
        records.append({"id": f"{cid}-a", "ts": t, "conversation": cid, "role": "agent", "agent": "a-1",
                        "seq": 2 * turns, "text": "您好，我来为您处理", "sentiment": 0.2})
    records.sort(key=lambda r: r["ts"])
    with open(out, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    json.dump(truth, open(str(out) + ".truth.json", "w"))


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
