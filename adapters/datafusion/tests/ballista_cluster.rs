//! A Ballista scheduler and two executors inside the test process, on loopback, with the
//! functions registered on all three. Every aggregate of the crate runs on the cluster over
//! tables split across several CSV and Parquet files, so that partial states are written
//! by one executor's tasks and merged by the other's; the answers equal single-process
//! DataFusion's and the core library's on the same rows.
//!
//! One cluster serves every query. Each query's plan is first cut into stages by Ballista's
//! own distributed planner, to check that it does cross a shuffle (a partial aggregate over
//! several input partitions, hash-repartitioned on the group key), and both executors are
//! counted running tasks.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::{ConfigProducer, JobId, RuntimeProducer};
use ballista_scheduler::planner::{DefaultDistributedPlanner, DistributedPlanner};
use chrono::NaiveDate;
use clinic_ops::calendar::{ClinicCalendar, Period};
use clinic_ops::id::PatientId;
use clinic_ops::journey::{Category, DaysSupply, Fill};
use clinic_ops::metrics::adherence::{AdherenceThreshold, PdcPeriod, pdc_by_patient};
use clinic_ops::metrics::retention::{RetentionSpec, retention};
use clinic_ops::money::Yuan;
use clinic_ops::segment::summarize_rfm;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
    UInt32Array,
};
use datafusion::arrow::datatypes::{
    Date32Type, Decimal128Type, Field, Int64Type, Schema, UInt32Type,
};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::Partitioning;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use support::*;

/// 2026-01-01 as a Unix day number.
const BASE: i32 = 20_454;
/// Every table is split over this many files, row `i` in file `i % FILES`, so that each
/// patient's rows are spread over several scan partitions.
const FILES: usize = 4;

fn day(n: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(BASE + n + 719_163).unwrap_or_else(|| panic!("day {n}"))
}

/// The session state the scheduler, the executors and the client share: Ballista's
/// configuration, DataFusion's default functions and the crate's.
fn state() -> SessionState {
    let config = SessionConfig::new_with_ballista().with_target_partitions(FILES);
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    clinic_ops_datafusion::register_on(&mut state).unwrap_or_else(|e| panic!("{e}"));
    state
}

/// A client context on a scheduler and two executors, and how many tasks each executor ran.
struct Cluster {
    ctx: SessionContext,
    tasks: [Arc<AtomicUsize>; 2],
}

