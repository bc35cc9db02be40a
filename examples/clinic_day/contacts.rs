//! The clinic owns the relationship (医生一走关门大吉): which staff account holds each
//! patient, the concentration warning, Dr Li leaving with her patients handed over under
//! WeCom's resigned-staff rules, every patient still held by the clinic afterwards, and a
//! patient group (社群) planned from tags under `GroupChat` consent. Contacts, handovers
//! and group joins go through the journey layer.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

use super::{Clinic, Res, heading, pad};
use clinic_ops::id::{ClinicId, GroupId, PatientId, StaffId};
use clinic_ops::journey::ClinicEventKind;
use clinic_ops::money::Yuan;
use clinic_ops::patient::{ConsentPurpose, Label};
use clinic_ops::relationship::{
    self, AccountKind, Concentration, ContactCommand, GroupEvent, GroupPostRules, GroupSeries,
    Handover, HandoverScope, StaffAccount, StaffRoster, SuccessorRule, TransferMode,
    TransferNotice, lint_group_post, plan_groups,
};
use clinic_ops::segment::{Expr, PatientFacts, TagName};

const LI: StaffId = StaffId::new(1);
const WANG: StaffId = StaffId::new(2);
const ASSISTANT_CHEN: StaffId = StaffId::new(4);
const BRAND: StaffId = StaffId::new(5);
const ASSISTANT_ZHOU: StaffId = StaffId::new(6);

fn who(s: StaffId) -> &'static str {
    match s.get() {
        1 => "李医生",
        2 => "王医生",
        4 => "医助小陈",
        5 => "清心堂品牌号",
        6 => "医助小周",
        _ => "员工",
    }
}

fn roster() -> Res<StaffRoster> {
    let c = ClinicId::new(1);
    Ok(StaffRoster::new(vec![
        StaffAccount::new(LI, AccountKind::Doctor, c, 500).with_specialty(Label::parse("针灸")?),
        StaffAccount::new(WANG, AccountKind::Doctor, c, 500).with_specialty(Label::parse("内科")?),
        // The assistants are new: small panels, so a handover fills them.
        StaffAccount::new(ASSISTANT_CHEN, AccountKind::Assistant, c, 6),
        StaffAccount::new(BRAND, AccountKind::Brand, c, 5_000),
        StaffAccount::new(ASSISTANT_ZHOU, AccountKind::Assistant, c, 3),
    ])?)
}

/// The concentration of the clinic's contacts now, with group members counted as held.
fn measure(clinic: &Clinic) -> Concentration {
    let groups = clinic.journey.groups();
    relationship::book_concentration(clinic.journey.contacts(), &clinic.config.staff, |p| {
        (groups.is_member_anywhere(p), Yuan::ZERO, false)
    })
}

fn print_concentration(c: &Concentration) {
    println!(
        "{:<14} {:>5} {:>11} {:>17}",
        "doctor", "held", "held alone", "at risk if leaves"
    );
    for (d, e) in &c.by_doctor {
        println!(
            "{} {:>5} {:>11} {:>16.0}%",
            pad(who(*d), 14),
            e.held,
            e.sole,
            c.shares(*d).patients * 100.0
        );
    }
    println!(
        "concentration index: {:.0}% of {} patients would walk out with one doctor",
        c.index() * 100.0,
        c.patients
    );
}

fn contact(
    clinic: &mut Clinic,
    at: DateTime<Utc>,
    patient: PatientId,
    command: ContactCommand,
) -> Res<Result<(), String>> {
    Ok(clinic
        .run(at, ClinicEventKind::Contact { patient, command })?
        .map(|_| ())
        .map_err(|e| e.to_string()))
}

