//! The `clinic` reference calculator against a hand-checked answer (CALCULATORS.md, `clinic`).
//!
//! The example's source is compiled in here as a module, so the test drives exactly the
//! code the command line runs (`cli` is `main` with its file reads passed in).

#[allow(dead_code)]
#[path = "../examples/clinic.rs"]
mod calculator;

use calculator::cli;
use serde_json::Value;

/// Two patients at a TCM clinic (UTC+8, default config: 2 points per ¥ on herbal decoctions,
/// lots expire after 365 days, a ×2 member day on the 8th for patients with marketing
/// consent, 100 points to a referrer once the referee's first visit of ¥100 or more has
/// waited 7 days, a post-visit check 3 days after a visit).
const JOURNAL: &str = r#"{"at":"2026-03-01T09:00:00+08:00","type":"register","patient":"P1","name":"王芳","mobile":"13800138001","clinic":1,"channel":"walk_in"}
{"at":"2026-03-01T09:05:00+08:00","type":"consent","patient":"P1","purpose":"marketing","granted":true}
{"at":"2026-03-02T09:40:00+08:00","type":"register","patient":"P2","name":"李明","mobile":"13900139002","clinic":1,"channel":"referral"}
{"at":"2026-03-02T09:41:00+08:00","type":"consent","patient":"P2","purpose":"care_reminder","granted":true}
{"at":"2026-03-02T09:45:00+08:00","type":"refer","referrer":"P1","referee":"P2"}
{"at":"2026-03-02T10:30:00+08:00","type":"visit","patient":"P2","visit":"V1","doctor":"D3","paid":"268.00"}
{"at":"2026-03-05T08:00:00+08:00","type":"plan"}
{"at":"2026-03-08T15:00:00+08:00","type":"purchase","patient":"P1","purchase":"O1","amount":"300.00","category":"herbal_decoction"}
{"at":"2026-03-09T09:00:00+08:00","type":"refund","purchase":"O1","amount":"100.00"}
{"at":"2026-03-10T11:00:00+08:00","type":"redeem","patient":"P1","points":200}
"#;

/// Checked by hand:
/// - line 8, 2026-03-08 (a member day), P1 has marketing consent: ¥300 of decoction earns
///   600 base points and the ×2 multiplier grants another 600 (one effect, campaign 8);
/// - line 9 refunds a third: 200 base and 200 bonus points are taken back (800 left);
/// - P2's visit (¥268 ≥ ¥100, line 6) qualified P1's reward, approved 7 days later on
///   2026-03-09 10:30 and paid, dated then, before line 10 (lot expiring 2027-03-09); line 10
///   then redeems 200 from the oldest lots: 800 + 100 − 200 = 700, lots 600 and 100;
/// - campaign bonuses add no growth value, so P1's growth is 600 − 200 = 400 < 1000: no tier;
/// - P2 earned nothing (visits earn no points) and gets the post-visit check due 2026-03-05.
const EXPECTED: &str = r#"{
  "effects": [
    {
      "campaign": 8,
      "effect": {
        "factor": "2",
        "type": "points_multiplier"
      },
      "line": 8,
      "patient": "P1"
    }
  ],
  "patients": [
    {
      "balance": 700,
      "lots": [
        {
          "expires": "2027-03-08",
          "points": 600
        },
        {
          "expires": "2027-03-09",
          "points": 100
        }
      ],
      "patient": "P1",
      "pending": 0,
      "tier": null
    },
    {
      "balance": 0,
      "lots": [],
      "patient": "P2",
      "pending": 0,
      "tier": null
    }
  ],
  "referral_rewards": [
    {
      "points": 100,
      "referee": "P2",
      "referrer": "P1",
      "status": "approved"
    }
  ],
  "refused": [],
  "tasks": [
    {
      "due": "2026-03-05",
      "kind": "post_visit_check",
      "patient": "P2",
      "reason": "2026-03-02 就诊后第3天，回访疗效与用药情况"
    }
  ]
}
"#;

fn run(args: &[&str], journal: &str) -> (u8, String, String) {
    let journal = journal.to_owned();
    cli(args.iter().map(|s| s.to_string()), move |path| {
        if path == "j.jsonl" {
            Ok(journal.clone())
        } else {
            Err(format!("{path}: cannot read"))
        }
    })
}

fn replay(journal: &str) -> String {
    let (code, out, err) = run(&["--journal", "j.jsonl"], journal);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    out
}

#[test]
fn help_lists_flags_and_every_line_type() {
    let (code, out, err) = run(&["--help"], "");
    assert_eq!(code, 0);
    assert!(err.is_empty());
    for word in [
        "--journal",
        "--config",
        "--as-of",
        "register",
        "consent",
        "visit",
        "purchase",
        "refund",
        "redeem",
        "refer",
        "expire",
        "plan",
        "EXAMPLE LINE",
    ] {
        assert!(out.contains(word), "--help lacks {word}");
    }
}

#[test]
fn unknown_flag_is_bad_input_with_the_usage() {
    let (code, out, err) = run(&["--journal", "j.jsonl", "--tz", "+08:00"], JOURNAL);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("unknown flag \"--tz\"") && err.contains("usage:"),
        "{err}"
    );
}

