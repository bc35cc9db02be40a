//! Reference calculator: a clinic's journal replayed through the journey layer.
//!
//! ```text
//! cargo run --release --example clinic -- --journal journal.jsonl [--config clinic.json] \
//!     [--as-of TIMESTAMP]
//! ```
//!
//! The contract is `CALCULATORS.md`, `clinic`. Every rule comes from `clinic_ops::journey`
//! (`Clinic::handle`); this file only parses lines into `ClinicEvent`s and prints the state.
//! Mappings worth naming:
//!
//! - a line without `key` is keyed by its own bytes ([`EventKey::of_content`]), so the same
//!   line twice is the same event, which the layer answers as a replay;
//! - a `key` that is a whole number is the event key itself; any other key is hashed;
//! - a visit is recorded at the patient's home clinic, and consent is captured at the
//!   `front_desk` (the journal names neither);
//! - `--config` is read as the library's `JourneyConfig` serde form, member by member the
//!   modules' own forms.
//!
//! Bad input prints `line N: reason` (or `--config: reason`) on stderr and exits with code
//! 2, with nothing on stdout.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use clinic_ops::event::RosterCommand;
use clinic_ops::id::{DoctorId, PatientId, PurchaseId, VisitId};
use clinic_ops::journey::{
    Category, Clinic, ClinicEvent, ClinicEventKind, Decision, EventKey, JourneyConfig, Purchase,
    Visit,
};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::{ConsentPurpose, Label, Registration};
use clinic_ops::referral::Reward;

#[path = "common/acquisition.rs"]
mod acquisition;
#[path = "common/clinic_lines.rs"]
mod clinic_lines;
#[path = "common/clinic_read.rs"]
mod clinic_read;

const USAGE: &str = "usage: clinic --journal FILE [--config FILE] [--as-of TIMESTAMP]";

const HELP: &str = "clinic: a clinic's journal replayed through clinic-ops' journey layer.

usage: cargo run --release --example clinic -- --journal FILE [--config FILE] [--as-of TIMESTAMP]