pub fn run(clinic: &mut Clinic) -> Res<()> {
    heading("Contacts and handover (医生一走关门大吉)");
    clinic.config.staff = roster()?;
    let now = clinic.now;
    let start = now - Duration::days(60);
    let patients: Vec<(PatientId, Option<StaffId>)> = clinic
        .journey
        .patients()
        .filter(|p| p.name().is_some())
        .map(|p| (p.id(), p.owner()))
        .collect();
    // Each patient added their doctor's WeChat at the first visit; some also the assistant
    // or the brand account.
    for (k, (p, owner)) in patients.iter().enumerate() {
        let at = start + Duration::hours(k as i64);
        let doctor = owner.filter(|o| *o == LI || *o == WANG).unwrap_or(LI);
        let channel = Some(Label::parse(&format!("qr-{:03}", k % 5))?);
        contact(
            clinic,
            at,
            *p,
            ContactCommand::Add {
                staff: doctor,
                channel,
            },
        )??;
        if k % 4 == 1 {
            contact(
                clinic,
                at,
                *p,
                ContactCommand::Add {
                    staff: BRAND,
                    channel: None,
                },
            )??;
        }
    }
    let before = measure(clinic);
    print_concentration(&before);
    if before.index() > 0.3 {
        println!("warning: more than 30% of patients are held by a doctor alone");
    }

    // Dr Li leaves. Her patients go to the two assistants, least loaded first (WeCom's
    // resigned-staff transfer: 24 hours to decline, a declined contact is lost).
    let li_patients = clinic.journey.contacts().patients_of(LI);
    let handover = Handover {
        departing: LI,
        mode: TransferMode::Resigned,
        scope: HandoverScope::All,
        rule: SuccessorRule::Among(vec![ASSISTANT_CHEN, ASSISTANT_ZHOU]),
        notice: Some(TransferNotice::parse(
            "李医生已离职，您的复诊与随访由医助继续跟进，有问题随时联系。",
        )?),
    };
    let step = clinic.run(now, ClinicEventKind::StaffLeft { handover })??;
    println!(
        "\n{} leaves at {}: {} patients, {} transfer notices sent, {} refused",
        who(LI),
        clinic.local(now),
        li_patients.len(),
        step.handover_messages.len(),
        step.handover_refusals.len()
    );
    for (p, why) in &step.handover_refusals {
        println!("  {p}: {why}");
    }
    // The refused ones go to Dr Wang by name; one patient declines within the window.
    let refused: Vec<PatientId> = step.handover_refusals.iter().map(|(p, _)| *p).collect();
    if !refused.is_empty() {
        let named = Handover {
            departing: LI,
            mode: TransferMode::Resigned,
            scope: HandoverScope::Patients(refused),
            rule: SuccessorRule::Named(WANG),
            notice: None,
        };
        let again = clinic.run(
            now + Duration::minutes(5),
            ClinicEventKind::StaffLeft { handover: named },
        )??;
        println!(
            "  the rest to {} by name: {} transfers, {} refused",
            who(WANG),
            again.handover_messages.len(),
            again.handover_refusals.len()
        );
    }
    if let Some(p) = li_patients.first() {
        match contact(
            clinic,
            now + Duration::hours(3),
            *p,
            ContactCommand::Decline,
        )? {
            Ok(()) => println!(
                "  {p} declines the transfer within 24 hours: the contact through {} is lost",
                who(LI)
            ),
            Err(e) => println!("  {p}'s decline refused: {e}"),
        }
    }

    // The next day the windows have closed: every transfer takes effect.
    let later = now + Duration::hours(25);
    for p in &li_patients {
        contact(clinic, later, *p, ContactCommand::Settle)??;
    }
    println!("\nDr Li's patients on {}:", clinic.local(later));
    let mut by_holder: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &li_patients {
        let holders: Vec<&str> = clinic
            .journey
            .contacts()
            .get(*p)
            .map(|pool| pool.holders().map(|(s, _)| who(s)).collect())
            .unwrap_or_default();
        let key = if holders.is_empty() {
            "no account (declined)".to_owned()
        } else {
            holders.join(" + ")
        };
        by_holder.entry(key).or_default().push(p.to_string());
    }
    for (holders, ps) in &by_holder {
        println!("  {} {}", pad(holders, 24), ps.join(" "));
    }
    let after = measure(clinic);
    let still = after.patients.saturating_sub(after.unheld);
    println!(
        "held by the clinic: {still} of {} patients; index {:.0}% before, {:.0}% after",
        after.patients,
        before.index() * 100.0,
        after.index() * 100.0
    );
    print_concentration(&after);

    groups(clinic, later)
}

