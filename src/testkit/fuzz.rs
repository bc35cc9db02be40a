//! Fuzz target bodies: plain functions over bytes that panic only on a bug.
//!
//! The `cargo-fuzz` targets in `fuzz/` and the stable test `tests/fuzz_regressions.rs` call
//! the same functions, so a saved input replays the same way under both. Each function
//! refuses nothing: bytes that are not UTF-8 are read lossily, and an input a parser or
//! deserialiser refuses is simply done with. An input that is accepted is then *used*
//! through the public functions a host would call next (decide and apply at a fixed `now`,
//! evaluate, plan, report, merge, re-serialise), because a value that parses but panics
//! later is the finding that matters.
//!
//! | function | input |
//! |---|---|
//! | [`parse_inputs`] | any text, given to every public `parse` and `FromStr` |
//! | [`serde_inputs`] | a selector byte, then JSON for the type it selects in [`SERDE_TARGETS`] |
//! | [`shard_states`] | JSON `[state, state]` of two funnel states to merge |
//!
//! Invariants checked on the way (a failed check is a panic, hence a finding): accepted
//! values re-serialise and read back equal, a displayed or exposed value parses back to
//! itself, merging funnel states is commutative.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::calendar::{ClinicCalendar, Period};
use crate::campaign::{self, AdLawWords, CampaignBook, EvalOptions, Evaluator, UsageSnapshot};
use crate::followup::{
    self, CarePlan, FollowUpEvent, FollowUpHistory, FollowUpPolicy, TaskOutcome,
};
use crate::id::{ClinicId, PatientId, PurchaseId, StaffId, VisitId};
use crate::journey::{Category, Fill, Purchase, Visit};
use crate::metrics::event::{JourneyEvent, JourneyStage};
use crate::metrics::funnel::{ConversionWindow, FunnelMode, FunnelSpec, FunnelState};
use crate::money::{Points, SignedYuan, Yuan};
use crate::patient::{
    self, Channel, ConditionCode, ConsentGiver, ConsentPurpose, ExternalId, Label, MobileNumber,
    Patient, PatientCommand, PatientEvent, PersonName, Registration, ResidentId,
};
use crate::points::{self, Account, LedgerCommand, Policy, Posting, TierCode};
use crate::referral::{
    self, Bind, BindingPolicy, Member, ReferralEvent, ReferralForest, RewardSchedule, RuleId,
    ScheduleSpec,
};
use crate::segment::{Expr, PatientFacts, TagCatalog, TagName, TagRuleSet, TagUse};

/// One deserialisation target of [`serde_inputs`].
#[derive(Debug, Clone, Copy)]
pub struct SerdeTarget {
    /// A short name, used for seed file names and in messages.
    pub name: &'static str,
    /// Deserialises the JSON and exercises the value; `true` when it was accepted.
    pub run: fn(&[u8]) -> bool,
}

/// Every `Deserialize` type a host loads from outside, in selector order.
///
/// The selector byte `b` of [`serde_inputs`] picks entry `(b - b'A') mod len`, so the
/// seed files start with a readable letter. Append new entries at the end: an entry's
/// position is part of every saved input for it.
pub const SERDE_TARGETS: &[SerdeTarget] = &[
    t("registration", registration),
    t("patient_command", patient_command),
    t("patient_events", patient_events),
    t("patient", patient_value),
    t("expr", expr),
    t("tag_catalog", tag_catalog),
    t("tag_rule_set", tag_rule_set),
    t("ledger_command", ledger_command),
    t("postings", postings),
    t("campaign_book", campaign_book),
    t("campaign_event", campaign_event),
    t("ad_law_words", ad_law_words),
    t("schedule_spec", schedule_spec),
    t("reward_schedule", reward_schedule),
    t("binds", binds),
    t("binding_policy", binding_policy),
    t("members", members),
    t("referral_events", referral_events),
    t("visits", visits),
    t("purchases", purchases),
    t("fills", fills),
    t("care_plan", care_plan),
    t("followup_policy", followup_policy),
    t("followup_history", followup_history),
    t("followup_events", followup_events),
    t("calendar", calendar),
    t("funnel_spec", funnel_spec),
    t("journey_events", journey_events),
    t("funnel_state", funnel_state),
];

const fn t(name: &'static str, run: fn(&[u8]) -> bool) -> SerdeTarget {
    SerdeTarget { name, run }
}

/// The selector byte that makes [`serde_inputs`] pick the target named `name`.
pub fn selector(name: &str) -> Option<u8> {
    let i = SERDE_TARGETS.iter().position(|t| t.name == name)?;
    u8::try_from(i).ok().map(|i| b'A'.wrapping_add(i))
}

