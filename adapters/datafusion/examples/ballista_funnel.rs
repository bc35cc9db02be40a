//! A timing of `window_funnel` on Ballista: a scheduler and executors inside this process on
//! loopback, the query over a Parquet file of `patient_id, event, timestamp` rows, then the
//! same query in single-process DataFusion; both wall times and the per-level counts, which
//! must be the same.
//!
//! ```text
//! cargo run --release -p clinic-ops-datafusion --example ballista_funnel -- FILE.parquet \
//!     [--mode default] [--executors 2] [--slots 1] [--partitions 2]
//! ```
//!
//! The bench data: `benches/compare/compare_sql.py`'s set-up. Ballista's shuffle files go to
//! the system's temporary folder.

use std::process::ExitCode;

use clap::{Arg, ArgMatches, Command};
use std::time::{Duration, Instant};

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

const STEPS: [&str; 8] = [
    "lead",
    "converted",
    "booked",
    "arrived",
    "consulted",
    "purchased",
    "followed_up",
    "revisited",
];

struct Args {
    file: String,
    mode: String,
    executors: usize,
    slots: usize,
    partitions: usize,
}

fn positive(v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|&n: &usize| n > 0)
        .ok_or_else(|| "is not a positive integer".to_owned())
}

fn cli() -> Command {
    let count = |name: &'static str, default: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name("N")
            .value_parser(positive)
            .default_value(default)
            .help(help)
    };
    Command::new("ballista_funnel")
        .about("window_funnel on an in-process Ballista cluster, then in one DataFusion process")
        .arg(
            Arg::new("file")
                .value_name("FILE.parquet")
                .required(true)
                .help("rows of patient_id, event, timestamp"),
        )
        .arg(
            Arg::new("mode")
                .long("mode")
                .value_name("MODE")
                .default_value("default")
                .help("the ClickHouse mode"),
        )
        .arg(count("executors", "2", "executors in the cluster"))
        .arg(count("slots", "1", "task slots of each executor"))
        .arg(count(
            "partitions",
            "2",
            "target partitions of both sessions",
        ))
}

fn parse(m: &ArgMatches) -> Args {
    let count = |name: &str| m.get_one::<usize>(name).copied().unwrap_or(1);
    Args {
        file: m.get_one::<String>("file").cloned().unwrap_or_default(),
        mode: m
            .get_one::<String>("mode")
            .cloned()
            .unwrap_or_else(|| "default".to_owned()),
        executors: count("executors"),
        slots: count("slots"),
        partitions: count("partitions"),
    }
}

fn query(mode: &str) -> String {
    let conds: Vec<String> = STEPS.iter().map(|s| format!("event = '{s}'")).collect();
    format!(
        "SELECT level, count(*) AS patients FROM (SELECT patient_id, window_funnel(2592000, \
         '{mode}', timestamp, {}) AS level FROM events GROUP BY patient_id) \
         GROUP BY level ORDER BY level",
        conds.join(", ")
    )
}

/// The state the scheduler, the executors and the client share: Ballista's configuration,
/// DataFusion's default functions and the crate's.
fn state(partitions: usize) -> Result<SessionState, String> {
    let config = SessionConfig::new_with_ballista().with_target_partitions(partitions);
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    clinic_ops_datafusion::register_on(&mut state).map_err(|e| format!("register: {e}"))?;
    Ok(state)
}

async fn cluster(args: &Args) -> Result<SessionContext, String> {
    let state = state(args.partitions)?;
    let addr = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
        .await
        .map_err(|e| format!("scheduler: {e}"))?;
    let url = format!("http://localhost:{}", addr.port());
    for _ in 0..args.executors {
        let mut tries = 0;
        let scheduler = loop {
            match SchedulerGrpcClient::connect(url.clone()).await {
                Ok(c) => break c,
                Err(e) if tries > 50 => return Err(format!("connect to the scheduler: {e}")),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        ballista_executor::new_standalone_executor_from_state(scheduler, args.slots, &state)
            .await
            .map_err(|e| format!("executor: {e}"))?;
    }
    let ctx = SessionContext::remote_with_state(&format!("df://localhost:{}", addr.port()), state)
        .await
        .map_err(|e| format!("client: {e}"))?;
    // `remote_with_state` replaces the state's aggregates with Ballista's own list.
    clinic_ops_datafusion::register(&ctx);
    Ok(ctx)
}

/// Runs the query on `ctx`: its rows as `level,patients` lines and the wall time.
async fn timed(ctx: &SessionContext, file: &str, mode: &str) -> Result<(Vec<String>, f64), String> {
    let t = Instant::now();
    ctx.register_parquet("events", file, ParquetReadOptions::default())
        .await
        .map_err(|e| format!("{file}: {e}"))?;
    let batches: Vec<RecordBatch> = ctx
        .sql(&query(mode))
        .await
        .map_err(|e| format!("query: {e}"))?
        .collect()
        .await
        .map_err(|e| format!("query: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            let cell = |c: usize| array_value_to_string(b.column(c), i).map_err(|e| e.to_string());
            rows.push(format!("{},{}", cell(0)?, cell(1)?));
        }
    }
    ctx.deregister_table("events").map_err(|e| format!("{e}"))?;
    Ok((rows, secs))
}

async fn run(args: Args) -> Result<bool, String> {
    let t = Instant::now();
    let remote = cluster(&args).await?;
    let start = t.elapsed().as_secs_f64();
    let (on_cluster, cluster_secs) = timed(&remote, &args.file, &args.mode).await?;
    let local = SessionContext::new_with_config(
        SessionConfig::new().with_target_partitions(args.partitions),
    );
    clinic_ops_datafusion::register(&local);
    let (single, single_secs) = timed(&local, &args.file, &args.mode).await?;
    println!(
        "window_funnel '{}' on {}: ballista ({} executors x {} slots, {} partitions) {:.2} s \
         (cluster start {:.2} s), single process {:.2} s",
        args.mode,
        args.file,
        args.executors,
        args.slots,
        args.partitions,
        cluster_secs,
        start,
        single_secs
    );
    println!("level,patients\n{}", on_cluster.join("\n"));
    let same = on_cluster == single;
    println!(
        "counts identical to single process: {}",
        if same { "yes" } else { "NO" }
    );
    Ok(same)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match cli().try_get_matches() {
        Ok(m) => parse(&m),
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
