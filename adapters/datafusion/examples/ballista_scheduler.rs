//! A Ballista scheduler that knows the clinic-ops functions: the stock `ballista-scheduler`
//! binary plans with DataFusion's functions only, and Ballista 55 loads no plug-ins, so a
//! cluster that runs these aggregates needs a scheduler of its own (this file) and
//! executors of their own (`ballista_executor.rs`), built with the same versions as the
//! client. See the README's "Running on a cluster".
//!
//! ```text
//! cargo run --release -p clinic-ops-datafusion --example ballista_scheduler -- \
//!     [--bind-host 127.0.0.1] [--bind-port 50050] [--external-host localhost]
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use clap::{Arg, Command, value_parser};
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::SessionConfig;

fn cli() -> Command {
    Command::new("ballista_scheduler")
        .about("A Ballista scheduler with the clinic-ops SQL aggregates registered")
        .arg(
            Arg::new("bind-host")
                .long("bind-host")
                .value_name("HOST")
                .default_value("127.0.0.1")
                .help("the address to listen on (0.0.0.0 for every interface)"),
        )
        .arg(
            Arg::new("bind-port")
                .long("bind-port")
                .value_name("PORT")
                .value_parser(value_parser!(u16))
                .default_value("50050")
                .help("the gRPC port clients (df://HOST:PORT) and executors connect to"),
        )
        .arg(
            Arg::new("external-host")
                .long("external-host")
                .value_name("HOST")
                .default_value("localhost")
                .help("the name the cluster reaches this scheduler by"),
        )
}

/// Every session the scheduler plans for (one per client session): Ballista's default
/// session, with the crate's aggregates added, so that the logical plan a client sends,
/// which names them, decodes and plans here.
fn session_with_functions(config: SessionConfig) -> datafusion::common::Result<SessionState> {
    let mut state = ballista_core::utils::default_session_builder(config)?;
    clinic_ops_datafusion::register_on(&mut state)?;
    Ok(state)
}

#[tokio::main]
async fn main() -> ExitCode {
    let m = cli().get_matches();
    let text = |name: &str| m.get_one::<String>(name).cloned().unwrap_or_default();
    let bind_host = text("bind-host");
    let bind_port = m.get_one::<u16>("bind-port").copied().unwrap_or(50050);
    let addr: SocketAddr = match format!("{bind_host}:{bind_port}").parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("--bind-host {bind_host:?}: {e}");
            return ExitCode::from(2);
        }
    };
    let config = SchedulerConfig {
        bind_host,
        bind_port,
        external_host: text("external-host"),
        override_session_builder: Some(Arc::new(session_with_functions)),
        ..SchedulerConfig::default()
    };
    let cluster = match BallistaCluster::new_from_config(&config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("scheduler: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "clinic-ops Ballista scheduler listening on {addr} (DataFusion {}), functions: {}",
        clinic_ops_datafusion::DATAFUSION_VERSION,
        names()
    );
    match start_server(cluster, addr, Arc::new(config)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scheduler: {e}");
            ExitCode::from(1)
        }
    }
}

fn names() -> String {
    clinic_ops_datafusion::functions()
        .iter()
        .map(|f| f.name().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}
