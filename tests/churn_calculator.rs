//! The `churn` reference calculator run as the command line runs it (CALCULATORS.md), on the
//! full CDNOW transaction log against lifetimes 0.11.3 (`fixtures/churn_cdnow_make.py`), and
//! on bad input.
#![cfg(feature = "churn")]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod support;
use support::example;

fn run(args: &[&str], stdin: &str) -> Output {
    let bin = example("churn");
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

fn refused(out: &Output, reason: &str) {
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "partial answer on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(reason), "stderr: {err}");
}

fn master() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/churn_cdnow_master.csv")
        .display()
        .to_string()
}

fn reference() -> Value {
    serde_json::from_str(include_str!("fixtures/churn_cdnow_lifetimes.json")).unwrap()
}

#[test]
fn params_on_the_full_cdnow_log_match_lifetimes() {
    let out = answer(&run(
        &[
            "--input",
            &master(),
            "--as-of",
            "1998-06-30",
            "--params-only",
        ],
        "",
    ));
    let ours: Value = serde_json::from_str(&out).unwrap();
    let r = reference();
    assert_eq!(ours["patients"], 23_570);
    for (model, keys) in [
        ("bgnbd", ["r", "alpha", "a", "b"].as_slice()),
        ("gamma_gamma", ["p", "q", "v"].as_slice()),
    ] {
        let theirs = &r[format!("days_{model}")];
        for k in keys {
            let (o, t) = (
                ours[model][k].as_f64().unwrap(),
                theirs[k].as_f64().unwrap(),
            );
            assert!(
                (o - t).abs() <= 1e-3 * t,
                "{model}.{k}: {o} vs lifetimes {t}"
            );
        }
    }
}

#[test]
fn scores_on_the_full_cdnow_log_match_lifetimes() {
    let out = answer(&run(&["--input", &master(), "--as-of", "1998-06-30"], ""));
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("patient_id,frequency,recency,T,monetary_value,p_alive,expected_visits,clv")
    );
    let rows: std::collections::BTreeMap<&str, Vec<&str>> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0], f)
        })
        .collect();
    assert_eq!(rows.len(), 23_570);
    let ids: Vec<&&str> = rows.keys().collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // The reference is lifetimes' formulas at lifetimes' parameters; ours differ from them by
    // under 2e-7 relative (see `params_on_…`), which moves the printed scores by at most a
    // few units of the sixth decimal and the CLV by under a fen.
    for row in reference()["days_patients"].as_array().unwrap() {
        let id = row["id"].as_str().unwrap();
        let f = &rows[id];
        let num = |i: usize| f[i].parse::<f64>().unwrap();
        let want = |k: &str| row[k].as_f64().unwrap();
        assert_eq!(num(1), want("frequency"), "{id}");
        assert_eq!(num(2), want("recency"), "{id}");
        assert_eq!(num(3), want("T"), "{id}");
        assert!((num(5) - want("p_alive")).abs() <= 2e-6, "p_alive of {id}");
        assert!(
            (num(6) - want("expected_90")).abs() <= 2e-6,
            "expected of {id}"
        );
        assert!(
            (num(7) - want("clv_12")).abs() <= 0.015,
            "clv of {id}: {}",
            f[7]
        );
    }
}

#[test]
fn bad_input_is_refused_with_its_line() {
    refused(&run(&["--as-of", "2026-02-01"], ""), "line 1");
    refused(
        &run(
            &["--as-of", "2026-02-01"],
            "patient_id,date,amount\nA,2026-01-0x,5\n",
        ),
        "line 2",
    );
    refused(
        &run(&["--as-of", "2026-02-01"], "patient_id,when,amount\n"),
        "line 1",
    );
    // Data the models cannot be fitted on: the reason, exit 2.
    refused(
        &run(
            &["--as-of", "2026-02-01"],
            "patient_id,date,amount\nA,2026-01-01,5\nA,2026-01-09,5\n",
        ),
        "cannot fit bg/nbd: one patient",
    );
    refused(
        &run(
            &["--as-of", "2026-02-01"],
            "patient_id,date,amount\nA,2026-01-01,5\nB,2026-01-09,5\n",
        ),
        "cannot fit bg/nbd: no repeat patients",
    );
    refused(
        &run(&["--as-of", "2026-02-01", "--frobnicate"], ""),
        "Usage",
    );
    refused(
        &run(&["--as-of", "2026-02-01", "--discount", "-2"], ""),
        "--discount",
    );
}

#[test]
fn a_header_alone_is_zero_patients() {
    let csv = "patient_id,date,amount\n";
    assert_eq!(
        answer(&run(&["--as-of", "2026-02-01"], csv)),
        "patient_id,frequency,recency,T,monetary_value,p_alive,expected_visits,clv\n"
    );
    assert_eq!(
        answer(&run(&["--as-of", "2026-02-01", "--params-only"], csv)),
        "{\"bgnbd\":null,\"gamma_gamma\":null,\"patients\":0}\n"
    );
    let help = answer(&run(&["--help"], ""));
    assert!(help.contains("--horizon-days") && help.contains("patient_id,date,amount"));
}
