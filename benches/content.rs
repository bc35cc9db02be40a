//! Attribution of journey events to posts.
//!
//! Target (issue 20): attribution of 10,000,000 journey events to 100,000 posts in under
//! 1 s on two cores: `AcquisitionSpec::compute` (touch selection, the funnel
//! lead → converted → paid → retained broken down by post, revenue per post) with 2
//! threads, then `acquisition_report` over the 100,000 posts of 10,000 accounts. Patients
//! have about 5 rows: a lead through a post (a quarter a second touch), then converted,
//! paid (with an amount) and revisits with falling probabilities, shuffled.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use clinic_ops::campaign::AdLawWords;
use clinic_ops::content::{
    AccountKind, AccountOwner, AcquisitionColumns, AcquisitionSpec, ContentAccount, CostTerms,
    Post, PostBook, TouchRule, acquisition_report,
};
use clinic_ops::id::{AccountId, PostId};
use clinic_ops::metrics::event::{JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::ConversionWindow;
use clinic_ops::money::Yuan;
use clinic_ops::patient::Platform;
use clinic_ops::rust_decimal::Decimal;
use clinic_ops::text::Label;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Default)]
struct Data {
    patients: u32,
    patient: Vec<u32>,
    kind: Vec<u32>,
    at: Vec<i64>,
    post: Vec<u32>,
    fen: Vec<u64>,
}

impl Data {
    fn push(&mut self, p: u32, stage: JourneyStage, at: i64, post: u32, fen: u64) {
        self.patient.push(p);
        self.kind.push(JourneyEventKind::stage(stage).code());
        self.at.push(at);
        self.post.push(post);
        self.fen.push(fen);
    }
}

fn dataset(rows: usize, posts: u32, seed: u64) -> Data {
    let mut rng = Rng(seed);
    let mut d = Data::default();
    let start = 1_767_196_800i64;
    let day = 86_400;
    let mut p = 0u32;
    while d.patient.len() < rows {
        let t0 = start + rng.below(180 * 86_400) as i64;
        let code = 1 + rng.below(u64::from(posts)) as u32;
        d.push(p, JourneyStage::Lead, t0, code, 0);
        if rng.below(4) == 0 {
            let other = 1 + rng.below(u64::from(posts)) as u32;
            d.push(
                p,
                JourneyStage::Lead,
                t0 + rng.below(10 * day as u64) as i64,
                other,
                0,
            );
        }
        let mut t = t0;
        for (stage, keep) in [
            (JourneyStage::Converted, 80),
            (JourneyStage::Purchased, 60),
            (JourneyStage::Revisited, 60),
            (JourneyStage::Purchased, 70),
        ] {
            if rng.below(100) >= keep {
                break;
            }
            t += rng.below(7 * day as u64) as i64 + 60;
            let fen = if stage == JourneyStage::Purchased {
                5_000 + rng.below(50_000)
            } else {
                0
            };
            d.push(p, stage, t, 0, fen);
        }
        p += 1;
    }
    d.patients = p;
    let n = d.patient.len();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        d.patient.swap(i, j);
        d.kind.swap(i, j);
        d.at.swap(i, j);
        d.post.swap(i, j);
        d.fen.swap(i, j);
    }
    d
}

fn book(posts: u32, accounts: u64) -> PostBook {
    let words = AdLawWords::default();
    let at = chrono::DateTime::from_timestamp(1_767_196_800, 0).unwrap_or_default();
    let accs = (1..=accounts)
        .map(|a| {
            ContentAccount::new(
                AccountId::new(a),
                AccountKind::Koc,
                Platform::Douyin,
                Label::parse(&format!("koc{a}")).unwrap(),
                AccountOwner::External(Label::parse(&format!("k{a}")).unwrap()),
                CostTerms::new(
                    Yuan::from_fen(10_000),
                    Yuan::from_fen(2_000),
                    Decimal::from(5),
                )
                .unwrap(),
            )
            .unwrap()
        })
        .collect();
    let ps = (1..=u64::from(posts))
        .map(|i| {
            Post::new(
                PostId::new(i),
                AccountId::new((i - 1) % accounts + 1),
                at,
                Label::parse(&format!("p{i}")).unwrap(),
                vec![],
                "",
                &words,
            )
            .unwrap()
        })
        .collect();
    PostBook::new(accs, ps).unwrap()
}

fn bench(c: &mut Criterion) {
    let spec = AcquisitionSpec::new(
        TouchRule::LastTouch,
        ConversionWindow::days(90).unwrap(),
        90,
    )
    .unwrap();
    let posts = 100_000;
    let b = book(posts, 10_000);
    let mut g = c.benchmark_group("content_attribution");
    g.sample_size(10);
    for rows in [1_000_000usize, 10_000_000] {
        let d = dataset(rows, posts, 7);
        let cols = AcquisitionColumns {
            patient_count: d.patients,
            patient: &d.patient,
            kind: &d.kind,
            at: &d.at,
            post: &d.post,
            amount_fen: &d.fen,
        };
        g.bench_function(format!("{rows}_events_100k_posts_2_threads"), |bch| {
            bch.iter(|| {
                let state = spec.compute(black_box(&cols), posts, 2).unwrap();
                black_box(acquisition_report(&b, spec.rule(), &state).unwrap())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
