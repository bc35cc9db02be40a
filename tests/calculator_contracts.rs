//! The `retention`, `rfm`, `churn` and `adherence` reference calculators run as the command line runs
//! them (CALCULATORS.md): input on stdin, the answer on stdout with exit 0, and bad input as a
//! line number and a reason on stderr with exit 2 and nothing on stdout. Answers are checked
//! by hand in the comments.
//!
//! The second half checks the shared rules of the contract on every calculator: `--help`,
//! an unknown flag, an input of 0 bytes, a header only, text that is not UTF-8, columns found
//! by name in any order, a missing column, `--timing`, and each calculator's answer on a small
//! fixture, byte for byte.
//!
//! `cargo test` builds every example before it runs the tests, so the binaries sit in
//! `target/<profile>/examples`, next to this test's own `deps` folder; `assert_cmd` runs them.

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;

mod support;
use support::example;

fn run(bin: PathBuf, args: &[&str], stdin: &str) -> Output {
    run_bytes(bin, args, stdin.as_bytes())
}

fn run_bytes(bin: PathBuf, args: &[&str], stdin: &[u8]) -> Output {
    Command::new(&bin)
        .args(args)
        .write_stdin(stdin)
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
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

/// Exit 2, nothing on stdout, and stderr names the line and the reason.
fn refused(out: &Output, line: &str, reason: &str) {
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "partial answer on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(line) && err.contains(reason), "stderr: {err}");
}

#[test]
fn retention_buckets_first_visits_in_clinic_weeks() {
    // 1767225600 is Thursday 2026-01-01 08:00 in Beijing: both patients' first week starts
    // Monday 2025-12-29. A comes back in the next week (2026-01-08), B two weeks on
    // (2026-01-15): two in period 0, one each in periods 1 and 2.
    let csv = "patient_id,event,timestamp,channel
A,lead,1767225600,kol
A,arrived,1767830400,kol
B,arrived,1767225600,ad
B,arrived,1768435200,ad
";
    let out = run(
        example("retention"),
        &["--period", "week", "--periods", "3"],
        csv,
    );
    assert_eq!(
        answer(&out),
        "{\"period\":\"week\",\"cohorts\":[{\"start\":\"2025-12-29\",\"size\":2,\"retained\":[2,1,1]}]}\n"
    );
    let bad = "patient_id,event,timestamp,channel\nA,lead,abc,kol\n";
    refused(
        &run(
            example("retention"),
            &["--period", "week", "--periods", "3"],
            bad,
        ),
        "line 2",
        "timestamp \"abc\"",
    );
}

#[test]
fn rfm_summarises_like_lifetimes() {
    // A bought on 2026-01-01 and 2026-01-11: one repeat day (frequency 1), recency 10 days,
    // T 31 days to 2026-02-01, monetary the mean of repeat purchases (¥20.00). B bought once:
    // frequency, recency and monetary 0, T 27.
    let csv = "patient_id,date,amount
A,2026-01-01,10.00
A,2026-01-11,20.00
B,2026-01-05,5.00
";
    let text = answer(&run(example("rfm"), &["--as-of", "2026-02-01"], csv));
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows[0],
        "patient_id,frequency,recency,T,monetary_value,r_score,f_score,m_score,segment"
    );
    assert!(rows[1].starts_with("A,1,10,31,20.00,"), "{}", rows[1]);
    assert!(rows[2].starts_with("B,0,0,27,0.00,"), "{}", rows[2]);
    assert_eq!(rows.len(), 3);
    let bad = "patient_id,date,amount\nA,2026-13-01,10.00\n";
    refused(
        &run(example("rfm"), &["--as-of", "2026-02-01"], bad),
        "line 2",
        "date \"2026-13-01\"",
    );
}

