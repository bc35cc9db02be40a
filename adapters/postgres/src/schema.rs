//! The schema and its migrations, recorded in the tenant schema's `clinic_ops_schema` row.

use postgres::Client;

use crate::PgError;

/// The migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
///
/// Append only: a released migration is never edited, because databases in the field
/// already ran it. A port added later adds its tables as a new migration in the same change.
/// Every statement names tables without a schema: the connection's `search_path` is the
/// tenant's schema alone, so no statement can reach another chain's tables.
const MIGRATIONS: &[&str] = &[
    // 1: every port of clinic-ops 0.1, laid out as in the SQLite adapter. States are JSON
    // text (decoded through serde validation on every read; text keeps serde's exact
    // form). Mobile and resident id are columns whose UNIQUE constraints, not a read-then-
    // write check, keep them unique; NULL is never a duplicate. Usage counts are decimal
    // text because they go up to u64::MAX. The ledger is one row per append, keyed by the
    // version it made, beside an account row holding the version and posting count. Visits
    // and purchases are one row per record with the patient and the instant (nanoseconds)
    // as indexed columns; campaign books keep one row per version, never updated.
    "CREATE TABLE patients (
        id          BIGINT PRIMARY KEY,
        version     BIGINT NOT NULL CHECK (version >= 1),
        mobile      TEXT UNIQUE,
        resident_id TEXT UNIQUE,
        state       TEXT NOT NULL
    );
    CREATE TABLE followup_histories (
        patient BIGINT PRIMARY KEY,
        version BIGINT NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    );
    CREATE TABLE referral_bindings (
        referee  BIGINT PRIMARY KEY,
        version  BIGINT NOT NULL CHECK (version >= 1),
        referrer BIGINT NOT NULL,
        state    TEXT NOT NULL
    );
    CREATE INDEX referral_bindings_by_referrer ON referral_bindings (referrer, referee);
    CREATE TABLE usage_counters (
        key     TEXT PRIMARY KEY,
        version BIGINT NOT NULL CHECK (version >= 1),
        count   TEXT NOT NULL
    );
    CREATE TABLE ledger_accounts (
        account  BIGINT PRIMARY KEY,
        version  BIGINT NOT NULL CHECK (version >= 1),
        postings BIGINT NOT NULL CHECK (postings >= 1)
    );
    CREATE TABLE ledger_appends (
        account   BIGINT NOT NULL REFERENCES ledger_accounts (account),
        version   BIGINT NOT NULL CHECK (version >= 1),
        first_seq BIGINT NOT NULL CHECK (first_seq >= 1),
        last_seq  BIGINT NOT NULL CHECK (last_seq >= first_seq),
        postings  TEXT NOT NULL,
        PRIMARY KEY (account, version)
    );
    CREATE TABLE visits (
        id      BIGINT PRIMARY KEY,
        patient BIGINT NOT NULL,
        at      BIGINT NOT NULL,
        record  TEXT NOT NULL
    );
    CREATE INDEX visits_by_time ON visits (at, id);
    CREATE INDEX visits_by_patient ON visits (patient, at, id);
    CREATE TABLE purchases (
        id      BIGINT PRIMARY KEY,
        patient BIGINT NOT NULL,
        at      BIGINT NOT NULL,
        record  TEXT NOT NULL
    );
    CREATE INDEX purchases_by_time ON purchases (at, id);
    CREATE INDEX purchases_by_patient ON purchases (patient, at, id);
    CREATE TABLE purchase_erasures (
        patient BIGINT PRIMARY KEY
    );
    CREATE TABLE tag_catalog (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        version BIGINT NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    );
    CREATE TABLE campaign_books (
        clinic  BIGINT NOT NULL,
        version BIGINT NOT NULL CHECK (version >= 1),
        book    TEXT NOT NULL,
        PRIMARY KEY (clinic, version)
    );",
    // 2: contact logs and group events, as in the SQLite adapter's migration 7. A contact
    // log is one state row per patient (tens of events, rewritten per commit); erasure
    // deletes the row. Group events are one row per event, appended under a version row
    // per series; the patient is a column so that erasure is one indexed delete of their
    // rows in every series.
    "CREATE TABLE contact_logs (
        patient BIGINT PRIMARY KEY,
        version BIGINT NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    );
    CREATE TABLE group_series (
        series  BIGINT PRIMARY KEY,
        version BIGINT NOT NULL CHECK (version >= 1)
    );
    CREATE TABLE group_events (
        series  BIGINT NOT NULL REFERENCES group_series (series),
        seq     BIGINT NOT NULL CHECK (seq >= 1),
        patient BIGINT NOT NULL,
        event   TEXT NOT NULL,
        PRIMARY KEY (series, seq)
    );
    CREATE INDEX group_events_by_patient ON group_events (patient);",
    // 3: appointments and feedback, as in the SQLite adapter's migration 6. Each clinic's
    // appointment book and each complaint is one snapshot row (version, JSON state), as
    // patients are; feedback is one JSON row per record, keyed by its id, never updated.
    "CREATE TABLE appointment_books (
        clinic  BIGINT PRIMARY KEY,
        version BIGINT NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    );
    CREATE TABLE complaints (
        id      BIGINT PRIMARY KEY,
        version BIGINT NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    );
    CREATE TABLE feedback (
        id     BIGINT PRIMARY KEY,
        record TEXT NOT NULL
    );",
    // 4: content accounts, posts and outreach rosters, as in the SQLite adapter's migration
    // 5. Accounts and rosters are JSON state rows under a version; posts are append-only
    // JSON rows keyed by id, with the channel code as a UNIQUE column so that the index,
    // not a read-then-write check, keeps one post per code (a racing append becomes a
    // unique violation, hence a rerun that reads the other post).
    "CREATE TABLE content_accounts (
        id      BIGINT PRIMARY KEY,
        version BIGINT NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    );
    CREATE TABLE content_posts (
        id      BIGINT PRIMARY KEY,
        account BIGINT NOT NULL REFERENCES content_accounts (id),
        code    TEXT NOT NULL UNIQUE,
        record  TEXT NOT NULL
    );
    CREATE TABLE outreach_rosters (
        id      BIGINT PRIMARY KEY,
        version BIGINT NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    );",
    // 5: erasure of feedback comments, as in the SQLite adapter's migration 8: the
    // patients whose feedback comments were erased, so later appends of theirs are stored
    // without them.
    "CREATE TABLE feedback_erasures (
        patient BIGINT PRIMARY KEY
    );",
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Creates the tenant schema if needed and brings it up to [`LATEST`], or refuses a newer
/// one.
///
/// Everything runs in one transaction under an advisory lock keyed by the schema name, so
/// hosts starting together migrate a fresh schema exactly once, and a failed migration
/// leaves nothing behind (PostgreSQL's DDL is transactional).
pub(crate) fn migrate(client: &mut Client, schema: &str) -> Result<i64, PgError> {
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('clinic_ops:' || $1))",
        &[&schema],
    )?;
    // The name was checked to be a plain identifier, so quoting it is exact.
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
         CREATE TABLE IF NOT EXISTS clinic_ops_schema (
             id      INTEGER PRIMARY KEY CHECK (id = 1),
             version BIGINT NOT NULL CHECK (version >= 0)
         );
         INSERT INTO clinic_ops_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;"
    ))?;
    let found: i64 = tx
        .query_one("SELECT version FROM clinic_ops_schema WHERE id = 1", &[])?
        .try_get(0)?;
    check_not_newer(found)?;
    let start = usize::try_from(found).unwrap_or(0);
    for sql in MIGRATIONS.iter().skip(start) {
        tx.batch_execute(sql)?;
    }
    tx.execute(
        "UPDATE clinic_ops_schema SET version = $1 WHERE id = 1",
        &[&LATEST],
    )?;
    tx.commit()?;
    Ok(LATEST)
}

pub(crate) fn check_not_newer(found: i64) -> Result<(), PgError> {
    if found > LATEST {
        return Err(PgError::NewerSchema {
            found,
            supported: LATEST,
        });
    }
    Ok(())
}

/// Whether `name` is a schema name the adapter accepts: a lowercase letter or `_`, then
/// lowercase letters, digits or `_`, at most 63 bytes (PostgreSQL's identifier limit), and
/// not starting with `pg_` (reserved for the system).
pub(crate) fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    first_ok
        && name.len() <= 63
        && !name.starts_with("pg_")
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_are_refused() {
        assert!(check_not_newer(LATEST).is_ok());
        assert!(matches!(
            check_not_newer(LATEST + 1),
            Err(PgError::NewerSchema { .. })
        ));
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["chain_a", "_x", "c1", &"a".repeat(63)] {
            assert!(valid_schema_name(ok), "{ok}");
        }
        for bad in [
            "",
            "A",
            "1a",
            "a-b",
            "a\"b",
            "a;drop",
            "pg_x",
            &"a".repeat(64),
            "é",
        ] {
            assert!(!valid_schema_name(bad), "{bad}");
        }
    }
}