/// Gives the text to every public `parse` and `FromStr`, and checks that whatever they
/// accept displays (or exposes) as text that parses back to the same value.
pub fn parse_inputs(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    if let Ok(m) = MobileNumber::parse(s) {
        shown(&m);
        assert_eq!(MobileNumber::parse(m.expose()).ok(), Some(m));
    }
    if let Ok(r) = ResidentId::parse(s) {
        shown(&r);
        let _ = (r.birth_date(), r.sex());
        assert_eq!(ResidentId::parse(r.expose()).ok(), Some(r));
    }
    if let Ok(n) = PersonName::parse(s) {
        shown(&n);
        assert_eq!(PersonName::parse(n.expose()).ok(), Some(n));
    }
    if let Ok(e) = ExternalId::parse(s) {
        shown(&e);
        assert_eq!(ExternalId::parse(e.expose()).ok(), Some(e));
    }
    if let Ok(c) = Channel::parse(s) {
        shown(&c);
        assert_eq!(Channel::parse(&c.code()).ok(), Some(c));
    }
    if let Ok(c) = ConditionCode::parse(s) {
        assert_eq!(ConditionCode::parse(c.as_str()).ok(), Some(c));
    }
    if let Ok(l) = Label::parse(s) {
        assert_eq!(Label::parse(l.as_str()).ok(), Some(l));
    }
    if let Ok(c) = Category::parse(s) {
        assert_eq!(Category::parse(c.as_str()).ok(), Some(c));
    }
    if let Ok(t) = TagName::parse(s) {
        let _ = (t.group(), t.name());
        assert_eq!(TagName::parse(t.as_str()).ok(), Some(t));
    }
    if let Ok(t) = TierCode::parse(s) {
        assert_eq!(TierCode::parse(t.as_str()).ok(), Some(t));
    }
    if let Ok(k) = followup::RuleKey::parse(s) {
        assert_eq!(followup::RuleKey::parse(k.as_str()).ok(), Some(k));
    }
    if let Ok(r) = RuleId::parse(s) {
        assert_eq!(RuleId::parse(r.as_str()).ok(), Some(r));
    }
    if let Ok(y) = Yuan::parse(s) {
        assert_eq!(Yuan::parse(&y.to_string()).ok(), Some(y));
        let _ = (y.checked_add(y), y.checked_sub(y));
    }
    if let Ok(y) = SignedYuan::parse(s) {
        assert_eq!(SignedYuan::parse(&y.to_string()).ok(), Some(y));
    }
    if let Ok(c) = ClinicCalendar::parse(s) {
        assert_eq!(ClinicCalendar::parse(&c.to_string()).ok(), Some(c));
        exercise_calendar(c);
    }
    if let Ok(m) = s.parse::<FunnelMode>() {
        assert_eq!(m.code().parse::<FunnelMode>().ok(), Some(m));
    }
    if let Ok(w) = ConversionWindow::parse(s) {
        let _ = format!("{w:?}");
    }
    if let Ok(st) = s.parse::<JourneyStage>() {
        assert_eq!(st.code().parse::<JourneyStage>().ok(), Some(st));
    }
    if let Ok(id) = s.parse::<PatientId>() {
        assert_eq!(id.to_string().parse::<PatientId>().ok(), Some(id));
    }
    if let Ok(id) = s.parse::<ClinicId>() {
        assert_eq!(id.to_string().parse::<ClinicId>().ok(), Some(id));
    }
}

/// Reads the first byte as a selector into [`SERDE_TARGETS`] and the rest as JSON for it.
pub fn serde_inputs(data: &[u8]) {
    if let Some((&sel, json)) = data.split_first() {
        let i = usize::from(sel.wrapping_sub(b'A')) % SERDE_TARGETS.len();
        if let Some(target) = SERDE_TARGETS.get(i) {
            (target.run)(json);
        }
    }
}

/// Reads JSON `[a, b]` of two funnel states (a host's shards) and merges them both ways:
/// either both merges fail or both give the same state, which then reports.
pub fn shard_states(data: &[u8]) {
    let Ok((a, b)) = serde_json::from_slice::<(FunnelState, FunnelState)>(data) else {
        return;
    };
    let (mut ab, mut ba) = (a.clone(), b.clone());
    match (ab.merge(&b), ba.merge(&a)) {
        (Ok(()), Ok(())) => {
            assert_eq!(ab, ba, "merge is not commutative");
            let _ = ab.report(&fixtures::funnel_spec(), 8);
            round_trip(&ab);
        }
        (Err(_), Err(_)) => {}
        (x, y) => panic!("merge succeeds one way only: {x:?} vs {y:?}"),
    }
}

/// One realistic input for a target, kept in `fuzz/corpus/<target>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// `parse_inputs`, `serde_inputs` or `shard_states`.
    pub target: &'static str,
    /// The file name.
    pub name: String,
    /// The bytes, a selector byte first for `serde_inputs`.
    pub data: Vec<u8>,
}

/// The seed corpus: valid, realistic inputs for every target and every entry of
/// [`SERDE_TARGETS`], made from the fixtures the targets use (the `clinic_day` example's
/// data and the README's JSON). `tests/fuzz_regressions.rs` checks that the committed
/// corpus holds them and that every serde seed is accepted.
pub fn seed_inputs() -> Vec<Seed> {
    let mut out = Vec::new();
    for (i, text) in fixtures::TEXTS.iter().enumerate() {
        out.push(Seed {
            target: "parse_inputs",
            name: format!("text-{i:02}"),
            data: text.as_bytes().to_vec(),
        });
    }
    let mut serde = |target: &'static str, json: String| {
        let sel = selector(target).expect("a listed target");
        let n = out
            .iter()
            .filter(|s| s.name.starts_with(&format!("{target}-")))
            .count();
        let mut data = vec![sel];
        data.extend_from_slice(json.as_bytes());
        out.push(Seed {
            target: "serde_inputs",
            name: format!("{target}-{n}"),
            data,
        });
    };
    let js = |v: &dyn erased::Json| v.json();
    let (patient, patient_events) = fixtures::patient_with_events();
    serde("registration", js(&fixtures::registration()));
    for cmd in fixtures::patient_commands() {
        serde("patient_command", js(&cmd));
    }
    serde("patient_events", js(&patient_events));
    serde("patient", js(&patient));
    for e in fixtures::EXPRS {
        serde("expr", (*e).to_owned());
    }
    serde("tag_catalog", js(&fixtures::catalog()));
    serde("tag_rule_set", fixtures::TAG_RULES.to_owned());
    for cmd in fixtures::ledger_commands() {
        serde("ledger_command", js(&cmd));
    }
    serde(
        "postings",
        js(&fixtures::account_postings(&Policy::default())),
    );
    serde("campaign_book", fixtures::BOOK.to_owned());
    for e in fixtures::campaign_events() {
        serde("campaign_event", js(&e));
    }
    serde("ad_law_words", js(&AdLawWords::default()));
    if let Ok(spec) = fixtures::schedule_spec() {
        serde("schedule_spec", js(&spec));
    }
    if let Ok(s) = fixtures::schedule() {
        serde("reward_schedule", js(&s));
    }
    serde("binds", js(&fixtures::binds()));
    serde("binding_policy", js(&BindingPolicy::default()));
    serde("members", js(&fixtures::members()));
    serde("referral_events", js(&fixtures::referral_events()));
    serde("visits", js(&fixtures::visits()));
    serde("purchases", js(&fixtures::purchases()));
    serde("fills", js(&fixtures::fills()));
    serde("care_plan", fixtures::CARE_PLAN.to_owned());
    serde("followup_policy", js(&FollowUpPolicy::default()));
    let (history, history_events) = fixtures::history();
    serde("followup_history", js(&history));
    serde("followup_events", js(&history_events));
    serde("calendar", js(&cal()));
    serde(
        "calendar",
        js(&ClinicCalendar::from_offset_seconds(-5 * 3600).expect("offset")),
    );
    serde("funnel_spec", js(&fixtures::funnel_spec()));
    serde("journey_events", js(&fixtures::journey_events()));
    let (a, b) = fixtures::funnel_shards();
    serde("funnel_state", js(&a));
    out.push(Seed {
        target: "shard_states",
        name: "two-shards".into(),
        data: js(&(a, b)).into_bytes(),
    });
    out
}