FLAGS:
    --journal FILE   JSON Lines journal, '-' for stdin (required)
    --config FILE    JSON object with members calendar, earn, tiers, campaigns, referral,
                     binding, care_plans, followup, content ({library:[{id, title, nature:
                     education | promotional, conditions, copy}], sequences:[{id, name,
                     trigger: manual | chronic_file_opened, condition, channel, steps:
                     [{after_days, item}]}], event_reminders}), staff ({\"accounts\":[{id, kind:
                     doctor | assistant | brand | employee, clinic, capacity, optional
                     specialty, status}]}), transfer_rules (WeCom's by default), groups
                     ([{id, name, purpose, owner, capacity, rule}]) and appointments
                     ({schedules:[..], no_show, reminders, sla, auto_complaint,
                     recovery_after_hours}) (default: examples/data/clinic.json, a TCM
                     clinic with a monthly member day for patients with marketing consent,
                     two doctors' accounts S1 and S2, an assistant S3, the brand account
                     S4, a hypertension group G1, a three-day hypertension sequence SQ1
                     (two lessons, then the member day: marketing), and clinic C1's schedule: doctor D1 in
                     30-minute slots Monday to Saturday mornings 09:00-12:00 and Monday
                     and Wednesday afternoons 14:00-17:00, doctor D2 in 15-minute slots
                     Monday, Tuesday, Thursday and Saturday 08:30-11:30 and Tuesday and
                     Thursday afternoons 14:00-17:00, one patient a slot, closed
                     2026-10-01 to 03)
    --as-of TS       Unix seconds for the referral rewards' status (default: the latest 'at')
    --help           this text

JOURNAL (one JSON object a line; every line has 'at' (RFC 3339 with offset), 'type' and an
optional 'key'; without a key the line's own bytes are its key, so a repeated line changes
nothing):
    register  patient, name, mobile, clinic, channel; optional channel_code, resident_id,
              sex, birth_date, owner
    consent   patient, purpose (care_reminder | marketing | health_data_segmentation |
              group_chat | third_party_sharing), granted (bool)
    visit     patient, visit, paid (decimal yuan); optional doctor
    purchase  patient, purchase, amount (decimal yuan); optional category, visit, points
    refund    purchase, amount
    redeem    patient, points
    refer     referrer, referee
    expire    points expiry for every account at 'at'
    plan      plans the care follow-ups of the local day of 'at'
    post      post, code (the channel code registrations carry), account (id, kind:
              doctor_ip | clinic_brand | employee | kol | koc | partner, platform, name,
              owner: {\"doctor\":n} | {\"staff\":n} | {\"clinic\":n} | {\"external\":s},
              optional terms: per_post, per_lead, revenue_share %); optional copy, topics
    event     event, kind ({\"kind\":\"lecture\",\"venue\":\"group\"|\"on_site\"} |
              {\"kind\":\"free_clinic\",\"approval\":s|null} | {\"kind\":\"member_day\"}),
              title, starts, capacity; optional invitation, clinic. Created and published
              (a free clinic without approval, or Advertising Law words, are refused)
    event_register  event, patient
    attend    event, patient
    sequence_enrol  patient, sequence (a content sequence of the config's content member);
              optional started_at (RFC 3339, default 'at'). 'plan' lines then plan one step
              a day as a follow-up task, under the item's consent (education about the
              patient's own condition is care, anything else marketing), quiet hours and
              the weekly cap
    sequence_stop   patient, sequence; optional why (staff | opted_out, default staff)
    erase     patient. Anonymised everywhere the clinic holds them (identity, follow-ups,
              intake answers, complaint words, feedback comments, purchase categories,
              contacts, groups, event seats); their later bookings, feedback, complaints
              and event seats are refused
    book      appointment, patient, doctor, start (RFC 3339); optional clinic (default the
              patient's), first_visit (bool), guarantee ({\"kind\":\"confirmed\"} |
              {\"kind\":\"deposit\",\"amount\":\"50\"}). Plans the reminders (care consent),
              the pre-visit intake of a first visit
    reschedule  appointment, start; optional doctor, clinic
    cancel    appointment, reason; optional by (patient | clinic), clinic. Cancels the
              reminders and plans the rebooking call
    check_in  appointment; optional clinic
    no_show   appointment (after the grace period); optional clinic. Plans the recovery call
    complete  appointment; optional clinic
    feedback  feedback, patient, visit, score (0-10); optional doctor (default the visit's),
              clinic, csat (1-5), comment. A low score opens a complaint when the config's
              appointments.auto_complaint says so
    complaint complaint, patient, category (waiting_time | attitude | efficacy | price |
              environment | privacy | other), severity (low | medium | high | critical),
              owner; optional clinic, doctor, visit, comment
    acknowledge  complaint
    resolve   complaint, note. Plans the service-recovery call
    close     complaint
    reopen    complaint, note
    contact_added    patient, staff; optional channel (the channel code)
    contact_removed  patient, staff; optional by (patient | staff)
    staff_left  staff, successors ([staff ids] | \"same_clinic\" | \"same_specialty\");
              optional mode (resigned | on_job), patients (default all the staff holds),
              notice. Each patient not transferred is listed in 'refused'; a staff
              member who resigned takes no contact or transfer afterwards
    group_join   patient, group; optional number (default 1)
    group_leave  patient, group; optional number, by (patient | owner)

EXAMPLE LINE:
    {\"at\":\"2026-03-08T15:00:00+08:00\",\"type\":\"purchase\",\"patient\":\"P1\",\"purchase\":\"O1\",\"amount\":\"300.00\"}

OUTPUT (JSON on stdout):
    {\"patients\":[{\"patient\":\"P1\",\"balance\":n,\"pending\":n,\"tier\":s|null,
                  \"lots\":[{\"points\":n,\"expires\":\"YYYY-MM-DD\"|null}]}],
     \"effects\":[{\"line\":n,\"patient\":\"P1\",\"campaign\":id,\"effect\":{..}}],
     \"referral_rewards\":[{\"referrer\":\"P1\",\"referee\":\"P2\",\"status\":s,\"points\":n}],
     \"tasks\":[{\"patient\":\"P2\",\"kind\":s,\"due\":\"YYYY-MM-DD\",\"reason\":s}],
     \"refused\":[{\"line\":n,\"type\":s,\"reason\":s}]}
    With posts, also \"acquisition\": per account and per post (first touch, 90 days of
    revenue): leads, converted, paying, retained, revenue, cost, cost_per_lead,
    cost_per_paying_patient, roi (and payout, paid_for_itself per account). With events,
    also \"events\": seats, attendance and conversion within 30 days. With sequence lines,
    also \"sequences\": [{sequence, name, enrolled, active, completed, stopped: {reason: n},
    steps_planned, sent (steps due by --as-of), waiting_for_consent (active enrolments
    whose next step waits for a consent, at --as-of)}].
    With bookings, also \"appointments\": [{appointment, clinic, patient, doctor, start
    (local), first_visit, status, reschedules, intake, open_tasks: [{kind, due}]}] (the
    booking's reminder, intake and recovery tasks not cancelled); with complaints, \"complaints\":
    [{complaint, patient, clinic, category, severity, owner, feedback, status, opened,
    acknowledge_by, resolve_by, acknowledged, resolved, breached (the clocks run out by
    --as-of), reopened}]; with feedback, \"feedback\": {responses, nps, csat,
    nps_by_doctor}. With contacts, \"contacts\": [{patient, holders: [{staff, kind,
    since}], pending}] as of --as-of, and \"concentration\": {patients, unheld, at_risk,
    index, by_doctor: [{doctor, held, sole, at_risk_if_leaves, share_of_patients,
    share_of_revenue}]}; with group members, \"groups\": [{group, number, name, members,
    invited}].
    A line the library refuses is listed in 'refused' and the replay goes on.

