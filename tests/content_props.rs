//! Properties of attribution, costs and shards (issue 20).

use std::collections::BTreeMap;

use clinic_ops::campaign::AdLawWords;
use clinic_ops::content::{
    AccountKind, AccountOwner, AcquisitionColumns, AcquisitionReport, AcquisitionSpec,
    AcquisitionState, ContentAccount, CostTerms, Post, PostBook, TouchRule, acquisition_report,
};
use clinic_ops::id::{AccountId, PostId};
use clinic_ops::metrics::event::{JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::{BreakdownKey, ConversionWindow};
use clinic_ops::money::Yuan;
use clinic_ops::patient::Platform;
use clinic_ops::rust_decimal::Decimal;
use clinic_ops::text::Label;
use proptest::prelude::*;

const DAY: i64 = 86_400;
const T0: i64 = 1_772_416_800;

#[derive(Debug, Clone)]
struct Row {
    patient: u32,
    kind: u32,
    at: i64,
    post: u32,
    fen: u64,
}

fn kind_code(i: u8) -> u32 {
    let stage = match i % 5 {
        0 => JourneyStage::Lead,
        1 => JourneyStage::Converted,
        2 => JourneyStage::Purchased,
        3 => JourneyStage::Revisited,
        _ => JourneyStage::Booked,
    };
    JourneyEventKind::stage(stage).code()
}

fn rows(patients: u32, posts: u32) -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (0..patients, any::<u8>(), 0i64..120, 0..=posts, 0u64..50_000),
        0..80,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(patient, k, day, post, fen)| {
                let kind = kind_code(k);
                let lead = kind == JourneyEventKind::stage(JourneyStage::Lead).code();
                Row {
                    patient,
                    kind,
                    at: T0 + day * DAY / 2,
                    // Touches are leads; other rows carry no post.
                    post: if lead { post } else { 0 },
                    fen: if kind == JourneyEventKind::stage(JourneyStage::Purchased).code() {
                        fen
                    } else {
                        0
                    },
                }
            })
            .collect()
    })
}

struct Cols {
    count: u32,
    patient: Vec<u32>,
    kind: Vec<u32>,
    at: Vec<i64>,
    post: Vec<u32>,
    fen: Vec<u64>,
}

impl Cols {
    fn of(count: u32, rows: &[Row]) -> Cols {
        Cols {
            count,
            patient: rows.iter().map(|r| r.patient).collect(),
            kind: rows.iter().map(|r| r.kind).collect(),
            at: rows.iter().map(|r| r.at).collect(),
            post: rows.iter().map(|r| r.post).collect(),
            fen: rows.iter().map(|r| r.fen).collect(),
        }
    }
    fn view(&self) -> AcquisitionColumns<'_> {
        AcquisitionColumns {
            patient_count: self.count,
            patient: &self.patient,
            kind: &self.kind,
            at: &self.at,
            post: &self.post,
            amount_fen: &self.fen,
        }
    }
}

fn book(posts: u32, fees: &[(u64, u64, u32)]) -> PostBook {
    let accounts: Vec<ContentAccount> = fees
        .iter()
        .enumerate()
        .map(|(i, &(per_post, per_lead, share))| {
            let n = i as u64 + 1;
            ContentAccount::new(
                AccountId::new(n),
                AccountKind::Kol,
                Platform::Xiaohongshu,
                Label::parse(&format!("kol{n}")).unwrap(),
                AccountOwner::External(Label::parse(&format!("k{n}")).unwrap()),
                CostTerms::new(
                    Yuan::from_fen(per_post as u32),
                    Yuan::from_fen(per_lead as u32),
                    Decimal::new(i64::from(share), 1),
                )
                .unwrap(),
            )
            .unwrap()
        })
        .collect();
    let n_accounts = accounts.len() as u64;
    let posts = (1..=u64::from(posts))
        .map(|p| {
            Post::new(
                PostId::new(p),
                AccountId::new((p - 1) % n_accounts + 1),
                chrono::DateTime::from_timestamp(T0, 0).unwrap(),
                Label::parse(&format!("code-{p}")).unwrap(),
                vec![],
                "",
                &AdLawWords::default(),
            )
            .unwrap()
        })
        .collect();
    PostBook::new(accounts, posts).unwrap()
}

fn spec(rule: TouchRule) -> AcquisitionSpec {
    AcquisitionSpec::new(rule, ConversionWindow::days(30).unwrap(), 90).unwrap()
}