/// `serde_json::to_string` behind a `dyn`, so the seed list above stays one line a seed.
mod erased {
    pub(super) trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string_pretty(self).expect("a fixture serialises")
        }
    }
}

/// The instant every target treats as "now" (the conformance kit's).
pub fn now() -> DateTime<Utc> {
    super::scenario_now()
}

fn cal() -> ClinicCalendar {
    ClinicCalendar::default()
}

fn today() -> NaiveDate {
    cal().local_date(now())
}

/// Deserialises `T`; `None` when refused.
fn load<T: DeserializeOwned>(json: &[u8]) -> Option<T> {
    serde_json::from_slice(json).ok()
}

/// An accepted value serialises, and reads back equal.
fn round_trip<T>(v: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(v).expect("an accepted value serialises");
    let back: T = match serde_json::from_str(&json) {
        Ok(back) => back,
        Err(e) => panic!("an accepted value does not read back: {e}\n{json}"),
    };
    assert_eq!(&back, v, "the value changed in a serde round trip: {json}");
}

/// For a type without `PartialEq`: its JSON reads back and re-serialises to the same JSON.
fn json_round_trip<T: Serialize + DeserializeOwned>(v: &T) {
    let json = serde_json::to_string(v).expect("an accepted value serialises");
    let back: T = match serde_json::from_str(&json) {
        Ok(back) => back,
        Err(e) => panic!("an accepted value does not read back: {e}\n{json}"),
    };
    let again = serde_json::to_string(&back).expect("an accepted value serialises");
    assert_eq!(again, json, "the value changed in a serde round trip");
}

fn shown<T: std::fmt::Display + std::fmt::Debug>(v: &T) {
    let _ = (v.to_string(), format!("{v:?}"));
}

fn debug<T: std::fmt::Debug>(v: &T) {
    let _ = format!("{v:?}");
}

fn exercise_calendar(c: ClinicCalendar) {
    let at = now();
    let day = c.local_date(at);
    let _ = (c.local_time(at), c.start_of(day), c.start_of_day(at));
    for p in [Period::Day, Period::Week, Period::Month, Period::Year] {
        let _ = (c.period_start(day, p), c.next_period_start(day, p));
        let _ = (
            c.bucket(at, p),
            c.start_of_period(at, p),
            c.end_of_period(at, p),
        );
    }
    let _ = (c.midnight_after_days(at, 400), c.days_between(at, at));
    let _ = c.local_date_of_unix(at.timestamp());
}

fn registration(json: &[u8]) -> bool {
    let Some(r) = load::<Registration>(json) else {
        return false;
    };
    debug(&r);
    let cmd = PatientCommand::Register(r);
    if let Ok(events) = patient::decide(None, fixtures::PATIENT, &cmd, now(), cal()) {
        exercise_patient(Patient::replay(&events));
    }
    true
}

fn patient_command(json: &[u8]) -> bool {
    let Some(cmd) = load::<PatientCommand>(json) else {
        return false;
    };
    round_trip(&cmd);
    let mut p = fixtures::patient();
    for state in [None, Some(&p)] {
        let _ = patient::decide(state, fixtures::PATIENT, &cmd, now(), cal());
    }
    if let Ok(events) = patient::decide(Some(&p), fixtures::PATIENT, &cmd, now(), cal()) {
        let mut state = Some(p.clone());
        for e in &events {
            patient::apply(&mut state, e);
        }
        if let Some(q) = state {
            p = q;
        }
        exercise_patient(Some(p));
    }
    true
}

fn patient_events(json: &[u8]) -> bool {
    let Some(events) = load::<Vec<PatientEvent>>(json) else {
        return false;
    };
    round_trip(&events);
    exercise_patient(Patient::replay(&events));
    true
}

fn patient_value(json: &[u8]) -> bool {
    let Some(p) = load::<Patient>(json) else {
        return false;
    };
    round_trip(&p);
    exercise_patient(Some(p));
    true
}

/// What a host does with a patient it holds: read it, decide on it, plan its follow-ups.
fn exercise_patient(p: Option<Patient>) {
    let Some(p) = p else { return };
    debug(&p);
    let day = today();
    let _ = (
        p.age_on(day),
        p.is_minor_on(day),
        p.birth_year(),
        p.due_for_erasure(day),
    );
    let _ = (p.overdue_files(day).count(), p.deletion_deadline());
    for purpose in ConsentPurpose::ALL {
        let _ = p.may(purpose, now());
    }
    for cmd in fixtures::patient_commands() {
        let _ = patient::decide(Some(&p), p.id(), &cmd, now(), cal());
    }
    plan_for(&p, &fixtures::care_plan(), &FollowUpPolicy::default(), None);
}

fn plan_for(
    p: &Patient,
    care: &CarePlan,
    policy: &FollowUpPolicy,
    history: Option<&FollowUpHistory>,
) {
    let (v, f, pu) = (fixtures::visits(), fixtures::fills(), fixtures::purchases());
    let facts = followup::Facts {
        visits: &v,
        fills: &f,
        purchases: &pu,
    };
    let fresh = FollowUpHistory::new(p.id());
    let history = history.unwrap_or(&fresh);
    let plan = followup::plan(p, &facts, history, care, policy, now(), cal())
        .expect("the fixed now is in the accepted range");
    round_trip(&plan);
}

fn expr(json: &[u8]) -> bool {
    let Some(e) = load::<Expr>(json) else {
        return false;
    };
    round_trip(&e);
    let _ = (e.validate(), e.to_string(), e.leaf_text(), e.tags().count());
    let catalog = fixtures::catalog();
    let _ = (e.check_tags(&catalog), e.uses_sensitive_data(&catalog));
    for facts in fixtures::facts() {
        let v = e.evaluate(&facts);
        let x = e.explain(&facts);
        let _ = x.to_string();
        debug(&v);
    }
    true
}

