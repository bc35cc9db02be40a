//! The `sql` reference calculator run as the command line runs it (CALCULATORS.md, its
//! shared rules and its `sql` section): the answer as CSV with a header on stdout and exit
//! 0; bad input a reason on stderr, exit 2 and nothing on stdout. The same rows as CSV and as
//! Parquet give the same output byte for byte, and `--partitions` never changes it.
//! Answers are checked by hand in the comments.
//!
//! The binary is built (or found fresh) by the root crate's `tests/support` before the first
//! run, so that `cargo test --test sql_cli` alone never tests a stale one; `assert_cmd` runs it.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use assert_cmd::Command;
use datafusion::arrow::array::{ArrayRef, Date32Array, Decimal128Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

/// The root crate's builder of example binaries (standard library only): it builds the
/// example once per test process, with the workspace's features and this test's profile.
#[path = "../../../tests/support/mod.rs"]
mod examples;

fn run(args: &[&str]) -> Output {
    let bin = examples::example("sql");
    Command::new(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{} did not start: {e}", bin.display()))
}

fn answer(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap_or_else(|e| panic!("not UTF-8: {e}"))
}

/// Exit 2, nothing on stdout, and stderr gives the reason.
fn refused(out: &Output, reason: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(out.stdout.is_empty(), "partial answer on stdout");
    for r in reason {
        assert!(err.contains(r), "stderr lacks {r:?}: {err}");
    }
}

/// The fixtures, each as a CSV file and as a Parquet file of the same rows.
struct Fixtures {
    dir: tempfile::TempDir,
}

const EVENTS_CSV: &str = include_str!("../examples/data/events.csv");

const VISITS_CSV: &str = "patient_id,timestamp
A,1767225600
A,1767830400
B,1767225600
B,1768435200
";

const TRANSACTIONS_CSV: &str = "patient_id,date,amount
A,2026-01-05,100.00
A,2026-01-05,50.50
A,2026-01-20,80.00
B,2026-01-10,30.00
C,2026-03-01,10.00
";

const FILLS_CSV: &str = "patient_id,drug,fill_date,days_supply
A,metformin,2026-01-01,90
A,metformin,2026-04-01,90
B,metformin,2026-01-10,30
B,metformin,2026-02-20,30
C,metformin,2026-06-01,30
C,metformin,2026-06-15,30
";

fn text(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values.iter().copied()))
}

fn ints(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values.iter().copied()))
}

/// Days since 1970-01-01 of a 2026 date given as (month, day).
fn dates(values: &[(u32, u32)]) -> ArrayRef {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_else(|| panic!("epoch"));
    Arc::new(Date32Array::from_iter_values(values.iter().map(
        |&(m, d)| {
            let day =
                chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap_or_else(|| panic!("{m}-{d}"));
            (day - epoch).num_days() as i32
        },
    )))
}

fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect())
        .unwrap_or_else(|e| panic!("{e}"));
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
    let mut w = ArrowWriter::try_new(file, schema, None).unwrap_or_else(|e| panic!("{e}"));
    w.write(&batch).unwrap_or_else(|e| panic!("{e}"));
    w.close().unwrap_or_else(|e| panic!("{e}"));
}

