//! The schema and its migrations, recorded in `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use crate::SqliteError;

/// The migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
///
/// Append only: a released migration is never edited, because files in the field already
/// ran it. A port added later adds its tables as a new migration in the same change.
const MIGRATIONS: &[&str] = &[
    // 1: patients. The current state as JSON; mobile and resident id as columns so that
    // their UNIQUE indexes, not a read-then-write check, keep them unique. NULL (anonymised,
    // or no resident id) is never a duplicate.
    "CREATE TABLE patients (
        id          INTEGER PRIMARY KEY,
        version     INTEGER NOT NULL CHECK (version >= 1),
        mobile      TEXT UNIQUE,
        resident_id TEXT UNIQUE,
        state       TEXT NOT NULL
    ) STRICT;",
    // 2: the ports of the second wave. Follow-up histories and referral bindings are state
    // rows like patients (referrer as a column for `referees_of`). Usage counters are keyed
    // by `UsageKey`'s documented text form; the count is decimal text because counters go
    // up to u64::MAX and SQLite integers stop at i64::MAX. The points ledger is one row per
    // append (a JSON array of its postings, keyed by the version it made): one B-tree insert
    // per commit instead of one per posting, and the unit of atomicity is the row. The
    // account row carries the version and the posting count that the version check reads.
    "CREATE TABLE followup_histories (
        patient INTEGER PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    ) STRICT;
    CREATE TABLE referral_bindings (
        referee  INTEGER PRIMARY KEY,
        version  INTEGER NOT NULL CHECK (version >= 1),
        referrer INTEGER NOT NULL,
        state    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX referral_bindings_by_referrer ON referral_bindings (referrer, referee);
    CREATE TABLE usage_counters (
        key     TEXT PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 1),
        count   TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE ledger_accounts (
        account  INTEGER PRIMARY KEY,
        version  INTEGER NOT NULL CHECK (version >= 1),
        postings INTEGER NOT NULL CHECK (postings >= 1)
    ) STRICT;
    CREATE TABLE ledger_appends (
        account   INTEGER NOT NULL REFERENCES ledger_accounts (account),
        version   INTEGER NOT NULL CHECK (version >= 1),
        first_seq INTEGER NOT NULL CHECK (first_seq >= 1),
        last_seq  INTEGER NOT NULL CHECK (last_seq >= first_seq),
        postings  TEXT NOT NULL,
        PRIMARY KEY (account, version)
    ) STRICT, WITHOUT ROWID;",
    // 3: erasure. At most one row, present while an anonymising commit has not yet been
    // able to truncate the write-ahead log (which still holds the old page images); the
    // generation tells a truncation that raced a newer erasure to leave the row alone.
    "CREATE TABLE erasure_pending (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL CHECK (generation >= 1)
    ) STRICT;",
    // 4: journey records and documents. Visits and purchases are one JSON row per record,
    // keyed by their id, with the patient and the instant (nanoseconds since the epoch: exact
    // for the crate's accepted range, 1900 to 2200) as columns for the (patient, at, id) and
    // (at, id) indexes the listings read. `purchase_erasures` lists the patients whose
    // purchase categories were erased, so later appends are stored without them. The tag
    // catalog is one row; campaign books keep one row per version, never updated.
    "CREATE TABLE visits (
        id      INTEGER PRIMARY KEY,
        patient INTEGER NOT NULL,
        at      INTEGER NOT NULL,
        record  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX visits_by_time ON visits (at, id);
    CREATE INDEX visits_by_patient ON visits (patient, at, id);
    CREATE TABLE purchases (
        id      INTEGER PRIMARY KEY,
        patient INTEGER NOT NULL,
        at      INTEGER NOT NULL,
        record  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX purchases_by_time ON purchases (at, id);
    CREATE INDEX purchases_by_patient ON purchases (patient, at, id);
    CREATE TABLE purchase_erasures (
        patient INTEGER PRIMARY KEY
    ) STRICT;
    CREATE TABLE tag_catalog (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    ) STRICT;
    CREATE TABLE campaign_books (
        clinic  INTEGER NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        book    TEXT NOT NULL,
        PRIMARY KEY (clinic, version)
    ) STRICT, WITHOUT ROWID;",
    // 5: content and outreach events. Accounts and event rosters are state rows under a
    // version, like follow-up histories. Posts are append-only JSON rows keyed by id, with
    // the channel code as a UNIQUE column so that the index, not a read-then-write check,
    // keeps one post per code.
    "CREATE TABLE content_accounts (
        id      INTEGER PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    ) STRICT;
    CREATE TABLE content_posts (
        id      INTEGER PRIMARY KEY,
        account INTEGER NOT NULL REFERENCES content_accounts (id),
        code    TEXT NOT NULL UNIQUE,
        record  TEXT NOT NULL
    ) STRICT;
    CREATE TABLE outreach_rosters (
        id      INTEGER PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    ) STRICT;",
    // 6: appointments and feedback. Each clinic's appointment book and each complaint is one
    // snapshot row (version, JSON state), as patients are; feedback is one JSON row per
    // record, keyed by its id, never updated.
    "CREATE TABLE appointment_books (
        clinic  INTEGER PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    ) STRICT;
    CREATE TABLE complaints (
        id      INTEGER PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    ) STRICT;
    CREATE TABLE feedback (
        id     INTEGER PRIMARY KEY,
        record TEXT NOT NULL
    ) STRICT;",
    // 7: contact logs, one row per patient holding its contact events as JSON (a state
    // row like the follow-up histories: a log is tens of events, rewritten per commit).
    // Erasure deletes the row. Group events are one row per event, appended under a
    // version row per series; the patient is a column so that erasure is one indexed
    // delete of their rows in every series.
    "CREATE TABLE contact_logs (
        patient INTEGER PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 1),
        state   TEXT NOT NULL
    ) STRICT;
    CREATE TABLE group_series (
        series  INTEGER PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 1)
    ) STRICT;
    CREATE TABLE group_events (
        series  INTEGER NOT NULL REFERENCES group_series (series),
        seq     INTEGER NOT NULL CHECK (seq >= 1),
        patient INTEGER NOT NULL,
        event   TEXT NOT NULL,
        PRIMARY KEY (series, seq)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX group_events_by_patient ON group_events (patient);",
    // 8: erasure of feedback comments. Like `purchase_erasures`: the patients whose
    // feedback comments were erased, so later appends of theirs are stored without them.
    "CREATE TABLE feedback_erasures (
        patient INTEGER PRIMARY KEY
    ) STRICT;",
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`LATEST`], or refuses a newer one.
///
/// The check and the migrations run in one `BEGIN IMMEDIATE` transaction, so two processes
/// opening a fresh file at once migrate it exactly once.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), SqliteError> {
    let found = user_version(conn)?;
    if found == LATEST {
        return Ok(());
    }
    check_not_newer(found)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    check_not_newer(found)?;
    let start = usize::try_from(found).unwrap_or(0);
    for sql in MIGRATIONS.iter().skip(start) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", LATEST)?;
    tx.commit()?;
    Ok(())
}

/// The schema version recorded in the file.
pub(crate) fn user_version(conn: &Connection) -> Result<i64, SqliteError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

pub(crate) fn check_not_newer(found: i64) -> Result<(), SqliteError> {
    if found > LATEST {
        return Err(SqliteError::NewerSchema {
            found,
            supported: LATEST,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_file_migrates_to_latest_keeping_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1; INSERT INTO patients VALUES (1, 1, NULL, NULL, '{}');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), LATEST);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM patients", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        let t: i64 = conn
            .query_row("SELECT count(*) FROM ledger_appends", [], |r| r.get(0))
            .unwrap();
        assert_eq!(t, 0);
        migrate(&mut conn).unwrap();
        assert_eq!(
            user_version(&conn).unwrap(),
            LATEST,
            "migrating twice is a no-op"
        );
    }

    #[test]
    fn newer_versions_are_refused() {
        assert!(check_not_newer(LATEST).is_ok());
        assert!(matches!(
            check_not_newer(LATEST + 1),
            Err(SqliteError::NewerSchema { .. })
        ));
    }
}
