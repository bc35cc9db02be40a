//! The `retention`, `rfm` and `adherence` reference calculators run as the command line runs
//! them (CALCULATORS.md): input on stdin, the answer on stdout with exit 0, and bad input as a
//! line number and a reason on stderr with exit 2 and nothing on stdout. Answers are checked
//! by hand in the comments.
//!
//! `cargo test` builds every example before it runs the tests, so the binaries sit in
//! `target/<profile>/examples`, next to this test's own `deps` folder.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The built example binary `name`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    profile.join("examples").join(name)
}

fn run(bin: PathBuf, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(&bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} did not start: {e}", bin.display()));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("the calculator reads its input");
    child.wait_with_output().expect("the calculator ends")
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
