#!/usr/bin/env python3
"""A realistic clinic journal for timing the `clinic` calculator end to end.

    python3 benches/compare/clinic_journal.py OUT.jsonl --lines 1000000

Patients register (70% consent to marketing, every fifth is referred), then visit and buy
(most purchases at a visit, some refunded, in full or half) over a year, with a monthly
expiry run and a daily plan. Seeded, so the same file every run. Standard library only.
"""
import argparse
import datetime as dt
import random

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--lines", type=int, default=1_000_000)
p.add_argument("--seed", type=int, default=7)
a = p.parse_args()
rng = random.Random(a.seed)
tz = dt.timezone(dt.timedelta(hours=8))
start = dt.datetime(2026, 1, 1, 8, 0, tzinfo=tz)
span = 365 * 24 * 3600
patients = max(10, a.lines // 12)
lines = []
for n in range(1, patients + 1):
    at = start + dt.timedelta(seconds=int(span * 0.6 * n / patients))
    lines.append((at, f'"type":"register","patient":"P{n}","name":"患者{n}","mobile":"1{3800000000 + n}","clinic":1,"channel":"walk_in"'))
    if rng.random() < 0.7:
        lines.append((at + dt.timedelta(seconds=1), f'"type":"consent","patient":"P{n}","purpose":"marketing","granted":true'))
    if n > 10 and n % 5 == 0:
        lines.append((at + dt.timedelta(seconds=2), f'"type":"refer","referrer":"P{rng.randint(1, n - 1)}","referee":"P{n}"'))
visit = purchase = 0
days = set()
while len(lines) < a.lines:
    n = rng.randint(1, patients)
    first = start + dt.timedelta(seconds=int(span * 0.6 * n / patients) + 60)
    at = first + dt.timedelta(seconds=rng.randint(0, span))
    visit += 1
    lines.append((at, f'"type":"visit","patient":"P{n}","visit":"V{visit}","doctor":"D{rng.randint(1, 8)}","paid":"{rng.randint(30, 400)}.00"'))
    purchase += 1
    amount = rng.randint(20, 1200)
    lines.append((at + dt.timedelta(seconds=60), f'"type":"purchase","patient":"P{n}","purchase":"O{purchase}","amount":"{amount}.00","visit":"V{visit}"'))
    r = rng.random()
    if r < 0.05:
        lines.append((at + dt.timedelta(minutes=30), f'"type":"refund","purchase":"O{purchase}","amount":"{amount}.00"'))
    elif r < 0.10:
        lines.append((at + dt.timedelta(minutes=30), f'"type":"refund","purchase":"O{purchase}","amount":"{amount // 2}.00"'))
    days.add(at.date())
for d in sorted(days):
    lines.append((dt.datetime(d.year, d.month, d.day, 20, 0, tzinfo=tz), '"type":"plan"'))
    if d.day == 1:
        lines.append((dt.datetime(d.year, d.month, d.day, 0, 30, tzinfo=tz), '"type":"expire"'))
lines.sort(key=lambda x: x[0])
with open(a.out, "w", encoding="utf-8") as f:
    for at, body in lines[: a.lines]:
        f.write('{"at":"' + at.isoformat() + '",' + body + "}\n")