fn tag_catalog(json: &[u8]) -> bool {
    let Some(mut c) = load::<TagCatalog>(json) else {
        return false;
    };
    round_trip(&c);
    let _ = (c.live().count(), c.live_count(), c.limit());
    if let Ok(rules) = fixtures::tag_rules() {
        let _ = rules.check_tags(&c);
        for facts in fixtures::facts() {
            let _ = rules.evaluate(&facts, &c, TagUse::Marketing);
        }
    }
    for tag in fixtures::tags() {
        let _ = (c.status(&tag), c.is_sensitive(&tag));
        let _ = c.add(tag.clone(), now());
        let _ = c.delete(&tag, now());
    }
    true
}

fn tag_rule_set(json: &[u8]) -> bool {
    let Some(rules) = load::<TagRuleSet>(json) else {
        return false;
    };
    round_trip(&rules);
    let catalog = fixtures::catalog();
    let _ = rules.check_tags(&catalog);
    for facts in fixtures::facts() {
        for usage in [TagUse::Care, TagUse::Marketing] {
            debug(&rules.evaluate(&facts, &catalog, usage));
        }
    }
    true
}

fn ledger_command(json: &[u8]) -> bool {
    let Some(cmd) = load::<LedgerCommand>(json) else {
        return false;
    };
    round_trip(&cmd);
    for policy in fixtures::points_policies() {
        let mut account = fixtures::account(&policy);
        // Twice: the second is the idempotent retry, a comparison.
        for _ in 0..2 {
            match points::decide(&account, &cmd, now(), &policy, cal()) {
                Ok(outcome) => {
                    for p in outcome.postings() {
                        points::apply(&mut account, p);
                    }
                }
                Err(e) => shown(&e),
            }
        }
        exercise_account(&account);
    }
    true
}

fn postings(json: &[u8]) -> bool {
    let Some(ps) = load::<Vec<Posting>>(json) else {
        return false;
    };
    round_trip(&ps);
    // Postings from outside go through `Account::load`, which refuses a list out of
    // sequence; `replay` (for trusted lists) must then agree with it or skip what it refuses.
    let account = match Account::load(PatientId::new(1), &ps) {
        Ok(a) => {
            assert_eq!(
                a,
                Account::replay(PatientId::new(1), &ps),
                "load and replay disagree on postings in sequence"
            );
            a
        }
        Err(e) => {
            shown(&e);
            let _ = Account::replay(PatientId::new(1), &ps);
            return true;
        }
    };
    exercise_account(&account);
    for cmd in fixtures::ledger_commands() {
        let _ = points::decide(&account, &cmd, now(), &Policy::default(), cal());
    }
    true
}

fn exercise_account(a: &Account) {
    let _ = (a.balance(), a.available(), a.locked(), a.debt(), a.growth());
    let _ = (a.tier(), a.lots().len(), a.pending().len(), a.last_seq());
    let _ = (a.growth_since(now()), a.expiring_by(now()).len());
    let _ = a.purchase_points(PurchaseId::new(1));
}

fn campaign_book(json: &[u8]) -> bool {
    let Some(book) = load::<CampaignBook>(json) else {
        return false;
    };
    json_round_trip(&book);
    evaluate_book(&book);
    let _ = campaign::check_book(&book, now(), &fixtures::catalog(), &AdLawWords::default());
    true
}

fn evaluate_book(book: &CampaignBook) {
    let mut evaluator = Evaluator::new();
    for facts in fixtures::facts() {
        for event in fixtures::campaign_events() {
            let keys = book.usage_keys(&event, facts.patient(), now(), cal());
            let usage = UsageSnapshot::new();
            let once = campaign::evaluate(
                book,
                &event,
                &facts,
                &usage,
                now(),
                cal(),
                EvalOptions::TRACE,
            )
            .expect("the fixed now is in the accepted range");
            let _ = serde_json::to_string(&once).expect("an evaluation serialises");
            let reused = evaluator
                .evaluate(
                    book,
                    &event,
                    &facts,
                    &usage,
                    now(),
                    cal(),
                    EvalOptions::TRACE,
                )
                .expect("the fixed now is in the accepted range");
            assert_eq!(&once, reused, "a reused evaluator disagrees with evaluate");
            debug(&keys);
        }
    }
}

fn campaign_event(json: &[u8]) -> bool {
    let Some(event) = load::<campaign::Event>(json) else {
        return false;
    };
    round_trip(&event);
    let book = fixtures::book();
    for facts in fixtures::facts() {
        let _ = book.usage_keys(&event, facts.patient(), now(), cal());
        let ev = campaign::evaluate(
            &book,
            &event,
            &facts,
            &UsageSnapshot::new(),
            now(),
            cal(),
            EvalOptions::TRACE,
        )
        .expect("the fixed now is in the accepted range");
        let _ = serde_json::to_string(&ev).expect("an evaluation serialises");
    }
    true
}

fn ad_law_words(json: &[u8]) -> bool {
    let Some(words) = load::<AdLawWords>(json) else {
        return false;
    };
    round_trip(&words);
    let _ = campaign::lint_copy("首诊送艾灸贴, 根治失眠, 退订回T", &words);
    let _ = campaign::check_book(&fixtures::book(), now(), &fixtures::catalog(), &words);
    true
}

fn schedule_spec(json: &[u8]) -> bool {
    let Some(spec) = load::<ScheduleSpec>(json) else {
        return false;
    };
    round_trip(&spec);
    if let Ok(s) = RewardSchedule::new(spec) {
        exercise_schedule(&s);
    }
    true
}

fn reward_schedule(json: &[u8]) -> bool {
    let Some(s) = load::<RewardSchedule>(json) else {
        return false;
    };
    round_trip(&s);
    exercise_schedule(&s);
    true
}

fn exercise_schedule(s: &RewardSchedule) {
    let forest = fixtures::forest();
    let decisions = referral::decide_rewards(&forest, &fixtures::visits(), s, now(), cal());
    round_trip(&decisions);
}

fn binds(json: &[u8]) -> bool {
    let Some(binds) = load::<Vec<Bind>>(json) else {
        return false;
    };
    round_trip(&binds);
    let mut forest = fixtures::forest();
    let policy = BindingPolicy::default();
    for b in &binds {
        let _ = referral::decide(&forest, b, &policy);
    }
    debug(&referral::bind_all(&mut forest, &binds, &policy));
    exercise_forest(&forest);
    true
}