Bad input (not JSON, an unknown type, a missing or malformed member) prints 'line N: reason'
to stderr and exits with code 2, with nothing on stdout.";

/// The default configuration, compiled in so the example runs from any directory.
pub(crate) const DEFAULT_CONFIG: &str = include_str!("data/clinic.json");

/// The parsed command line.
pub(crate) struct Args {
    pub(crate) journal: String,
    pub(crate) config: Option<String>,
    pub(crate) as_of: Option<DateTime<Utc>>,
}

/// Parses the flags (without the program name); `Ok(None)` for `--help`.
pub(crate) fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let (mut journal, mut config, mut as_of) = (None, None, None);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if !matches!(flag.as_str(), "--journal" | "--config" | "--as-of") {
            return Err(format!("unknown flag {flag:?}\n{USAGE}"));
        }
        let value = it
            .next()
            .ok_or_else(|| format!("flag {flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--journal" => journal = Some(value),
            "--config" => config = Some(value),
            _ => {
                let secs: i64 = value.trim().parse().map_err(|_| {
                    format!("--as-of {value:?} is not an integer number of seconds\n{USAGE}")
                })?;
                as_of = Some(
                    DateTime::from_timestamp(secs, 0)
                        .ok_or_else(|| format!("--as-of {secs} is out of range\n{USAGE}"))?,
                );
            }
        }
    }
    Ok(Some(Args {
        journal: journal.ok_or_else(|| format!("--journal is required\n{USAGE}"))?,
        config,
        as_of,
    }))
}

/// Reads the configuration: [`JourneyConfig`]'s own serde form, validated as it is read
/// (its `appointments` member is the library's `AppointmentConfig` form).
pub(crate) fn load_config(text: &str) -> Result<JourneyConfig, String> {
    serde_json::from_str(text).map_err(|e| format!("--config: {e}"))
}

/// One journal line's members, read with the line's number for the error.
struct Line<'a> {
    n: usize,
    obj: &'a Map<String, Value>,
}