/// The rule written the plain way: per patient, the touches at or before the first paid
/// visit, and the least (first) or greatest (last) of `(at, code)`.
fn model(rule: TouchRule, count: u32, rows: &[Row]) -> Vec<(i64, u32)> {
    let purchased = JourneyEventKind::stage(JourneyStage::Purchased).code();
    (0..count)
        .map(|p| {
            let mine: Vec<&Row> = rows.iter().filter(|r| r.patient == p).collect();
            let paid = mine
                .iter()
                .filter(|r| r.kind == purchased)
                .map(|r| r.at)
                .min();
            let touches = mine
                .iter()
                .filter(|r| r.post != 0 && paid.is_none_or(|f| r.at <= f))
                .map(|r| (r.at, r.post));
            let pick = match rule {
                TouchRule::FirstTouch => touches.min(),
                TouchRule::LastTouch => touches.max(),
                _ => unreachable!(),
            };
            pick.unwrap_or((i64::MIN, 0))
        })
        .collect()
}

fn report(b: &PostBook, rule: TouchRule, state: &AcquisitionState) -> AcquisitionReport {
    acquisition_report(b, rule, state).unwrap()
}

fn rule() -> impl Strategy<Value = TouchRule> {
    prop_oneof![Just(TouchRule::FirstTouch), Just(TouchRule::LastTouch)]
}

fn fees() -> impl Strategy<Value = Vec<(u64, u64, u32)>> {
    prop::collection::vec((0u64..20_000, 0u64..5_000, 0u32..=1000), 1..4)
}

proptest! {
    /// Each patient goes to at most one post, the one the plain model picks; the posts'
    /// leads add up to the attributed leads and never to more than all leads.
    #[test]
    fn each_lead_goes_to_at_most_one_post(rows in rows(12, 5), rule in rule(), fees in fees()) {
        let cols = Cols::of(12, &rows);
        let s = spec(rule);
        let got = s.attribute(&cols.view(), 5).unwrap();
        prop_assert_eq!(&got, &model(rule, 12, &rows));
        let state = s.compute(&cols.view(), 5, 1).unwrap();
        let r = report(&book(5, &fees), rule, &state);
        let all_leads = state.funnel.step_patients()[0];
        let post_leads: u64 = r.by_post.iter().map(|p| p.counts.leads).sum();
        prop_assert!(post_leads <= all_leads);
        prop_assert_eq!(post_leads + r.unattributed_leads, all_leads);
        // A post's leads are patients the attribution gave it.
        for p in &r.by_post {
            let given = got.iter().filter(|g| g.1 == p.code.get()).count() as u64;
            prop_assert!(p.counts.leads <= given);
        }
    }

    /// The state does not depend on the threads: the rows' chunks each sum revenue on
    /// their own, and the funnel's workers each keep a flat store of posts.
    #[test]
    fn threads_do_not_change_the_state(rows in rows(12, 5), rule in rule()) {
        let cols = Cols::of(12, &rows);
        let s = spec(rule);
        let one = s.compute(&cols.view(), 5, 1).unwrap();
        for threads in [2, 3, 7] {
            prop_assert_eq!(&s.compute(&cols.view(), 5, threads).unwrap(), &one);
        }
    }

    /// Attributed revenue never exceeds the revenue; post costs add up to the account's
    /// spend (and payout), accounts to the total.
    #[test]
    fn revenue_is_bounded_and_costs_add_up(rows in rows(10, 6), rule in rule(), fees in fees()) {
        let cols = Cols::of(10, &rows);
        let state = spec(rule).compute(&cols.view(), 6, 1).unwrap();
        let b = book(6, &fees);
        let r = report(&b, rule, &state);
        let attributed: u64 = r.by_post.iter().map(|p| p.counts.revenue.to_fen()).sum();
        prop_assert!(attributed <= r.all_revenue.to_fen());
        prop_assert_eq!(r.total.revenue.to_fen(), attributed);
        let mut by_account: BTreeMap<AccountId, u64> = BTreeMap::new();
        for p in &r.by_post {
            *by_account.entry(p.account).or_default() += p.counts.cost.to_fen();
        }
        let mut total = 0;
        for a in &r.by_account {
            prop_assert_eq!(a.counts.cost.to_fen(), by_account.get(&a.account).copied().unwrap_or(0));
            prop_assert_eq!(a.payout, Some(a.counts.cost));
            total += a.counts.cost.to_fen();
        }
        prop_assert_eq!(r.total.cost.to_fen(), total);
    }

    /// With one touch per patient, first touch and last touch agree.
    #[test]
    fn one_touch_rules_agree(rows in rows(10, 4)) {
        let mut seen = std::collections::BTreeSet::new();
        let one: Vec<Row> = rows
            .into_iter()
            .filter(|r| r.post == 0 || seen.insert(r.patient))
            .collect();
        let cols = Cols::of(10, &one);
        let first = spec(TouchRule::FirstTouch).compute(&cols.view(), 4, 1).unwrap();
        let last = spec(TouchRule::LastTouch).compute(&cols.view(), 4, 1).unwrap();
        prop_assert_eq!(first, last);
    }

    /// Attribution over shards of patients, merged, equals attribution over all.
    #[test]
    fn shards_merge_into_the_whole(rows in rows(15, 5), rule in rule(), shards in 1u32..4) {
        let s = spec(rule);
        let whole = s.compute(&Cols::of(15, &rows).view(), 5, 1).unwrap();
        let mut merged: Option<AcquisitionState> = None;
        for k in 0..shards {
            // Renumber the shard's patients densely, as a host's shard would.
            let mine: Vec<u32> = (0..15).filter(|p| p % shards == k).collect();
            let local: Vec<Row> = rows
                .iter()
                .filter_map(|r| {
                    let i = mine.iter().position(|p| *p == r.patient)?;
                    Some(Row { patient: i as u32, ..r.clone() })
                })
                .collect();
            let part = s.compute(&Cols::of(mine.len() as u32, &local).view(), 5, 1).unwrap();
            match merged.as_mut() {
                None => merged = Some(part),
                Some(m) => m.merge(&part).unwrap(),
            }
        }
        let merged = merged.unwrap();
        prop_assert_eq!(&merged.revenue_fen, &whole.revenue_fen);
        prop_assert_eq!(merged.total_revenue_fen, whole.total_revenue_fen);
        prop_assert_eq!(merged.funnel.step_patients(), whole.funnel.step_patients());
        let steps = |st: &AcquisitionState| -> BTreeMap<BreakdownKey, Vec<u64>> {
            st.funnel.by_value().iter().map(|(k, t)| (*k, t.step_patients(0))).collect()
        };
        prop_assert_eq!(steps(&merged), steps(&whole));
    }
}

