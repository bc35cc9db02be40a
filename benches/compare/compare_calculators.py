#!/usr/bin/env python3
"""File to answer, as whole processes: the calculators against chDB (ClickHouse) and DuckDB
on the same file, paired and interleaved (ours, theirs, ours, theirs, ...), median of --runs.

usage: compare_calculators.py funnel EVENTS.csv|EVENTS.parquet [--runs 5]
       compare_calculators.py retention EVENTS.csv [--runs 5]
       compare_calculators.py rfm TRANSACTIONS.csv --as-of YYYY-MM-DD [--runs 5] [--table]

Set-up, once, by hand (never in CI):
    python3 -m pip install chdb duckdb numpy
    cargo build --release --example funnel --example retention --example rfm
Data: python3 /work/shared/bench/funnel_data.py /tmp/ev.csv --patients 2000000 (9.8M rows);
      python3 benches/compare/rfm_data.py /tmp/tx.csv --rows 10000000 --patients 1000000;
      a Parquet copy: python3 -c "import duckdb; duckdb.sql(\"COPY (FROM '/tmp/ev.csv') TO
      '/tmp/ev.parquet' (FORMAT parquet)\")".

Each engine runs as its own process (the engines' Python start-up included, as a user
would run them), wall and CPU time and peak memory from wait4. The answers are compared:
funnel step counts with ClickHouse windowFunnel, retention cohorts with chDB's, the RFM
summary (patients, total frequency, recency and T) with DuckDB's. Exit 1 when they differ.
The RFM query sums its summary to four numbers; with --table DuckDB writes what the rfm
calculator writes, a row per patient with quintile scores, sorted, so both do the same work.
Peak memory is measured from a small launcher (rusage.py), not from this script.
"""
import argparse, json, os, statistics, subprocess, sys, time

from rusage import measure

STEPS = "lead,converted,booked,arrived,consulted,purchased,followed_up,revisited"
RELEASE = "target/release/examples/"

CHDB_FUNNEL = r"""
import sys, json, chdb
path, steps, window = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
fmt = "Parquet" if path.endswith(".parquet") else "CSVWithNames"
# A schema for Parquet too: DuckDB writes nullable columns, which windowFunnel limits.
schema = ", 'patient_id String, event String, timestamp UInt32, channel String'"
conds = ", ".join(f"event = '{s}'" for s in steps)
q = (f"SELECT level, count() FROM (SELECT patient_id, windowFunnel({window})(timestamp, {conds}) AS level "
     f"FROM file('{path}', '{fmt}'{schema}) GROUP BY patient_id) GROUP BY level FORMAT JSONCompact")
by = {int(l): int(c) for l, c in json.loads(str(chdb.query(q)))["data"]}
print(json.dumps([sum(c for l, c in by.items() if l >= k + 1) for k in range(len(steps))]))
"""

CHDB_RETENTION = r"""
import sys, json, chdb
path, periods = sys.argv[1], int(sys.argv[2])
src = f"file('{path}', 'CSVWithNames', 'patient_id String, event String, timestamp UInt32, channel String')"
q = f'''
WITH v AS (SELECT patient_id, toStartOfWeek(toDateTime(timestamp, 'Asia/Shanghai'), 1) AS w FROM {src}),
     c AS (SELECT patient_id, min(w) AS cw FROM v GROUP BY patient_id),
     k AS (SELECT DISTINCT v.patient_id, c.cw, intDiv(dateDiff('day', c.cw, v.w), 7) AS k
           FROM v INNER JOIN c ON v.patient_id = c.patient_id)
SELECT toString(cw), k, count() FROM k WHERE k >= 0 AND k < {periods} GROUP BY cw, k ORDER BY cw, k
FORMAT JSONCompact'''
rows = json.loads(str(chdb.query(q)))["data"]
out = {}
for cw, k, n in rows:
    out.setdefault(cw, [0] * periods)[int(k)] = int(n)
print(json.dumps(sorted(out.items())))
"""

