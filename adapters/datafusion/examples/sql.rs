//! The `sql` reference calculator: SQL over Parquet and CSV files with the clinic-ops
//! aggregates registered, the result as CSV on stdout.
//!
//! ```text
//! cargo run --release -p clinic-ops-datafusion --example sql -- --table NAME=FILE [--table ..] \
//!     --sql "QUERY" [--partitions N] [--memory-limit SIZE] [--scheduler df://HOST:PORT]
//! ```
//!
//! Defaults of the local session, for a `GROUP BY` per patient over millions of rows:
//! target partitions the number of cores but at least 16 (`--partitions N` sets exactly N),
//! and DataFusion's check whether a partial aggregation reduces its input made after 8,192
//! rows instead of 100,000. Neither changes an answer (README, Speed).
//!
//! With `--scheduler` the query runs on a Ballista cluster whose scheduler and executors
//! know the functions (`examples/ballista_scheduler.rs`, `examples/ballista_executor.rs`);
//! the answer is the same.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Arg, ArgAction, ArgMatches, Command};

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StructArray, make_array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};

const ABOUT: &str = "SQL over Parquet and CSV files with the clinic-ops aggregates registered";

const AFTER_HELP: &str = "\
Runs QUERY over the tables and prints the result as CSV with a header on stdout. Rows come
in the query's ORDER BY; a query without one has its rows sorted by every column, so that
the output does not depend on --partitions. A struct column (rfm_summary, pdc,
retention_cohort) becomes one column per field, named COLUMN.FIELD; a list is one cell,
[a, b, ..].

The clinic-ops aggregates (signatures: adapters/datafusion/README.md):
  window_funnel(window_seconds, mode, timestamp, cond_1, .., cond_N)
  window_funnel(window_seconds, mode, timestamp, column, 'step_1', .., 'step_N')
  funnel_state(window_seconds, mode, timestamp, cond_1, .., cond_N)
  funnel_report(state [, labels])
  retention_cohort(period, periods, timestamp [, utc_offset])
  retention_report(cohort)
  rfm_summary(as_of, date, amount)
  pdc(period_start, period_end, drug, fill_date, days_supply [, threshold])

example:
  sql --table events=events.csv --sql \"SELECT patient_id, window_funnel(2592000, 'default', \\
      timestamp, event = 'lead', event = 'booked') AS level FROM events GROUP BY patient_id\"

  events.csv: patient_id,event,timestamp
              P1,lead,1767225600
";

fn cli() -> Command {
    Command::new("sql")
        .about(ABOUT)
        .override_usage(
            "sql --table NAME=FILE [--table NAME=FILE ..] --sql QUERY [--partitions N] \
             [--memory-limit SIZE] [--scheduler df://HOST:PORT]",
        )
        .after_help(AFTER_HELP)
        .arg(
            Arg::new("table")
                .long("table")
                .value_name("NAME=FILE")
                .action(ArgAction::Append)
                .value_parser(table)
                .help("a table NAME read from FILE, .parquet or .csv (with a header row)"),
        )
        .arg(
            Arg::new("sql")
                .long("sql")
                .value_name("QUERY")
                .required(true)
                .help("the query; the clinic-ops aggregates below are registered"),
        )
        .arg(
            Arg::new("partitions")
                .long("partitions")
                .value_name("N")
                .value_parser(positive)
                .help("target partitions (default: the cores, at least 16; with --scheduler, Ballista's)"),
        )
        .arg(
            Arg::new("memory-limit")
                .long("memory-limit")
                .value_name("SIZE")
                .value_parser(memory)
                .help("a cap on operators' memory, e.g. 512M or 2G; aggregations spill past it"),
        )
        .arg(
            Arg::new("scheduler")
                .long("scheduler")
                .value_name("URL")
                .value_parser(scheduler)
                .help("run on the Ballista cluster whose scheduler is df://HOST:PORT (README: Running on a cluster)"),
        )
}

struct Args {
    tables: Vec<(String, String)>,
    sql: String,
    partitions: Option<usize>,
    memory_limit: Option<usize>,
    scheduler: Option<String>,
}

/// A size in bytes from `512M`, `2G`, `64K` or plain bytes.
fn size(v: &str) -> Option<usize> {
    let (digits, unit) = match v.char_indices().last()? {
        (i, 'K' | 'k') => (&v[..i], 1usize << 10),
        (i, 'M' | 'm') => (&v[..i], 1 << 20),
        (i, 'G' | 'g') => (&v[..i], 1 << 30),
        _ => (v, 1),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&n| n > 0)
}