#[test]
fn adherence_measures_pdc_under_the_pqa_rules() {
    // A: index date 2026-01-01, 181 days to 2026-06-30; three 30-day fills cover 90 of them
    // (the third starts 2026-03-15, after a gap): PDC 90/181 = 0.4972, below 0.80. B has one
    // fill only, so PQA leaves B out of the denominator.
    let csv = "patient_id,drug,fill_date,days_supply
A,metformin,2026-01-01,30
A,metformin,2026-01-31,30
A,metformin,2026-03-15,30
B,amlodipine,2026-01-10,10
";
    let period = ["--period-start", "2026-01-01", "--period-end", "2026-06-30"];
    assert_eq!(
        answer(&run(example("adherence"), &period, csv)),
        "patient_id,index_date,days_in_period,days_covered,pdc,adherent\n\
         A,2026-01-01,181,90,0.4972,false\n"
    );
    let bad = "patient_id,drug,fill_date,days_supply\nA,metformin,2026-01-01,x\n";
    refused(
        &run(example("adherence"), &period, bad),
        "line 2",
        "days_supply \"x\"",
    );
}

/// One calculator's shared-rule fixture: its flags, its columns, a good input and the answer
/// to it, and the answer to a header with no rows.
struct Case {
    name: &'static str,
    flags: &'static [&'static str],
    /// The required columns, in the contract's order.
    header: &'static str,
    /// Rows for `header`, one per line, with a newline after each.
    rows: &'static str,
    answer: &'static str,
    empty_answer: &'static str,
}

const CASES: [Case; 6] = [
    Case {
        name: "funnel",
        flags: &["--steps", "lead,booked", "--window", "1d"],
        header: "patient_id,event,timestamp",
        // A books within a day of the lead, B after two days, C never had a lead.
        rows: "A,lead,1767225600\nA,booked,1767229200\nB,lead,1767225600\nB,booked,1767398400\nC,booked,1767225600\n",
        answer: "{\"mode\":\"default\",\"patients\":3,\"steps\":[{\"conversion_from_first\":1.0,\"conversion_from_previous\":1.0,\"drop_off\":1,\"mean_seconds_to_convert\":null,\"median_seconds_to_convert\":null,\"patients\":2,\"step\":\"lead\"},{\"conversion_from_first\":0.5,\"conversion_from_previous\":0.5,\"drop_off\":1,\"mean_seconds_to_convert\":3600.0,\"median_seconds_to_convert\":3600.0,\"patients\":1,\"step\":\"booked\"}],\"window_seconds\":86400}\n",
        empty_answer: "{\"mode\":\"default\",\"patients\":0,\"steps\":[{\"conversion_from_first\":0.0,\"conversion_from_previous\":0.0,\"drop_off\":0,\"mean_seconds_to_convert\":null,\"median_seconds_to_convert\":null,\"patients\":0,\"step\":\"lead\"},{\"conversion_from_first\":0.0,\"conversion_from_previous\":0.0,\"drop_off\":0,\"mean_seconds_to_convert\":null,\"median_seconds_to_convert\":null,\"patients\":0,\"step\":\"booked\"}],\"window_seconds\":86400}\n",
    },
    Case {
        name: "retention",
        flags: &["--period", "day", "--periods", "3"],
        header: "patient_id,timestamp",
        // 2026-01-01 08:00 Beijing: A comes back the next day, B two days on.
        rows: "A,1767225600\nA,1767312000\nB,1767225600\nB,1767398400\n",
        answer: "{\"period\":\"day\",\"cohorts\":[{\"start\":\"2026-01-01\",\"size\":2,\"retained\":[2,1,1]}]}\n",
        empty_answer: "{\"period\":\"day\",\"cohorts\":[]}\n",
    },
    Case {
        name: "rfm",
        flags: &["--as-of", "2026-02-01"],
        header: "patient_id,date,amount",
        rows: "A,2026-01-01,10.00\nA,2026-01-11,20.00\nB,2026-01-05,5.00\n",
        answer: "patient_id,frequency,recency,T,monetary_value,r_score,f_score,m_score,segment\nA,1,10,31,20.00,3,3,3,重要价值客户\nB,0,0,27,0.00,1,1,1,一般挽留客户\n",
        empty_answer: "patient_id,frequency,recency,T,monetary_value,r_score,f_score,m_score,segment\n",
    },
    Case {
        name: "adherence",
        flags: &["--period-start", "2026-01-01", "--period-end", "2026-06-30"],
        header: "patient_id,drug,fill_date,days_supply",
        rows: "A,metformin,2026-01-01,30\nA,metformin,2026-01-31,30\nA,metformin,2026-03-15,30\nB,amlodipine,2026-01-10,10\n",
        answer: "patient_id,index_date,days_in_period,days_covered,pdc,adherent\nA,2026-01-01,181,90,0.4972,false\n",
        empty_answer: "patient_id,index_date,days_in_period,days_covered,pdc,adherent\n",
    },
    Case {
        name: "churn",
        flags: &["--as-of", "1998-06-30"],
        header: "patient_id,date,amount",
        // The first 399 rows (96 customers) of lifetimes' CDNOW log, ids prefixed with C (so
        // they stay text in Parquet) and dates as YYYY-MM-DD: enough for both models to fit;
        // the answer is pinned (its agreement with lifetimes is `churn_calculator.rs`'s).
        rows: include_str!("fixtures/churn_contract_rows.csv"),
        answer: include_str!("fixtures/churn_contract_answer.csv"),
        empty_answer: "patient_id,frequency,recency,T,monetary_value,p_alive,expected_visits,clv\n",
    },
    Case {
        name: "points",
        flags: &[],
        header: "account,op,points_or_amount,at,key",
        // Earning needs a purchase column, so this fixture adjusts (no growth value) and redeems.
        rows: "P1,adjust,100,1767225600,1\nP1,redeem,30,1767229200,2\nP2,adjust,5,1767225600,1\n",
        answer: "{\"accounts\":[{\"account\":\"P1\",\"available\":70,\"balance\":70,\"debt\":0,\"expiring\":[],\"growth\":0,\"locked\":0,\"tier\":null},{\"account\":\"P2\",\"available\":5,\"balance\":5,\"debt\":0,\"expiring\":[],\"growth\":0,\"locked\":0,\"tier\":null}],\"commands\":3,\"postings\":3,\"replayed\":0}\n",
        empty_answer: "{\"accounts\":[],\"commands\":0,\"postings\":0,\"replayed\":0}\n",
    },
];