impl Line<'_> {
    fn err(&self, reason: impl std::fmt::Display) -> String {
        format!("line {}: {reason}", self.n)
    }

    fn get(&self, name: &str) -> Result<&Value, String> {
        match self.obj.get(name) {
            Some(Value::Null) | None => Err(self.err(format_args!("missing member {name:?}"))),
            Some(v) => Ok(v),
        }
    }

    fn opt(&self, name: &str) -> Option<&Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    /// A text member; a number is taken as its decimal text (ids, amounts).
    fn text_of(&self, name: &str, v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(self.err(format_args!("{name} is not a string"))),
        }
    }

    fn text(&self, name: &str) -> Result<String, String> {
        self.text_of(name, self.get(name)?)
    }

    fn parsed<T: std::str::FromStr>(&self, name: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        let s = self.text(name)?;
        s.parse()
            .map_err(|e| self.err(format_args!("{name} {s:?}: {e}")))
    }

    fn yuan(&self, name: &str) -> Result<Yuan, String> {
        let s = self.text(name)?;
        Yuan::parse(&s).map_err(|e| self.err(format_args!("{name} {s:?}: {e}")))
    }

    fn points(&self, v: &Value, name: &str) -> Result<Points, String> {
        v.as_i64()
            .map(Points::new)
            .ok_or_else(|| self.err(format_args!("{name} is not a whole number of points")))
    }
}