/// A patient group for hypertension, planned from tags and `GroupChat` consent.
fn groups(clinic: &mut Clinic, at: DateTime<Utc>) -> Res<()> {
    heading("Patient groups (社群)");
    let tag = TagName::parse("condition/高血压")?;
    let series = GroupSeries::new(
        GroupId::new(1),
        Label::parse("高血压")?,
        Label::parse("血压管理与每周健康讲座")?,
        BRAND,
        Expr::has_tag(tag.clone()),
    )?
    .with_capacity(4)?;
    clinic.config.groups = vec![series.clone()];
    // Ten patients carry the tag; those who agreed at last week's lecture have GroupChat
    // consent.
    let tagged: Vec<PatientId> = clinic
        .journey
        .patients()
        .filter(|p| p.name().is_some())
        .map(|p| p.id())
        .take(10)
        .collect();
    let consenting = tagged
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 || i % 3 == 1)
        .map(|(_, p)| p);
    for p in consenting {
        clinic.record(
            at - Duration::days(5),
            ClinicEventKind::Consent {
                patient: *p,
                purpose: ConsentPurpose::GroupChat,
                granted: true,
                source: Label::parse("lecture")?,
            },
        )?;
    }
    let today = clinic.calendar.local_date(at);
    let facts: Vec<PatientFacts> = tagged
        .iter()
        .filter_map(|p| clinic.journey.patient(*p))
        .map(|p| {
            let b = PatientFacts::builder(p.id(), today).tag(tag.clone());
            if p.may(ConsentPurpose::GroupChat, at) {
                b.consent(ConsentPurpose::GroupChat).build()
            } else {
                b.build()
            }
        })
        .collect();
    let plan = plan_groups(&clinic.config.groups, clinic.journey.groups(), &facts, at)?;
    let invited = plan
        .events
        .iter()
        .filter(|e| matches!(e, GroupEvent::Invited { .. }))
        .count();
    println!(
        "{}: {} tagged patients, {invited} invited (the rest have no GroupChat consent), capacity {} a group",
        series.chat_name(1),
        tagged.len(),
        series.capacity()
    );
    for g in &plan.new_chats {
        if g.chat.number <= 1 {
            println!("  open {}", g.name);
        } else {
            let full = series.chat_name(g.chat.number.saturating_sub(1));
            println!("  open {} ({full} is full)", g.name);
        }
    }
    // Everyone invited joins, through the journey layer; one leaves a day later.
    for e in &plan.events {
        if let GroupEvent::Invited { chat, patient, .. } = e {
            clinic.record(
                at,
                ClinicEventKind::Group(GroupEvent::Joined {
                    chat: *chat,
                    patient: *patient,
                    at,
                }),
            )?;
        }
    }
    let again = plan_groups(&clinic.config.groups, clinic.journey.groups(), &facts, at)?;
    println!(
        "planned again: {} new invitations (the plan is idempotent)",
        again.events.len()
    );
    // The owner adds a tagged patient into the full first group by hand: refused, as the
    // platform refuses it.
    let first = clinic_ops::relationship::GroupChatRef {
        series: series.id(),
        number: 1,
    };
    let members = clinic.journey.groups().members();
    if let Some(outsider) = tagged.iter().find(|p| !members.contains(p))
        && clinic
            .journey
            .groups()
            .chat(first)
            .is_some_and(|c| c.seats() >= series.capacity() as usize)
    {
        let join = GroupEvent::Joined {
            chat: first,
            patient: *outsider,
            at,
        };
        if let Err(e) = clinic.run(at, ClinicEventKind::Group(join))? {
            println!(
                "  {outsider} added to {} by hand: refused ({e})",
                series.chat_name(1)
            );
        }
    }
    // A day later one member leaves.
    if let Some(GroupEvent::Invited { chat, patient, .. }) = plan.events.first() {
        let left = at + Duration::days(1);
        let leave = GroupEvent::Left {
            chat: *chat,
            patient: *patient,
            at: left,
        };
        clinic.record(left, ClinicEventKind::Group(leave))?;
        println!(
            "  {patient} leaves {} on {}",
            series.chat_name(chat.number),
            clinic.local(left)
        );
    }
    for (chat, members) in clinic.journey.groups().chats() {
        let ids: Vec<String> = members.members.iter().map(ToString::to_string).collect();
        println!(
            "  {} {} members: {}",
            pad(&series.chat_name(chat.number), 10),
            members.members.len(),
            ids.join(" ")
        );
    }
    let post = "本周四晚八点讲座：高血压的冬季调养。张阿姨亲测有效，降压药硝苯地平只要9元，坚持三个月彻底治愈！";
    let mut rules = GroupPostRules::default();
    rules.prescription_drugs.push("硝苯地平".into());
    let findings = lint_group_post(post, &rules);
    println!("\nthe group post draft breaks {} rules:", findings.len());
    for f in findings {
        println!("  {:?}: {}", f.rule, f.word);
    }
    Ok(())
}