fn table(v: &str) -> Result<(String, String), String> {
    v.split_once('=')
        .filter(|(n, f)| !n.is_empty() && !f.is_empty())
        .map(|(n, f)| (n.to_owned(), f.to_owned()))
        .ok_or_else(|| "is not NAME=FILE".to_owned())
}

fn positive(v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| "is not a positive integer".to_owned())
}

fn memory(v: &str) -> Result<usize, String> {
    size(v).ok_or_else(|| "is not a size such as 512M or 2G".to_owned())
}

fn scheduler(v: &str) -> Result<String, String> {
    if v.starts_with("df://") {
        Ok(v.to_owned())
    } else {
        Err("is not df://HOST:PORT".to_owned())
    }
}

fn parse(m: &ArgMatches) -> Args {
    Args {
        tables: m
            .get_many::<(String, String)>("table")
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        sql: m.get_one::<String>("sql").cloned().unwrap_or_default(),
        partitions: m.get_one::<usize>("partitions").copied(),
        memory_limit: m.get_one::<usize>("memory-limit").copied(),
        scheduler: m.get_one::<String>("scheduler").cloned(),
    }
}

/// The fewest partitions a local query runs in without `--partitions` (more on a machine of
/// more cores). A `GROUP BY patient_id` over millions of patients builds one hash table per
/// partition: sixteen small ones stay in cache where two large ones miss on every probe. On
/// the 9.8M-row bench (2 cores, paired with chDB, median of 5) the CPU ratio chDB ÷ ours
/// was 0.86× with 2 partitions, 0.87× with 4, 0.90× with 8, 0.97× with 16, 0.96× with 32.
const MIN_PARTITIONS: usize = 16;

/// Rows a partition's partial aggregation reads before it checks whether it reduces its
/// input (DataFusion's default 100,000). A group per patient is about one group per row,
/// so the partial stage is skipped after the first batch instead of after 100,000 rows of a
/// hash table per partition that is thrown away.
const SKIP_PARTIAL_PROBE_ROWS: usize = 8192;

/// The partitions of a local query without `--partitions`: the cores, and at least
/// [`MIN_PARTITIONS`].
fn default_partitions() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .max(MIN_PARTITIONS)
}

/// A local session, or a client of the Ballista scheduler at `url`, with the functions.
async fn context(args: &Args) -> Result<SessionContext, String> {
    let (partitions, scheduler) = (args.partitions, args.scheduler.as_deref());
    let Some(url) = scheduler else {
        let mut config = SessionConfig::new()
            .with_target_partitions(partitions.unwrap_or_else(default_partitions));
        config
            .options_mut()
            .execution
            .skip_partial_aggregation_probe_rows_threshold = SKIP_PARTIAL_PROBE_ROWS;
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(bytes) = args.memory_limit {
            runtime = runtime.with_memory_limit(bytes, 1.0);
        }
        let runtime = runtime.build_arc().map_err(|e| format!("runtime: {e}"))?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        clinic_ops_datafusion::register(&ctx);
        return Ok(ctx);
    };
    use ballista::prelude::{SessionConfigExt, SessionContextExt};
    let mut config = SessionConfig::new_with_ballista();
    if let Some(n) = partitions {
        config = config.with_target_partitions(n);
    }
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    let ctx = SessionContext::remote_with_state(url, state)
        .await
        .map_err(|e| format!("--scheduler {url}: {e}"))?;
    // Ballista's client state swaps the aggregate functions for its own list: the crate's
    // are registered on the context it returns (the scheduler and executors have their own).
    clinic_ops_datafusion::register(&ctx);
    Ok(ctx)
}

/// Whether the plan's rows come out in an order the query asked for.
fn ordered(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Sort(_) => true,
        LogicalPlan::Projection(p) => ordered(&p.input),
        LogicalPlan::Limit(l) => ordered(&l.input),
        LogicalPlan::SubqueryAlias(a) => ordered(&a.input),
        _ => false,
    }
}

