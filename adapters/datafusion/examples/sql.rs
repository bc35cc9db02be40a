//! The `sql` reference calculator: SQL over Parquet and CSV files with the clinic-ops
//! aggregates registered, the result as CSV on stdout.
//!
//! ```text
//! cargo run --release -p clinic-ops-datafusion --example sql -- --table NAME=FILE [--table ..] \
//!     --sql "QUERY" [--partitions N]
//! ```

use std::process::ExitCode;

use datafusion::arrow::csv::WriterBuilder;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};

const USAGE: &str =
    "usage: sql --table NAME=FILE [--table NAME=FILE ..] --sql QUERY [--partitions N]

Runs QUERY over the tables and prints the result as CSV with a header on stdout.

flags:
  --table NAME=FILE   a table NAME read from FILE, .parquet or .csv (with a header row)
  --sql QUERY         the query; the clinic-ops aggregates are registered:
                        window_funnel(window_seconds, mode, timestamp, cond_1, .., cond_N)
                        funnel_state(window_seconds, mode, timestamp, cond_1, .., cond_N)
                        funnel_report(state [, labels])
                        retention_cohort(period, periods, timestamp [, utc_offset])
                        retention_report(cohort)
                        rfm_summary(as_of, date, amount)
                        pdc(period_start, period_end, drug, fill_date, days_supply [, threshold])
                      (signatures: adapters/datafusion/README.md)
  --partitions N      DataFusion's target partitions (default: the number of cores)
  --help              this text

example:
  sql --table events=events.csv --sql \"SELECT patient_id, window_funnel(2592000, 'default', \\
      timestamp, event = 'lead', event = 'booked') AS level FROM events GROUP BY patient_id\"

  events.csv: patient_id,event,timestamp
              P1,lead,1767225600
";

struct Args {
    tables: Vec<(String, String)>,
    sql: String,
    partitions: Option<usize>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut tables = Vec::new();
    let mut sql = None;
    let mut partitions = None;
    while let Some(flag) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--table" => {
                let v = value("--table")?;
                let (name, file) = v
                    .split_once('=')
                    .filter(|(n, f)| !n.is_empty() && !f.is_empty())
                    .ok_or_else(|| format!("--table {v:?} is not NAME=FILE"))?;
                tables.push((name.to_owned(), file.to_owned()));
            }
            "--sql" => sql = Some(value("--sql")?),
            "--partitions" => {
                let v = value("--partitions")?;
                let n: usize = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--partitions {v:?} is not a positive integer"))?;
                partitions = Some(n);
            }
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    let sql = sql.ok_or("--sql is missing")?;
    Ok(Some(Args {
        tables,
        sql,
        partitions,
    }))
}

async fn run(args: Args) -> Result<Vec<u8>, String> {
    let mut config = SessionConfig::new();
    if let Some(n) = args.partitions {
        config = config.with_target_partitions(n);
    }
    let ctx = SessionContext::new_with_config(config);
    clinic_ops_datafusion::register(&ctx);
    for (name, file) in &args.tables {
        let registered = if file.ends_with(".parquet") {
            ctx.register_parquet(name, file, ParquetReadOptions::default())
                .await
        } else if file.ends_with(".csv") {
            ctx.register_csv(name, file, CsvReadOptions::new().has_header(true))
                .await
        } else {
            return Err(format!("table {name}: {file:?} is not .parquet or .csv"));
        };
        registered.map_err(|e| format!("table {name} ({file}): {e}"))?;
    }
    let batches = ctx
        .sql(&args.sql)
        .await
        .map_err(|e| format!("query: {e}"))?
        .collect()
        .await
        .map_err(|e| format!("query: {e}"))?;
    let mut out = Vec::new();
    {
        let mut w = WriterBuilder::new().with_header(true).build(&mut out);
        for b in &batches {
            w.write(b).map_err(|e| format!("output: {e}"))?;
        }
    }
    if batches.iter().all(|b| b.num_rows() == 0) && out.is_empty() {
        // No batches at all: still print the header of the plan's schema.
        let df = ctx
            .sql(&args.sql)
            .await
            .map_err(|e| format!("query: {e}"))?;
        let names: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        out = format!("{}\n", names.join(",")).into_bytes();
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return ExitCode::from(2);
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