impl Case {
    fn input(&self) -> String {
        format!("{}\n{}", self.header, self.rows)
    }

    fn run(&self, stdin: &[u8]) -> Output {
        run_bytes(example(self.name), self.flags, stdin)
    }

    fn columns(&self) -> Vec<&'static str> {
        self.header.split(',').collect()
    }

    /// The input with its columns in reverse order.
    fn reversed(&self) -> String {
        let flip = |line: &str| line.split(',').rev().collect::<Vec<_>>().join(",");
        let mut text = flip(self.header) + "\n";
        for row in self.rows.lines() {
            text += &flip(row);
            text += "\n";
        }
        text
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_calculator_answers_its_fixture_byte_for_byte() {
    for case in &CASES {
        let out = case.run(case.input().as_bytes());
        assert_eq!(answer(&out), case.answer, "{}", case.name);
        assert!(out.stderr.is_empty(), "{}: {}", case.name, stderr(&out));
    }
}

#[test]
fn help_exits_0_and_lists_the_columns_with_an_example() {
    for name in [
        "funnel",
        "retention",
        "rfm",
        "churn",
        "adherence",
        "points",
        "referral",
        "clinic",
    ] {
        let out = run(example(name), &["--help"], "");
        let text = answer(&out);
        assert!(
            text.contains("--timing") || name == "clinic",
            "{name}: {text}"
        );
        assert!(text.to_lowercase().contains("usage"), "{name}: {text}");
        if let Some(case) = CASES.iter().find(|c| c.name == name) {
            for col in case.columns() {
                assert!(text.contains(col), "{name} help lacks column {col}: {text}");
            }
            assert!(text.contains("Example"), "{name}: {text}");
        }
    }
}

#[test]
fn an_unknown_flag_is_bad_input_with_the_usage() {
    for name in [
        "funnel",
        "retention",
        "rfm",
        "churn",
        "adherence",
        "points",
        "referral",
        "clinic",
    ] {
        let out = run(example(name), &["--no-such-flag"], "");
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty(), "{name}");
        let err = stderr(&out);
        assert!(err.contains("--no-such-flag"), "{name}: {err}");
        assert!(err.to_lowercase().contains("usage"), "{name}: {err}");
    }
}