#[test]
fn ten_line_journal_gives_the_hand_checked_answer() {
    assert_eq!(replay(JOURNAL), EXPECTED);
}

#[test]
fn as_of_before_the_approval_shows_the_reward_pending() {
    // 2026-03-05 00:00 UTC: the visit's 7 days have not passed.
    let (code, out, _) = run(&["--journal", "j.jsonl", "--as-of", "1772668800"], JOURNAL);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["referral_rewards"][0]["status"], "pending");
}

#[test]
fn bad_input_names_the_line_and_prints_nothing() {
    let good = "{\"at\":\"2026-03-05T08:00:00+08:00\",\"type\":\"plan\"}\n";
    for (bad, reason) in [
        ("not json", "line 2: not JSON"),
        (
            "{\"at\":\"2026-03-05T08:00:00+08:00\",\"type\":\"fly\"}",
            "line 2: unknown type \"fly\"",
        ),
        (
            "{\"at\":\"2026-03-05T08:00:00+08:00\",\"type\":\"redeem\",\"patient\":\"P1\"}",
            "line 2: missing member \"points\"",
        ),
        ("{\"type\":\"plan\"}", "line 2: missing member \"at\""),
        (
            "{\"at\":\"2026-03-05T08:00:00+08:00\",\"type\":\"refund\",\"purchase\":\"O1\",\"amount\":\"x\"}",
            "line 2: amount \"x\"",
        ),
    ] {
        let (code, out, err) = run(&["--journal", "j.jsonl"], &format!("{good}{bad}\n{good}"));
        assert_eq!(code, 2, "{bad}");
        assert!(out.is_empty(), "{bad}: {out}");
        assert!(err.starts_with(reason), "{bad}: {err}");
    }
}

#[test]
fn refused_lines_are_listed_and_the_replay_goes_on() {
    // An unknown patient, a redemption over the balance, a refund of an unknown purchase,
    // a self-referral; the registration and purchase between them still count.
    let journal = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n",
        r#"{"at":"2026-03-01T09:00:00+08:00","type":"redeem","patient":"P9","points":5}"#,
        JOURNAL.lines().next().unwrap(),
        r#"{"at":"2026-03-01T10:00:00+08:00","type":"redeem","patient":"P1","points":5}"#,
        r#"{"at":"2026-03-01T10:00:00+08:00","type":"refund","purchase":"O4","amount":"5"}"#,
        r#"{"at":"2026-03-01T10:00:00+08:00","type":"refer","referrer":"P1","referee":"P1"}"#,
        r#"{"at":"2026-03-01T11:00:00+08:00","type":"purchase","patient":"P1","purchase":"O1","amount":"50"}"#,
    );
    let v: Value = serde_json::from_str(&replay(&journal)).unwrap();
    let refused: Vec<(u64, &str)> = v["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        refused,
        [(1, "redeem"), (3, "redeem"), (4, "refund"), (5, "refer")]
    );
    assert_eq!(v["refused"][0]["reason"], "patient P9 is not registered");
    assert_eq!(
        v["refused"][1]["reason"],
        "redeeming 5 points but only 0 are available"
    );
    assert_eq!(v["refused"][2]["reason"], "purchase O4 is not known");
    assert_eq!(v["patients"][0]["balance"], 50);
}

#[test]
fn every_line_twice_gives_the_same_output() {
    // The journal replayed after itself: every line's numbers stay the same.
    assert_eq!(replay(&format!("{JOURNAL}{JOURNAL}")), EXPECTED);
    // Each line twice in a row: the same answer but for the line numbers, which move.
    let doubled: String = JOURNAL.lines().flat_map(|l| [l, "\n", l, "\n"]).collect();
    let mut v: Value = serde_json::from_str(&replay(&doubled)).unwrap();
    let mut once: Value = serde_json::from_str(EXPECTED).unwrap();
    assert_eq!(v["effects"][0]["line"], 15);
    v["effects"][0]["line"] = Value::Null;
    once["effects"][0]["line"] = Value::Null;
    assert_eq!(v, once);
}

#[test]
fn an_explicit_key_makes_different_lines_one_event() {
    // The till sent the redemption twice with different timestamps but one order key.
    let redeem = |t: &str| {
        format!(
            r#"{{"at":"2026-03-10T{t}+08:00","type":"redeem","patient":"P1","points":200,"key":"till-77"}}"#
        )
    };
    let mut journal: String = JOURNAL.lines().take(9).flat_map(|l| [l, "\n"]).collect();
    journal.push_str(&redeem("11:00:00"));
    journal.push('\n');
    let once = replay(&journal);
    journal.push_str(&redeem("11:00:00"));
    journal.push('\n');
    assert_eq!(replay(&journal), once);
    journal.push_str(&redeem("11:05:00"));
    let v: Value = serde_json::from_str(&replay(&journal)).unwrap();
    assert_eq!(v["refused"][0]["line"], 12);
    assert!(
        v["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("used before for a different event")
    );
}
