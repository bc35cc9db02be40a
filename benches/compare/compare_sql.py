#!/usr/bin/env python3
"""The `sql` example's window_funnel (DataFusion, clinic-ops-datafusion) against chDB's
(ClickHouse) windowFunnel on the same Parquet file, as whole processes, paired and
interleaved (ours, chDB, ours, chDB, ...), median of --runs, in the four ClickHouse modes.

usage: compare_sql.py EVENTS.parquet [--runs 3] [--modes default,strict_order,...]
                      [--partitions N] [--ours target/release/examples/sql]

Set-up, once, by hand (never in CI):
    python3 -m pip install chdb pyarrow numpy
    cargo build --release -p clinic-ops-datafusion --example sql
Data: python3 /work/shared/bench/funnel_data.py /tmp/ev.csv --patients 2000000 (9.8M rows), then
      a Parquet copy with pyarrow (non-nullable columns, 1,048,576-row groups, snappy):
      python3 -c "import sys, pyarrow as pa, pyarrow.csv as pc, pyarrow.parquet as pq;
      s = pa.schema([pa.field(n, t, False) for n, t in [('patient_id', pa.string()),
      ('event', pa.string()), ('timestamp', pa.int64()), ('channel', pa.string())]]);
      pq.write_table(pc.read_csv('/tmp/ev.csv', convert_options=pc.ConvertOptions(column_types=s))
      .cast(s), '/tmp/ev.parquet', row_group_size=1048576)"

Both engines answer the same SQL, one level per patient then patients per level. chDB runs in
its own Python process (its start-up included, as a user would run it); ours is the example
binary. Wall time by the clock, CPU time (user + sys) and peak memory of each child from wait4:
on a shared machine CPU time moves less with the load than wall time does, so the load
averages are printed with each run. Exit 1 unless the per-level counts are IDENTICAL to
ClickHouse's in every mode.
"""
import argparse, json, os, statistics, subprocess, sys, time

from rusage import measure

STEPS = "lead,converted,booked,arrived,consulted,purchased,followed_up,revisited"
MODES = "default,strict_order,strict_deduplication,strict_increase"
WINDOW = 2592000  # 30 days

CHDB = r"""
import sys, json, chdb
path, steps, window, mode = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4]
# A schema, as windowFunnel takes an unsigned (or DateTime) timestamp and Parquet's is Int64.
schema = "'patient_id String, event String, timestamp UInt32, channel String'"
conds = ", ".join(f"event = '{s}'" for s in steps)
m = "" if mode == "default" else f", '{mode}'"
q = (f"SELECT level, count(*) AS patients FROM (SELECT patient_id, windowFunnel({window}{m})"
     f"(timestamp, {conds}) AS level FROM file('{path}', Parquet, {schema}) GROUP BY patient_id) "
     f"GROUP BY level ORDER BY level FORMAT JSONCompact")
print(json.dumps([[int(l), int(c)] for l, c in json.loads(str(chdb.query(q)))["data"]]))
"""


def ours_sql(mode):
    conds = ", ".join(f"event = '{s}'" for s in STEPS.split(","))
    return (f"SELECT level, count(*) AS patients FROM (SELECT patient_id, window_funnel({WINDOW}, "
            f"'{mode}', timestamp, {conds}) AS level FROM events GROUP BY patient_id) "
            f"GROUP BY level ORDER BY level")


def ours_answer(out):
    return [[int(x) for x in l.split(",")] for l in out.splitlines()[1:] if l]


def load():
    return os.getloadavg()


def rusage_run(cmd):
    """Runs cmd: its stdout, wall seconds, CPU seconds (user + sys), peak MB, measured from a
    small launcher (rusage.py) so that this script's own memory is not counted, and the
    1-minute load average when it ended."""
    code, out, err, wall, cpu, peak = measure(cmd)
    if code != 0:
        sys.exit(f"{' '.join(cmd[:2])} failed ({code}): {err.decode()[:500]}")
    return out.decode(), wall, cpu, peak, load()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("parquet")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default=MODES)
    ap.add_argument("--partitions", type=int)
    ap.add_argument("--ours", default="target/release/examples/sql")
    a = ap.parse_args()
    py = sys.executable
    print(f"window_funnel on {a.parquet} ({os.path.getsize(a.parquet) / 1e6:.0f} MB), paired, "
          f"median of {a.runs}; load at start {' '.join(f'{x:.2f}' for x in load())}")
    print(f"{'mode':22} {'ours wall':>9} {'cpu':>6} {'chDB wall':>9} {'cpu':>6} {'wall ratio':>10} "
          f"{'cpu ratio':>9} {'load 1m':>8}  identical")
    ok = True
    for mode in a.modes.split(","):
        ours_cmd = [a.ours, "--table", f"events={a.parquet}", "--sql", ours_sql(mode)]
        if a.partitions:
            ours_cmd += ["--partitions", str(a.partitions)]
        theirs_cmd = [py, "-c", CHDB, a.parquet, STEPS, str(WINDOW), mode]
        mine, other, answers = [], [], [None, None]
        for _ in range(a.runs):
            out, *m = rusage_run(ours_cmd)
            mine.append(m); answers[0] = ours_answer(out)
            out, *m = rusage_run(theirs_cmd)
            other.append(m); answers[1] = json.loads(out)
        med = lambda xs, i: statistics.median(x[i] for x in xs)
        same = answers[0] == answers[1]
        ok &= same
        print(f"{mode:22} {med(mine, 0):9.2f} {med(mine, 1):6.2f} {med(other, 0):9.2f} "
              f"{med(other, 1):6.2f} {med(other, 0) / med(mine, 0):9.2f}x {med(other, 1) / med(mine, 1):8.2f}x "
              f"{statistics.median([x[3] for x in mine + other]):8.2f}  {'yes' if same else 'NO'}")
        print(f"{'':22} peak MB ours {med(mine, 2):.0f}, chDB {med(other, 2):.0f}")
        print(f"{'':22} walls ours {[round(x[0], 2) for x in mine]}, chDB {[round(x[0], 2) for x in other]}")
        if not same:
            print(f" ours   {answers[0]}\n chDB   {answers[1]}")
        else:
            print(f"{'':22} levels {answers[0]}")
    print("ratio = chDB / ours (above 1: ours is faster)")
    print("per-level counts identical to ClickHouse in every mode:", "yes" if ok else "NO")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