#[test]
fn zero_bytes_is_bad_input_naming_the_header() {
    for case in &CASES {
        let out = case.run(b"");
        assert_eq!(out.status.code(), Some(2), "{}", case.name);
        assert!(out.stdout.is_empty(), "{}", case.name);
        assert_eq!(
            stderr(&out),
            format!("line 1: empty input, expected the header {}\n", case.header),
            "{}",
            case.name
        );
    }
}

#[test]
fn a_header_alone_is_an_answer_with_zero_counts() {
    for case in &CASES {
        let out = case.run(format!("{}\n", case.header).as_bytes());
        assert_eq!(answer(&out), case.empty_answer, "{}", case.name);
    }
}

#[test]
fn text_that_is_not_utf8_is_bad_input_at_its_line() {
    for case in &CASES {
        // The first field of the second row gets a byte that is never UTF-8.
        let mut input = case.input().into_bytes();
        let second_row = case.header.len() + 1 + case.rows.find('\n').unwrap() + 1;
        input.insert(second_row, 0xff);
        let out = case.run(&input);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {}",
            case.name,
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "{}", case.name);
        assert_eq!(stderr(&out), "line 3: text is not UTF-8\n", "{}", case.name);
    }
}

#[test]
fn columns_are_found_by_name_in_any_order() {
    for case in &CASES {
        let out = case.run(case.reversed().as_bytes());
        assert_eq!(answer(&out), case.answer, "{}", case.name);
    }
}

#[test]
fn a_missing_column_is_bad_input_naming_it() {
    for case in &CASES {
        let last = *case.columns().last().unwrap();
        let input = case.input().replacen(last, "something_else", 1);
        let out = case.run(input.as_bytes());
        assert_eq!(out.status.code(), Some(2), "{}", case.name);
        assert!(out.stdout.is_empty(), "{}", case.name);
        let err = stderr(&out);
        assert!(
            err.starts_with("line 1: ") && err.contains(&format!("column {last}"))
                || err.starts_with("line 1: ") && err.contains(last),
            "{}: {err}",
            case.name
        );
    }
}

#[test]
fn timing_prints_exactly_one_line() {
    for case in &CASES {
        let mut flags = case.flags.to_vec();
        flags.push("--timing");
        let out = run_bytes(example(case.name), &flags, case.input().as_bytes());
        assert_eq!(answer(&out), case.answer, "{}", case.name);
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{}: {err}", case.name);
        let rest = lines[0]
            .strip_prefix("timing load_ms=")
            .unwrap_or_else(|| panic!("{}: {err}", case.name));
        let (load, compute) = rest.split_once(" compute_ms=").unwrap();
        assert!(
            load.parse::<f64>().is_ok() && compute.parse::<f64>().is_ok(),
            "{err}"
        );
    }
}

#[test]
fn funnel_warns_of_a_step_no_row_has() {
    // `bookd` is a typo of `booked`: still an answer (nobody reached it), with a warning.
    let out = run(
        example("funnel"),
        &["--steps", "lead,bookd", "--window", "1d"],
        "patient_id,event,timestamp\nA,lead,1767225600\nA,booked,1767229200\n",
    );
    let text = answer(&out);
    assert!(text.contains("\"step\":\"bookd\""), "{text}");
    assert_eq!(stderr(&out), "step \"bookd\" appears in no row\n");
}

#[test]
fn funnel_refuses_a_patient_id_that_is_not_utf8() {
    // It used to count the bad id as a patient.
    let out = run_bytes(
        example("funnel"),
        &["--steps", "lead", "--window", "1d"],
        b"patient_id,event,timestamp\nA,lead,1767225600\n\xc3,lead,1767225600\n",
    );
    refused(&out, "line 3", "not UTF-8");
}

