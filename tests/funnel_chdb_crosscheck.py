#!/usr/bin/env python3
"""Dev-only cross-check of the `funnel` calculator against ClickHouse windowFunnel (chDB).

Not run by `cargo test` or CI (it needs `pip install chdb`). Usage, from the crate root:

    cargo build --release --example funnel
    python3 tests/funnel_chdb_crosscheck.py [ROUNDS] [SEED]

Each round writes a small random CSV (few event names, few distinct timestamps, so ties,
restarts, repeats and rows matching several steps are common), runs the calculator in the
four ClickHouse modes and compares the per-step patient counts with
`windowFunnel(w[, mode])(t, event = s1, ...)`. On a disagreement it prints every
patient's sorted sequence with ClickHouse's level, to be pinned as a Rust regression test
in tests/funnel_props.rs.
"""
import json, os, random, subprocess, sys, tempfile

from chdb import session

BIN = "target/release/examples/funnel"
MODES = ["default", "strict_order", "strict_deduplication", "strict_increase"]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    s = session.Session()
    bad = 0
    for _ in range(rounds):
        steps = [rng.choice("abc") for _ in range(rng.randint(1, 4))]
        window = rng.randint(1, 6)
        rows = []
        for p in range(200):
            for _ in range(rng.randint(1, 7)):
                rows.append((f"P{p}", rng.choice("abcx"), 1_700_000_000 + rng.randint(0, 12)))
        rng.shuffle(rows)
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write("patient_id,event,timestamp\n")
            f.writelines(f"{p},{e},{t}\n" for p, e, t in rows)
            path = f.name
        vals = ",".join(f"('{p}','{e}',{t})" for p, e, t in rows)
        conds = ", ".join(f"e = '{x}'" for x in steps)
        for mode in MODES:
            m = "" if mode == "default" else f", '{mode}'"
            q = (f"SELECT p, windowFunnel({window}{m})(t, {conds}) FROM (SELECT * FROM "
                 f"values('p String, e String, t UInt32', {vals})) GROUP BY p FORMAT JSONCompact")
            levels = {p: int(l) for p, l in json.loads(str(s.query(q)))["data"]}
            want = [sum(1 for l in levels.values() if l >= k + 1) for k in range(len(steps))]
            out = subprocess.run([BIN, "--input", path, "--steps", ",".join(steps), "--window",
                                  f"{window}s", "--mode", mode], capture_output=True, text=True, check=True)
            got = [x["patients"] for x in json.loads(out.stdout)["steps"]]
            if got != want:
                bad += 1
                print(f"MISMATCH mode={mode} steps={steps} window={window}s ours={got} clickhouse={want}")
                for p in sorted(levels):
                    seq = sorted((t, e) for q_, e, t in rows if q_ == p)
                    print(f"  // {p} level {levels[p]}: {seq}")
        os.unlink(path)
    print(f"{rounds} rounds x {len(MODES)} modes, mismatches: {bad}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