/// The whole state written the plain way, from [`model`]'s attribution: every row carries
/// its patient's post into the funnel engine on one thread, and each post's revenue is the
/// sum of its patients' purchases from the touch to 90 days after it.
fn plain_state(rule: TouchRule, count: u32, rows: &[Row]) -> Result<AcquisitionState, String> {
    let won = model(rule, count, rows);
    let purchased = JourneyEventKind::stage(JourneyStage::Purchased).code();
    let mut revenue_fen: BTreeMap<u32, u128> = BTreeMap::new();
    let mut total_revenue_fen = 0u128;
    for r in rows.iter().filter(|r| r.kind == purchased && r.fen > 0) {
        total_revenue_fen += u128::from(r.fen);
        let (touch, code) = won[r.patient as usize];
        let after = i128::from(r.at) - i128::from(touch);
        if code != 0 && (0..=90 * i128::from(DAY)).contains(&after) {
            *revenue_fen.entry(code).or_default() += u128::from(r.fen);
        }
    }
    let cols = Cols::of(count, rows);
    let dim: Vec<u32> = rows.iter().map(|r| won[r.patient as usize].1).collect();
    let events =
        clinic_ops::metrics::funnel::EventColumns::new(count, &cols.patient, &cols.kind, &cols.at)
            .with_dimension(&dim);
    let funnel = spec(rule)
        .funnel()
        .compute_columns(&events, 1)
        .map_err(|e| e.to_string())?;
    Ok(AcquisitionState {
        funnel,
        revenue_fen,
        total_revenue_fen,
    })
}

/// Rows whose times may lie anywhere an `i64` reaches, so that some sets' touches are too
/// far apart to pack (the plain fallback) and others pack into every bit.
fn wide_rows(patients: u32, posts: u32) -> impl Strategy<Value = Vec<Row>> {
    (
        rows(patients, posts),
        prop_oneof![
            3 => Just(0i64),
            1 => Just(i64::MAX / 2),
            1 => Just(i64::MIN / 2),
            1 => any::<i64>(),
        ],
    )
        .prop_map(|(rows, shift)| {
            rows.into_iter()
                .enumerate()
                .map(|(i, r)| Row {
                    // Every third row moved by `shift`: spans from days to most of an i64.
                    at: if i % 3 == 0 {
                        r.at.saturating_add(shift)
                    } else {
                        r.at
                    },
                    ..r
                })
                .collect()
        })
}