#[test]
fn retention_refuses_a_negative_timestamp() {
    // It used to become a 1969 cohort.
    let out = run(
        example("retention"),
        &["--period", "day", "--periods", "2"],
        "patient_id,timestamp\nA,1767225600\nB,-30\n",
    );
    refused(&out, "line 3", "timestamp -30 is negative");
}

#[test]
fn points_refuses_a_column_it_does_not_know() {
    // A misspelt optional column used to be read by position.
    let out = run(
        example("points"),
        &[],
        "account,op,points_or_amount,at,key,purchse\nP1,adjust,100,1767225600,1,\n",
    );
    refused(&out, "line 1", "unknown column \"purchse\"");
}

#[test]
fn a_bad_flag_value_names_the_flag_and_the_value() {
    let out = run(
        example("retention"),
        &["--period", "day", "--periods", "-30"],
        "patient_id,timestamp\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err, "--periods \"-30\": is negative; expected 0 or more\n");
}

#[test]
fn churn_flag_values_and_unfittable_data_are_bad_input() {
    let header = "patient_id,date,amount\n";
    for (flags, err) in [
        (
            &["--as-of", "2026-02-01", "--clv-months", "2000"][..],
            "--clv-months \"2000\": is more than 1200 months\n",
        ),
        (
            &["--as-of", "2026-02-01", "--horizon-days", "-5"][..],
            "--horizon-days \"-5\": is negative; expected 0 or more\n",
        ),
        (
            &["--as-of", "2026-02-01", "--discount", "-1"][..],
            "--discount \"-1\": is not a rate above -1\n",
        ),
        (
            &["--as-of", "2026-13-01"][..],
            "--as-of \"2026-13-01\": is not YYYY-MM-DD or YYYYMMDD\n",
        ),
    ] {
        let out = run(example("churn"), flags, header);
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr(&out), err);
    }
    // Data the models cannot fit: the model's reason, exit 2, nothing on stdout.
    let out = run(
        example("churn"),
        &["--as-of", "2026-02-01"],
        "patient_id,date,amount\nA,2026-01-01,5\nB,2026-01-09,5\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(stderr(&out), "cannot fit bg/nbd: no repeat patients\n");
    // --params-only: one JSON object, the patients counted.
    let input = format!(
        "{header}{}",
        include_str!("fixtures/churn_contract_rows.csv")
    );
    let text = answer(&run(
        example("churn"),
        &["--as-of", "1998-06-30", "--params-only"],
        &input,
    ));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["patients"], 96);
    assert!(
        v["bgnbd"]["r"].as_f64().unwrap() > 0.0 && v["gamma_gamma"]["q"].as_f64().unwrap() > 1.0
    );
}

