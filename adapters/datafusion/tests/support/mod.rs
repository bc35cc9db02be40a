//! Random event tables, their DataFusion sessions split over partitions, and the core
//! funnel engine's answers to compare with.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use clinic_ops::id::PatientId;
use clinic_ops::metrics::event::{JourneyEvent, JourneyEventKind, JourneyStage};
use clinic_ops::metrics::funnel::{ConversionWindow, FunnelMode, FunnelSpec, Step};
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

/// The event names of the random tables, and the journey stages the core engine sees.
pub const EVENTS: [(&str, JourneyStage); 5] = [
    ("lead", JourneyStage::Lead),
    ("booked", JourneyStage::Booked),
    ("arrived", JourneyStage::Arrived),
    ("paid", JourneyStage::Purchased),
    ("noise", JourneyStage::Referred),
];

/// One row: patient, event index into [`EVENTS`], Unix seconds.
pub type Row = (i64, usize, i64);

/// The ClickHouse modes, by SQL name.
pub const MODES: [FunnelMode; 4] = [
    FunnelMode::Default,
    FunnelMode::StrictOrder,
    FunnelMode::StrictDeduplication,
    FunnelMode::StrictIncrease,
];

/// The core funnel of steps (indices into [`EVENTS`], labelled by event name).
pub fn spec(steps: &[usize], window: u64, mode: FunnelMode) -> FunnelSpec {
    let steps = steps
        .iter()
        .map(|&i| Step::kind(EVENTS[i].1).labelled(EVENTS[i].0))
        .collect();
    let window = ConversionWindow::seconds(window).unwrap_or_else(|e| panic!("{e}"));
    FunnelSpec::new(steps, window, mode).unwrap_or_else(|e| panic!("{e}"))
}

/// The rows as core journey events.
pub fn events(rows: &[Row]) -> Vec<JourneyEvent> {
    rows.iter()
        .map(|&(p, e, t)| {
            JourneyEvent::new(
                PatientId::new(p as u64),
                JourneyEventKind::stage(EVENTS[e].1),
                t,
            )
        })
        .collect()
}

/// Each patient's level by the core engine (`compute` over the patient's events alone).
pub fn core_levels(rows: &[Row], spec: &FunnelSpec) -> BTreeMap<i64, u64> {
    let mut by_patient: BTreeMap<i64, Vec<Row>> = BTreeMap::new();
    for r in rows {
        by_patient.entry(r.0).or_default().push(*r);
    }
    by_patient
        .into_iter()
        .map(|(p, mine)| {
            let state = spec
                .compute(&events(&mine))
                .unwrap_or_else(|e| panic!("{e}"));
            let level = state
                .total()
                .by_level()
                .iter()
                .position(|&c| c == 1)
                .unwrap_or_else(|| panic!("patient {p}: no level in {state:?}"));
            (p, level as u64)
        })
        .collect()
}

/// The SQL call of `function` for this funnel over table `events(patient, t, e)`.
pub fn call(function: &str, steps: &[usize], window: u64, mode: FunnelMode) -> String {
    let conds: Vec<String> = steps
        .iter()
        .map(|&i| format!("e = '{}'", EVENTS[i].0))
        .collect();
    format!(
        "{function}({window}, '{}', t, {})",
        mode.code(),
        conds.join(", ")
    )
}

/// The rows as record batches, row `i` in partition `assign[i] % partitions`, so that one
/// patient's rows are spread over partitions.
pub fn batches(
    rows: &[Row],
    assign: &[usize],
    partitions: usize,
) -> (Arc<Schema>, Vec<Vec<RecordBatch>>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("patient", DataType::Int64, false),
        Field::new("t", DataType::Int64, false),
        Field::new("e", DataType::Utf8, false),
    ]));
    let mut parts = Vec::new();
    for part in 0..partitions {
        let mine: Vec<&Row> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| assign.get(*i).copied().unwrap_or(0) % partitions == part)
            .map(|(_, r)| r)
            .collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(mine.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(mine.iter().map(|r| r.2))),
            Arc::new(StringArray::from_iter_values(
                mine.iter().map(|r| EVENTS[r.1].0),
            )),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap_or_else(|e| panic!("{e}"));
        parts.push(vec![batch]);
    }
    (schema, parts)
}

/// A session with the functions and table `events` over `partitions` partitions.
pub fn session(rows: &[Row], assign: &[usize], partitions: usize) -> SessionContext {
    let config = SessionConfig::new().with_target_partitions(partitions.max(2));
    let ctx = SessionContext::new_with_config(config);
    clinic_ops_datafusion::register(&ctx);
    let (schema, parts) = batches(rows, assign, partitions);
    let table = MemTable::try_new(schema, parts).unwrap_or_else(|e| panic!("{e}"));
    ctx.register_table("events", Arc::new(table))
        .unwrap_or_else(|e| panic!("{e}"));
    ctx
}

/// Runs a query whose rows are (Int64, UInt8-or-any-integer) pairs into a map.
pub async fn pairs(ctx: &SessionContext, sql: &str) -> BTreeMap<i64, u64> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::compute::cast;
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = BTreeMap::new();
    for b in batches {
        let k = cast(b.column(0), &DataType::Int64).unwrap_or_else(|e| panic!("{e}"));
        let v = cast(b.column(1), &DataType::UInt64).unwrap_or_else(|e| panic!("{e}"));
        let k = k.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let v = v.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
        for i in 0..b.num_rows() {
            out.insert(k.value(i), v.value(i));
        }
    }
    out
}

/// Runs a query with one text cell and returns it.
pub async fn one_text(ctx: &SessionContext, sql: &str) -> String {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::compute::cast;
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let b = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .unwrap_or_else(|| panic!("{sql}: no rows"));
    let c = cast(b.column(0), &DataType::Utf8).unwrap_or_else(|e| panic!("{e}"));
    c.as_string::<i32>().value(0).to_owned()
}

/// A tokio runtime for one test case.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}
