//! The `clinic` calculator's content and events (issue 20): posts, outreach events, content
//! sequences, and the `acquisition`, `events` and `sequences` output members.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use clinic_ops::campaign::AdLawWords;
use clinic_ops::content::{
    AcquisitionColumns, AcquisitionCounts, AcquisitionSpec, AcquisitionState, ContentAccount,
    EnrolmentCommand, EnrolmentStatus, NextStep, Post, PostBook, SequenceContext, StopReason,
    TouchRule, acquisition_report, next_step,
};
use clinic_ops::event::{OutreachEvent, OutreachEventKind, RosterCommand, event_conversion};
use clinic_ops::followup::FollowUpHistory;
use clinic_ops::id::{AccountId, ClinicId, OutreachEventId, PatientId, PostId, SequenceId};
use clinic_ops::journey::{Clinic, ClinicEventKind, JourneyConfig};
use clinic_ops::metrics::event::{JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::ConversionWindow;
use clinic_ops::text::Label;

/// Days after an event whose paid visits count as its conversion, and after a touch whose
/// revenue counts for a post.
pub(crate) const EVENT_DAYS: u32 = 30;
pub(crate) const REVENUE_DAYS: u16 = 90;

fn text(obj: &Map<String, Value>, name: &str) -> Result<String, String> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(format!("{name} is not a string")),
        None => Err(format!("missing {name}")),
    }
}

fn parsed<T: std::str::FromStr>(obj: &Map<String, Value>, name: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let s = text(obj, name)?;
    s.parse().map_err(|e| format!("{name} {s:?}: {e}"))
}

/// The posts and accounts of a journal.
#[derive(Default)]
pub(crate) struct Content {
    accounts: BTreeMap<AccountId, ContentAccount>,
    posts: BTreeMap<PostId, Post>,
    codes: BTreeMap<Label, PostId>,
}

impl Content {
    /// Whether the journal had any post.
    pub(crate) fn is_empty(&self) -> bool {
        self.posts.is_empty()
    }