fn binding_policy(json: &[u8]) -> bool {
    let Some(policy) = load::<BindingPolicy>(json) else {
        return false;
    };
    round_trip(&policy);
    let mut forest = fixtures::forest_members();
    debug(&referral::bind_all(
        &mut forest,
        &fixtures::binds(),
        &policy,
    ));
    exercise_forest(&forest);
    true
}

fn members(json: &[u8]) -> bool {
    let Some(members) = load::<Vec<Member>>(json) else {
        return false;
    };
    round_trip(&members);
    let mut forest = ReferralForest::new();
    for m in members {
        let _ = forest.upsert_member(m);
    }
    let _ = referral::bind_all(&mut forest, &fixtures::binds(), &BindingPolicy::default());
    exercise_forest(&forest);
    true
}

fn referral_events(json: &[u8]) -> bool {
    let Some(events) = load::<Vec<ReferralEvent>>(json) else {
        return false;
    };
    round_trip(&events);
    let mut forest = fixtures::forest_members();
    for e in &events {
        referral::apply(&mut forest, e);
    }
    exercise_forest(&forest);
    true
}

fn exercise_forest(forest: &ReferralForest) {
    let _ = (
        forest.len(),
        forest.bound_count(),
        forest.bindings().count(),
    );
    for m in forest.members() {
        let _ = (forest.depth(m.id), forest.ancestors(m.id).count());
        let _ = (forest.referral_count(m.id), forest.ancestor(m.id, 2));
    }
    if let Ok(s) = fixtures::schedule() {
        let _ = referral::decide_rewards(forest, &fixtures::visits(), &s, now(), cal());
    }
}

fn visits(json: &[u8]) -> bool {
    let Some(v) = load::<Vec<Visit>>(json) else {
        return false;
    };
    round_trip(&v);
    let (f, pu) = (fixtures::fills(), fixtures::purchases());
    plan_with_facts(&v, &f, &pu);
    if let Ok(s) = fixtures::schedule() {
        let _ = referral::decide_rewards(&fixtures::forest(), &v, &s, now(), cal());
    }
    true
}

fn purchases(json: &[u8]) -> bool {
    let Some(pu) = load::<Vec<Purchase>>(json) else {
        return false;
    };
    round_trip(&pu);
    plan_with_facts(&fixtures::visits(), &fixtures::fills(), &pu);
    true
}

fn fills(json: &[u8]) -> bool {
    let Some(f) = load::<Vec<Fill>>(json) else {
        return false;
    };
    round_trip(&f);
    for fill in &f {
        let _ = fill.last_covered_day();
    }
    plan_with_facts(&fixtures::visits(), &f, &fixtures::purchases());
    true
}

fn plan_with_facts(v: &[Visit], f: &[Fill], pu: &[Purchase]) {
    let p = fixtures::patient();
    let facts = followup::Facts {
        visits: v,
        fills: f,
        purchases: pu,
    };
    let history = FollowUpHistory::new(p.id());
    let plan = followup::plan(
        &p,
        &facts,
        &history,
        &fixtures::care_plan(),
        &FollowUpPolicy::default(),
        now(),
        cal(),
    )
    .expect("the fixed now is in the accepted range");
    round_trip(&plan);
}

fn care_plan(json: &[u8]) -> bool {
    let Some(care) = load::<CarePlan>(json) else {
        return false;
    };
    round_trip(&care);
    plan_for(
        &fixtures::patient(),
        &care,
        &FollowUpPolicy::default(),
        None,
    );
    true
}

fn followup_policy(json: &[u8]) -> bool {
    let Some(policy) = load::<FollowUpPolicy>(json) else {
        return false;
    };
    round_trip(&policy);
    plan_for(&fixtures::patient(), &fixtures::care_plan(), &policy, None);
    true
}

fn followup_history(json: &[u8]) -> bool {
    let Some(h) = load::<FollowUpHistory>(json) else {
        return false;
    };
    round_trip(&h);
    exercise_history(&h);
    true
}

fn followup_events(json: &[u8]) -> bool {
    let Some(events) = load::<Vec<FollowUpEvent>>(json) else {
        return false;
    };
    round_trip(&events);
    let h = FollowUpHistory::replay(fixtures::PATIENT, &events);
    exercise_history(&h);
    true
}

fn exercise_history(h: &FollowUpHistory) {
    let _ = (h.len(), h.opted_out_at(), h.tasks().count());
    let ids: Vec<_> = h.tasks().map(|r| r.task.id).collect();
    for id in ids {
        let by = Some(StaffId::new(1));
        let _ = followup::record_outcome(h, id, TaskOutcome::Reached, by, now());
    }
    let p = fixtures::patient();
    let (care, policy) = (fixtures::care_plan(), FollowUpPolicy::default());
    plan_for(&p, &care, &policy, Some(h));
}

fn calendar(json: &[u8]) -> bool {
    let Some(c) = load::<ClinicCalendar>(json) else {
        return false;
    };
    round_trip(&c);
    exercise_calendar(c);
    true
}

fn funnel_spec(json: &[u8]) -> bool {
    let Some(spec) = load::<FunnelSpec>(json) else {
        return false;
    };
    round_trip(&spec);
    if let Ok(state) = spec.compute(&fixtures::journey_events()) {
        exercise_state(&spec, state);
    }
    true
}

fn journey_events(json: &[u8]) -> bool {
    let Some(events) = load::<Vec<JourneyEvent>>(json) else {
        return false;
    };
    round_trip(&events);
    for e in &events {
        let _ = e.at_utc();
    }
    let spec = fixtures::funnel_spec();
    if let Ok(state) = spec.compute(&events) {
        exercise_state(&spec, state);
    }
    true
}

fn funnel_state(json: &[u8]) -> bool {
    let Some(state) = load::<FunnelState>(json) else {
        return false;
    };
    round_trip(&state);
    exercise_state(&fixtures::funnel_spec(), state);
    true
}

fn exercise_state(spec: &FunnelSpec, state: FunnelState) {
    let _ = (state.patients(), state.excluded(), state.step_patients());
    let report = state.report(spec, 8);
    let _ = serde_json::to_string(&report).expect("a report serialises");
    let mut twice = state.clone();
    if twice.merge(&state).is_ok() {
        let _ = twice.report(spec, 8);
    }
}

