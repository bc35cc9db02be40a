#!/usr/bin/env python3
"""Write seeded synthetic transactions as CSV: patient_id,date,amount, in random order.

usage: rfm_data.py OUT.csv [--rows 10000000] [--patients 1000000] [--seed 7]

Dates span 2025-07-01 to 2026-06-30; amounts are yuan with two decimals, skewed as clinic
spend is (many small, a few large). Some patients buy twice on one day.
"""
import argparse
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    # Every patient at least once, the rest spread unevenly (some buy often).
    extra = rng.zipf(1.6, a.rows - a.patients) % a.patients
    pid = np.concatenate([np.arange(a.patients), extra])
    rng.shuffle(pid)
    day = rng.integers(0, 365, a.rows)
    fen = np.round(rng.lognormal(4.5, 1.0, a.rows) * 100).astype(np.int64) + 100
    dates = np.datetime64("2025-07-01") + day.astype("timedelta64[D]")
    with open(a.out, "w") as f:
        f.write("patient_id,date,amount\n")
        step = 1_000_000
        for s in range(0, a.rows, step):
            lines = [f"P{p:07d},{d},{c // 100}.{c % 100:02d}" for p, d, c in
                     zip(pid[s:s + step].tolist(), dates[s:s + step].astype(str).tolist(), fen[s:s + step].tolist())]
            f.write("\n".join(lines))
            f.write("\n")


if __name__ == "__main__":
    main()
