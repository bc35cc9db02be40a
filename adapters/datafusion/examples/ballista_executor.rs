//! A Ballista executor that knows the clinic-ops functions: an executor rebuilds each
//! task's plan from the scheduler's protobuf, looking every aggregate up by name in its
//! function registry, so the stock `ballista-executor` fails these tasks with "There is no
//! UDAF named ..". Run one per machine (or several on one, on other ports) next to the
//! scheduler of `ballista_scheduler.rs`. See the README's "Running on a cluster".
//!
//! ```text
//! cargo run --release -p clinic-ops-datafusion --example ballista_executor -- \
//!     [--scheduler localhost:50050] [--bind-host 127.0.0.1] [--external-host localhost] \
//!     [--port 50051] [--grpc-port 50052] [--vcores N] [--work-dir DIR]
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use clap::{Arg, Command, value_parser};
use datafusion::execution::SessionStateBuilder;

/// `HOST:PORT`, the port a number.
fn host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| format!("{text:?} is not HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{text:?}: the port {port:?} is not a number 0..=65535"))?;
    Ok((host.to_owned(), port))
}

fn cli() -> Command {
    let text =
        |name: &'static str, value: &'static str, default: &'static str, help: &'static str| {
            Arg::new(name)
                .long(name)
                .value_name(value)
                .default_value(default)
                .help(help)
        };
    let port = |name: &'static str, default: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name("PORT")
            .value_parser(value_parser!(u16))
            .default_value(default)
            .help(help)
    };
    Command::new("ballista_executor")
        .about("A Ballista executor with the clinic-ops SQL aggregates registered")
        .arg(
            Arg::new("scheduler")
                .long("scheduler")
                .value_name("HOST:PORT")
                .value_parser(host_port)
                .default_value("localhost:50050")
                .help("the scheduler's gRPC address"),
        )
        .arg(text(
            "bind-host",
            "HOST",
            "127.0.0.1",
            "the address to listen on",
        ))
        .arg(text(
            "external-host",
            "HOST",
            "localhost",
            "the name the scheduler and the other executors reach this one by",
        ))
        .arg(port(
            "port",
            "50051",
            "the Arrow Flight port (shuffle data)",
        ))
        .arg(port("grpc-port", "50052", "the executor's gRPC port"))
        .arg(
            Arg::new("vcores")
                .long("vcores")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .help("task slots (default: the number of cores)"),
        )
        .arg(
            Arg::new("work-dir")
                .long("work-dir")
                .value_name("DIR")
                .help("where shuffle files go (default: a temporary folder)"),
        )
}

#[tokio::main]
async fn main() -> ExitCode {
    let m = cli().get_matches();
    let text = |name: &str| m.get_one::<String>(name).cloned();
    let port = |name: &str| m.get_one::<u16>(name).copied().unwrap_or(0);
    let (scheduler_host, scheduler_port) = m
        .get_one::<(String, u16)>("scheduler")
        .cloned()
        .unwrap_or_else(|| ("localhost".to_owned(), 50050));

    // DataFusion's default functions and the crate's, as the executor's registry: every
    // task's plan resolves its aggregates here by name.
    let mut state = SessionStateBuilder::new().with_default_features().build();
    if let Err(e) = clinic_ops_datafusion::register_on(&mut state) {
        eprintln!("executor: {e}");
        return ExitCode::from(1);
    }
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: text("bind-host").unwrap_or(defaults.bind_host.clone()),
        external_host: text("external-host"),
        port: port("port"),
        grpc_port: port("grpc-port"),
        scheduler_host,
        scheduler_port,
        vcores: m
            .get_one::<usize>("vcores")
            .copied()
            .unwrap_or(defaults.vcores),
        work_dir: text("work-dir"),
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&state))),
        ..defaults
    };
    eprintln!(
        "clinic-ops Ballista executor on {}:{} (flight) and {} (gRPC), scheduler {}:{}",
        config.bind_host,
        config.port,
        config.grpc_port,
        config.scheduler_host,
        config.scheduler_port
    );
    match start_executor_process(Arc::new(config)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("executor: {e}");
            ExitCode::from(1)
        }
    }
}