/// Fixed, realistic values the targets use around the fuzzed one (the `clinic_day` example's
/// data). A fixture that fails to build is a bug in this module, hence `expect`.
mod fixtures {
    use super::*;
    use crate::campaign::{Event, EventKind};
    use crate::metrics::event::JourneyEventKind;
    use crate::patient::FollowUpCadence;
    use crate::points::{CommandKey, CommandKind, Multiplier};
    use crate::referral::{Basis, Beneficiary, ComplianceProfile, Reward, RewardCaps, RuleSpec};
    use crate::segment::Lifecycle;

    pub(super) const PATIENT: PatientId = PatientId::new(7);

    fn at(days_ago: u64) -> DateTime<Utc> {
        now() - chrono::Duration::days(i64::try_from(days_ago).unwrap_or(0))
    }

    /// Texts for `parse_inputs`: one accepted by each parser, and near misses.
    pub(super) const TEXTS: &[&str] = &[
        "0086 139 0000 1111",
        "+86-138-1234-5678",
        "11010519491231002X",
        "110105491231002",
        "李四",
        "EMR-2026-0042",
        "doctor_ip/douyin",
        "wechat",
        "I10",
        "front_desk",
        "降压药",
        "condition/高血压",
        "gold",
        "friend-200pts",
        "12.50",
        "-3.5",
        "0.001",
        "+08:00",
        "UTC-05:30",
        "strict_order",
        "30d",
        "3600s",
        "lead",
        "P42",
        "42",
    ];