    /// A `post` line: `Err(Err(reason))` for bad input (exit 2), `Err(Ok(reason))` for a
    /// refusal (an account redefined differently, a code in use, a post id reused).
    pub(crate) fn post_line(
        &mut self,
        obj: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<(), Result<String, String>> {
        let id: PostId = parsed(obj, "post").map_err(Err)?;
        let code = Label::parse(&text(obj, "code").map_err(Err)?)
            .map_err(|e| Err(format!("code: {e}")))?;
        let copy = text(obj, "copy").unwrap_or_default();
        let topics = match obj.get("topics") {
            None => Vec::new(),
            Some(v) => serde_json::from_value::<Vec<Label>>(v.clone())
                .map_err(|e| Err(format!("topics: {e}")))?,
        };
        let mut raw = obj
            .get("account")
            .cloned()
            .ok_or_else(|| Err("missing account".to_owned()))?;
        if let Some(m) = raw.as_object_mut() {
            m.entry("terms").or_insert_with(|| json!({}));
        }
        let account: ContentAccount =
            serde_json::from_value(raw).map_err(|e| Ok(format!("account: {e}")))?;
        if let Some(known) = self.accounts.get(&account.id()).filter(|k| **k != account) {
            return Err(Ok(format!(
                "account {} is already defined otherwise",
                known.id()
            )));
        }
        let post = Post::new(
            id,
            account.id(),
            at,
            code,
            topics,
            &copy,
            &AdLawWords::default(),
        )
        .map_err(|e| Ok(e.to_string()))?;
        if self.posts.contains_key(&id) {
            return Err(Ok(format!("post {id} is already in the journal")));
        }
        if let Some(holder) = self.codes.get(post.code()) {
            return Err(Ok(format!(
                "post {id} channel code {} is already used by post {holder}",
                post.code()
            )));
        }
        self.accounts.insert(account.id(), account);
        self.codes.insert(post.code().clone(), id);
        self.posts.insert(id, post);
        Ok(())
    }

    /// The `acquisition` member, by first touch ([`acquisition_state`]).
    pub(crate) fn acquisition(&self, clinic: &Clinic) -> Result<Value, String> {
        let book = PostBook::new(
            self.accounts.values().cloned().collect(),
            self.posts.values().cloned().collect(),
        )
        .map_err(|e| e.to_string())?;
        let state = acquisition_state(&book, clinic, TouchRule::FirstTouch)?;
        let rule = TouchRule::FirstTouch;
        let report = acquisition_report(&book, rule, &state).map_err(|e| e.to_string())?;
        let by_account: Vec<Value> = report
            .by_account
            .iter()
            .map(|a| {
                let mut v = counts(&a.counts);
                v.insert("account".into(), json!(a.account.to_string()));
                v.insert("kind".into(), json!(a.kind));
                v.insert("platform".into(), json!(a.platform));
                v.insert("name".into(), json!(a.name));
                v.insert("posts".into(), json!(a.posts));
                v.insert("payout".into(), json!(a.payout.map(|y| y.to_string())));
                v.insert("paid_for_itself".into(), json!(a.paid_for_itself()));
                Value::Object(v)
            })
            .collect();
        let by_post: Vec<Value> = report
            .by_post
            .iter()
            .map(|p| {
                let mut v = counts(&p.counts);
                v.insert("post".into(), json!(p.post.to_string()));
                v.insert("account".into(), json!(p.account.to_string()));
                v.insert("code".into(), json!(p.label));
                let findings = book.post(p.code).map_or_else(Vec::new, |post| {
                    post.findings().iter().map(|f| json!(f.word)).collect()
                });
                v.insert("ad_law_findings".into(), Value::Array(findings));
                Value::Object(v)
            })
            .collect();
        Ok(json!({
            "rule": report.rule,
            "revenue_days": REVENUE_DAYS,
            "by_account": by_account,
            "by_post": by_post,
            "unattributed_leads": report.unattributed_leads,
        }))
    }
}

/// Attributes a clinic's patients to the book's posts: every registration is a lead and a
/// conversion through the post whose code it carries, every purchase a paid visit with its
/// amount, every visit after a patient's first a return; a year's funnel window and
/// [`REVENUE_DAYS`] of revenue.
pub(crate) fn acquisition_state(
    book: &PostBook,
    clinic: &Clinic,
    rule: TouchRule,
) -> Result<AcquisitionState, String> {
    let index: BTreeMap<PatientId, u32> = clinic
        .patients()
        .enumerate()
        .map(|(i, p)| (p.id(), i as u32))
        .collect();
    let mut cols = Columns::default();
    for p in clinic.patients() {
        let i = index[&p.id()];
        let code = p
            .channel_code()
            .and_then(|c| book.code_of(c))
            .map_or(0, |c| c.get());
        let t = p.registered_at().timestamp();
        cols.push(i, JourneyStage::Lead, t, code, 0);
        cols.push(i, JourneyStage::Converted, t, 0, 0);
    }
    for e in clinic.purchases() {
        if let Some(&i) = index.get(&e.purchase.patient) {
            let fen = e.purchase.amount.to_fen();
            cols.push(
                i,
                JourneyStage::Purchased,
                e.purchase.at.timestamp(),
                0,
                fen,
            );
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut visits: Vec<_> = clinic.visits().iter().collect();
    visits.sort_by_key(|v| (v.at, v.id));
    for v in visits {
        if let Some(&i) = index.get(&v.patient).filter(|_| !seen.insert(v.patient)) {
            cols.push(i, JourneyStage::Revisited, v.at.timestamp(), 0, 0);
        }
    }
    let spec = AcquisitionSpec::new(
        rule,
        ConversionWindow::days(365).map_err(|e| e.to_string())?,
        REVENUE_DAYS,
    )
    .map_err(|e| e.to_string())?;
    let view = AcquisitionColumns {
        patient_count: index.len() as u32,
        patient: &cols.patient,
        kind: &cols.kind,
        at: &cols.at,
        post: &cols.post,
        amount_fen: &cols.fen,
    };
    spec.compute(&view, book.max_code(), 1)
        .map_err(|e| e.to_string())
}

fn counts(c: &AcquisitionCounts) -> Map<String, Value> {
    let e = c.economics();
    let mut m = Map::new();
    m.insert("leads".into(), json!(c.leads));
    m.insert("converted".into(), json!(c.converted));
    m.insert("paying".into(), json!(c.paying));
    m.insert("retained".into(), json!(c.retained));
    m.insert("revenue".into(), json!(c.revenue.to_string()));
    m.insert("cost".into(), json!(c.cost.to_string()));
    m.insert(
        "cost_per_lead".into(),
        json!(c.cost_per_lead().map(|y| y.to_string())),
    );
    m.insert(
        "cost_per_paying_patient".into(),
        json!(e.cac.map(|y| y.to_string())),
    );
    m.insert("roi".into(), json!(e.roi.map(|r| r.to_string())));
    m
}

#[derive(Default)]
struct Columns {
    patient: Vec<u32>,
    kind: Vec<u32>,
    at: Vec<i64>,
    post: Vec<u32>,
    fen: Vec<u64>,
}

impl Columns {
    fn push(&mut self, p: u32, stage: JourneyStage, at: i64, post: u32, fen: u64) {
        self.patient.push(p);
        self.kind.push(JourneyEventKind::stage(stage).code());
        self.at.push(at);
        self.post.push(post);
        self.fen.push(fen);
    }
}

/// An `event` line's definition: `event`, `kind` ({"kind":"lecture","venue":"group"},
/// {"kind":"free_clinic","approval":"…"|null}, {"kind":"member_day"}), `title`, `starts`
/// (RFC 3339), `capacity`, optional `invitation`.
pub(crate) fn event_definition(obj: &Map<String, Value>) -> Result<RosterCommand, String> {
    let id: OutreachEventId = parsed(obj, "event")?;
    let kind: OutreachEventKind =
        serde_json::from_value(obj.get("kind").cloned().ok_or("missing kind")?)
            .map_err(|e| format!("kind: {e}"))?;
    let title = Label::parse(&text(obj, "title")?).map_err(|e| format!("title: {e}"))?;
    let starts_text = text(obj, "starts")?;
    let starts = DateTime::parse_from_rfc3339(&starts_text)
        .map_err(|e| format!("starts {starts_text:?}: {e}"))?
        .with_timezone(&Utc);
    let capacity = obj
        .get("capacity")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .ok_or("capacity is not a whole number")?;
    let clinic = match obj.get("clinic") {
        Some(_) => parsed::<ClinicId>(obj, "clinic")?,
        None => ClinicId::new(1),
    };
    let invitation = text(obj, "invitation").unwrap_or_default();
    let event = OutreachEvent::new(id, clinic, kind, title, starts, capacity)
        .and_then(|e| e.with_invitation(&invitation, &AdLawWords::default()))
        .map_err(|e| e.to_string())?;
    Ok(RosterCommand::Create(event))
}

/// The `events` member: every outreach event with its seats, attendance and conversion
/// (attendees and registered no-shows with a purchase within 30 days of the start).
pub(crate) fn events(clinic: &Clinic, ids: &[OutreachEventId]) -> Value {
    let paid: Vec<(PatientId, DateTime<Utc>)> = clinic
        .purchases()
        .map(|e| (e.purchase.patient, e.purchase.at))
        .collect();
    let out: Vec<Value> = ids
        .iter()
        .filter_map(|id| clinic.roster(*id))
        .map(|r| {
            let c = event_conversion(r, &paid, EVENT_DAYS);
            json!({
                "event": r.event().id().to_string(),
                "title": r.event().title(),
                "kind": r.event().kind(),
                "starts": r.event().starts().to_rfc3339(),
                "status": r.status(),
                "registered": r.seats().len(),
                "free_seats": r.free_seats(),
                "attended": c.attendees,
                "attendees_converted": c.attendees_converted,
                "no_shows": c.no_shows,
                "no_shows_converted": c.no_shows_converted,
                "conversion_days": EVENT_DAYS,
            })
        })
        .collect();
    Value::Array(out)
}

/// A `sequence_enrol` or `sequence_stop` line: a command on a patient's enrolment in a
/// content sequence of the config, through the journey layer (which refuses an unknown
/// sequence, a second enrolment, a stop of an enrolment that is over).
pub(crate) fn sequence_line(
    ty: &str,
    obj: &Map<String, Value>,
    at: DateTime<Utc>,
) -> Result<ClinicEventKind, String> {
    let patient: PatientId = parsed(obj, "patient")?;
    let sequence: SequenceId = parsed(obj, "sequence")?;
    let command = if ty == "sequence_enrol" {
        let started_at = match obj.get("started_at") {
            None | Some(Value::Null) => at,
            Some(_) => {
                let s = text(obj, "started_at")?;
                DateTime::parse_from_rfc3339(&s)
                    .map_err(|e| format!("started_at {s:?}: {e}"))?
                    .with_timezone(&Utc)
            }
        };
        EnrolmentCommand::Enrol { started_at }
    } else {
        let why = match obj.get("why") {
            None | Some(Value::Null) => StopReason::Staff,
            Some(Value::String(s)) if s == "staff" => StopReason::Staff,
            Some(Value::String(s)) if s == "opted_out" => StopReason::OptedOut,
            Some(other) => return Err(format!("why {other}: expected staff or opted_out")),
        };
        EnrolmentCommand::Stop { why }
    };
    Ok(ClinicEventKind::Sequence {
        patient,
        sequence,
        command,
    })
}

/// The `sequences` member: each configured sequence with its enrolments (active,
/// completed, stopped by reason), the steps planned as tasks, those of them due by
/// `as_of` (sent: a host sends each at its due time), and the active enrolments whose
/// next step waits for a consent the patient has not given, at `as_of`.
pub(crate) fn sequences(clinic: &Clinic, config: &JourneyConfig, as_of: DateTime<Utc>) -> Value {
    let out: Vec<Value> = config
        .content
        .sequences
        .values()
        .map(|seq| {
            let (mut active, mut completed, mut no_consent) = (0u64, 0u64, 0u64);
            let (mut planned, mut sent) = (0u64, 0u64);
            let mut stopped: BTreeMap<String, u64> = BTreeMap::new();
            for e in clinic.enrolments().filter(|e| e.sequence == seq.id()) {
                planned += u64::from(e.planned);
                match e.status {
                    EnrolmentStatus::Active => {
                        active += 1;
                        let Some(patient) = clinic.patient(e.patient) else {
                            continue;
                        };
                        let empty = FollowUpHistory::new(e.patient);
                        let ctx = SequenceContext {
                            sequence: seq,
                            library: &config.content.library,
                            patient,
                            history: clinic.history(e.patient).unwrap_or(&empty),
                            policy: &config.followup,
                            calendar: config.calendar,
                        };
                        if matches!(next_step(e, &ctx, as_of), NextStep::NoConsent { .. }) {
                            no_consent += 1;
                        }
                    }
                    EnrolmentStatus::Completed { .. } => completed += 1,
                    EnrolmentStatus::Stopped { why, .. } => {
                        let code = serde_json::to_value(why)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        *stopped.entry(code).or_default() += 1;
                    }
                    _ => {}
                }
            }
            for t in clinic.tasks().filter(|t| &t.rule == seq.rule_key()) {
                if t.due_at
                    .unwrap_or_else(|| config.calendar.start_of(t.due_on))
                    <= as_of
                {
                    sent += 1;
                }
            }
            json!({
                "sequence": seq.id().to_string(),
                "name": seq.name(),
                "enrolled": active + completed + stopped.values().sum::<u64>(),
                "active": active,
                "completed": completed,
                "stopped": stopped,
                "steps_planned": planned,
                "sent": sent,
                "waiting_for_consent": no_consent,
            })
        })
        .collect();
    Value::Array(out)
}
