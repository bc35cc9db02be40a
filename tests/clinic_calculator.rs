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
        "post",
        "event",
        "event_register",
        "attend",
        "acquisition",
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

/// Issue 20: a doctor's Xiaohongshu account (free) and a KOC on Douyin (¥200 a post, ¥50 a
/// lead, 10% of revenue), a post each; three patients register with the posts' codes, one
/// walks in; a lecture with two seats; a free clinic without approval; a post reusing a
/// code.
const CONTENT_JOURNAL: &str = r#"{"at":"2026-03-01T08:00:00+08:00","type":"post","post":"PO1","code":"xhs-0301","copy":"换季失眠，中医怎么调？","topics":["失眠"],"account":{"id":1,"kind":"doctor_ip","platform":"xiaohongshu","name":"李医生讲中医","owner":{"doctor":7}}}
{"at":"2026-03-01T08:30:00+08:00","type":"post","post":"PO2","code":"dy-koc-1","copy":"真实案例：三天根治失眠","account":{"id":2,"kind":"koc","platform":"douyin","name":"小王说健康","owner":{"external":"王某"},"terms":{"per_post":"200","per_lead":"50","revenue_share":"10"}}}
{"at":"2026-03-01T09:00:00+08:00","type":"post","post":"PO3","code":"xhs-0301","account":{"id":1,"kind":"doctor_ip","platform":"xiaohongshu","name":"李医生讲中医","owner":{"doctor":7}}}
{"at":"2026-03-02T09:00:00+08:00","type":"register","patient":"P1","name":"王芳","mobile":"13800138001","clinic":1,"channel":"xiaohongshu","channel_code":"xhs-0301"}
{"at":"2026-03-02T10:00:00+08:00","type":"register","patient":"P2","name":"李明","mobile":"13900139002","clinic":1,"channel":"koc","channel_code":"dy-koc-1"}
{"at":"2026-03-02T11:00:00+08:00","type":"register","patient":"P3","name":"赵四","mobile":"13700137003","clinic":1,"channel":"koc","channel_code":"dy-koc-1"}
{"at":"2026-03-02T12:00:00+08:00","type":"register","patient":"P4","name":"钱五","mobile":"13600136004","clinic":1,"channel":"walk_in"}
{"at":"2026-03-03T10:00:00+08:00","type":"visit","patient":"P1","visit":"V1","paid":"50.00"}
{"at":"2026-03-03T10:30:00+08:00","type":"purchase","patient":"P1","purchase":"O1","amount":"600.00"}
{"at":"2026-03-04T10:00:00+08:00","type":"purchase","patient":"P2","purchase":"O2","amount":"300.00"}
{"at":"2026-03-05T09:00:00+08:00","type":"event","event":"EV1","kind":{"kind":"lecture","venue":"on_site"},"title":"换季养生讲座","starts":"2026-03-07T09:00:00+08:00","capacity":2,"invitation":"周六上午九点，中医讲换季养生"}
{"at":"2026-03-05T09:10:00+08:00","type":"event","event":"EV2","kind":{"kind":"free_clinic","approval":null},"title":"社区义诊","starts":"2026-03-08T09:00:00+08:00","capacity":50}
{"at":"2026-03-05T10:00:00+08:00","type":"event_register","event":"EV1","patient":"P3"}
{"at":"2026-03-05T10:05:00+08:00","type":"event_register","event":"EV1","patient":"P4"}
{"at":"2026-03-05T10:10:00+08:00","type":"event_register","event":"EV1","patient":"P1"}
{"at":"2026-03-07T09:05:00+08:00","type":"attend","event":"EV1","patient":"P3"}
{"at":"2026-03-10T10:00:00+08:00","type":"purchase","patient":"P3","purchase":"O3","amount":"120.00"}
{"at":"2026-03-20T10:00:00+08:00","type":"visit","patient":"P1","visit":"V2","paid":"50.00"}
"#;

