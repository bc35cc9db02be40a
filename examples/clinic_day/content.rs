//! Content and events (issue 20): which account paid for itself, one lecture's result, and
//! the day's 每日一药 step for hypertension patients.

use chrono::Duration;

use super::{Clinic, Res, heading, pad, rpad};
use crate::acquisition::{EVENT_DAYS, REVENUE_DAYS, acquisition_state};
use clinic_ops::campaign::AdLawWords;
use clinic_ops::content::{
    AccountKind, AccountOwner, ContentAccount, CostTerms, EnrolmentEvent, NextStep, Post, PostBook,
    SequenceContext, TouchRule, acquisition_report, next_step,
};
use clinic_ops::event::{
    LectureVenue, OutreachEvent, OutreachEventKind, RosterCommand, event_conversion,
};
use clinic_ops::followup::FollowUpHistory;
use clinic_ops::id::{AccountId, ClinicId, DoctorId, OutreachEventId, PatientId, PostId};
use clinic_ops::journey::ClinicEventKind;
use clinic_ops::money::Yuan;
use clinic_ops::patient::Platform;
use clinic_ops::rust_decimal::Decimal;
use clinic_ops::text::Label;

/// The clinic's accounts: the registrations' channel codes `qr-000` … `qr-004` are the
/// codes of their posts.
fn book(clinic: &Clinic) -> Res<PostBook> {
    let account = |id, kind, platform, name: &str, owner, terms| -> Res<ContentAccount> {
        let name = Label::parse(name)?;
        Ok(ContentAccount::new(
            AccountId::new(id),
            kind,
            platform,
            name,
            owner,
            terms,
        )?)
    };
    let fee = |post: u64, lead: u64, share: i64| {
        CostTerms::new(
            Yuan::from_whole(post)?,
            Yuan::from_whole(lead)?,
            Decimal::from(share),
        )
        .map_err(Box::<dyn std::error::Error>::from)
    };
    let accounts = vec![
        account(
            1,
            AccountKind::DoctorIp,
            Platform::Xiaohongshu,
            "陈医生说中医",
            AccountOwner::Doctor(DoctorId::new(3)),
            CostTerms::FREE,
        )?,
        account(
            2,
            AccountKind::ClinicBrand,
            Platform::WechatOfficial,
            "清心堂",
            AccountOwner::Clinic(ClinicId::new(1)),
            CostTerms::FREE,
        )?,
        account(
            3,
            AccountKind::Kol,
            Platform::Douyin,
            "养生大V",
            AccountOwner::External(Label::parse("张某")?),
            fee(3000, 0, 0)?,
        )?,
        account(
            4,
            AccountKind::Koc,
            Platform::Xiaohongshu,
            "宝妈小李",
            AccountOwner::External(Label::parse("李某")?),
            fee(200, 30, 5)?,
        )?,
    ];
    let words = AdLawWords::default();
    let at = clinic.now - Duration::days(210);
    let posts = [
        (1, 1, "秋季养肺：中医的三个小方法"),
        (2, 2, "会员日：免费体质辨识"),
        (3, 3, "失眠别硬扛，听听中医怎么说"),
        (4, 4, "产后调理，我在清心堂的经历"),
        (5, 1, "根治失眠的秘方？中医这样看"),
    ];
    let posts = posts
        .iter()
        .map(|&(id, account, copy)| {
            let code = Label::parse(&format!("qr-{:03}", id % 5))?;
            let topics = vec![Label::parse("养生")?];
            Ok(Post::new(
                PostId::new(id),
                AccountId::new(account),
                at,
                code,
                topics,
                copy,
                &words,
            )?)
        })
        .collect::<Res<Vec<_>>>()?;
    Ok(PostBook::new(accounts, posts)?)
}

pub fn run(clinic: &mut Clinic) -> Res<()> {
    heading("Acquisition by account (first touch, 90 days of revenue)");
    let book = book(clinic)?;
    for p in book.posts().iter().filter(|p| !p.findings().is_empty()) {
        let words: Vec<&str> = p.findings().iter().map(|f| f.word.as_str()).collect();
        println!(
            "{}: Advertising Law words {:?}, flagged for editing",
            p.id(),
            words
        );
    }
    let state = acquisition_state(&book, &clinic.journey, TouchRule::FirstTouch)?;
    let report = acquisition_report(&book, TouchRule::FirstTouch, &state)?;
    println!(
        "{} {} {} {} {} {} {} paid for itself",
        pad("account", 28),
        rpad("leads", 5),
        rpad("paying", 6),
        rpad("kept", 4),
        rpad("revenue", 9),
        rpad("cost", 8),
        rpad("¥/payer", 8),
    );
    for a in &report.by_account {
        let c = &a.counts;
        let per_payer = c.economics().cac.map_or("-".to_owned(), |y| y.to_string());
        println!(
            "{} {} {} {} {} {} {} {}",
            pad(&format!("{} {}", a.name, a.platform), 28),
            rpad(&c.leads.to_string(), 5),
            rpad(&c.paying.to_string(), 6),
            rpad(&c.retained.to_string(), 4),
            rpad(&c.revenue.to_string(), 9),
            rpad(&c.cost.to_string(), 8),
            rpad(&per_payer, 8),
            if a.paid_for_itself() { "yes" } else { "no" },
        );
    }
    println!(
        "(leads through no post: {}; revenue counted for {REVENUE_DAYS} days after the touch)",
        report.unattributed_leads
    );
    lecture(clinic)?;
    sequence(clinic)
}