/// The columns as CSV can hold them: a struct's fields become columns `name.field` (null
/// where the struct is), recursively, and any other nested value one text cell.
fn flatten(
    name: &str,
    field: &Field,
    array: ArrayRef,
    out: &mut Vec<(Field, ArrayRef)>,
) -> Result<(), String> {
    match array.data_type() {
        DataType::Struct(_) => {
            let s = array
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or("output: a struct column is not a struct array")?;
            for (child_field, child) in s.fields().iter().zip(s.columns()) {
                let nulls = NullBuffer::union(s.nulls(), child.nulls());
                let data = child
                    .to_data()
                    .into_builder()
                    .nulls(nulls)
                    .build()
                    .map_err(|e| format!("output: {e}"))?;
                let child_name = format!("{name}.{}", child_field.name());
                // A null struct makes its fields null, whatever the fields declare.
                let nullable = child_field.as_ref().clone().with_nullable(true);
                flatten(&child_name, &nullable, make_array(data), out)?;
            }
        }
        t if t.is_nested() => {
            let f = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
                .map_err(|e| format!("output: {e}"))?;
            let text: StringArray = (0..array.len())
                .map(|i| array.is_valid(i).then(|| f.value(i).to_string()))
                .collect();
            out.push((Field::new(name, DataType::Utf8, true), Arc::new(text)));
        }
        _ => out.push((field.clone().with_name(name), array)),
    }
    Ok(())
}

/// The result as one flat batch, sorted by every column unless the query gave the order.
fn shape(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    keep_order: bool,
) -> Result<RecordBatch, String> {
    let all = concat_batches(schema, batches).map_err(|e| format!("output: {e}"))?;
    let mut flat = Vec::new();
    for (field, column) in schema.fields().iter().zip(all.columns()) {
        flatten(field.name(), field, column.clone(), &mut flat)?;
    }
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = flat.into_iter().unzip();
    let schema = Arc::new(Schema::new(fields));
    let mut columns = columns;
    if !keep_order && all.num_rows() > 1 && !columns.is_empty() {
        let sort_fields = columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect();
        let converter = RowConverter::new(sort_fields).map_err(|e| format!("output: {e}"))?;
        let rows = converter
            .convert_columns(&columns)
            .map_err(|e| format!("output: {e}"))?;
        let mut order: Vec<u32> = (0..rows.num_rows() as u32).collect();
        order.sort_by(|&a, &b| rows.row(a as usize).cmp(&rows.row(b as usize)));
        let order = datafusion::arrow::array::UInt32Array::from(order);
        columns = columns
            .iter()
            .map(|c| take(c, &order, None))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("output: {e}"))?;
    }
    RecordBatch::try_new(schema, columns).map_err(|e| format!("output: {e}"))
}

async fn run(args: Args) -> Result<Vec<u8>, String> {
    if args.memory_limit.is_some() && args.scheduler.is_some() {
        return Err(
            "--memory-limit applies to this process, not to a cluster's executors".to_owned(),
        );
    }
    let ctx = context(&args).await?;
    for (name, file) in &args.tables {
        let parquet = file.ends_with(".parquet");
        if !parquet && !file.ends_with(".csv") {
            return Err(format!("table {name}: {file:?} is not .parquet or .csv"));
        }
        // A path that does not exist would be a table of no files, and the query an
        // answer over nothing: refuse it instead (object-store URLs are the runtime's).
        if !file.contains("://") && !std::path::Path::new(file).exists() {
            return Err(format!("table {name}: {file:?} does not exist"));
        }
        let registered = if parquet {
            ctx.register_parquet(name, file, ParquetReadOptions::default())
                .await
        } else {
            ctx.register_csv(name, file, CsvReadOptions::new().has_header(true))
                .await
        };
        registered.map_err(|e| format!("table {name} ({file}): {e}"))?;
    }
    let df = ctx
        .sql(&args.sql)
        .await
        .map_err(|e| format!("query: {e}"))?;
    let keep_order = ordered(df.logical_plan());
    let planned: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(|e| format!("query: {e}"))?;
    let schema = batches.first().map_or(planned, RecordBatch::schema);
    let table = shape(&schema, &batches, keep_order)?;
    let mut out = Vec::new();
    {
        let mut w = WriterBuilder::new().with_header(true).build(&mut out);
        w.write(&table).map_err(|e| format!("output: {e}"))?;
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> ExitCode {
    // --help on stdout with exit 0; a bad flag or value on stderr with exit 2.
    let args = match cli().try_get_matches() {
        Ok(m) => parse(&m),
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(args).await {
        Ok(out) => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(&out)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
