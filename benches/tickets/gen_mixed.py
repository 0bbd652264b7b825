#!/usr/bin/env python3
"""A mixed stream of feedback messages and ticket lifecycle events, for the service-desk
throughput bench (benches/tickets/mixed.sh).

    python3 benches/tickets/gen_mixed.py MESSAGES.ndjson N OUT.ndjson [--ticket-share 0.2] [--seed 7]

Takes the first N × (1 − share) messages of MESSAGES (../shared/tools/gen_workload.py's stream)
and adds N × share ticket events over the same span of event time: tickets opened uniformly,
each opened → assigned (+5–20 s) → first_response (+10–55 s; 3 % late, 61–180 s) → resolved
(+60–400 s), one in
seven first answered by the bot, handed off at +12 s and taken by a person 5–45 s later; 200
agents, 5 businesses. Everything is written in event-time order, ids unique.
"""
import argparse, json, random


def tickets(n_events, start_ms, end_ms, rng):
    events = []
    t = 0
    while len(events) < n_events:
        opened = rng.randint(start_ms, end_ms - 1)
        agent = f"a-{rng.randrange(200):03d}"
        business = f"b{rng.randrange(5)}"
        tid = f"T{t:07d}"
        if rng.random() < 1 / 7:
            takeover = 12 + rng.randint(5, 45)
            steps = [(0, "opened", None), (3, "first_response", None), (12, "handed_off", None),
                     (takeover, "assigned", agent), (takeover + rng.randint(60, 400), "resolved", agent)]
        else:
            fr = rng.randint(10, 55) if rng.random() > 0.03 else rng.randint(61, 180)
            steps = [(0, "opened", None), (rng.randint(5, 20), "assigned", agent), (fr, "first_response", agent),
                     (fr + rng.randint(60, 400), "resolved", agent)]
        for i, (after_s, status, who) in enumerate(steps):
            ev = {"type": "ticket", "id": f"{tid}-{i}", "ticket": tid, "status": status, "business": business,
                  "ts": opened + after_s * 1000, "seq": i}
            if who:
                ev["agent"] = who
            events.append(ev)
        t += 1
    return events[:n_events]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("messages")
    p.add_argument("n", type=int)
    p.add_argument("out")
    p.add_argument("--ticket-share", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    rng = random.Random(a.seed)
    n_tickets = int(a.n * a.ticket_share)
    messages = []
    with open(a.messages, encoding="utf-8") as f:
        for line in f:
            if len(messages) >= a.n - n_tickets:
                break
            messages.append((json.loads(line)["ts"], line.rstrip("\n")))
    start, end = min(m[0] for m in messages), max(m[0] for m in messages)
    lines = messages + [(e["ts"], json.dumps(e, separators=(",", ":"))) for e in tickets(n_tickets, start, end, rng)]
    lines.sort(key=lambda x: x[0])
    with open(a.out, "w", encoding="utf-8") as f:
        for _, line in lines:
            f.write(line + "\n")
    print(f"{a.out}: {len(messages)} messages, {n_tickets} ticket events")


if __name__ == "__main__":
    main()