impl Fixtures {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let put = |name: &str, body: &str| {
            std::fs::write(dir.path().join(name), body).unwrap_or_else(|e| panic!("{e}"));
        };
        put("events.csv", EVENTS_CSV);
        put("visits.csv", VISITS_CSV);
        put("transactions.csv", TRANSACTIONS_CSV);
        put("fills.csv", FILLS_CSV);
        write_parquet(
            &dir.path().join("events.parquet"),
            vec![
                (
                    "patient_id",
                    text(&["P1", "P1", "P1", "P2", "P2", "P3", "P3", "P3", "P4", "P4"]),
                ),
                (
                    "event",
                    text(&[
                        "lead", "booked", "arrived", "lead", "booked", "booked", "lead", "arrived",
                        "lead", "booked",
                    ]),
                ),
                (
                    "timestamp",
                    ints(&[
                        1_767_225_600,
                        1_767_312_000,
                        1_767_398_400,
                        1_767_225_600,
                        1_770_000_000,
                        1_767_225_600,
                        1_767_232_800,
                        1_767_240_000,
                        1_767_225_600,
                        1_767_229_200,
                    ]),
                ),
            ],
        );
        write_parquet(
            &dir.path().join("visits.parquet"),
            vec![
                ("patient_id", text(&["A", "A", "B", "B"])),
                (
                    "timestamp",
                    ints(&[1_767_225_600, 1_767_830_400, 1_767_225_600, 1_768_435_200]),
                ),
            ],
        );
        let amounts = Decimal128Array::from_iter_values([10_000, 5_050, 8_000, 3_000, 1_000])
            .with_precision_and_scale(10, 2)
            .unwrap_or_else(|e| panic!("{e}"));
        write_parquet(
            &dir.path().join("transactions.parquet"),
            vec![
                ("patient_id", text(&["A", "A", "A", "B", "C"])),
                ("date", dates(&[(1, 5), (1, 5), (1, 20), (1, 10), (3, 1)])),
                ("amount", Arc::new(amounts)),
            ],
        );
        write_parquet(
            &dir.path().join("fills.parquet"),
            vec![
                ("patient_id", text(&["A", "A", "B", "B", "C", "C"])),
                ("drug", text(&["metformin"; 6])),
                (
                    "fill_date",
                    dates(&[(1, 1), (4, 1), (1, 10), (2, 20), (6, 1), (6, 15)]),
                ),
                ("days_supply", ints(&[90, 90, 30, 30, 30, 30])),
            ],
        );
        Fixtures { dir }
    }

    /// `--table name=<dir>/name.ext`.
    fn table(&self, name: &str, ext: &str) -> String {
        format!(
            "{name}={}",
            self.dir.path().join(format!("{name}.{ext}")).display()
        )
    }

    /// Runs `sql` over `table` as CSV and as Parquet, checks both give the same bytes, and
    /// returns them.
    fn both(&self, table: &str, sql: &str, more: &[&str]) -> String {
        let mut outs = Vec::new();
        for ext in ["csv", "parquet"] {
            let t = self.table(table, ext);
            let mut args = vec!["--table", t.as_str(), "--sql", sql];
            args.extend_from_slice(more);
            outs.push(answer(&run(&args)));
        }
        assert_eq!(outs[0], outs[1], "CSV and Parquet differ on {sql}");
        outs.swap_remove(0)
    }
}

const FUNNEL: &str = "SELECT patient_id, window_funnel(2592000, 'default', timestamp, \
    event = 'lead', event = 'booked', event = 'arrived') AS level \
    FROM events GROUP BY patient_id ORDER BY patient_id";

#[test]
fn window_funnel_answers_the_readme_example_from_csv_and_parquet() {
    // P1 goes lead → booked → arrived within a day: 3. P2 books 32 days after the lead,
    // outside the 30-day window: 1. P3 books before the lead, so only the lead counts: 1.
    // P4 leads and books: 2. (ClickHouse's windowFunnel(2592000) on the same file.)
    let f = Fixtures::new();
    assert_eq!(
        f.both("events", FUNNEL, &[]),
        "patient_id,level\nP1,3\nP2,1\nP3,1\nP4,2\n"
    );
}