DUCKDB_RFM = r"""
import sys, json, duckdb
path, as_of = sys.argv[1], sys.argv[2]
q = f'''
WITH d AS (SELECT patient_id, CAST(date AS DATE) AS day, sum(amount) AS spend
           FROM read_csv('{path}', header=true, columns={{'patient_id':'VARCHAR','date':'VARCHAR','amount':'DECIMAL(18,2)'}})
           WHERE CAST(date AS DATE) <= DATE '{as_of}' GROUP BY 1, 2),
     s AS (SELECT patient_id, count(*) - 1 AS frequency,
                  date_diff('day', min(day), max(day)) AS recency,
                  date_diff('day', min(day), DATE '{as_of}') AS t,
                  CASE WHEN count(*) > 1 THEN (sum(spend) - arg_min(spend, day)) / (count(*) - 1) ELSE 0 END AS monetary
           FROM d GROUP BY 1)
SELECT count(*), sum(frequency), sum(recency), sum(t) FROM s'''
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
if len(sys.argv) > 3:
    # --table: the calculator's whole answer, one row per patient with quintile scores,
    # sorted by patient, as CSV on stdout.
    head, _ = q.rsplit("SELECT count(*)", 1)
    con.execute(f'''COPY ({head} SELECT patient_id, frequency, recency, t, monetary,
        ntile(5) OVER (ORDER BY recency) AS r_score, ntile(5) OVER (ORDER BY frequency) AS f_score,
        ntile(5) OVER (ORDER BY monetary) AS m_score FROM s ORDER BY patient_id)
        TO '/dev/stdout' (HEADER)''')
else:
    print(json.dumps([int(x) for x in con.execute(q).fetchone()]))
"""


def rusage_run(cmd):
    """Runs cmd: its stdout, wall seconds, CPU seconds (user + sys) and peak MB, measured from
    a small launcher (rusage.py), so that this script's own memory is not counted."""
    code, out, err, wall, cpu, peak = measure(cmd)
    if code != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed ({code}): {err.decode()[:500]}")
    return out.decode(), wall, cpu, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("calculator", choices=["funnel", "retention", "rfm"])
    ap.add_argument("input")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--as-of", default="2026-07-01")
    ap.add_argument("--periods", type=int, default=8)
    ap.add_argument("--table", action="store_true",
                    help="rfm: DuckDB writes the calculator's whole answer (a row per patient, "
                         "quintile scores, sorted) instead of four sums")
    a = ap.parse_args()
    py = sys.executable
    if a.calculator == "funnel":
        ours_cmd = [RELEASE + "funnel", "--input", a.input, "--steps", STEPS, "--window", "30d"]
        theirs = ("chDB windowFunnel", [py, "-c", CHDB_FUNNEL, a.input, STEPS, "2592000"])
        ours_answer = lambda out: [s["patients"] for s in json.loads(out)["steps"]]
    elif a.calculator == "retention":
        ours_cmd = [RELEASE + "retention", "--input", a.input, "--period", "week", "--periods", str(a.periods)]
        theirs = ("chDB cohort SQL", [py, "-c", CHDB_RETENTION, a.input, str(a.periods)])
        ours_answer = lambda out: [[c["start"], c["retained"]] for c in json.loads(out)["cohorts"]]
    else:
        ours_cmd = [RELEASE + "rfm", "--input", a.input, "--as-of", a.as_of]

        def ours_answer(out):
            rows = [l.split(",") for l in out.splitlines()[1:]]
            return [len(rows), sum(int(r[1]) for r in rows), sum(int(r[2]) for r in rows),
                    sum(int(r[3]) for r in rows)]
        theirs = ("DuckDB read_csv + SQL", [py, "-c", DUCKDB_RFM, a.input, a.as_of])
        if a.table:
            theirs = ("DuckDB, the whole table", theirs[1] + ["table"])
    mine, other = [], []
    answers = [None, None]
    for _ in range(a.runs):
        out, *m = rusage_run(ours_cmd)
        mine.append(m); answers[0] = ours_answer(out)
        out, *m = rusage_run(theirs[1])
        other.append(m)
        answers[1] = ours_answer(out) if a.table else json.loads(out)
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    print(f"{a.calculator} on {a.input} ({os.path.getsize(a.input) / 1e6:.0f} MB), paired, median of {a.runs}")
    print(f"{'':28} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}")
    for name, ms in [(a.calculator + " calculator", mine), (theirs[0], other)]:
        print(f"{name:28} {med(ms, 0):8.2f} {med(ms, 1):8.2f} {med(ms, 2):8.0f}")
    print(f"wall ratio (theirs / ours): {med(other, 0) / med(mine, 0):.2f}x; "
          f"walls ours {[round(x[0], 2) for x in mine]}, theirs {[round(x[0], 2) for x in other]}")
    same = answers[0] == answers[1]
    print("answers identical:", "yes" if same else f"NO\n ours   {answers[0]}\n theirs {answers[1]}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
