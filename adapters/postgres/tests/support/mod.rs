//! A PostgreSQL server for the tests: a fresh database per test, dropped after it, on the
//! server named by `CLINIC_OPS_PG_URL`. Without one the tests are skipped with a message
//! saying how to start one (written past libtest's capture, so it shows); with `CI=true`
//! a missing server fails them.

#![allow(dead_code)]

use std::io::Write;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use clinic_ops_postgres::postgres::{Client, Config, NoTls};
use clinic_ops_postgres::{PgOptions, PgStore};

/// The environment variable naming the server (any database on it; the tests create
/// their own).
pub const URL_ENV: &str = "CLINIC_OPS_PG_URL";

static SKIP_NOTICE: Once = Once::new();
static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// A database created for one test and dropped (with its connections) when this drops.
pub struct TestDb {
    admin: Config,
    config: Config,
    name: String,
}

fn skip(reason: &str) -> Option<TestDb> {
    let msg = format!(
        "PostgreSQL tests SKIPPED: {reason}. Start a server and name it in {URL_ENV}: \
         `bash .ci/run` does both (it starts the Debian cluster with `pg_ctlcluster \
         --skip-systemctl-redirect 15 main start` and creates a role for your OS user), or by \
         hand `export {URL_ENV}='host=/var/run/postgresql user=$USER dbname=postgres'` for a \
         role with CREATEDB (a postgresql:// URL works too)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and no PostgreSQL server: {msg}");
    }
    SKIP_NOTICE.call_once(|| {
        // Straight to the stderr handle: libtest captures eprintln!, not this.
        let _ = writeln!(std::io::stderr(), "\n{msg}\n");
    });
    None
}

impl TestDb {
    /// A fresh database, or `None` (after the notice) when no server is configured or
    /// reachable outside CI.
    pub fn create(tag: &str) -> Option<TestDb> {
        let Ok(url) = std::env::var(URL_ENV) else {
            return skip(&format!("{URL_ENV} is not set"));
        };
        let admin: Config = match url.parse() {
            Ok(c) => c,
            Err(e) => return skip(&format!("{URL_ENV} does not parse: {e}")),
        };
        let mut client = match admin.connect(NoTls) {
            Ok(c) => c,
            Err(e) => return skip(&format!("cannot connect to {URL_ENV}: {e}")),
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
        let name = format!(
            "clinic_ops_test_{tag}_{}_{nanos}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        let mut config = admin.clone();
        config.dbname(&name);
        Some(TestDb {
            admin,
            config,
            name,
        })
    }

    /// Connection settings for this database.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A store on `schema` in this database.
    pub fn store(&self, schema: &str) -> PgStore {
        PgStore::connect_config(self.config(), schema, &PgOptions::default())
            .unwrap_or_else(|e| panic!("connect to schema {schema}: {e}"))
    }

    /// A raw client on this database with `search_path` set to `schema`.
    pub fn raw(&self, schema: &str) -> Client {
        let mut c = self.config().connect(NoTls).expect("raw connection");
        c.batch_execute(&format!("SET search_path TO {schema}"))
            .expect("search_path");
        c
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = self.admin.connect(NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