#[test]
fn funnel_and_retention_reports_are_one_json_cell() {
    let f = Fixtures::new();
    // Two of four patients book within the window (P1, P4) and one arrives (P1).
    let report = f.both(
        "events",
        "SELECT funnel_report(s, 'lead,booked,arrived') AS report FROM (SELECT patient_id, \
         funnel_state(2592000, 'default', timestamp, event = 'lead', event = 'booked', \
         event = 'arrived') AS s FROM events GROUP BY patient_id)",
        &[],
    );
    assert!(report.starts_with("report\n\"{"), "{report}");
    assert!(
        report.contains("\"\"patients\"\":4") && report.contains("\"\"patients\"\":2"),
        "{report}"
    );
    // 1767225600 is Thursday 2026-01-01 08:00 in Beijing: both patients' first week starts
    // Monday 2025-12-29. A comes back the next week, B two weeks on: [2, 1, 1] (the
    // `retention` calculator's answer on the same visits).
    let report = f.both(
        "visits",
        "SELECT retention_report(c) AS report FROM (SELECT patient_id, \
         retention_cohort('week', 3, timestamp) AS c FROM visits GROUP BY patient_id)",
        &[],
    );
    // (Key order is not significant in the contract's JSON.)
    assert_eq!(
        report,
        "report\n\"{\"\"cohorts\"\":[{\"\"retained\"\":[2,1,1],\"\"size\"\":2,\
         \"\"start\"\":\"\"2025-12-29\"\"}],\"\"period\"\":\"\"week\"\"}\"\n"
    );
}

#[test]
fn struct_results_are_one_column_per_field() {
    let f = Fixtures::new();
    // A: days 01-05 (150.50) and 01-20 (80.00): one repeat day, 15 days apart, first 27
    // days before 02-01, mean repeat spend 80.00. B: one day, 22 days before: 0, 0, 22, 0.
    // C buys only after as_of: no summary, empty cells.
    let rfm = f.both(
        "transactions",
        "SELECT patient_id, rfm_summary(DATE '2026-02-01', date, amount) AS s \
         FROM transactions GROUP BY patient_id ORDER BY patient_id",
        &[],
    );
    assert_eq!(
        rfm,
        "patient_id,s.frequency,s.recency,s.T,s.monetary_value\n\
         A,1,15,27,80.00\nB,0,0,22,0.00\nC,,,,\n"
    );
    // A: index 01-01, 181 days to 06-30, covered 01-01..03-31 and 04-01..06-29 = 180:
    // 0.9945. B: index 01-10, 172 days, 30 + 30 covered: 0.3488. C's index date is fewer
    // than 91 days before the period end: left out.
    let pdc = f.both(
        "fills",
        "SELECT patient_id, pdc(DATE '2026-01-01', DATE '2026-06-30', drug, fill_date, \
         days_supply) AS s FROM fills GROUP BY patient_id ORDER BY patient_id",
        &[],
    );
    assert_eq!(
        pdc,
        "patient_id,s.index_date,s.days_in_period,s.days_covered,s.pdc,s.adherent\n\
         A,2026-01-01,181,180,0.9945,true\nB,2026-01-10,172,60,0.3488,false\nC,,,,,\n"
    );
    // A list is one cell.
    let cohorts = f.both(
        "visits",
        "SELECT patient_id, retention_cohort('week', 3, timestamp) AS c FROM visits \
         GROUP BY patient_id ORDER BY patient_id",
        &[],
    );
    assert_eq!(
        cohorts,
        "patient_id,c.period,c.cohort,c.retained\n\
         A,week,2025-12-29,\"[true, true, false]\"\nB,week,2025-12-29,\"[true, false, true]\"\n"
    );
}

#[test]
fn partitions_never_change_the_answer() {
    let f = Fixtures::new();
    // Without ORDER BY the rows come sorted by every column, whatever the partitions.
    let unordered = "SELECT window_funnel(2592000, 'strict_increase', timestamp, \
        event = 'lead', event = 'booked') AS level, patient_id FROM events GROUP BY patient_id";
    let want = "level,patient_id\n1,P2\n1,P3\n2,P1\n2,P4\n";
    for n in ["1", "2", "3", "8"] {
        assert_eq!(
            f.both("events", unordered, &["--partitions", n]),
            want,
            "{n}"
        );
        assert_eq!(
            f.both("events", FUNNEL, &["--partitions", n]),
            "patient_id,level\nP1,3\nP2,1\nP3,1\nP4,2\n",
            "{n}"
        );
    }
    // Nor does a memory cap the query fits in.
    assert_eq!(
        f.both(
            "events",
            unordered,
            &["--memory-limit", "64M", "--partitions", "2"]
        ),
        want
    );
}