/// Parses one journal line into the event it records, and its type.
pub(crate) fn event(
    n: usize,
    raw: &str,
    clinic: &Clinic,
    config: &JourneyConfig,
) -> Result<(ClinicEvent, String), String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("line {n}: not JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| format!("line {n}: not a JSON object"))?;
    let l = Line { n, obj };
    let ty = match l.get("type")? {
        Value::String(s) => s.clone(),
        _ => return Err(l.err("type is not a string")),
    };
    let at_text = l.text("at")?;
    let at = DateTime::parse_from_rfc3339(&at_text)
        .map_err(|e| l.err(format_args!("at {at_text:?}: {e}")))?
        .with_timezone(&Utc);
    let key = match l.opt("key") {
        None => EventKey::of_content(raw.trim().as_bytes()),
        Some(Value::Number(k)) if let Some(k) = k.as_u64() => EventKey::new(k),
        Some(k) => EventKey::of_content(l.text_of("key", k)?.as_bytes()),
    };
    let kind = match ty.as_str() {
        "register" => {
            let patient: PatientId = l.parsed("patient")?;
            // The library's own serde form of a registration, so it is validated as stored
            // registrations are.
            let mut r = Map::new();
            for (from, to) in [
                ("name", "name"),
                ("mobile", "mobile"),
                ("clinic", "home_clinic"),
                ("channel", "channel"),
            ] {
                r.insert(to.into(), l.get(from)?.clone());
            }
            for m in ["channel_code", "resident_id", "sex", "birth_date", "owner"] {
                r.insert(m.into(), l.opt(m).cloned().unwrap_or(Value::Null));
            }
            r.insert("external_id".into(), Value::Null);
            for id in ["home_clinic", "owner"] {
                // `C1`/`S7` as well as bare numbers.
                if let Some(Value::String(s)) = r.get(id) {
                    let digits = s.trim_start_matches(['C', 'S']);
                    let v = digits
                        .parse::<u64>()
                        .map_err(|_| l.err(format_args!("{id} {s:?} is not an id")))?;
                    r.insert(id.into(), Value::from(v));
                }
            }
            let registration: Registration = serde_json::from_value(Value::Object(r))
                .map_err(|e| l.err(format_args!("register: {e}")))?;
            ClinicEventKind::Register {
                patient,
                registration: Box::new(registration),
            }
        }
        "consent" => {
            let purpose: ConsentPurpose = serde_json::from_value(l.get("purpose")?.clone())
                .map_err(|e| l.err(format_args!("purpose: {e}")))?;
            let granted = l
                .get("granted")?
                .as_bool()
                .ok_or_else(|| l.err("granted is not true or false"))?;
            ClinicEventKind::Consent {
                patient: l.parsed("patient")?,
                purpose,
                granted,
                source: Label::parse("front_desk").map_err(|e| l.err(e))?,
            }
        }
        "visit" => {
            let patient: PatientId = l.parsed("patient")?;
            let doctor = match l.opt("doctor") {
                Some(d) => {
                    let s = l.text_of("doctor", d)?;
                    Some(
                        s.parse::<DoctorId>()
                            .map_err(|e| l.err(format_args!("doctor {s:?}: {e}")))?,
                    )
                }
                None => None,
            };
            ClinicEventKind::Visit(Visit {
                id: l.parsed::<VisitId>("visit")?,
                patient,
                at,
                // An unknown patient is refused by the layer; its clinic does not matter.
                clinic: clinic
                    .patient(patient)
                    .map_or_else(|| clinic_ops::id::ClinicId::new(0), |p| p.home_clinic()),
                doctor,
                paid: l.yuan("paid")?,
                refunded_at: None,
            })
        }
        "purchase" => {
            let category = match l.opt("category") {
                Some(c) => {
                    let s = l.text_of("category", c)?;
                    Some(Category::parse(&s).map_err(|e| l.err(format_args!("category: {e}")))?)
                }
                None => None,
            };
            let visit = match l.opt("visit") {
                Some(v) => {
                    let s = l.text_of("visit", v)?;
                    Some(
                        s.parse::<VisitId>()
                            .map_err(|e| l.err(format_args!("visit {s:?}: {e}")))?,
                    )
                }
                None => None,
            };
            let points = match l.opt("points") {
                Some(p) => l.points(p, "points")?,
                None => Points::ZERO,
            };
            ClinicEventKind::Purchase {
                purchase: Purchase {
                    id: l.parsed::<PurchaseId>("purchase")?,
                    patient: l.parsed("patient")?,
                    at,
                    amount: l.yuan("amount")?,
                    category,
                    days_supply: None,
                },
                visit,
                points,
            }
        }
        "refund" => ClinicEventKind::Refund {
            purchase: l.parsed("purchase")?,
            amount: l.yuan("amount")?,
        },
        "redeem" => ClinicEventKind::Redeem {
            patient: l.parsed("patient")?,
            points: l.points(l.get("points")?, "points")?,
        },
        "refer" => ClinicEventKind::Refer {
            referrer: l.parsed("referrer")?,
            referee: l.parsed("referee")?,
        },
        "expire" => ClinicEventKind::Expire,
        "plan" => ClinicEventKind::Plan,
        "event" => ClinicEventKind::Outreach {
            event: l.parsed("event")?,
            command: acquisition::event_definition(obj).map_err(|e| l.err(e))?,
        },
        "event_register" => ClinicEventKind::Outreach {
            event: l.parsed("event")?,
            command: RosterCommand::Register {
                patient: l.parsed("patient")?,
            },
        },
        "attend" => ClinicEventKind::Outreach {
            event: l.parsed("event")?,
            command: RosterCommand::Attend {
                patient: l.parsed("patient")?,
            },
        },
        "sequence_enrol" | "sequence_stop" => {
            acquisition::sequence_line(&ty, obj, at).map_err(|e| l.err(e))?
        }
        "erase" => ClinicEventKind::Erase {
            patient: l.parsed("patient")?,
        },
        other => match clinic_lines::event_kind(other, obj, at, clinic, config) {
            Some(kind) => kind.map_err(|e| l.err(e))?,
            None => return Err(l.err(format_args!("unknown type {other:?}"))),
        },
    };
    Ok((ClinicEvent { key, at, kind }, ty))
}

/// A line the library refused: `{"line", "reason", "type"}`.
#[derive(Serialize)]
struct Refused {
    line: usize,
    reason: String,
    #[serde(rename = "type")]
    ty: String,
}

/// A campaign effect a line applied: `{"campaign", "effect", "line", "patient"}` (the
/// campaign and effect through `Value`, whose objects print their members in name order).
#[derive(Serialize)]
struct EffectRow {
    campaign: Value,
    effect: Value,
    line: usize,
    patient: String,
}

/// One patient's points: `{"balance", "lots", "patient", "pending", "tier"}`.
#[derive(Serialize)]
struct PatientRow {
    balance: i64,
    lots: Vec<LotRow>,
    patient: String,
    pending: i64,
    tier: Option<String>,
}

