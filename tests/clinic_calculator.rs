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
        "sequence_enrol",
        "sequence_stop",
        "erase",
        "sequences",
        "acquisition",
        "book",
        "reschedule",
        "cancel",
        "check_in",
        "no_show",
        "feedback",
        "complaint",
        "acknowledge",
        "resolve",
        "contact_added",
        "contact_removed",
        "staff_left",
        "group_join",
        "group_leave",
        "appointments",
        "complaints",
        "contacts",
        "concentration",
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

/// The journal is read on a second thread ahead of the replay, in batches: a bad line far
/// from either end of a journal many batches long still stops everything at that line,
/// with nothing printed (the reader, blocked on a full channel, stops when the replay does).
#[test]
fn bad_input_deep_in_a_long_journal_stops_at_its_line() {
    let good = "{\"at\":\"2026-03-05T08:00:00+08:00\",\"type\":\"plan\"}\n";
    let mut journal = good.repeat(30_000);
    journal.push_str("not json\n");
    journal.push_str(&good.repeat(30_000));
    let (code, out, err) = run(&["--journal", "j.jsonl"], &journal);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.starts_with("line 30001: not JSON"), "{err}");
}

/// Lines the fast reader reads and lines it leaves to the general reader (a `clinic` given
/// as a code), with blank lines, over many of the reading thread's batches, give what the
/// general reader and the journey layer give line by line.
#[test]
fn a_long_journal_answers_as_its_lines_do_one_by_one() {
    let mut long = String::new();
    for k in 0..1_500 {
        let day = 1 + k % 28;
        let clinic = if k % 2 == 0 {
            "1".into()
        } else {
            format!("\"C{}\"", 1 + k % 3)
        };
        long.push_str(&format!(
            concat!(
                r#"{{"at":"2026-03-{day:02}T09:00:00+08:00","type":"register","patient":"P{k}","name":"患者","mobile":"1380013{k:04}","clinic":{clinic},"channel":"walk_in"}}"#,
                "\n\n",
                r#"{{"at":"2026-03-{day:02}T09:01:00+08:00","type":"consent","patient":"P{k}","purpose":"marketing","granted":true}}"#,
                "\n",
                r#"{{"at":"2026-03-{day:02}T10:00:00+08:00","type":"visit","patient":"P{k}","visit":"V{k}","paid":"120"}}"#,
                "\n",
                r#"{{"at":"2026-03-{day:02}T11:00:00+08:00","type":"purchase","patient":"P{k}","purchase":"O{k}","amount":"300.00","category":"herbal_decoction","visit":"V{k}"}}"#,
                "\n"
            ),
            day = day,
            k = k,
            clinic = clinic
        ));
    }
    let v: Value = serde_json::from_str(&replay(&long)).unwrap();
    let config: clinic_ops::journey::JourneyConfig =
        serde_json::from_str(calculator::DEFAULT_CONFIG).unwrap();
    let mut clinic = clinic_ops::journey::Clinic::new();
    let mut effects = 0;
    for (n, raw) in long.lines().enumerate() {
        if raw.is_empty() {
            continue;
        }
        let (e, _) = calculator::event(n + 1, raw, &clinic, &config).unwrap();
        if let Ok(clinic_ops::journey::Decision::New(step)) = clinic.handle(&config, &e) {
            effects += step.effects.len();
        }
    }
    assert!(effects > 0, "the journal exercises campaigns");
    assert_eq!(v["effects"].as_array().unwrap().len(), effects);
    assert_eq!(v["tasks"].as_array().unwrap().len(), clinic.tasks().count());
    let rows = v["patients"].as_array().unwrap();
    assert_eq!(rows.len(), 1_500);
    for p in rows {
        let id = p["patient"].as_str().unwrap();
        let a = clinic.account(id.parse().unwrap()).unwrap();
        assert_eq!(p["balance"], a.balance().get(), "{id}");
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
    assert!(out.get("sequences").is_none());
}

/// Issue 20's content sequences, under the default config's SQ1 (每日一学·高血压: two
/// lessons on days 0 and 1, the member day's offer on day 2, by WeChat message). No patient
/// of a journal has a chronic file, so every step rests on marketing consent: P1 and P3
/// gave it, P2 did not. 2026-03-02 is a Monday.
const SEQUENCE_JOURNAL: &str = r#"{"at":"2026-03-02T09:00:00+08:00","type":"register","patient":"P1","name":"王芳","mobile":"13800138001","clinic":1,"channel":"walk_in"}
{"at":"2026-03-02T09:01:00+08:00","type":"consent","patient":"P1","purpose":"marketing","granted":true}
{"at":"2026-03-02T09:02:00+08:00","type":"register","patient":"P2","name":"李明","mobile":"13900139002","clinic":1,"channel":"walk_in"}
{"at":"2026-03-02T09:03:00+08:00","type":"register","patient":"P3","name":"赵四","mobile":"13700137003","clinic":1,"channel":"walk_in"}
{"at":"2026-03-02T09:04:00+08:00","type":"consent","patient":"P3","purpose":"marketing","granted":true}
{"at":"2026-03-02T09:10:00+08:00","type":"sequence_enrol","patient":"P1","sequence":"SQ1"}
{"at":"2026-03-02T09:11:00+08:00","type":"sequence_enrol","patient":"P2","sequence":"SQ1"}
{"at":"2026-03-02T09:12:00+08:00","type":"sequence_enrol","patient":"P3","sequence":"SQ1"}
{"at":"2026-03-02T09:13:00+08:00","type":"sequence_enrol","patient":"P1","sequence":"SQ1"}
{"at":"2026-03-02T09:14:00+08:00","type":"sequence_enrol","patient":"P1","sequence":"SQ9"}
{"at":"2026-03-02T10:00:00+08:00","type":"plan"}
{"at":"2026-03-03T09:00:00+08:00","type":"sequence_stop","patient":"P3","sequence":"SQ1"}
{"at":"2026-03-03T09:30:00+08:00","type":"sequence_stop","patient":"P3","sequence":"SQ1","why":"opted_out"}
{"at":"2026-03-03T10:00:00+08:00","type":"plan"}
{"at":"2026-03-04T10:00:00+08:00","type":"plan"}
{"at":"2026-03-05T10:00:00+08:00","type":"plan"}
"#;

/// Checked by hand:
/// - line 9 enrols P1 a second time and line 10 names a sequence the config lacks: both
///   refused; line 13 stops P3's enrolment, which line 12 already stopped: refused;
/// - the plan of 03-02 sends step 1 to P1 and P3 (due 10:00 that day); P2 has no
///   marketing consent, so their step waits;
/// - P1 gets step 2 on 03-03 and step 3 on 03-04 (3 contacts in the week: the cap), and
///   completes; the plan of 03-05 plans nothing;
/// - so SQ1 has 3 enrolments: P1 completed, P2 active and waiting for consent, P3 stopped
///   by staff; 4 steps planned, all due (sent) by 03-05 10:00.
#[test]
fn sequence_lines_give_the_sequences_member() {
    let out: Value = serde_json::from_str(&replay(SEQUENCE_JOURNAL)).unwrap();
    let refused: Vec<(u64, &str, &str)> = out["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["type"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert_eq!((refused[0].0, refused[0].1), (9, "sequence_enrol"));
    assert!(refused[0].2.contains("already enrolled"), "{refused:?}");
    assert_eq!(refused[1].0, 10);
    assert!(refused[1].2.contains("SQ9"), "{refused:?}");
    assert_eq!((refused[2].0, refused[2].1), (13, "sequence_stop"));
    assert!(refused[2].2.contains("is over"), "{refused:?}");
    let tasks: Vec<(&str, &str, &str)> = out["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "content_sequence")
        .map(|t| {
            (
                t["patient"].as_str().unwrap(),
                t["due"].as_str().unwrap(),
                t["reason"].as_str().unwrap(),
            )
        })
        .collect();
    let days: Vec<(&str, &str)> = tasks.iter().map(|t| (t.0, t.1)).collect();
    assert_eq!(
        days,
        vec![
            ("P1", "2026-03-02"),
            ("P1", "2026-03-03"),
            ("P1", "2026-03-04"),
            ("P3", "2026-03-02"),
        ],
        "{tasks:?}"
    );
    assert!(tasks[2].2.contains("每月会员日"), "{tasks:?}");
    assert_eq!(
        out["sequences"],
        serde_json::json!([{
            "sequence": "SQ1",
            "name": "每日一学·高血压",
            "enrolled": 3,
            "active": 1,
            "completed": 1,
            "stopped": {"staff": 1},
            "steps_planned": 4,
            "sent": 4,
            "waiting_for_consent": 1,
        }])
    );
    // Every line twice: the same answer.
    let twice: String = SEQUENCE_JOURNAL
        .lines()
        .flat_map(|l| [l, l])
        .map(|l| format!("{l}\n"))
        .collect();
    let again: Value = serde_json::from_str(&replay(&twice)).unwrap();
    assert_eq!(again["sequences"], out["sequences"]);
    assert_eq!(again["tasks"], out["tasks"]);
}

#[test]
fn malformed_sequence_lines_are_bad_input() {
    for (line, needle) in [
        (
            r#"{"at":"2026-03-02T09:10:00+08:00","type":"sequence_enrol","patient":"P1"}"#,
            "sequence",
        ),
        (
            r#"{"at":"2026-03-02T09:10:00+08:00","type":"sequence_enrol","patient":"P1","sequence":"SQ1","started_at":"yesterday"}"#,
            "started_at",
        ),
        (
            r#"{"at":"2026-03-02T09:10:00+08:00","type":"sequence_stop","patient":"P1","sequence":"SQ1","why":"bored"}"#,
            "why",
        ),
    ] {
        let (code, out, err) = run(&["--journal", "j.jsonl"], &format!("{line}\n"));
        assert_eq!(code, 2, "{line}");
        assert!(out.is_empty());
        assert!(err.starts_with("line 1: ") && err.contains(needle), "{err}");
    }
}

/// Issues 18 and 19's configuration: doctor D3 sees one patient a half-hour on Monday and
/// Tuesday mornings, D4 on Tuesday mornings; a score of 4 or less opens a complaint owned
/// by S5; two doctors' accounts (S1, S2), an assistant with room for one patient (S3) and
/// the brand account (S4); a hypertension group of two members.
const CARE_CONFIG: &str = r#"{
  "calendar": "+08:00",
  "staff": {"accounts": [
    {"id": 1, "kind": "doctor", "clinic": 1, "capacity": 100},
    {"id": 2, "kind": "doctor", "clinic": 1, "capacity": 100},
    {"id": 3, "kind": "assistant", "clinic": 1, "capacity": 1},
    {"id": 4, "kind": "brand", "clinic": 1, "capacity": 100}
  ]},
  "groups": [{"id": 1, "name": "高血压", "purpose": "血压管理", "owner": 4, "capacity": 2,
              "rule": {"has_tag": "condition/高血压"}}],
  "appointments": {
    "schedules": [{"clinic": 1, "doctors": [
      {"doctor": 3, "slot_minutes": 30, "capacity": 1, "hours": [
        {"weekday": "Mon", "start": "09:00:00", "end": "12:00:00"},
        {"weekday": "Tue", "start": "09:00:00", "end": "12:00:00"}]},
      {"doctor": 4, "slot_minutes": 30, "capacity": 1, "hours": [
        {"weekday": "Tue", "start": "09:00:00", "end": "12:00:00"}]}]}],
    "auto_complaint": {"open_at_or_below": 4, "category": "other", "severity": "medium",
                       "owner": 5}
  }
}"#;

fn run_with(config: &str, journal: &str) -> (u8, String, String) {
    let (journal, config) = (journal.to_owned(), config.to_owned());
    cli(
        ["--journal", "j.jsonl", "--config", "c.json"]
            .iter()
            .map(|s| s.to_string()),
        move |path| match path {
            "j.jsonl" => Ok(journal.clone()),
            "c.json" => Ok(config.clone()),
            _ => Err(format!("{path}: cannot read")),
        },
    )
}

fn care_replay(journal: &str) -> Value {
    let (code, out, err) = run_with(CARE_CONFIG, journal);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    serde_json::from_str(&out).unwrap()
}

/// Two registered patients, P1 with care-reminder consent; 2026-03-02 is a Monday.
const CARE_HEAD: &str = r#"{"at":"2026-03-01T09:00:00+08:00","type":"register","patient":"P1","name":"王芳","mobile":"13800138001","clinic":1,"channel":"walk_in"}
{"at":"2026-03-01T09:01:00+08:00","type":"consent","patient":"P1","purpose":"care_reminder","granted":true}
{"at":"2026-03-01T09:02:00+08:00","type":"register","patient":"P2","name":"李明","mobile":"13900139002","clinic":1,"channel":"walk_in"}
"#;

/// Issue 18 and 19's lines, one of each accepted kind after the head.
const CARE_JOURNAL: &str = r#"{"at":"2026-03-02T10:00:00+08:00","type":"book","appointment":"A1","patient":"P1","doctor":"D3","start":"2026-03-03T09:00:00+08:00","first_visit":true}
{"at":"2026-03-02T10:05:00+08:00","type":"book","appointment":"A2","patient":"P2","doctor":"D3","start":"2026-03-03T09:00:00+08:00"}
{"at":"2026-03-02T10:10:00+08:00","type":"reschedule","appointment":"A1","start":"2026-03-03T09:30:00+08:00"}
{"at":"2026-03-02T10:15:00+08:00","type":"book","appointment":"A2","patient":"P2","doctor":"D3","start":"2026-03-03T09:00:00+08:00"}
{"at":"2026-03-02T10:20:00+08:00","type":"book","appointment":"A3","patient":"P2","doctor":"D4","start":"2026-03-03T11:00:00+08:00"}
{"at":"2026-03-02T10:25:00+08:00","type":"cancel","appointment":"A3","by":"clinic","reason":"医生停诊"}
{"at":"2026-03-03T09:20:00+08:00","type":"no_show","appointment":"A2"}
{"at":"2026-03-03T09:25:00+08:00","type":"check_in","appointment":"A1"}
{"at":"2026-03-03T09:26:00+08:00","type":"check_in","appointment":"A1"}
{"at":"2026-03-03T10:00:00+08:00","type":"complete","appointment":"A1"}
{"at":"2026-03-03T12:00:00+08:00","type":"feedback","feedback":"F1","patient":"P1","visit":"V1","doctor":"D3","score":3,"comment":"候诊太久"}
{"at":"2026-03-03T12:05:00+08:00","type":"complaint","complaint":"CM1","patient":"P2","category":"waiting_time","severity":"high","owner":"S5","comment":"叫号混乱"}
{"at":"2026-03-03T13:00:00+08:00","type":"acknowledge","complaint":"CM1"}
{"at":"2026-03-04T10:00:00+08:00","type":"resolve","complaint":"CM1","note":"已致歉并调整叫号"}
{"at":"2026-03-04T11:00:00+08:00","type":"close","complaint":"CM1"}
{"at":"2026-03-04T12:00:00+08:00","type":"reopen","complaint":"CM1","note":"仍然混乱"}
{"at":"2026-03-05T09:00:00+08:00","type":"contact_added","patient":"P1","staff":"S1","channel":"qr-001"}
{"at":"2026-03-05T09:01:00+08:00","type":"contact_added","patient":"P2","staff":"S1"}
{"at":"2026-03-05T09:02:00+08:00","type":"contact_added","patient":"P2","staff":"S4"}
{"at":"2026-03-05T09:03:00+08:00","type":"contact_added","patient":"P2","staff":"S2"}
{"at":"2026-03-05T09:04:00+08:00","type":"contact_removed","patient":"P2","staff":"S2","by":"patient"}
{"at":"2026-03-05T09:05:00+08:00","type":"group_join","patient":"P1","group":"G1"}
{"at":"2026-03-05T09:06:00+08:00","type":"group_join","patient":"P2","group":"G1"}
{"at":"2026-03-05T09:07:00+08:00","type":"group_leave","patient":"P1","group":"G1"}
{"at":"2026-03-05T10:00:00+08:00","type":"staff_left","staff":"S1","successors":["S3"]}
{"at":"2026-03-05T11:00:00+08:00","type":"book","appointment":"A4","patient":"P1","doctor":"D3","start":"2026-03-10T10:00:00+08:00"}
{"at":"2026-03-06T12:00:00+08:00","type":"expire"}
"#;

#[test]
fn each_appointment_feedback_contact_and_group_line_is_accepted() {
    let journal = format!("{CARE_HEAD}{CARE_JOURNAL}");
    let v = care_replay(&journal);
    let refused: Vec<(u64, &str, &str)> = v["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["type"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    // Line 5: A1 holds the only place at 09:00 (moved away on line 6, then A2 takes it);
    // line 12: a second check-in; line 28: the assistant has room for one of S1's two
    // patients.
    assert_eq!(
        refused,
        [
            (
                5,
                "book",
                "appointment A2: slot 2026-03-03T01:00:00Z of doctor D3 is full (1 of 1)"
            ),
            (
                12,
                "check_in",
                "appointment A1 is checked_in: cannot check in"
            ),
            (
                28,
                "staff_left",
                "patient P2: staff S3 is at capacity (1 contacts)"
            ),
        ],
        "{refused:?}"
    );
    let every: Vec<String> = CARE_JOURNAL
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].to_string())
        .collect();
    for ty in [
        "book",
        "reschedule",
        "cancel",
        "check_in",
        "no_show",
        "complete",
        "feedback",
        "complaint",
        "acknowledge",
        "resolve",
        "close",
        "reopen",
        "contact_added",
        "contact_removed",
        "staff_left",
        "group_join",
        "group_leave",
    ] {
        assert!(every.contains(&format!("{ty:?}")), "the journal lacks {ty}");
    }
}

/// Checked by hand (the answer's new members; the older ones as before):
/// - A1 (P1, first visit) was moved to 09:30 and seen; A2 (P2) took 09:00 and did not come
///   (marked 20 minutes after the start, past the 15 minutes' grace); A3 was cancelled by
///   the clinic;
/// - P1's score of 3 opened complaint 2⁶³ + 1 (owner S5); CM1 was acknowledged within the
///   4 working hours, resolved, closed and reopened, so its clocks start again from the
///   reopening on Wednesday 12:00: acknowledge by 16:00, resolve 7 days later;
/// - S1 held P1 alone and P2 beside the brand account S4 (P2 removed S2 again); S1 left and
///   only P1 fitted into S3's one place; the expiry line on Friday 12:00 comes after the
///   24-hour window, so S3 holds P1 and P2 is held by S1 (still pending nothing) and S4;
/// - P1 joined and left the group: P2 is its one member;
/// - A4 (P1, next Tuesday 10:00) keeps its two reminders open, the day before at 18:00 and
///   two hours before; A1's reminders and intake, planned for 09:00 and again for 09:30,
///   were all cancelled by the move and the visit (the `tasks` member lists every task
///   planned, the `open_tasks` of a booking only those still to do).
#[test]
fn a_small_journal_of_appointments_complaints_contacts_and_groups() {
    let v = care_replay(&format!("{CARE_HEAD}{CARE_JOURNAL}"));
    let expected = serde_json::json!({
        "appointments": [
            {"appointment": "A1", "clinic": "C1", "patient": "P1", "doctor": "D3",
             "start": "2026-03-03 09:30", "first_visit": true, "status": "completed",
             "reschedules": 1, "intake": false, "open_tasks": []},
            {"appointment": "A2", "clinic": "C1", "patient": "P2", "doctor": "D3",
             "start": "2026-03-03 09:00", "first_visit": false, "status": "no_show",
             "reschedules": 0, "intake": false, "open_tasks": []},
            {"appointment": "A3", "clinic": "C1", "patient": "P2", "doctor": "D4",
             "start": "2026-03-03 11:00", "first_visit": false, "status": "cancelled",
             "reschedules": 0, "intake": false, "open_tasks": []},
            {"appointment": "A4", "clinic": "C1", "patient": "P1", "doctor": "D3",
             "start": "2026-03-10 10:00", "first_visit": false, "status": "booked",
             "reschedules": 0, "intake": false, "open_tasks": [
                {"kind": "appointment_reminder", "due": "2026-03-09 18:00"},
                {"kind": "appointment_reminder", "due": "2026-03-10 08:00"}]}
        ],
        "feedback": {"responses": 1, "nps": -100.0, "csat": null,
                     "nps_by_doctor": [{"doctor": "D3", "responses": 1, "nps": -100.0}]},
        "groups": [{"group": "G1", "number": 1, "name": "高血压群", "members": 1,
                    "invited": 0}]
    });
    for member in ["appointments", "feedback", "groups"] {
        assert_eq!(v[member], expected[member], "{member}: {}", v[member]);
    }
    let complaints = v["complaints"].as_array().unwrap();
    assert_eq!(complaints.len(), 2);
    let cm1 = &complaints[0];
    assert_eq!(
        (
            &cm1["complaint"],
            &cm1["status"],
            &cm1["category"],
            &cm1["severity"],
            &cm1["owner"]
        ),
        (
            &Value::from("CM1"),
            &Value::from("reopened"),
            &Value::from("waiting_time"),
            &Value::from("high"),
            &Value::from("S5")
        )
    );
    assert_eq!(cm1["reopened"], 1);
    assert_eq!(cm1["acknowledge_by"], "2026-03-04 16:00");
    let auto = &complaints[1];
    assert_eq!(auto["complaint"], "CM9223372036854775809");
    assert_eq!(auto["feedback"], "F1");
    assert_eq!(auto["status"], "open");
    assert_eq!(auto["owner"], "S5");
    let contacts = &v["contacts"];
    let holders = |i: usize| -> Vec<&str> {
        contacts[i]["holders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["staff"].as_str().unwrap())
            .collect()
    };
    assert_eq!(contacts[0]["patient"], "P1");
    assert_eq!(holders(0), ["S3"]);
    assert_eq!(contacts[0]["holders"][0]["kind"], "assistant");
    assert_eq!(contacts[1]["patient"], "P2");
    assert_eq!(holders(1), ["S1", "S4"]);
    let c = &v["concentration"];
    assert_eq!(
        (&c["patients"], &c["at_risk"], &c["unheld"]),
        (&Value::from(2), &Value::from(0), &Value::from(0))
    );
    // Tasks: P1's reminders and intake, P2's no-show recovery and rebooking need care
    // consent, which P2 never gave.
    let kinds: Vec<(&str, &str)> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["patient"].as_str().unwrap(), t["kind"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("P1", "pre_visit_intake")), "{kinds:?}");
    assert!(kinds.contains(&("P1", "appointment_reminder")), "{kinds:?}");
    assert!(kinds.iter().all(|(p, _)| *p == "P1"), "{kinds:?}");
}

#[test]
fn appointment_complaint_contact_and_group_lines_twice_change_nothing() {
    let journal = format!("{CARE_HEAD}{CARE_JOURNAL}");
    let once = run_with(CARE_CONFIG, &journal);
    let twice = run_with(CARE_CONFIG, &format!("{journal}{journal}"));
    assert_eq!(once.0, 0);
    assert_eq!(once, twice);
}

#[test]
fn each_refusal_reason_of_the_new_lines() {
    let t = |at: &str, rest: &str| format!(r#"{{"at":"2026-03-02T{at}+08:00",{rest}}}"#);
    let cases: Vec<(String, &str)> = vec![
        // Appointments.
        (
            t(
                "10:00:00",
                r#""type":"book","appointment":"A9","patient":"P9","doctor":"D3","start":"2026-03-03T09:00:00+08:00""#,
            ),
            "patient P9 is not registered",
        ),
        (
            t(
                "10:00:00",
                r#""type":"book","appointment":"A9","patient":"P1","doctor":"D3","clinic":"C2","start":"2026-03-03T09:00:00+08:00""#,
            ),
            "clinic C2 has no appointment schedule",
        ),
        (
            t(
                "10:00:00",
                r#""type":"book","appointment":"A9","patient":"P1","doctor":"D3","start":"2026-03-03T13:00:00+08:00""#,
            ),
            "is not a slot of doctor D3",
        ),
        (
            t(
                "10:00:00",
                r#""type":"book","appointment":"A9","patient":"P1","doctor":"D7","start":"2026-03-03T09:00:00+08:00""#,
            ),
            "doctor D7 has no schedule",
        ),
        (
            t(
                "10:00:00",
                r#""type":"book","appointment":"A9","patient":"P1","doctor":"D3","start":"2026-03-02T09:30:00+08:00""#,
            ),
            "is in the past",
        ),
        (
            t(
                "10:00:00",
                r#""type":"book","appointment":"A1","patient":"P2","doctor":"D3","start":"2026-03-03T10:00:00+08:00""#,
            ),
            "appointment A1 already exists",
        ),
        (
            t(
                "10:00:00",
                r#""type":"book","appointment":"A9","patient":"P1","doctor":"D4","start":"2026-03-03T09:00:00+08:00""#,
            ),
            "patient P1 is already booked at that time in appointment A1",
        ),
        (
            t(
                "10:00:00",
                r#""type":"cancel","appointment":"A99","reason":"x""#,
            ),
            "appointment A99 not found",
        ),
        (
            t("10:00:00", r#""type":"no_show","appointment":"A1""#),
            "no-show only after",
        ),
        (
            t("10:00:00", r#""type":"complete","appointment":"A1""#),
            "appointment A1 is booked: cannot complete",
        ),
        // Feedback and complaints.
        (
            t(
                "10:00:00",
                r#""type":"feedback","feedback":"F1","patient":"P9","visit":"V1","doctor":"D3","score":9"#,
            ),
            "patient P9 is not registered",
        ),
        (
            t(
                "10:00:00",
                r#""type":"feedback","feedback":"F5","patient":"P2","visit":"V1","doctor":"D3","score":7"#,
            ),
            "feedback 5 was recorded before with other content",
        ),
        (
            t(
                "10:00:00",
                r#""type":"complaint","complaint":"CM5","patient":"P2","category":"price","severity":"low","owner":"S5""#,
            ),
            "complaint CM5 already exists",
        ),
        (
            t("10:00:00", r#""type":"acknowledge","complaint":"CM8""#),
            "complaint not found",
        ),
        (
            t("10:00:00", r#""type":"close","complaint":"CM5""#),
            "complaint CM5 is open: cannot close",
        ),
        // Contacts and handovers.
        (
            t(
                "10:00:00",
                r#""type":"contact_added","patient":"P1","staff":"S9""#,
            ),
            "staff S9 is not on the roster",
        ),
        (
            t(
                "10:00:00",
                r#""type":"contact_added","patient":"P9","staff":"S1""#,
            ),
            "patient P9 is not registered",
        ),
        (
            t(
                "10:00:00",
                r#""type":"contact_removed","patient":"P2","staff":"S1","by":"staff""#,
            ),
            "staff S1 does not hold patient P2",
        ),
        (
            t(
                "10:00:00",
                r#""type":"staff_left","staff":"S2","successors":["S9"]"#,
            ),
            "staff S9 is not on the roster",
        ),
        (
            t(
                "10:00:00",
                r#""type":"staff_left","staff":"S1","successors":["S3"],"mode":"on_job","patients":["P1"]"#,
            ),
            "",
        ),
        // Groups.
        (
            t(
                "10:00:00",
                r#""type":"group_join","patient":"P1","group":"G7""#,
            ),
            "group G7 is unknown",
        ),
        (
            t(
                "10:00:00",
                r#""type":"group_join","patient":"P9","group":"G1""#,
            ),
            "patient P9 is not registered",
        ),
        (
            t(
                "10:00:00",
                r#""type":"group_join","patient":"P1","group":"G1""#,
            ),
            "group G1 would hold 3 members, more than its capacity of 2",
        ),
    ];
    // P1 holds A1 on Tuesday 09:00 with D3 and is S1's contact; P2 gave feedback F5 and
    // complaint CM5 is open; G1 holds two members (P2 and a third patient, P3).
    let setup = format!(
        "{CARE_HEAD}{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        r#"{"at":"2026-03-01T09:03:00+08:00","type":"register","patient":"P3","name":"赵四","mobile":"13700137003","clinic":1,"channel":"walk_in"}"#,
        r#"{"at":"2026-03-02T09:00:00+08:00","type":"book","appointment":"A1","patient":"P1","doctor":"D3","start":"2026-03-03T09:00:00+08:00"}"#,
        r#"{"at":"2026-03-02T09:00:00+08:00","type":"feedback","feedback":"F5","patient":"P2","visit":"V1","doctor":"D3","score":9}"#,
        r#"{"at":"2026-03-02T09:00:00+08:00","type":"complaint","complaint":"CM5","patient":"P2","category":"price","severity":"low","owner":"S5"}"#,
        r#"{"at":"2026-03-02T09:00:00+08:00","type":"contact_added","patient":"P1","staff":"S1"}"#,
        r#"{"at":"2026-03-02T09:00:00+08:00","type":"group_join","patient":"P2","group":"G1"}"#,
        r#"{"at":"2026-03-02T09:00:00+08:00","type":"group_join","patient":"P3","group":"G1"}"#,
    );
    let base = setup.lines().count() as u64;
    let base_out = care_replay(&setup);
    assert_eq!(base_out["refused"], serde_json::json!([]), "{base_out}");
    for (line, reason) in cases {
        let v = care_replay(&format!("{setup}{line}\n"));
        let refused = v["refused"].as_array().unwrap();
        if reason.is_empty() {
            // An on-job transfer from a working account is not a refusal.
            assert!(refused.is_empty(), "{line}: {refused:?}");
            continue;
        }
        assert_eq!(refused.len(), 1, "{line}: {refused:?}");
        assert_eq!(refused[0]["line"], base + 1, "{line}");
        let got = refused[0]["reason"].as_str().unwrap();
        assert!(got.contains(reason), "{line}: {got}");
    }
}

#[test]
fn malformed_new_lines_are_bad_input() {
    let good = "{\"at\":\"2026-03-05T08:00:00+08:00\",\"type\":\"plan\"}\n";
    for (bad, reason) in [
        (
            r#"{"at":"2026-03-05T08:00:00+08:00","type":"book","appointment":"A1","patient":"P1","doctor":"D3"}"#,
            "line 2: missing member \"start\"",
        ),
        (
            r#"{"at":"2026-03-05T08:00:00+08:00","type":"feedback","feedback":"F1","patient":"P1","visit":"V1","doctor":"D3","score":11}"#,
            "line 2: score: ",
        ),
        (
            r#"{"at":"2026-03-05T08:00:00+08:00","type":"complaint","complaint":"CM1","patient":"P1","category":"noise","severity":"low","owner":"S1"}"#,
            "line 2: category: unknown variant `noise`",
        ),
        (
            r#"{"at":"2026-03-05T08:00:00+08:00","type":"cancel","appointment":"A1","reason":""}"#,
            "line 2: reason: ",
        ),
        (
            r#"{"at":"2026-03-05T08:00:00+08:00","type":"staff_left","staff":"S1"}"#,
            "line 2: missing member \"successors\"",
        ),
        (
            r#"{"at":"2026-03-05T08:00:00+08:00","type":"group_leave","patient":"P1","group":"X"}"#,
            "line 2: group \"X\"",
        ),
    ] {
        let (code, out, err) = run_with(CARE_CONFIG, &format!("{good}{bad}\n{good}"));
        assert_eq!(code, 2, "{bad}");
        assert!(out.is_empty(), "{bad}: {out}");
        assert!(err.starts_with(reason), "{bad}: {err}");
    }
}

#[test]
fn the_appointments_config_member_is_checked() {
    // The member is the library's `AppointmentConfig` form, read by `JourneyConfig`: its
    // refusals name the JSON path inside the member.
    for (config, needles) in [
        (
            r#"{"appointments":{"schedules":[{"clinic":1,"doctors":[{"doctor":3,"slot_minutes":30,"capacity":0,"hours":[]}]}]}}"#,
            &["appointment config schedules[0]", "doctors[0].capacity"][..],
        ),
        (r#"{"appointments":{"colour":"red"}}"#, &["colour"][..]),
        (
            r#"{"appointments":{"schedules":[{"clinic":1,"doctors":[]},{"clinic":1,"doctors":[]}]}}"#,
            &["schedules[1].clinic", "clinic C1 is scheduled twice"][..],
        ),
        (
            r#"{"appointments":{"recovery_after_hours":721}}"#,
            &["recovery_after_hours", "721"][..],
        ),
        (
            r#"{"appointments":{"no_show":{"threshold":0,"window_days":90,"requirement":{"kind":"confirmation"},"grace_minutes":15}}}"#,
            &["threshold"][..],
        ),
    ] {
        let (code, out, err) = run_with(config, CARE_HEAD);
        assert_eq!(code, 2, "{config}");
        assert!(out.is_empty());
        assert!(err.starts_with("--config: "), "{config}: {err}");
        for needle in needles {
            assert!(err.contains(needle), "{config}: {err}");
        }
    }
}

#[test]
fn the_default_config_names_a_roster_a_group_and_a_schedule() {
    // Dr Li's account (S1) alone holds P1: the whole clinic is at risk with her. The
    // default configuration schedules D1 on Tuesday mornings in half-hour slots, so the
    // 09:00 booking stands and one at 12:00 is outside her hours.
    let journal = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        JOURNAL.lines().next().unwrap(),
        r#"{"at":"2026-03-02T09:00:00+08:00","type":"contact_added","patient":"P1","staff":"S1"}"#,
        r#"{"at":"2026-03-02T09:01:00+08:00","type":"group_join","patient":"P1","group":"G1"}"#,
        r#"{"at":"2026-03-02T09:02:00+08:00","type":"book","appointment":"A1","patient":"P1","doctor":"D1","start":"2026-03-03T09:00:00+08:00"}"#,
        r#"{"at":"2026-03-02T09:03:00+08:00","type":"book","appointment":"A2","patient":"P1","doctor":"D1","start":"2026-03-03T12:00:00+08:00"}"#,
    );
    let v: Value = serde_json::from_str(&replay(&journal)).unwrap();
    assert_eq!(v["contacts"][0]["holders"][0]["kind"], "doctor");
    // In the group, P1 is no longer held by the doctor alone.
    assert_eq!(v["concentration"]["at_risk"], 0);
    assert_eq!(v["concentration"]["by_doctor"][0]["held"], 1);
    assert_eq!(v["groups"][0]["name"], "高血压群");
    assert_eq!(v["appointments"][0]["appointment"], "A1");
    assert_eq!(v["appointments"][0]["doctor"], "D1");
    assert_eq!(v["appointments"][0]["start"], "2026-03-03 09:00");
    assert_eq!(v["appointments"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["refused"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["refused"][0]["line"], 5);
    let reason = v["refused"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("is not a slot of doctor D1"), "{reason}");
}

#[test]
fn a_doctor_who_left_takes_no_new_contacts() {
    // S1 leaves (resigned, the default) on Thursday; the clinic remembers it, so P2's
    // later contact with S1 is refused though the configured roster still lists S1 as
    // working. S2 is still working and takes P2.
    let journal = format!(
        "{CARE_HEAD}{}\n{}\n{}\n{}\n",
        r#"{"at":"2026-03-05T09:00:00+08:00","type":"contact_added","patient":"P1","staff":"S1"}"#,
        r#"{"at":"2026-03-05T10:00:00+08:00","type":"staff_left","staff":"S1","successors":["S3"]}"#,
        r#"{"at":"2026-03-06T10:00:00+08:00","type":"contact_added","patient":"P2","staff":"S1"}"#,
        r#"{"at":"2026-03-06T10:01:00+08:00","type":"contact_added","patient":"P2","staff":"S2"}"#,
    );
    let v = care_replay(&journal);
    let refused = v["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["line"], 6);
    assert_eq!(refused[0]["type"], "contact_added");
    assert_eq!(refused[0]["reason"], "staff S1 has left");
    assert_eq!(v["contacts"][1]["holders"][0]["staff"], "S2");
}

#[test]
fn an_erased_patient_is_forgotten_and_gets_no_new_records() {
    // P1 leaves feedback with words, then asks to be erased; their next feedback and
    // booking are refused, P2 is untouched.
    let before = format!(
        "{CARE_HEAD}{}\n",
        r#"{"at":"2026-03-03T12:00:00+08:00","type":"feedback","feedback":"F1","patient":"P1","visit":"V1","doctor":"D3","score":3,"comment":"候诊太久"}"#,
    );
    let erased = format!(
        "{before}{}\n{}\n{}\n{}\n",
        r#"{"at":"2026-03-04T09:00:00+08:00","type":"erase","patient":"P1"}"#,
        r#"{"at":"2026-03-04T10:00:00+08:00","type":"feedback","feedback":"F2","patient":"P1","visit":"V2","doctor":"D3","score":9}"#,
        r#"{"at":"2026-03-04T10:05:00+08:00","type":"book","appointment":"A9","patient":"P1","doctor":"D3","start":"2026-03-10T09:00:00+08:00"}"#,
        r#"{"at":"2026-03-04T10:10:00+08:00","type":"book","appointment":"A8","patient":"P2","doctor":"D3","start":"2026-03-10T09:30:00+08:00"}"#,
    );
    let v = care_replay(&erased);
    let refused = v["refused"].as_array().unwrap();
    let lines: Vec<(i64, &str)> = refused
        .iter()
        .map(|r| (r["line"].as_i64().unwrap(), r["type"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, vec![(6, "feedback"), (7, "book")], "{refused:?}");
    assert_eq!(
        refused[0]["reason"],
        "patient P1 was anonymised: nothing new is recorded about them"
    );
    let again = care_replay(&erased);
    assert_eq!(again, v, "the erasure replays the same");
}
