//! The `referral` reference calculator against hand-checked answers (CALCULATORS.md).
//!
//! The example's source is compiled in here as a module, so the test drives exactly the
//! code the command line runs, minus the file reading.

#[allow(dead_code)]
#[path = "../examples/referral.rs"]
mod calculator;

use calculator::{Texts, calculate, parse_args};
use serde_json::{Value, json};

const PATIENTS: &str = "patient_id,registered_at,mobile
A,1000,13800000001
B,2000,
C,3000,+86 138-0000-0003
D,500,
E,4000,13800000001
F,5000,
";

const BINDINGS: &str = "referee,referrer,timestamp
B,A,2100
C,B,3100
A,A,1500
C,A,3050
D,A,2000
E,A,4100
F,C,5000000
X,A,10
A,C,9000
B,C,2100
";

const VISITS: &str = "patient_id,timestamp,amount,refunded
B,10000,268.00,false
C,20000,150,true
C,30000,150,false
Z,1,1,false
";

fn run(texts: [&str; 3], flags: &[&str]) -> Result<Value, String> {
    let mut argv: Vec<String> = [
        "--patients",
        "patients.csv",
        "--bindings",
        "bindings.csv",
        "--visits",
        "visits.csv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(flags.iter().map(|s| s.to_string()));
    let args = parse_args(argv).map_err(|e| e.message().to_owned())?;
    let texts = Texts {
        patients: texts[0].to_owned(),
        bindings: texts[1].to_owned(),
        visits: texts[2].to_owned(),
    };
    calculate(&args, &texts).map(|(v, _, _)| v)
}

fn binding(referee: &str, referrer: &str, reason: Option<&str>) -> Value {
    json!({"referee": referee, "referrer": referrer, "accepted": reason.is_none(), "reason": reason})
}

#[test]
fn every_refusal_code_rewards_and_analytics() {
    let out = run([PATIENTS, BINDINGS, VISITS], &["--as-of", "620000"]).unwrap();
    assert_eq!(
        out["bindings"],
        json!([
            binding("X", "A", Some("unknown_patient")),
            binding("A", "A", Some("self_referral")),
            binding("D", "A", Some("referee_registered_first")),
            binding("B", "A", None),
            // Same timestamp as the row above it: row order decides.
            binding("B", "C", Some("already_bound")),
            binding("C", "A", None),
            binding("C", "B", Some("already_bound")),
            binding("E", "A", Some("same_identity")),
            binding("A", "C", Some("cycle")),
            binding("F", "C", Some("outside_window")),
        ])
    );
    assert_eq!(
        out["rewards"],
        json!([
            {"referrer": "A", "referee": "B", "visit_at": 10000, "status": "approved"},
            {"referrer": "A", "referee": "C", "visit_at": 20000, "status": "reversed"},
        ])
    );
    // C's first qualifying visit was refunded, but a later one converts C.
    assert_eq!(out["analytics"]["bound"], json!(2));
    assert_eq!(out["analytics"]["converted"], json!(2));
    assert_eq!(out["analytics"]["max_depth"], json!(1));
    let k = out["analytics"]["k_factor"].as_f64().unwrap();
    assert!(
        (k - 2.0 / 3.0).abs() < 1e-12,
        "k = bound 2 / 3 referrers × 2/2, got {k}"
    );
}

#[test]
fn pending_until_the_delay_has_passed_and_flags_change_the_rules() {
    // 10000 + 7 days = 614800.
    let out = run([PATIENTS, BINDINGS, VISITS], &["--as-of", "614799"]).unwrap();
    assert_eq!(out["rewards"][0]["status"], json!("pending"));
    let out = run([PATIENTS, BINDINGS, VISITS], &["--as-of", "614800"]).unwrap();
    assert_eq!(out["rewards"][0]["status"], json!("approved"));
    let out = run(
        [PATIENTS, BINDINGS, VISITS],
        &[
            "--as-of",
            "620000",
            "--min-amount",
            "200",
            "--pending-days",
            "0",
            "--window-days",
            "60",
        ],
    )
    .unwrap();
    assert_eq!(
        out["bindings"][9],
        binding("F", "C", None),
        "F is inside 60 days"
    );
    assert_eq!(out["analytics"]["max_depth"], json!(2), "A → C → F");
    assert_eq!(
        out["rewards"],
        json!([{"referrer": "A", "referee": "B", "visit_at": 10000, "status": "approved"}]),
        "C's visits are below ¥200"
    );
    assert_eq!(out["analytics"]["converted"], json!(1));
}

#[test]
fn header_only_inputs_give_zero_counts() {
    let out = run(
        [
            "patient_id,registered_at,mobile\n",
            "referee,referrer,timestamp\n",
            "patient_id,timestamp,amount,refunded\n",
        ],
        &["--as-of", "0"],
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"bindings": [], "rewards": [],
               "analytics": {"bound": 0, "converted": 0, "k_factor": 0.0, "max_depth": 0}})
    );
}

#[test]
fn bad_input_names_the_file_and_line() {
    let bad_mobile = "patient_id,registered_at,mobile\nA,1,13800000001\nB,2,12345\n";
    let e = run([bad_mobile, BINDINGS, VISITS], &["--as-of", "0"]).unwrap_err();
    assert!(e.starts_with("patients.csv:3:"), "{e}");
    let bad_flag = "patient_id,timestamp,amount,refunded\nB,1,100,yes\n";
    let e = run([PATIENTS, BINDINGS, bad_flag], &["--as-of", "0"]).unwrap_err();
    assert!(
        e.starts_with("visits.csv:2:") && e.contains("\"yes\""),
        "{e}"
    );
    let bad_amount = "patient_id,timestamp,amount,refunded\nB,1,-3,false\n";
    assert!(
        run([PATIENTS, BINDINGS, bad_amount], &["--as-of", "0"])
            .unwrap_err()
            .starts_with("visits.csv:2:")
    );
    let bad_time = "referee,referrer,timestamp\nB,A,soon\n";
    assert!(
        run([PATIENTS, bad_time, VISITS], &["--as-of", "0"])
            .unwrap_err()
            .starts_with("bindings.csv:2:")
    );
    let short_row = "referee,referrer,timestamp\nB,A\n";
    assert!(
        run([PATIENTS, short_row, VISITS], &["--as-of", "0"])
            .unwrap_err()
            .starts_with("bindings.csv:2:")
    );
    let header = "patient,registered_at,mobile\n";
    assert!(
        run([header, BINDINGS, VISITS], &["--as-of", "0"])
            .unwrap_err()
            .starts_with("patients.csv:1:")
    );
    let twice = "patient_id,registered_at,mobile\nA,1,\nA,2,\n";
    assert!(
        run([twice, BINDINGS, VISITS], &["--as-of", "0"])
            .unwrap_err()
            .contains("twice")
    );
    assert!(
        run([PATIENTS, BINDINGS, VISITS], &[])
            .unwrap_err()
            .contains("--as-of")
    );
}