#[derive(Serialize)]
struct LotRow {
    expires: Option<String>,
    points: i64,
}

#[derive(Serialize)]
struct RewardRow {
    points: i64,
    referee: String,
    referrer: String,
    status: &'static str,
}

#[derive(Serialize)]
struct TaskRow {
    due: String,
    kind: &'static str,
    patient: String,
    reason: String,
}

/// One member of the answer.
enum Member {
    Value(Value),
    Patients(Vec<PatientRow>),
    Effects(Vec<EffectRow>),
    Rewards(Vec<RewardRow>),
    Tasks(Vec<TaskRow>),
    Refused(Vec<Refused>),
}

impl Serialize for Member {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Member::Value(v) => v.serialize(s),
            Member::Patients(v) => v.serialize(s),
            Member::Effects(v) => v.serialize(s),
            Member::Rewards(v) => v.serialize(s),
            Member::Tasks(v) => v.serialize(s),
            Member::Refused(v) => v.serialize(s),
        }
    }
}

/// The contract's JSON answer: its members in name order, as a JSON object prints them,
/// with the long lists as rows written straight out (no `Value` per row to build and drop).
pub(crate) struct Answer(BTreeMap<String, Member>);

impl Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

/// A journal line as the reading thread hands it to the replay.
enum Read<'a> {
    /// A line the fast reader ([`clinic_read::event`]) read, with its number and type.
    Event(usize, clinic_read::ReadAhead, String),
    /// A line left to the replay, with its number: one that may be a post, or one the fast
    /// reader leaves to the general reader, whose errors and line numbers the answer keeps.
    Raw(usize, &'a str),
}

/// Lines per hand-over from the reading thread to the replay: enough that the channel costs
/// little per line, few enough that the replay starts at once.
const BATCH: usize = 512;

/// Whether a line could be a post: only one that spells `post`, or escapes a character
/// (which could spell it). The rest skip a second JSON parse of the line.
fn maybe_post(raw: &str) -> bool {
    raw.contains("post") || raw.contains('\\')
}

/// The reading thread: reads the journal's lines in order and hands them over in batches,
/// so that JSON reading, a quarter of the work, runs beside the replay. It stops when the
/// replay has stopped (bad input), as the channel is then closed.
fn read_journal<'a>(journal: &'a str, to_replay: &SyncSender<Vec<Read<'a>>>) {
    let mut batch = Vec::with_capacity(BATCH);
    for (i, raw) in journal.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let read = if maybe_post(raw) {
            None
        } else {
            clinic_read::event(raw)
        };
        batch.push(match read {
            Some((e, ty)) => Read::Event(i + 1, e, ty),
            None => Read::Raw(i + 1, raw),
        });
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if to_replay.send(full).is_err() {
                return;
            }
        }
    }
    if !batch.is_empty() {
        // A closed channel here means the replay stopped already; nothing is left to do.
        let _ = to_replay.send(batch);
    }
}

/// Replays a journal and answers the contract's JSON, or `line N: reason` for bad input.
///
/// The journal is read on a second thread, in order, while this one replays it: the answer
/// is the same as reading and replaying line by line, as every line is replayed in the
/// journal's order and the one clinic state is touched only here.
pub(crate) fn replay(
    config: &JourneyConfig,
    journal: &str,
    as_of: Option<DateTime<Utc>>,
) -> Result<Answer, String> {
    std::thread::scope(|s| {
        let (to_replay, lines) = sync_channel(16);
        s.spawn(move || read_journal(journal, &to_replay));
        // `lines` is dropped when the replay returns, early or not, which stops the reader.
        replay_lines(config, lines, as_of)
    })
}