#[test]
fn help_exits_0_with_every_flag() {
    let out = run(&["--help"]);
    let text = answer(&out);
    for flag in [
        "--table",
        "--sql",
        "--partitions",
        "--memory-limit",
        "--scheduler",
        "window_funnel(window_seconds, mode, timestamp, cond_1, .., cond_N)",
        "patient_id,event,timestamp",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}: {text}");
    }
}

#[test]
fn bad_input_is_exit_2_with_a_reason_and_no_answer() {
    let f = Fixtures::new();
    let events = f.table("events", "csv");
    // An unknown flag: the reason and the usage.
    refused(
        &run(&["--no-such-flag", "--sql", "SELECT 1"]),
        &["unexpected argument '--no-such-flag'", "Usage: sql"],
    );
    // A table file that does not exist, in either format.
    for ext in ["csv", "parquet"] {
        let missing = format!(
            "nothing={}",
            f.dir.path().join(format!("nothing.{ext}")).display()
        );
        refused(
            &run(&["--table", &missing, "--sql", "SELECT * FROM nothing"]),
            &["table nothing", "does not exist"],
        );
    }
    // A memory limit that is no size.
    for bad in ["lots", "0", "12X", "G"] {
        refused(
            &run(&["--memory-limit", bad, "--sql", "SELECT 1"]),
            &["--memory-limit", "is not a size"],
        );
    }
    // A file of another kind.
    refused(
        &run(&["--table", "t=events.json", "--sql", "SELECT 1"]),
        &["is not .parquet or .csv"],
    );
    // SQL that does not parse, and SQL naming a column the table has not.
    refused(
        &run(&["--table", &events, "--sql", "SELEC patient_id FROM events"]),
        &["query:"],
    );
    refused(
        &run(&["--table", &events, "--sql", "SELECT nope FROM events"]),
        &["query:", "nope"],
    );
    // A bad function argument: a window of 0 seconds, a mode ClickHouse does not have.
    refused(
        &run(&[
            "--table",
            &events,
            "--sql",
            "SELECT window_funnel(0, 'default', timestamp, event = 'lead') FROM events",
        ]),
        &["window_funnel", "window is zero"],
    );
    refused(
        &run(&[
            "--table",
            &events,
            "--sql",
            "SELECT window_funnel(60, 'sideways', timestamp, event = 'lead') FROM events",
        ]),
        &["window_funnel", "sideways"],
    );
    // A flag without its value, a bad --partitions, a bad --scheduler, no --sql.
    refused(
        &run(&["--sql"]),
        &["a value is required for '--sql <QUERY>'"],
    );
    refused(
        &run(&["--partitions", "0", "--sql", "SELECT 1"]),
        &[
            "invalid value '0' for '--partitions <N>'",
            "is not a positive integer",
        ],
    );
    refused(
        &run(&["--scheduler", "localhost:50050", "--sql", "SELECT 1"]),
        &[
            "invalid value 'localhost:50050' for '--scheduler <URL>'",
            "is not df://HOST:PORT",
        ],
    );
    refused(
        &run(&["--table", &events]),
        &[
            "the following required arguments were not provided",
            "--sql <QUERY>",
        ],
    );
    refused(
        &run(&["--table", "events.csv", "--sql", "SELECT 1"]),
        &[
            "invalid value 'events.csv' for '--table <NAME=FILE>'",
            "is not NAME=FILE",
        ],
    );
}