/// The clinic's content library and its 每日一药 sequence for hypertension, in the journey
/// config's serde form.
const CONTENT: &str = r#"{
    "library": [
        {"id": 1, "title": "降压药怎么吃", "nature": "education", "conditions": ["I10"],
         "copy": "按时服药，不要自行停药，每天早晚各测一次血压"},
        {"id": 2, "title": "高血压饮食", "nature": "education", "conditions": ["I10"],
         "copy": "少盐少油，每日食盐不超过5克"},
        {"id": 3, "title": "会员日义诊", "nature": "promotional",
         "copy": "每月8日会员日，到馆免费测血压"}
    ],
    "sequences": [
        {"id": 1, "name": "每日一药·高血压", "trigger": "chronic_file_opened",
         "condition": "I10", "channel": "wechat_message",
         "steps": [{"after_days": 0, "item": 1}, {"after_days": 1, "item": 2},
                   {"after_days": 2, "item": 3}]}
    ]
}"#;

/// 每日一药: the day's plan enrols the hypertension patients (their chronic files) and
/// sends each the step that is due, as care when it is about their own condition.
fn sequence(clinic: &mut Clinic) -> Res<()> {
    heading("每日一药 (daily content for hypertension patients)");
    clinic.config.content = serde_json::from_str(CONTENT)?;
    let step = clinic.run(clinic.now, ClinicEventKind::Plan)??;
    for (patient, sequence, e) in &step.enrolments {
        match e {
            EnrolmentEvent::Enrolled { started_on, .. } => {
                println!(
                    "{patient} enrolled in {sequence} by their chronic file, from {started_on}"
                )
            }
            EnrolmentEvent::StepPlanned { task, .. } => println!(
                "{patient}: {} due {} by {}, resting on {} consent",
                task.reason,
                task.due_at
                    .map_or(task.due_on.to_string(), |t| clinic.local(t)),
                task.channel,
                task.purpose.code(),
            ),
            _ => {}
        }
    }
    // An enrolment whose step did not go: why (the consent the step rests on, the cap).
    let journey = &clinic.journey;
    for e in journey.enrolments() {
        let Some(patient) = journey.patient(e.patient) else {
            continue;
        };
        let Some(seq) = clinic.config.content.sequences.get(&e.sequence) else {
            continue;
        };
        let empty = FollowUpHistory::new(e.patient);
        let ctx = SequenceContext {
            sequence: seq,
            library: &clinic.config.content.library,
            patient,
            history: journey.history(e.patient).unwrap_or(&empty),
            policy: &clinic.config.followup,
            calendar: clinic.calendar,
        };
        match next_step(e, &ctx, clinic.now) {
            NextStep::NoConsent { purpose } => println!(
                "{}: step {} waits for {} consent (education about their own condition is care)",
                e.patient,
                e.planned + 1,
                purpose.code()
            ),
            NextStep::Held { week_of, cap } => println!(
                "{}: step {} held: the week of {week_of} already has {cap} contacts",
                e.patient,
                e.planned + 1
            ),
            _ => {}
        }
    }
    Ok(())
}

/// A health lecture 40 days ago: 8 seats, 6 registered, 4 came.
fn lecture(clinic: &mut Clinic) -> Res<()> {
    heading("One lecture: 换季养生讲座");
    let id = OutreachEventId::new(1);
    let starts = clinic.now - Duration::days(40);
    let event = OutreachEvent::new(
        id,
        ClinicId::new(1),
        OutreachEventKind::Lecture {
            venue: LectureVenue::OnSite,
        },
        Label::parse("换季养生讲座")?,
        starts,
        8,
    )?
    .with_invitation(
        "周六上午，陈医生讲换季养生，欢迎报名",
        &AdLawWords::default(),
    )?;
    let opened = starts - Duration::days(7);
    clinic.record(
        opened,
        ClinicEventKind::Outreach {
            event: id,
            command: RosterCommand::Create(event),
        },
    )?;
    clinic.record(
        opened,
        ClinicEventKind::Outreach {
            event: id,
            command: RosterCommand::Publish,
        },
    )?;
    for n in [2u64, 5, 8, 11, 14, 17] {
        let command = RosterCommand::Register {
            patient: PatientId::new(n),
        };
        clinic.record(
            opened + Duration::hours(n as i64),
            ClinicEventKind::Outreach { event: id, command },
        )?;
    }
    for n in [2u64, 5, 11, 17] {
        let command = RosterCommand::Attend {
            patient: PatientId::new(n),
        };
        clinic.record(starts, ClinicEventKind::Outreach { event: id, command })?;
    }
    let roster = clinic
        .journey
        .roster(id)
        .ok_or("the lecture was not kept")?;
    let paid: Vec<_> = clinic
        .journey
        .purchases()
        .map(|e| (e.purchase.patient, e.purchase.at))
        .collect();
    let c = event_conversion(roster, &paid, EVENT_DAYS);
    let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
    println!(
        "{} seats, {} registered, {} came; paid within {EVENT_DAYS} days: {} of {} attendees ({}), {} of {} no-shows ({})",
        roster.event().capacity(),
        roster.seats().len(),
        c.attendees,
        c.attendees_converted,
        c.attendees,
        rate(c.attendee_rate()),
        c.no_shows_converted,
        c.no_shows,
        rate(c.no_show_rate()),
    );
    Ok(())
}