/// Starts a scheduler and two executors (two task slots each), and returns a client
/// context on them. The executors are Ballista's standalone ones, built with the shared
/// state's functions, with a runtime producer that counts the tasks they run (the executor
/// asks for a runtime once per task).
async fn cluster() -> Cluster {
    let state = state();
    let addr = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
        .await
        .unwrap_or_else(|e| panic!("scheduler: {e}"));
    let url = format!("http://localhost:{}", addr.port());
    let tasks = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    for counter in &tasks {
        // The type of the client's transport is inferred: the test needs no `tonic`.
        let mut tries = 0;
        let scheduler = loop {
            match SchedulerGrpcClient::connect(url.clone()).await {
                Ok(c) => break c,
                Err(e) if tries > 50 => panic!("connect to the scheduler: {e}"),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let config = state.config().clone().upgrade_for_ballista();
        let config_producer: ConfigProducer = Arc::new(move || config.clone());
        let runtime = state.runtime_env().clone();
        let counter = counter.clone();
        let runtime_producer: RuntimeProducer = Arc::new(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(runtime.clone())
        });
        let codec = BallistaCodec::new(
            state.config().ballista_logical_extension_codec(),
            state.config().ballista_physical_extension_codec(),
        );
        ballista_executor::new_standalone_executor_from_builder(
            scheduler,
            2,
            config_producer,
            runtime_producer,
            codec,
            (&state).into(),
        )
        .await
        .unwrap_or_else(|e| panic!("executor: {e}"));
    }
    let ctx = SessionContext::remote_with_state(&format!("df://localhost:{}", addr.port()), state)
        .await
        .unwrap_or_else(|e| panic!("client: {e}"));
    // `remote_with_state` replaces the state's aggregates with Ballista's own list, so the
    // client registers the crate's functions again on the context it returns.
    clinic_ops_datafusion::register(&ctx);
    Cluster { ctx, tasks }
}

/// A deterministic xorshift stream.
struct Rng(u64);

impl Rng {
    fn below(&mut self, m: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % m
    }
}

/// 300 patients with a few events each, some out of order and in ties.
fn event_rows(rng: &mut Rng) -> Vec<Row> {
    let mut rows = Vec::new();
    for p in 0..300i64 {
        for _ in 0..1 + rng.below(7) {
            rows.push((
                p,
                rng.below(EVENTS.len() as u64) as usize,
                rng.below(100) as i64,
            ));
        }
    }
    rows
}

/// `count` patients with 1 to 6 rows each, made by `row(patient, rng)`.
fn per_patient<T>(rng: &mut Rng, count: i64, mut row: impl FnMut(i64, &mut Rng) -> T) -> Vec<T> {
    let mut rows = Vec::new();
    for p in 0..count {
        for _ in 0..1 + rng.below(6) {
            rows.push(row(p, rng));
        }
    }
    rows
}

/// Writes the rows as [`FILES`] CSV files under `dir/events/`.
fn write_events_csv(dir: &Path, rows: &[Row]) -> String {
    let folder = dir.join("events");
    std::fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{e}"));
    for part in 0..FILES {
        let mut text = String::from("patient,t,e\n");
        for (i, r) in rows.iter().enumerate() {
            if i % FILES == part {
                text.push_str(&format!("{},{},{}\n", r.0, r.2, EVENTS[r.1].0));
            }
        }
        std::fs::write(folder.join(format!("part-{part}.csv")), text)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    format!("{}/", folder.display())
}

/// Writes the columns as [`FILES`] Parquet files under `dir/name/`.
fn write_parquet(dir: &Path, name: &str, columns: Vec<(&str, ArrayRef)>) -> String {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{e}"));
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
            .collect::<Vec<_>>(),
    ));
    let all = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect())
        .unwrap_or_else(|e| panic!("{e}"));
    for part in 0..FILES {
        let idx = UInt32Array::from_iter_values(
            (0..all.num_rows() as u32).filter(|&i| i as usize % FILES == part),
        );
        let cols = all
            .columns()
            .iter()
            .map(|c| {
                datafusion::arrow::compute::take(c, &idx, None).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap_or_else(|e| panic!("{e}"));
        let file = std::fs::File::create(folder.join(format!("part-{part}.parquet")))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut w =
            ArrowWriter::try_new(file, schema.clone(), None).unwrap_or_else(|e| panic!("{e}"));
        w.write(&batch).unwrap_or_else(|e| panic!("{e}"));
        w.close().unwrap_or_else(|e| panic!("{e}"));
    }
    format!("{}/", folder.display())
}

/// The test's tables, their rows and where their files are.
struct Tables {
    _dir: tempfile::TempDir,
    events: Vec<Row>,
    events_path: String,
    /// (patient, Unix seconds)
    visits: Vec<(i64, i64)>,
    visits_path: String,
    /// (patient, day from 2026-01-01, amount in fen)
    transactions: Vec<(i64, i32, i64)>,
    transactions_path: String,
    /// (patient, drug index, day from 2026-01-01, days of supply)
    fills: Vec<(i64, usize, i32, i64)>,
    fills_path: String,
}

const DRUGS: [&str; 2] = ["metformin", "glipizide"];

fn tables() -> Tables {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let events = event_rows(&mut rng);
    let events_path = write_events_csv(dir.path(), &events);

    let base = i64::from(BASE) * 86_400;
    let visits = per_patient(&mut rng, 200, |p, r| {
        (p, base + r.below(120 * 86_400) as i64)
    });
    let visits_path = write_parquet(
        dir.path(),
        "visits",
        vec![
            (
                "patient",
                Arc::new(Int64Array::from_iter_values(visits.iter().map(|v| v.0))),
            ),
            (
                "t",
                Arc::new(Int64Array::from_iter_values(visits.iter().map(|v| v.1))),
            ),
        ],
    );

    let transactions = per_patient(&mut rng, 200, |p, r| {
        (p, r.below(90) as i32, r.below(100_000) as i64)
    });
    let amounts = Decimal128Array::from_iter_values(transactions.iter().map(|t| i128::from(t.2)))
        .with_precision_and_scale(12, 2)
        .unwrap_or_else(|e| panic!("{e}"));
    let transactions_path = write_parquet(
        dir.path(),
        "transactions",
        vec![
            (
                "patient",
                Arc::new(Int64Array::from_iter_values(
                    transactions.iter().map(|t| t.0),
                )),
            ),
            (
                "d",
                Arc::new(Date32Array::from_iter_values(
                    transactions.iter().map(|t| BASE + t.1),
                )),
            ),
            ("amount", Arc::new(amounts)),
        ],
    );

    let fills = per_patient(&mut rng, 150, |p, r| {
        (
            p,
            r.below(2) as usize,
            r.below(200) as i32,
            1 + r.below(60) as i64,
        )
    });
    let fills_path = write_parquet(
        dir.path(),
        "fills",
        vec![
            (
                "patient",
                Arc::new(Int64Array::from_iter_values(fills.iter().map(|f| f.0))),
            ),
            (
                "drug",
                Arc::new(StringArray::from_iter_values(
                    fills.iter().map(|f| DRUGS[f.1]),
                )),
            ),
            (
                "filled",
                Arc::new(Date32Array::from_iter_values(
                    fills.iter().map(|f| BASE + f.2),
                )),
            ),
            (
                "days",
                Arc::new(Int64Array::from_iter_values(fills.iter().map(|f| f.3))),
            ),
        ],
    );
    Tables {
        _dir: dir,
        events,
        events_path,
        visits,
        visits_path,
        transactions,
        transactions_path,
        fills,
        fills_path,
    }
}

async fn register(ctx: &SessionContext, t: &Tables) {
    let csv = ctx
        .register_csv("events", &t.events_path, CsvReadOptions::new())
        .await;
    csv.unwrap_or_else(|e| panic!("events: {e}"));
    for (name, path) in [
        ("visits", &t.visits_path),
        ("transactions", &t.transactions_path),
        ("fills", &t.fills_path),
    ] {
        ctx.register_parquet(name, path, ParquetReadOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Cuts the query's plan into stages with Ballista's distributed planner (what the
/// scheduler does) and checks that a partial aggregate over several input partitions is
/// hash-repartitioned to a later stage: the partial states cross a shuffle, so tasks on
/// either executor write them and tasks on either merge them. Returns the stages' task
/// counts.
async fn stages(planner: &SessionContext, sql: &str) -> Vec<usize> {
    let plan = planner
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .create_physical_plan()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let stages = DefaultDistributedPlanner::new()
        .plan_query_stages(
            &JobId::from("plan-check"),
            plan,
            planner.state().config_options(),
        )
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let shuffled = stages.iter().any(|s| {
        s.input_partition_count() >= 2
            && matches!(s.shuffle_output_partitioning(), Some(Partitioning::Hash(_, n)) if *n >= 2)
            && format!(
                "{}",
                datafusion::physical_plan::displayable(s.as_ref()).indent(false)
            )
            .contains("mode=Partial")
    });
    assert!(
        shuffled,
        "{sql}: no partial aggregate is hash-repartitioned across tasks:\n{stages:#?}"
    );
    stages.iter().map(|s| s.input_partition_count()).collect()
}

async fn collect(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The rows of an ordered query as text, to compare two engines' answers value for value
/// and type for type.
fn table_text(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string()
}

/// `patient, rfm_summary(..)` rows as patient → (frequency, recency, T, monetary fen).
fn rfm_rows(batches: &[RecordBatch]) -> BTreeMap<u64, (u32, u32, u32, u64)> {
    let mut got = BTreeMap::new();
    for b in batches {
        let p = b.column(0).as_primitive::<Int64Type>();
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
    got
}

/// `patient, pdc(..)` rows as patient → (index day, days in period, covered, pdc × 10⁴,
/// adherent).
fn pdc_rows(batches: &[RecordBatch]) -> BTreeMap<u64, (i32, u32, u32, i128, bool)> {
    let mut got = BTreeMap::new();
    for b in batches {
        let p = b.column(0).as_primitive::<Int64Type>();
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
    got
}

/// Runs `sql` on the cluster and on one process; both must give the same rows, which are
/// returned.
async fn both(c: &Contexts<'_>, sql: &str) -> Vec<RecordBatch> {
    let shape = stages(c.planner, sql).await;
    assert!(shape.len() >= 2, "{sql}: {shape:?}");
    let local = collect(c.local, sql).await;
    let remote = collect(c.remote, sql).await;
    assert_eq!(
        table_text(&remote),
        table_text(&local),
        "ballista and single-process differ on {sql}"
    );
    local
}

struct Contexts<'a> {
    remote: &'a SessionContext,
    local: &'a SessionContext,
    planner: &'a SessionContext,
}

fn funnel_checks(rows: &[Row]) -> Vec<(String, String, String)> {
    let steps = [0usize, 1, 2];
    let window = 30u64;
    let mut out = Vec::new();
    for mode in MODES {
        let spec = spec(&steps, window, mode);
        let levels = format!(
            "SELECT patient, {} AS level FROM events GROUP BY patient ORDER BY patient",
            call("window_funnel", &steps, window, mode)
        );
        let want: BTreeMap<i64, u64> = core_levels(rows, &spec);
        let want = want
            .iter()
            .map(|(p, l)| format!("{p}:{l}"))
            .collect::<Vec<_>>()
            .join(" ");
        out.push(("levels".to_owned(), levels, want));

        let report = format!(
            "SELECT funnel_report(s, 'lead,booked,arrived') FROM \
             (SELECT patient, {} AS s FROM events GROUP BY patient)",
            call("funnel_state", &steps, window, mode)
        );
        let core = spec
            .compute(&events(rows))
            .unwrap_or_else(|e| panic!("{e}"));
        let want = serde_json::to_string(&core.report(&spec, usize::MAX))
            .unwrap_or_else(|e| panic!("{e}"));
        out.push(("report".to_owned(), report, want));
    }
    out
}

fn first_text(batches: &[RecordBatch]) -> String {
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.column(0).as_string::<i32>().value(0).to_owned())
        .unwrap_or_else(|| panic!("no rows"))
}

#[test]
fn every_aggregate_on_two_executors_gives_the_single_process_and_core_answers() {
    let rt = runtime();
    let t = tables();
    let started = Instant::now();
    rt.block_on(async {
        let cluster = cluster().await;
        let up = started.elapsed();
        let local =
            SessionContext::new_with_config(SessionConfig::new().with_target_partitions(FILES));
        clinic_ops_datafusion::register(&local);
        let planner = SessionContext::new_with_state(state());
        for ctx in [&cluster.ctx, &local, &planner] {
            register(ctx, &t).await;
        }
        let c = Contexts {
            remote: &cluster.ctx,
            local: &local,
            planner: &planner,
        };

        // window_funnel levels and funnel_report over funnel_state, in the four modes.
        for (kind, sql, want) in funnel_checks(&t.events) {
            let got = both(&c, &sql).await;
            let got = if kind == "levels" {
                let mut pairs = Vec::new();
                for b in &got {
                    let p = b.column(0).as_primitive::<Int64Type>();
                    let l = b
                        .column(1)
                        .as_primitive::<datafusion::arrow::datatypes::UInt8Type>();
                    for i in 0..b.num_rows() {
                        pairs.push(format!("{}:{}", p.value(i), l.value(i)));
                    }
                }
                pairs.join(" ")
            } else {
                first_text(&got)
            };
            assert_eq!(got, want, "core differs on {sql}");
        }

        // retention_cohort per patient, then retention_report over them.
        let sql = "SELECT retention_report(c) FROM (SELECT patient, \
                   retention_cohort('week', 6, t, '+08:00') AS c FROM visits GROUP BY patient)";
        let text = first_text(&both(&c, sql).await);
        let got: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let spec = RetentionSpec::new(Period::Week, 6).unwrap_or_else(|e| panic!("{e}"));
        let cal = ClinicCalendar::parse("+08:00").unwrap_or_else(|e| panic!("{e}"));
        let visits: Vec<_> = t
            .visits
            .iter()
            .map(|v| {
                let at = chrono::DateTime::from_timestamp(v.1, 0).unwrap_or_else(|| panic!("time"));
                (PatientId::new(v.0 as u64), at)
            })
            .collect();
        let m = retention(&visits, &spec, cal).unwrap_or_else(|e| panic!("{e}"));
        let want = serde_json::to_value(m.cohorts()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got["cohorts"], want, "{text}");
        assert_eq!(got["period"], serde_json::json!("week"));

        // rfm_summary per patient.
        let as_of = day(75);
        let sql = format!(
            "SELECT patient, rfm_summary(DATE '{as_of}', d, amount) AS s \
             FROM transactions GROUP BY patient ORDER BY patient"
        );
        let got = rfm_rows(&both(&c, &sql).await);
        let want: BTreeMap<u64, (u32, u32, u32, u64)> = summarize_rfm(
            t.transactions.iter().map(|x| {
                let amount = Yuan::try_from_fen(x.2 as u64).unwrap_or_else(|e| panic!("{e}"));
                (x.0 as u64, day(x.1), amount)
            }),
            as_of,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(p, s)| (p, (s.frequency, s.recency, s.t, s.monetary_value.to_fen())))
        .collect();
        assert!(
            want.len() > 100,
            "too few summaries to mean much: {}",
            want.len()
        );
        assert_eq!(got, want, "core differs on {sql}");

        // pdc per patient.
        let (start, end) = (day(10), day(180));
        let sql = format!(
            "SELECT patient, pdc(DATE '{start}', DATE '{end}', drug, filled, days) AS s \
             FROM fills GROUP BY patient ORDER BY patient"
        );
        let got = pdc_rows(&both(&c, &sql).await);
        let fills: Vec<Fill> = t
            .fills
            .iter()
            .map(|f| {
                Fill::new(
                    PatientId::new(f.0 as u64),
                    Category::parse(DRUGS[f.1]).unwrap_or_else(|e| panic!("{e}")),
                    day(f.2),
                    DaysSupply::new(f.3 as u32).unwrap_or_else(|e| panic!("{e}")),
                )
            })
            .collect();
        let period = PdcPeriod::new(start, end).unwrap_or_else(|e| panic!("{e}"));
        let want: BTreeMap<u64, _> = pdc_by_patient(&fills, &period, AdherenceThreshold::DEFAULT)
            .into_iter()
            .filter_map(|(p, o)| {
                o.measured().map(|m| {
                    let idx = (m.index_date - day(0)).num_days() as i32;
                    let pdc: i128 = m.rounded(4).replace('.', "").parse().unwrap_or(-1);
                    (
                        p.get(),
                        (idx, m.days_in_period, m.days_covered, pdc, m.adherent),
                    )
                })
            })
            .collect();
        assert!(
            want.len() > 20,
            "too few measured patients to mean much: {}",
            want.len()
        );
        assert_eq!(got, want, "core differs on {sql}");

        let ran = cluster.tasks.each_ref().map(|n| n.load(Ordering::Relaxed));
        assert!(
            ran.iter().all(|&n| n > 0),
            "one executor ran no task: {ran:?}"
        );
        eprintln!(
            "cluster up in {up:?}; 11 queries in {:?}; tasks per executor {ran:?}",
            started.elapsed() - up
        );
    });
}