proptest! {
    /// The fast path (checks and first paid visits in one pass, touches packed and won by
    /// atomic min or max on several threads) gives the state of the plain model, whatever
    /// the threads; wide time ranges take the plain fallback and agree too.
    #[test]
    fn the_fast_path_equals_the_plain_model(
        rows in wide_rows(14, 7),
        rule in rule(),
        threads in 1usize..5,
        max_code in prop_oneof![Just(7u32), Just(8), Just(1u32 << 20)],
    ) {
        let cols = Cols::of(14, &rows);
        let s = spec(rule);
        prop_assert_eq!(s.attribute(&cols.view(), max_code).unwrap(), model(rule, 14, &rows));
        // Times too wide for the funnel engine to pack are refused by both alike.
        let got = s.compute(&cols.view(), max_code, threads).map_err(|e| e.to_string());
        prop_assert_eq!(got, plain_state(rule, 14, &rows));
    }
}

#[test]
fn bad_columns_and_codes_are_refused_with_their_row() {
    let s = spec(TouchRule::FirstTouch);
    let cols = Cols::of(
        1,
        &[Row {
            patient: 0,
            kind: 0,
            at: T0,
            post: 9,
            fen: 0,
        }],
    );
    let e = s.compute(&cols.view(), 5, 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "row 0: post code 9 is not a post of the book (codes 1 to 5)"
    );
    let cols = Cols::of(
        1,
        &[Row {
            patient: 3,
            kind: 0,
            at: T0,
            post: 0,
            fen: 0,
        }],
    );
    assert!(
        s.compute(&cols.view(), 5, 1)
            .unwrap_err()
            .to_string()
            .contains("patient 3")
    );
    let mut cols = Cols::of(
        1,
        &[Row {
            patient: 0,
            kind: 0,
            at: T0,
            post: 0,
            fen: 0,
        }],
    );
    cols.fen.clear();
    assert!(
        s.compute(&cols.view(), 5, 1)
            .unwrap_err()
            .to_string()
            .contains("amount 0")
    );
}

#[test]
fn unknown_accounts_and_codes_in_use_are_refused() {
    let b = book(2, &[(0, 0, 0)]);
    let posts = b.posts().to_vec();
    let accounts: Vec<ContentAccount> = b.accounts().values().cloned().collect();
    let mut stolen = posts.clone();
    stolen.push(
        Post::new(
            PostId::new(9),
            AccountId::new(1),
            chrono::DateTime::from_timestamp(T0, 0).unwrap(),
            Label::parse("code-1").unwrap(),
            vec![],
            "",
            &AdLawWords::default(),
        )
        .unwrap(),
    );
    let e = PostBook::new(accounts.clone(), stolen).unwrap_err();
    assert_eq!(
        e.to_string(),
        "post PO9 channel code code-1 is already used by post PO1"
    );
    let e = PostBook::new(vec![], posts).unwrap_err();
    assert_eq!(e.to_string(), "post PO1 names unknown account AC1");
}

/// The worked example of a KOL's payout and ROI, with the ¥ rounding named: two posts at
/// ¥500 each, ¥12.5 a lead, 7.5% of revenue, rounded half to even per post.
#[test]
fn worked_payout_and_roi() {
    let terms = CostTerms::new(
        Yuan::parse("500").unwrap(),
        Yuan::parse("12.5").unwrap(),
        Decimal::new(75, 1),
    )
    .unwrap();
    // Post 1: 3 leads, ¥1,000.30 → 500 + 37.50 + 75.0225 → 75.02 = 612.52.
    assert_eq!(
        terms
            .cost_of_post(3, Yuan::parse("1000.30").unwrap())
            .to_string(),
        "612.52"
    );
    // Post 2: 1 lead, ¥0.70 → 500 + 12.50 + 0.0525 → 0.05 = 512.55.
    assert_eq!(
        terms
            .cost_of_post(1, Yuan::parse("0.70").unwrap())
            .to_string(),
        "512.55"
    );
    // The account: ¥1,125.07 spent, ¥1,001.00 brought by 2 paying patients:
    // CAC 562.535 → 562.54 (half to even on the fen: 562.535 → 562.54 since 3 is odd),
    // ROI (1001 − 1125.07) ÷ 1125.07 = −0.110277… → −0.1103.
    let counts = clinic_ops::content::AcquisitionCounts {
        leads: 4,
        converted: 3,
        paying: 2,
        retained: 1,
        revenue: Yuan::parse("1001.00").unwrap(),
        cost: Yuan::parse("1125.07").unwrap(),
    };
    let e = counts.economics();
    assert_eq!(e.cac.unwrap().to_string(), "562.54");
    assert_eq!(e.roi.unwrap().to_string(), "-0.1103");
    assert_eq!(counts.cost_per_lead().unwrap().to_string(), "281.27");
}