    /// Expressions: the README's, and the audiences of the book and the tag rules.
    pub(super) const EXPRS: &[&str] = &[
        r#"{"all": [{"has_tag": "condition/高血压"}, {"not": {"lifecycle": "dormant"}},
                 {"visits_in": {"days": 90, "min": 2}}, {"consent": {"purpose": "marketing"}}]}"#,
        r#"{"all": [{"age": {"min": 40}}, {"visits_in": {"days": 90, "min": 1}}]}"#,
        r#"{"any": [{"lifecycle": "dormant"}, {"lifecycle": "lost"}, {"has_condition": "I10"},
                 {"spend_in": {"days": 30, "min": "100.50"}}, {"tier": "gold"}]}"#,
    ];

    pub(super) fn patient_with_events() -> (Patient, Vec<PatientEvent>) {
        let mut state = None;
        let mut all = Vec::new();
        let register = PatientCommand::Register(registration());
        for cmd in std::iter::once(register).chain(patient_commands()) {
            let events =
                patient::decide(state.as_ref(), PATIENT, &cmd, at(200), cal()).expect("fixture");
            for e in &events {
                patient::apply(&mut state, e);
            }
            all.extend(events);
        }
        (state.expect("registered"), all)
    }

    pub(super) fn account_postings(policy: &Policy) -> Vec<Posting> {
        let mut a = Account::new(PatientId::new(1));
        let mut all = Vec::new();
        for cmd in ledger_commands() {
            if let Ok(o) = points::decide(&a, &cmd, at(10), policy, cal()) {
                for p in o.postings() {
                    points::apply(&mut a, p);
                }
                all.extend_from_slice(o.postings());
            }
        }
        all
    }

    pub(super) fn referral_events() -> Vec<ReferralEvent> {
        let mut f = forest_members();
        let mut out = Vec::new();
        for b in binds() {
            if let Ok(e) = referral::decide(&f, &b, &BindingPolicy::default()) {
                referral::apply(&mut f, &e);
                out.push(e);
            }
        }
        out
    }

    /// The fixture patient's history after one planning run and one outcome.
    pub(super) fn history() -> (FollowUpHistory, Vec<FollowUpEvent>) {
        let p = patient();
        let (v, f, pu) = (visits(), fills(), purchases());
        let facts = followup::Facts {
            visits: &v,
            fills: &f,
            purchases: &pu,
        };
        let mut h = FollowUpHistory::new(p.id());
        let plan = followup::plan(
            &p,
            &facts,
            &h,
            &care_plan(),
            &FollowUpPolicy::default(),
            now(),
            cal(),
        )
        .expect("the fixed now is in the accepted range");
        let mut events = plan.events(&h);
        for e in &events {
            followup::apply(&mut h, e);
        }
        let first = h.tasks().map(|r| r.task.id).next();
        if let Some(id) = first {
            let by = Some(StaffId::new(1));
            if let Ok(more) = followup::record_outcome(&h, id, TaskOutcome::Reached, by, now()) {
                for e in &more {
                    followup::apply(&mut h, e);
                }
                events.extend(more);
            }
        }
        (h, events)
    }

    /// The fixture events' funnel, computed on two shards of patients.
    pub(super) fn funnel_shards() -> (FunnelState, FunnelState) {
        let spec = funnel_spec();
        let (odd, even): (Vec<_>, Vec<_>) = journey_events()
            .into_iter()
            .partition(|e| e.patient.get() % 2 == 1);
        let a = spec.compute(&odd).expect("shard");
        let b = spec.compute(&even).expect("shard");
        (a, b)
    }

    pub(super) fn registration() -> Registration {
        Registration {
            name: PersonName::parse("李四").expect("name"),
            mobile: MobileNumber::parse("13900001111").expect("mobile"),
            resident_id: None,
            external_id: None,
            sex: None,
            birth_date: NaiveDate::from_ymd_opt(1968, 5, 12),
            owner: Some(StaffId::new(3)),
            home_clinic: ClinicId::new(1),
            channel: Channel::parse("doctor_ip/douyin").expect("channel"),
            channel_code: None,
        }
    }

    pub(super) fn patient_commands() -> Vec<PatientCommand> {
        let label = |s: &str| Label::parse(s).expect("label");
        vec![
            PatientCommand::GrantConsent {
                purpose: ConsentPurpose::CareReminder,
                source: label("front_desk"),
                policy_version: label("v3"),
                given_by: ConsentGiver::Patient,
            },
            PatientCommand::GrantConsent {
                purpose: ConsentPurpose::Marketing,
                source: label("mini_program"),
                policy_version: label("v3"),
                given_by: ConsentGiver::Patient,
            },
            PatientCommand::OpenChronicFile {
                condition: ConditionCode::parse("I10").expect("code"),
                name: "高血压".into(),
                diagnosed_on: NaiveDate::from_ymd_opt(2025, 6, 1).expect("date"),
                cadence: FollowUpCadence::per_year(4).expect("cadence"),
            },
        ]
    }

    /// A registered patient with care and marketing consent and a chronic file.
    pub(super) fn patient() -> Patient {
        patient_with_events().0
    }

    pub(super) fn tags() -> Vec<TagName> {
        [
            "condition/高血压",
            "value/member",
            "life/沉睡",
            "care/慢病群",
        ]
        .into_iter()
        .map(|t| TagName::parse(t).expect("tag"))
        .collect()
    }

    pub(super) fn catalog() -> TagCatalog {
        let mut c = TagCatalog::new();
        c.mark_sensitive("condition");
        for t in tags() {
            c.add(t, at(300)).expect("catalog");
        }
        c
    }

    pub(super) const TAG_RULES: &str = r#"[
      {"tag": "condition/高血压", "when": {"has_condition": "I10"}},
      {"tag": "care/慢病群", "when": {"any": [{"has_tag": "condition/高血压"}]}},
      {"tag": "life/沉睡", "when": {"any": [{"lifecycle": "dormant"}, {"lifecycle": "lost"}]}},
      {"tag": "value/member", "when": {"visits_in": {"days": 90, "min": 3}}}
    ]"#;

    pub(super) fn tag_rules() -> Result<TagRuleSet, serde_json::Error> {
        serde_json::from_str(TAG_RULES)
    }

    /// A 57-year-old regular with hypertension and every consent, and a stranger.
    pub(super) fn facts() -> Vec<PatientFacts> {
        let mut rich = PatientFacts::builder(PATIENT, today())
            .age(57)
            .channel(Channel::parse("doctor_ip/douyin").expect("channel"))
            .lifecycle(Lifecycle::Active)
            .visit(3)
            .visit(40)
            .spend(3, Yuan::from_whole(300).expect("yuan"))
            .condition(ConditionCode::parse("I10").expect("code"))
            .points(Points::new(1200))
            .tier(Label::parse("gold").expect("tier"))
            .referrals_made(2);
        for p in ConsentPurpose::ALL {
            rich = rich.consent(p);
        }
        for t in tags() {
            rich = rich.tag(t);
        }
        vec![
            rich.build(),
            PatientFacts::builder(PatientId::new(8), today()).build(),
        ]
    }

    pub(super) fn points_policies() -> Vec<Policy> {
        vec![Policy::default()]
    }

    pub(super) fn ledger_commands() -> Vec<LedgerCommand> {
        vec![
            LedgerCommand::new(
                CommandKey::new(1),
                CommandKind::Earn {
                    purchase: PurchaseId::new(1),
                    paid: Yuan::from_fen(30_000),
                    category: None,
                    multiplier: Multiplier::ONE,
                    lock_until: None,
                },
            ),
            LedgerCommand::new(
                CommandKey::new(2),
                CommandKind::Redeem {
                    points: Points::new(100),
                    purchase: None,
                },
            ),
        ]
    }

    /// An account that earned on a purchase and redeemed part of it.
    pub(super) fn account(policy: &Policy) -> Account {
        Account::replay(PatientId::new(1), &account_postings(policy))
    }

    pub(super) const BOOK: &str = r#"{
      "groups": { "welcome": "first_match" },
      "campaigns": [
        { "id": 23, "name": "会员日 double points + cashback",
          "window": { "start": "2026-01-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00",
                      "recurrence": { "every": "month_day", "day": 2 } },
          "trigger": { "on": "purchase", "min": "100" },
          "audience": { "all": [ { "age": { "min": 40 } }, { "visits_in": { "days": 90, "min": 1 } } ] },
          "effects": [ { "type": "points_multiplier", "factor": "2" },
                       { "type": "cashback", "percent": "5", "cap": "20" } ],
          "caps": { "budget": { "yuan": "80" },
                    "limits": [ { "action": "apply", "per": "patient", "period": "month", "max": 1 } ] },
          "copy": { "body": "每月会员日: 积分翻倍, 购药返现5%, 回T退订" } },
        { "id": 5, "name": "新客首诊礼", "group": "welcome",
          "window": { "start": "2026-01-01T00:00:00+08:00" },
          "trigger": { "on": "first_visit" },
          "effects": [ { "type": "gift", "item": "艾灸贴" } ],
          "copy": { "body": "首诊送艾灸贴, 根治失眠" } },
        { "id": 12, "name": "冬至膏方节",
          "window": { "start": "2026-12-21T00:00:00+08:00", "end": "2027-01-05T00:00:00+08:00" },
          "trigger": { "on": "purchase" },
          "effects": [ { "type": "coupon", "code": "GAOFANG50", "value": "50" } ] }
      ]
    }"#;

    pub(super) fn book() -> CampaignBook {
        serde_json::from_str(BOOK).expect("book fixture")
    }

    pub(super) fn campaign_events() -> Vec<Event> {
        let y = |n| Yuan::from_whole(n).expect("yuan");
        vec![
            Event::new(EventKind::Purchase { amount: y(300) }).with_base_points(Points::new(300)),
            Event::new(EventKind::Visit {
                paid: y(80),
                first: true,
            })
            .with_birth_date(NaiveDate::from_ymd_opt(1968, 5, 12)),
            Event::new(EventKind::ReferralQualified),
        ]
    }

    pub(super) fn schedule_spec() -> Result<ScheduleSpec, Box<dyn std::error::Error>> {
        Ok(ScheduleSpec {
            profile: ComplianceProfile::MedicalInstitution,
            depth: 1,
            min_paid: Yuan::from_whole(100)?,
            pending_days: 7,
            caps: RewardCaps {
                per_month: Some(3),
                lifetime: Some(20),
            },
            rules: vec![
                RuleSpec {
                    id: RuleId::parse("friend-200pts")?,
                    beneficiary: Beneficiary::Referrer { level: 1 },
                    basis: Basis::FirstPaidVisit,
                    reward: Reward::Points(Points::new(200)),
                },
                RuleSpec {
                    id: RuleId::parse("welcome-moxa")?,
                    beneficiary: Beneficiary::Referee,
                    basis: Basis::FirstPaidVisit,
                    reward: Reward::Service(Label::parse("艾灸体验")?),
                },
            ],
        })
    }

    pub(super) fn schedule() -> Result<RewardSchedule, Box<dyn std::error::Error>> {
        Ok(RewardSchedule::new(schedule_spec()?)?)
    }

    pub(super) fn members() -> Vec<Member> {
        (1..=5u64)
            .map(|n| Member {
                id: PatientId::new(n),
                registered_at: at(60 - 10 * n),
                first_contact: at(61 - 10 * n),
                mobile: MobileNumber::parse(&format!("1390000000{n}")).ok(),
                resident_id: None,
            })
            .collect()
    }

    pub(super) fn forest_members() -> ReferralForest {
        let mut f = ReferralForest::new();
        for m in members() {
            f.upsert_member(m).expect("member");
        }
        f
    }

    pub(super) fn binds() -> Vec<Bind> {
        [(2, 1), (3, 1), (4, 2), (5, 4)]
            .into_iter()
            .map(|(referee, referrer)| Bind {
                referee: PatientId::new(referee),
                referrer: PatientId::new(referrer),
                at: at(61 - 10 * referee),
            })
            .collect()
    }

    /// Five members bound 1 ← 2 ← 4 ← 5 and 1 ← 3.
    pub(super) fn forest() -> ReferralForest {
        let mut f = forest_members();
        let _ = referral::bind_all(&mut f, &binds(), &BindingPolicy::default());
        f
    }

    pub(super) fn visits() -> Vec<Visit> {
        (1..=5u64)
            .map(|n| Visit {
                id: VisitId::new(n),
                patient: if n == 5 { PATIENT } else { PatientId::new(n) },
                at: at(n * 7),
                clinic: ClinicId::new(1),
                doctor: None,
                paid: Yuan::from_whole(60 * n).expect("yuan"),
                refunded_at: None,
            })
            .collect()
    }

    pub(super) fn purchases() -> Vec<Purchase> {
        vec![Purchase {
            id: PurchaseId::new(1),
            patient: PATIENT,
            at: at(20),
            amount: Yuan::from_whole(180).expect("yuan"),
            category: Category::parse("降压药").ok(),
            days_supply: crate::journey::DaysSupply::new(30).ok(),
        }]
    }

    pub(super) fn fills() -> Vec<Fill> {
        vec![Fill {
            patient: PATIENT,
            drug: Category::parse("降压药").expect("category"),
            filled_on: today() - chrono::Days::new(25),
            days_supply: crate::journey::DaysSupply::new(30).expect("days"),
        }]
    }

    pub(super) const CARE_PLAN: &str = r#"{
      "name": "慢病管理",
      "rules": [
        {"key": "check", "kind": "post_visit_check", "days_after": 3, "channel": "call"},
        {"key": "refill", "kind": "refill", "days_before": 3, "channel": "wechat_message", "priority": "high"},
        {"key": "file", "kind": "chronic_follow_up", "channel": "call", "priority": "urgent"},
        {"key": "season", "kind": "season_change", "channel": "call",
         "dates": {"solar_terms": ["lichun", "lixia", "liqiu", "lidong", "dongzhi"]}},
        {"key": "birthday", "kind": "birthday", "channel": "wechat_message", "priority": "low"},
        {"key": "winback", "kind": "win_back", "lapsed_after_days": 120, "first_gap_days": 14,
         "max_attempts": 3, "channel": "call", "priority": "low"}
      ]
    }"#;

    pub(super) fn care_plan() -> CarePlan {
        serde_json::from_str(CARE_PLAN).expect("care plan fixture")
    }

    pub(super) fn funnel_spec() -> FunnelSpec {
        let steps = [
            JourneyStage::ALL.first(),
            JourneyStage::ALL.get(1),
            JourneyStage::ALL.get(2),
        ]
        .into_iter()
        .flatten()
        .map(|&s| crate::metrics::funnel::Step::kind(s))
        .collect();
        FunnelSpec::new(
            steps,
            ConversionWindow::days(30).expect("window"),
            FunnelMode::Default,
        )
        .expect("funnel fixture")
    }

    pub(super) fn journey_events() -> Vec<JourneyEvent> {
        let t0 = now().timestamp() - 40 * 86_400;
        let mut out = Vec::new();
        for p in 1..=6u64 {
            for (i, s) in JourneyStage::ALL
                .iter()
                .take(usize::try_from(p % 4).unwrap_or(0) + 1)
                .enumerate()
            {
                let t = t0 + i64::try_from(p * 3_600 + 86_400 * i as u64).unwrap_or(0);
                out.push(JourneyEvent::new(
                    PatientId::new(p),
                    JourneyEventKind::stage(*s),
                    t,
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_name_is_unique_and_selectable() {
        for (i, t) in SERDE_TARGETS.iter().enumerate() {
            let sel = selector(t.name).expect("selectable");
            assert_eq!(usize::from(sel - b'A'), i, "{}", t.name);
            assert!(
                sel.is_ascii_graphic(),
                "{}: selector {sel} is not readable",
                t.name
            );
        }
    }

    #[test]
    fn every_serde_seed_is_accepted_by_its_target() {
        let seeds = seed_inputs();
        for t in SERDE_TARGETS {
            assert!(
                seeds
                    .iter()
                    .any(|s| s.name.starts_with(&format!("{}-", t.name))),
                "{} has no seed",
                t.name
            );
        }
        for s in seeds.iter().filter(|s| s.target == "serde_inputs") {
            let (&sel, json) = s.data.split_first().expect("a selector");
            let t = SERDE_TARGETS[usize::from(sel - b'A')];
            assert!((t.run)(json), "seed {} is refused", s.name);
        }
    }

    #[test]
    fn fixtures_build_and_the_fixture_json_is_accepted() {
        let _ = (
            fixtures::patient(),
            fixtures::forest(),
            fixtures::funnel_spec(),
        );
        assert!(fixtures::tag_rules().is_ok());
        assert!(fixtures::schedule().is_ok());
        let book = serde_json::to_vec(&fixtures::book()).expect("json");
        assert!(campaign_book(&book));
        assert!(care_plan(fixtures::CARE_PLAN.as_bytes()));
        assert!(tag_rule_set(fixtures::TAG_RULES.as_bytes()));
    }
}