/// The referral calculator reads three files: each gets the shared rules with its name in
/// place of `line`.
#[test]
fn referral_files_follow_the_shared_rules() {
    let dir = std::env::temp_dir().join(format!("clinic-ops-referral-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        path.to_string_lossy().into_owned()
    };
    let patients = write(
        "patients.csv",
        b"mobile,registered_at,patient_id\n,1000,A\n,2000,B\n",
    );
    let bindings = write("bindings.csv", b"referee,referrer,timestamp\nB,A,2100\n");
    let visits = write(
        "visits.csv",
        b"patient_id,timestamp,amount,refunded\nB,3000,268.00,false\n",
    );
    let go = |p: &str, b: &str, v: &str| {
        run(
            example("referral"),
            &[
                "--patients",
                p,
                "--bindings",
                b,
                "--visits",
                v,
                "--as-of",
                "1000000",
            ],
            "",
        )
    };
    let text = answer(&go(&patients, &bindings, &visits));
    assert_eq!(
        text,
        "{\"analytics\":{\"bound\":1,\"converted\":1,\"k_factor\":1.0,\"max_depth\":1},\"bindings\":[{\"accepted\":true,\"reason\":null,\"referee\":\"B\",\"referrer\":\"A\"}],\"rewards\":[{\"referee\":\"B\",\"referrer\":\"A\",\"status\":\"approved\",\"visit_at\":3000}]}\n"
    );
    let empty = write("empty.csv", b"");
    let out = go(&patients, &empty, &visits);
    refused(
        &out,
        &format!("{empty}:1: empty input, expected the header referee,referrer,timestamp"),
        "",
    );
    let latin1 = write(
        "latin1.csv",
        b"referee,referrer,timestamp\nB,A,2100\n\xe9,A,2200\n",
    );
    refused(
        &go(&patients, &latin1, &visits),
        &format!("{latin1}:3"),
        "not UTF-8",
    );
    let missing = write("missing.csv", b"referee,referrer,time\nB,A,2100\n");
    refused(
        &go(&patients, &missing, &visits),
        &format!("{missing}:1"),
        "missing column timestamp",
    );
    let header_only = write("header.csv", b"referee,referrer,timestamp\n");
    let text = answer(&go(&patients, &header_only, &visits));
    assert!(text.contains("\"bindings\":[]"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes `csv` (a header and unquoted rows) as a Parquet file: a column whose cells are all
/// integers becomes INT64, `date` columns DATE, others UTF-8 text; snappy-compressed, as
/// warehouses write it.
fn write_parquet(path: &std::path::Path, csv: &str) {
    write_parquet_groups(path, csv, usize::MAX);
}

/// [`write_parquet`] with at most `group` rows in a row group.
fn write_parquet_groups(path: &std::path::Path, csv: &str, group: usize) {
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let cells = |c: usize| rows.iter().map(move |r| r[c]);
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let kinds: Vec<&str> = (0..header.len())
        .map(|c| {
            if header[c] == "date" {
                "INT32 {} (DATE)"
            } else if !rows.is_empty() && cells(c).all(|v| v.parse::<i64>().is_ok()) {
                "INT64 {}"
            } else {
                "BYTE_ARRAY {} (UTF8)"
            }
        })
        .collect();
    let fields: String = header
        .iter()
        .zip(&kinds)
        .map(|(h, k)| format!("REQUIRED {};", k.replace("{}", h)))
        .collect();
    let schema = Arc::new(parse_message_type(&format!("message m {{ {fields} }}")).unwrap());
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
    let all: Vec<usize> = (0..rows.len()).collect();
    let mut chunks: Vec<&[usize]> = all.chunks(group.max(1)).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for chunk in chunks {
        let rows = &rows;
        let cells = |c: usize| chunk.iter().map(move |&r| rows[r][c]);
        let mut group = writer.next_row_group().unwrap();
        let mut c = 0;
        while let Some(mut col) = group.next_column().unwrap() {
            if kinds[c].starts_with("INT32") {
                let days: Vec<i32> = cells(c)
                    .map(|v| {
                        let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").unwrap();
                        (d - epoch).num_days() as i32
                    })
                    .collect();
                col.typed::<Int32Type>()
                    .write_batch(&days, None, None)
                    .unwrap();
            } else if kinds[c].starts_with("INT64") {
                let v: Vec<i64> = cells(c).map(|v| v.parse().unwrap()).collect();
                col.typed::<Int64Type>()
                    .write_batch(&v, None, None)
                    .unwrap();
            } else {
                let v: Vec<ByteArray> = cells(c).map(ByteArray::from).collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&v, None, None)
                    .unwrap();
            }
            col.close().unwrap();
            c += 1;
        }
        group.close().unwrap();
    }
    writer.close().unwrap();
}

#[test]
fn parquet_input_gives_the_csv_answer() {
    let dir = std::env::temp_dir().join(format!("clinic-ops-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for case in &CASES {
        // Reversed columns too: Parquet columns are found by name as well.
        for (i, csv) in [case.input(), case.reversed()].iter().enumerate() {
            let path = dir.join(format!("{}-{i}.parquet", case.name));
            write_parquet(&path, csv);
            let mut flags = case.flags.to_vec();
            let p = path.to_string_lossy().into_owned();
            flags.extend(["--input", &p]);
            let out = run_bytes(example(case.name), &flags, b"");
            assert_eq!(answer(&out), case.answer, "{} from Parquet", case.name);
        }
        // A header alone: a file with the columns and no rows.
        let path = dir.join(format!("{}-empty.parquet", case.name));
        write_parquet(&path, &format!("{}\n", case.header));
        let p = path.to_string_lossy().into_owned();
        let mut flags = case.flags.to_vec();
        flags.extend(["--input", &p]);
        assert_eq!(
            answer(&run_bytes(example(case.name), &flags, b"")),
            case.empty_answer
        );
    }
    // A missing column is named, as in a CSV.
    let path = dir.join("missing.parquet");
    write_parquet(&path, "patient_id,time\nA,1767225600\n");
    let p = path.to_string_lossy().into_owned();
    let out = run(
        example("retention"),
        &["--period", "day", "--periods", "2", "--input", &p],
        "",
    );
    refused(&out, "line 1", "missing column timestamp");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Inputs of thousands of rows take the calculators' parallel readers: a CSV cut into one
/// range per thread at line starts, and a Parquet file of many row groups decoded on several
/// threads. Their answers are byte for byte those of the sequential reader, which gets the
/// same rows when one id is quoted (a quote sends the whole input to it).
#[test]
fn parallel_readers_answer_as_the_sequential_ones() {
    let mut events = String::from("patient_id,event,timestamp,channel\n");
    let mut sales = String::from("patient_id,date,amount\n");
    for i in 0..6_000u64 {
        let p = (i * 7_919) % 900;
        let id = if p % 17 == 0 {
            format!("a-long-patient-identifier-{p}")
        } else {
            format!("P{p}")
        };
        let event = ["lead", "converted", "booked", "page_view", "arrived"][(i * 31 % 5) as usize];
        let at = 1_767_225_600 + (i * 104_729) % (40 * 86_400);
        let channel = ["kol", "ad", "douyin"][(i % 3) as usize];
        events += &format!("{id},{event},{at},{channel}\n");
        sales += &format!(
            "{id},2026-0{}-{:02},{}.{:02}\n",
            1 + i % 6,
            1 + i % 28,
            10 + i % 300,
            i % 100
        );
    }
    let quoted = |csv: &str| {
        assert!(csv.contains("\nP1,"));
        csv.replacen("\nP1,", "\n\"P1\",", 1)
    };
    let dir = std::env::temp_dir().join(format!("clinic-ops-parallel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let runs: [(&str, &[&str], &String); 3] = [
        (
            "funnel",
            &[
                "--steps",
                "lead,converted,booked,arrived",
                "--window",
                "7d",
                "--breakdown",
                "channel",
            ],
            &events,
        ),
        ("rfm", &["--as-of", "2026-05-01"], &sales),
        (
            "retention",
            &["--period", "week", "--periods", "4"],
            &events,
        ),
    ];
    for (name, flags, csv) in runs {
        let want = answer(&run(example(name), flags, &quoted(csv)));
        assert_eq!(
            answer(&run(example(name), flags, csv)),
            want,
            "{name} from CSV"
        );
        let path = dir.join(format!("{name}.parquet"));
        write_parquet_groups(&path, csv, 450);
        let p = path.to_string_lossy().into_owned();
        let mut with_input = flags.to_vec();
        with_input.extend(["--input", &p]);
        assert_eq!(
            answer(&run(example(name), &with_input, "")),
            want,
            "{name} from Parquet"
        );
    }
    // A bad row in the second half is reported at its line by either reader.
    let mut bad = events.clone();
    bad.push_str("P5,lead,soon,kol\n");
    let out = run(
        example("funnel"),
        &["--steps", "lead", "--window", "1d"],
        &bad,
    );
    refused(
        &out,
        "line 6002",
        "timestamp \"soon\" is not whole Unix seconds",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
