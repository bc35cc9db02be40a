//! A Ballista scheduler and two executors inside the test process, on loopback, with the
//! functions registered on all three: the same answers as single-process DataFusion and as
//! the core engine.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{CsvReadOptions, SessionConfig, SessionContext};
use support::*;

/// The session state the scheduler, the executors and the client share: Ballista's
/// configuration, DataFusion's default functions and the crate's.
fn state() -> SessionState {
    let config = SessionConfig::new_with_ballista().with_target_partitions(4);
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    clinic_ops_datafusion::register_on(&mut state).unwrap_or_else(|e| panic!("{e}"));
    state
}

/// Starts a scheduler and two executors, and returns a client context on them.
async fn cluster() -> SessionContext {
    let state = state();
    let addr = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
        .await
        .unwrap_or_else(|e| panic!("scheduler: {e}"));
    let url = format!("http://localhost:{}", addr.port());
    for _ in 0..2 {
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
        ballista_executor::new_standalone_executor_from_state(scheduler, 2, &state)
            .await
            .unwrap_or_else(|e| panic!("executor: {e}"));
    }
    let ctx = SessionContext::remote_with_state(&format!("df://localhost:{}", addr.port()), state)
        .await
        .unwrap_or_else(|e| panic!("client: {e}"));
    // `remote_with_state` replaces the state's aggregates with Ballista's own list, so the
    // client registers the crate's functions again on the context it returns.
    clinic_ops_datafusion::register(&ctx);
    ctx
}

/// Deterministic rows: 300 patients with a few events each, some out of order and in ties.
fn rows() -> Vec<Row> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut rows = Vec::new();
    for p in 0..300i64 {
        for _ in 0..1 + next(7) {
            rows.push((p, next(EVENTS.len() as u64) as usize, next(100) as i64));
        }
    }
    rows
}

/// Writes the rows as four CSV files (each patient spread over several) in a fresh folder.
fn write_csv(rows: &[Row]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for part in 0..4 {
        let mut text = String::from("patient,t,e\n");
        for (i, r) in rows.iter().enumerate() {
            if i % 4 == part {
                text.push_str(&format!("{},{},{}\n", r.0, r.2, EVENTS[r.1].0));
            }
        }
        std::fs::write(dir.path().join(format!("part-{part}.csv")), text)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

#[test]
fn two_executors_give_the_single_process_and_core_answers() {
    let rt = runtime();
    let rows = rows();
    let dir = write_csv(&rows);
    let path = format!("{}/", dir.path().display());
    let steps = [0usize, 1, 2];
    let window = 30u64;
    rt.block_on(async {
        let remote = cluster().await;
        let local = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
        clinic_ops_datafusion::register(&local);
        for ctx in [&remote, &local] {
            ctx.register_csv("events", &path, CsvReadOptions::new())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for mode in MODES {
            let spec = spec(&steps, window, mode);
            let sql = format!(
                "SELECT patient, {} FROM events GROUP BY patient",
                call("window_funnel", &steps, window, mode)
            );
            let want: BTreeMap<i64, u64> = core_levels(&rows, &spec);
            assert_eq!(pairs(&local, &sql).await, want, "local {sql}");
            assert_eq!(pairs(&remote, &sql).await, want, "ballista {sql}");

            let sql = format!(
                "SELECT funnel_report(s, 'lead,booked,arrived') FROM \
                 (SELECT patient, {} AS s FROM events GROUP BY patient)",
                call("funnel_state", &steps, window, mode)
            );
            let core = spec
                .compute(&events(&rows))
                .unwrap_or_else(|e| panic!("{e}"));
            let want = serde_json::to_string(&core.report(&spec, usize::MAX))
                .unwrap_or_else(|e| panic!("{e}"));
            for (name, ctx) in [("local", &local), ("ballista", &remote)] {
                assert_eq!(one_text(ctx, &sql).await, want, "{name} {sql}");
            }
        }
    });
}