/// The replay of [`replay`]: every line through the journey layer, then the answer.
fn replay_lines(
    config: &JourneyConfig,
    lines: Receiver<Vec<Read<'_>>>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Answer, String> {
    let mut clinic = Clinic::new();
    let (mut effects, mut refused) = (Vec::new(), Vec::new());
    let mut latest: Option<DateTime<Utc>> = None;
    let mut content = acquisition::Content::default();
    let mut outreach = Vec::new();
    let mut sequences = false;
    for read in lines.iter().flatten() {
        let (n, e, ty) = match read {
            Read::Event(n, e, ty) => (n, e.at_home_clinic(&clinic), ty),
            Read::Raw(n, raw) => {
                // A line that may be a post was not read ahead: a post first, else the fast
                // reader. Any other line here is one the fast reader already left to the
                // general reader, which reads it with its errors.
                let fast = if maybe_post(raw) {
                    match post_line(n, raw, &mut content)? {
                        PostLine::NotPost => clinic_read::event(raw),
                        PostLine::Accepted => continue,
                        PostLine::Refused(reason) => {
                            refused.push(Refused {
                                line: n,
                                reason,
                                ty: "post".into(),
                            });
                            continue;
                        }
                    }
                } else {
                    None
                };
                let (e, ty) = match fast {
                    Some((e, ty)) => (e.at_home_clinic(&clinic), ty),
                    None => event(n, raw, &clinic, config)?,
                };
                (n, e, ty)
            }
        };
        latest = Some(latest.map_or(e.at, |l| l.max(e.at)));
        sequences |= matches!(e.kind, ClinicEventKind::Sequence { .. });
        let created = match &e.kind {
            ClinicEventKind::Outreach {
                event,
                command: RosterCommand::Create(_),
            } => Some(*event),
            _ => None,
        };
        let handled = clinic.handle(config, &e);
        if let (Some(id), Ok(Decision::New(_))) = (created, &handled) {
            // An `event` line also publishes it, under a key derived from the line's.
            let publish = ClinicEvent {
                key: EventKey::of_content(format!("{}/publish", e.key.get()).as_bytes()),
                at: e.at,
                kind: ClinicEventKind::Outreach {
                    event: id,
                    command: RosterCommand::Publish,
                },
            };
            if let Err(err) = clinic.handle(config, &publish) {
                refused.push(Refused {
                    line: n,
                    reason: err.to_string(),
                    ty: ty.clone(),
                });
            }
            outreach.push(id);
        }
        match handled {
            Ok(Decision::New(step)) => {
                for a in &step.effects {
                    effects.push(EffectRow {
                        campaign: json!(a.campaign),
                        effect: json!(a.effect),
                        line: n,
                        patient: a.patient.to_string(),
                    });
                }
                for reason in clinic_lines::partial_refusals(&step) {
                    refused.push(Refused {
                        line: n,
                        reason,
                        ty: ty.clone(),
                    });
                }
            }
            // A replay: the first occurrence already answered.
            Ok(_) => {}
            Err(err) => refused.push(Refused {
                line: n,
                reason: err.to_string(),
                ty,
            }),
        }
    }
    let cal = config.calendar;
    let patients: Vec<PatientRow> = clinic
        .patients()
        .map(|p| {
            let a = clinic.account(p.id());
            PatientRow {
                patient: p.id().to_string(),
                balance: a.map_or(0, |a| a.balance().get()),
                pending: a.map_or(0, |a| {
                    a.pending().iter().map(|l| l.points().get()).sum::<i64>()
                }),
                tier: a.and_then(|a| a.tier()).map(ToString::to_string),
                lots: a.map_or_else(Vec::new, |a| {
                    a.lots()
                        .iter()
                        .map(|l| LotRow {
                            points: l.remaining().get(),
                            expires: l.expires().map(|t| cal.local_date(t).to_string()),
                        })
                        .collect()
                }),
            }
        })
        .collect();
    let as_of = as_of.or(latest).unwrap_or(DateTime::UNIX_EPOCH);
    let rewards: Vec<RewardRow> = clinic
        .rewards(config, as_of)
        .iter()
        .map(|d| RewardRow {
            referrer: d.referrer.to_string(),
            referee: d.referee.to_string(),
            status: d.status.code(),
            points: match d.reward {
                Reward::Points(p) => p.get(),
                _ => 0,
            },
        })
        .collect();
    let tasks: Vec<TaskRow> = clinic
        .tasks()
        .map(|t| TaskRow {
            patient: t.patient.to_string(),
            kind: t.kind.code(),
            due: t.due_on.to_string(),
            reason: t.reason.to_string(),
        })
        .collect();
    // The members of issue 20 appear only for journals that use them, so older journals'
    // answers stay byte-identical.
    let mut m = Map::new();
    if !content.is_empty() {
        m.insert("acquisition".into(), content.acquisition(&clinic)?);
    }
    if !outreach.is_empty() {
        m.insert("events".into(), acquisition::events(&clinic, &outreach));
    }
    if sequences || clinic.enrolments().next().is_some() {
        m.insert(
            "sequences".into(),
            acquisition::sequences(&clinic, config, as_of),
        );
    }
    clinic_lines::insert_members(&mut m, &clinic, config, as_of);
    let mut out: BTreeMap<String, Member> =
        m.into_iter().map(|(k, v)| (k, Member::Value(v))).collect();
    out.insert("patients".into(), Member::Patients(patients));
    out.insert("effects".into(), Member::Effects(effects));
    out.insert("referral_rewards".into(), Member::Rewards(rewards));
    out.insert("tasks".into(), Member::Tasks(tasks));
    out.insert("refused".into(), Member::Refused(refused));
    Ok(Answer(out))
}