/// Checked by hand:
/// - line 3 reuses code `xhs-0301` (refused); line 2's copy breaks the Advertising Law
///   (`根治`, `真实案例`) and keeps its findings;
/// - the doctor's post: P1 is a lead, converted, paid ¥600 and came back (V2 after V1):
///   1/1/1/1, ¥600, cost ¥0, ROI none (no spend);
/// - the KOC's post: P2 and P3 are leads; P2 paid ¥300 and P3 ¥120 (both within 90 days):
///   2 paying, ¥420; cost 200 + 2 × 50 + 10% × 420 = ¥342, payout ¥342, cost per lead ¥171,
///   per paying patient ¥171, ROI (420 − 342) ÷ 342 = 0.228070… → 0.2281; it paid for itself;
/// - P4 walked in: no post, and is not a lead of any (the funnel's lead step counts every
///   registration, so 1 lead is unattributed);
/// - the lecture has 2 seats: P3 and P4 take them, P1 is refused (full); P3 attended and
///   paid within 30 days, P4 stayed away and did not;
/// - the free clinic is created but refused at publishing: no approval reference.
#[test]
fn posts_and_events_give_acquisition_and_the_lecture_result() {
    let out: Value = serde_json::from_str(&replay(CONTENT_JOURNAL)).unwrap();
    let refused: Vec<(u64, String)> = out["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert_eq!(refused[0].0, 3);
    assert!(
        refused[0].1.contains("already used by post PO1"),
        "{refused:?}"
    );
    assert_eq!(refused[1].0, 12);
    assert!(refused[1].1.contains("approval"), "{refused:?}");
    assert_eq!(refused[2].0, 15);
    assert!(refused[2].1.contains("full"), "{refused:?}");

    let acq = &out["acquisition"];
    assert_eq!(acq["rule"], "first_touch");
    assert_eq!(acq["unattributed_leads"], 1);
    let doctor = &acq["by_account"][0];
    assert_eq!(
        (
            &doctor["leads"],
            &doctor["paying"],
            &doctor["retained"],
            &doctor["revenue"]
        ),
        (
            &Value::from(1),
            &Value::from(1),
            &Value::from(1),
            &Value::from("600.00")
        )
    );
    assert_eq!(
        (&doctor["cost"], &doctor["roi"], &doctor["payout"]),
        (&Value::from("0.00"), &Value::Null, &Value::Null)
    );
    let koc = &acq["by_account"][1];
    assert_eq!(
        (&koc["leads"], &koc["paying"], &koc["revenue"]),
        (&Value::from(2), &Value::from(2), &Value::from("420.00"))
    );
    assert_eq!(koc["cost"], "342.00");
    assert_eq!(koc["payout"], "342.00");
    assert_eq!(koc["cost_per_lead"], "171.00");
    assert_eq!(koc["cost_per_paying_patient"], "171.00");
    assert_eq!(koc["roi"], "0.2281");
    assert_eq!(koc["paid_for_itself"], true);
    assert_eq!(
        acq["by_post"][1]["ad_law_findings"],
        serde_json::json!(["根治", "真实案例"])
    );

    let events = out["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let lecture = &events[0];
    assert_eq!(
        (&lecture["registered"], &lecture["free_seats"]),
        (&Value::from(2), &Value::from(0))
    );
    assert_eq!(
        (&lecture["attended"], &lecture["attendees_converted"]),
        (&Value::from(1), &Value::from(1))
    );
    assert_eq!(
        (&lecture["no_shows"], &lecture["no_shows_converted"]),
        (&Value::from(1), &Value::from(0))
    );
    assert_eq!(events[1]["status"]["status"], "draft");
}

#[test]
fn journals_without_posts_or_events_keep_their_answer() {
    let out: Value = serde_json::from_str(&replay(JOURNAL)).unwrap();
    assert!(out.get("acquisition").is_none() && out.get("events").is_none());
}
