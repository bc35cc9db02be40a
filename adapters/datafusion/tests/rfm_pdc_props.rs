//! `rfm_summary`, `pdc` and `retention_report` over random tables split over 1 to 16
//! partitions equal the core calculators (`summarize_rfm`, `pdc_by_patient`, `retention`).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use clinic_ops::id::PatientId;
use clinic_ops::journey::{Category, DaysSupply, Fill};
use clinic_ops::metrics::adherence::{AdherenceThreshold, PdcPeriod, pdc_by_patient};
use clinic_ops::money::Yuan;
use clinic_ops::segment::summarize_rfm;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{Date32Type, Decimal128Type, Field, Schema, UInt32Type};
use datafusion::catalog::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use proptest::prelude::*;
use support::runtime;

/// 2026-01-01 as a Unix day number.
const BASE: i32 = 20_454;

fn day(n: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(BASE + n + 719_163).unwrap_or_else(|| panic!("day {n}"))
}

fn session(columns: Vec<(&str, ArrayRef)>, assign: &[usize], partitions: usize) -> SessionContext {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
            .collect::<Vec<_>>(),
    ));
    let all = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut parts = Vec::new();
    for part in 0..partitions {
        let rows: Vec<u32> = (0..all.num_rows() as u32)
            .filter(|&i| assign.get(i as usize).copied().unwrap_or(0) % partitions == part)
            .collect();
        let idx = datafusion::arrow::array::UInt32Array::from(rows);
        let cols = all
            .columns()
            .iter()
            .map(|c| {
                datafusion::arrow::compute::take(c, &idx, None).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        parts.push(vec![
            RecordBatch::try_new(schema.clone(), cols).unwrap_or_else(|e| panic!("{e}")),
        ]);
    }
    let ctx = SessionContext::new_with_config(
        SessionConfig::new().with_target_partitions(partitions.max(2)),
    );
    clinic_ops_datafusion::register(&ctx);
    let table = MemTable::try_new(schema, parts).unwrap_or_else(|e| panic!("{e}"));
    ctx.register_table("t", Arc::new(table))
        .unwrap_or_else(|e| panic!("{e}"));
    ctx
}

async fn rows(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn retention_equals_the_core(
        visits in prop::collection::vec((0i64..10, 0i64..(90 * 86_400)), 0..60),
        assign in prop::collection::vec(0usize..16, 60),
        partitions in 1usize..=16,
        period in prop::sample::select(vec!["day", "week", "month"]),
        periods in 1u32..8,
        offset in prop::sample::select(vec!["+08:00", "Z", "-05:30"]),
    ) {
        use clinic_ops::calendar::{ClinicCalendar, Period};
        use clinic_ops::metrics::retention::{RetentionSpec, retention};
        let base = i64::from(BASE) * 86_400;
        let ctx = session(
            vec![
                ("patient", Arc::new(Int64Array::from_iter_values(visits.iter().map(|v| v.0))) as ArrayRef),
                ("t", Arc::new(Int64Array::from_iter_values(visits.iter().map(|v| base + v.1)))),
            ],
            &assign,
            partitions,
        );
        let sql = format!(
            "SELECT retention_report(c) FROM \
             (SELECT patient, retention_cohort('{period}', {periods}, t, '{offset}') AS c FROM t GROUP BY patient)"
        );
        let got_batches = runtime().block_on(rows(&ctx, &sql));
        let text = got_batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| b.column(0).as_string::<i32>().value(0).to_owned())
            .unwrap_or_default();
        let got: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let p = match period { "day" => Period::Day, "week" => Period::Week, _ => Period::Month };
        let spec = RetentionSpec::new(p, periods).unwrap_or_else(|e| panic!("{e}"));
        let cal = ClinicCalendar::parse(offset).unwrap_or_else(|e| panic!("{e}"));
        let core_visits: Vec<_> = visits
            .iter()
            .map(|v| {
                (
                    PatientId::new(v.0 as u64),
                    chrono::DateTime::from_timestamp(base + v.1, 0).unwrap_or_else(|| panic!("time")),
                )
            })
            .collect();
        let m = retention(&core_visits, &spec, cal).unwrap_or_else(|e| panic!("{e}"));
        let want = serde_json::to_value(m.cohorts()).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(&got["cohorts"], &want, "{}", text);
        if !visits.is_empty() {
            prop_assert_eq!(&got["period"], &serde_json::json!(period));
        }
    }

    #[test]
    fn rfm_summaries_equal_the_core(
        tx in prop::collection::vec((0i64..10, 0i32..60, 0i64..100_000), 0..60),
        assign in prop::collection::vec(0usize..16, 60),
        partitions in 1usize..=16,
        as_of in 0i32..70,
    ) {
        let ctx = session(
            vec![
                ("patient", Arc::new(Int64Array::from_iter_values(tx.iter().map(|t| t.0))) as ArrayRef),
                ("d", Arc::new(Date32Array::from_iter_values(tx.iter().map(|t| BASE + t.1)))),
                ("amount", Arc::new(
                    Decimal128Array::from_iter_values(tx.iter().map(|t| i128::from(t.2)))
                        .with_precision_and_scale(12, 2)
                        .unwrap_or_else(|e| panic!("{e}")),
                )),
            ],
            &assign,
            partitions,
        );
        let sql = format!(
            "SELECT patient, rfm_summary(DATE '{}', d, amount) AS s FROM t GROUP BY patient",
            day(as_of)
        );
        let got_batches = runtime().block_on(rows(&ctx, &sql));
        let mut got = BTreeMap::new();
        for b in &got_batches {
            let p = b.column(0).as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let s = b.column(1).as_struct();
            for i in 0..b.num_rows() {
                if s.is_null(i) {
                    continue;
                }
                let u = |c: usize| s.column(c).as_primitive::<UInt32Type>().value(i);
                let fen = s.column(3).as_primitive::<Decimal128Type>().value(i);
                got.insert(p.value(i) as u64, (u(0), u(1), u(2), fen as u64));
            }
        }
        let core = summarize_rfm(
            tx.iter().map(|t| (t.0 as u64, day(t.1), Yuan::try_from_fen(t.2 as u64).unwrap_or(Yuan::ZERO))),
            day(as_of),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let want: BTreeMap<u64, (u32, u32, u32, u64)> = core
            .into_iter()
            .map(|(p, s)| (p, (s.frequency, s.recency, s.t, s.monetary_value.to_fen())))
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn pdc_equals_the_core(
        fills in prop::collection::vec((0i64..8, 0usize..2, 0i32..200, 1i64..60), 0..50),
        assign in prop::collection::vec(0usize..16, 50),
        partitions in 1usize..=16,
    ) {
        let drugs = ["metformin", "glipizide"];
        let ctx = session(
            vec![
                ("patient", Arc::new(Int64Array::from_iter_values(fills.iter().map(|f| f.0))) as ArrayRef),
                ("drug", Arc::new(StringArray::from_iter_values(fills.iter().map(|f| drugs[f.1])))),
                ("filled", Arc::new(Date32Array::from_iter_values(fills.iter().map(|f| BASE + f.2)))),
                ("days", Arc::new(Int64Array::from_iter_values(fills.iter().map(|f| f.3)))),
            ],
            &assign,
            partitions,
        );
        let (start, end) = (day(10), day(180));
        let sql = format!(
            "SELECT patient, pdc(DATE '{start}', DATE '{end}', drug, filled, days) AS s FROM t GROUP BY patient"
        );
        let got_batches = runtime().block_on(rows(&ctx, &sql));
        let mut got = BTreeMap::new();
        for b in &got_batches {
            let p = b.column(0).as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let s = b.column(1).as_struct();
            for i in 0..b.num_rows() {
                if s.is_null(i) {
                    continue;
                }
                let index = s.column(0).as_primitive::<Date32Type>().value(i);
                let u = |c: usize| s.column(c).as_primitive::<UInt32Type>().value(i);
                let pdc = s.column(3).as_primitive::<Decimal128Type>().value(i);
                let adherent = s.column(4).as_boolean().value(i);
                got.insert(p.value(i) as u64, (index - BASE, u(1), u(2), pdc, adherent));
            }
        }
        let core_fills: Vec<Fill> = fills
            .iter()
            .map(|f| {
                Fill::new(
                    PatientId::new(f.0 as u64),
                    Category::parse(drugs[f.1]).unwrap_or_else(|e| panic!("{e}")),
                    day(f.2),
                    DaysSupply::new(f.3 as u32).unwrap_or_else(|e| panic!("{e}")),
                )
            })
            .collect();
        let period = PdcPeriod::new(start, end).unwrap_or_else(|e| panic!("{e}"));
        let want: BTreeMap<u64, _> = pdc_by_patient(&core_fills, &period, AdherenceThreshold::DEFAULT)
            .into_iter()
            .filter_map(|(p, o)| {
                o.measured().map(|m| {
                    let idx = (m.index_date - day(0)).num_days() as i32;
                    let pdc: i128 = m.rounded(4).replace('.', "").parse().unwrap_or(-1);
                    (p.get(), (idx, m.days_in_period, m.days_covered, pdc, m.adherent))
                })
            })
            .collect();
        prop_assert_eq!(got, want);
    }
}

/// An amount with more than two places is refused by the library's money type, not rounded.
#[test]
fn fractional_fen_are_refused() {
    let ctx = SessionContext::new();
    clinic_ops_datafusion::register(&ctx);
    let sql = "SELECT rfm_summary(DATE '2026-02-01', d, a) FROM (VALUES (DATE '2026-01-01', 1.005)) AS v(d, a)";
    let got = runtime().block_on(async {
        match ctx.sql(sql).await {
            Err(e) => e.to_string(),
            Ok(df) => df
                .collect()
                .await
                .map_or_else(|e| e.to_string(), |_| "ok".to_owned()),
        }
    });
    assert!(
        got.contains("rfm_summary: amount 1.005 is refused"),
        "{got}"
    );
}