/// What [`post_line`] did with a line.
enum PostLine {
    /// Not a `post` line: the journey layer takes it.
    NotPost,
    /// A post, recorded.
    Accepted,
    /// A post the library refused, and why.
    Refused(String),
}

/// Handles a `post` line (posts are content, not clinic events); `Err` for bad input.
fn post_line(n: usize, raw: &str, content: &mut acquisition::Content) -> Result<PostLine, String> {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(raw) else {
        return Ok(PostLine::NotPost);
    };
    if obj.get("type").and_then(Value::as_str) != Some("post") {
        return Ok(PostLine::NotPost);
    }
    let at_text = match obj.get("at") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(format!("line {n}: missing at")),
    };
    let at = DateTime::parse_from_rfc3339(&at_text)
        .map_err(|e| format!("line {n}: at {at_text:?}: {e}"))?
        .with_timezone(&Utc);
    match content.post_line(&obj, at) {
        Ok(()) => Ok(PostLine::Accepted),
        Err(Ok(refusal)) => Ok(PostLine::Refused(refusal)),
        Err(Err(bad)) => Err(format!("line {n}: {bad}")),
    }
}

/// The whole program with its reads passed in: exit code, stdout and stderr.
pub(crate) fn cli(
    args: impl Iterator<Item = String>,
    read: impl Fn(&str) -> Result<String, String>,
) -> (u8, String, String) {
    let args = match parse_args(args) {
        Ok(Some(a)) => a,
        Ok(None) => return (0, format!("{HELP}\n"), String::new()),
        Err(e) => return (2, String::new(), format!("{e}\n")),
    };
    let config_text = match &args.config {
        Some(path) => match read(path) {
            Ok(t) => t,
            Err(e) => return (2, String::new(), format!("{e}\n")),
        },
        None => DEFAULT_CONFIG.to_owned(),
    };
    let answer = load_config(&config_text).and_then(|config| {
        let journal = read(&args.journal)?;
        replay(&config, &journal, args.as_of)
    });
    match answer.and_then(|v| serde_json::to_string_pretty(&v).map_err(|e| e.to_string())) {
        Ok(out) => (0, format!("{out}\n"), String::new()),
        Err(e) => (2, String::new(), format!("{e}\n")),
    }
}

fn read_file(path: &str) -> Result<String, String> {
    let bytes = if path == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).map(|_| b)
    } else {
        std::fs::read(path)
    }
    .map_err(|e| format!("{path}: cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e
            .as_bytes()
            .iter()
            .take(valid)
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        format!("line {line}: not UTF-8")
    })
}

fn main() -> ExitCode {
    let (code, out, err) = cli(std::env::args().skip(1), read_file);
    print!("{out}");
    eprint!("{err}");
    ExitCode::from(code)
}
