//! [`ContentStore`] and [`OutreachEventStore`] on SQLite: accounts and rosters are JSON
//! state rows under a version, posts one JSON row each with the channel code as a UNIQUE
//! column; every row read back goes through its type's serde validation.

use clinic_ops::content::{ContentAccount, Post};
use clinic_ops::event::{Roster, RosterEvent};
use clinic_ops::id::{AccountId, OutreachEventId, PostId};
use clinic_ops::store::{
    ContentStore, OutreachEventStore, PostWrite, StoreError, Version, Versioned,
    stage_account_commit, stage_post_append, stage_roster_commit,
};
use clinic_ops::text::Label;
use rusqlite::{Connection, OptionalExtension, params};

use crate::SqliteStore;
use crate::store::{
    Erases, commit_snapshot, db_at, decode_err, encode_err, int, load_snapshot, snapshot, uint,
};

const ACCOUNT: &str = "account";
const POST: &str = "post";
const ROSTER: &str = "outreach event";

fn lower(after: Option<u64>, what: &'static str) -> Result<i64, StoreError> {
    after.map_or(Ok(-1), |a| int(what, a))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn post_row(
    conn: &Connection,
    sql: &str,
    key: impl rusqlite::ToSql,
    shown: impl std::fmt::Display,
    err: impl FnOnce(rusqlite::Error) -> StoreError,
) -> Result<Option<Post>, StoreError> {
    let row: Option<String> = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(err)?;
    row.map(|p| serde_json::from_str(&p).map_err(decode_err(POST, shown)))
        .transpose()
}

impl ContentStore for SqliteStore {
    fn account(&self, id: AccountId) -> Result<Option<Versioned<ContentAccount>>, StoreError> {
        let key = int("account id", id.get())?;
        load_snapshot(
            &self.conn,
            "SELECT version, state FROM content_accounts WHERE id = ?1",
            key,
            ACCOUNT,
            id,
            |e| self.read_err(e),
        )
    }

    fn commit_account(
        &mut self,
        account: &ContentAccount,
        expected: Option<Version>,
    ) -> Result<Version, StoreError> {
        let key = int("account id", account.id().get())?;
        let state = serde_json::to_string(account).map_err(encode_err(ACCOUNT))?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            let current: Option<i64> = tx
                .prepare_cached("SELECT version FROM content_accounts WHERE id = ?1")
                .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
                .map_err(&err)?;
            let current = current.map(crate::store::version).transpose()?;
            let staged = stage_account_commit(current, expected, account)?;
            let v = int("version", staged.version.get())?;
            tx.prepare_cached(
                "INSERT INTO content_accounts (id, version, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                     state = excluded.state",
            )
            .and_then(|mut s| s.execute(params![key, v, state]))
            .map_err(&err)?;
            Ok(staged.version)
        })
    }

    fn accounts(
        &self,
        after: Option<AccountId>,
        n: usize,
    ) -> Result<Vec<Versioned<ContentAccount>>, StoreError> {
        let after = lower(after.map(AccountId::get), "account id")?;
        let rows: Vec<(i64, i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, version, state FROM content_accounts WHERE id > ?1
                 ORDER BY id LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map([after, limit(n)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(|e| self.read_err(e))?;
        rows.into_iter()
            .map(|(k, v, state)| {
                snapshot(ACCOUNT, AccountId::new(uint("account id", k)?), v, &state)
            })
            .collect()
    }

    fn append_post(&mut self, post: &Post) -> Result<PostWrite, StoreError> {
        let key = int("post id", post.id().get())?;
        let account = int("account id", post.account().get())?;
        let code = post.code().as_str().to_owned();
        let record = serde_json::to_string(post).map_err(encode_err(POST))?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            let stored = post_row(
                tx,
                "SELECT record FROM content_posts WHERE id = ?1",
                key,
                post.id(),
                &err,
            )?;
            let exists: Option<i64> = tx
                .prepare_cached("SELECT 1 FROM content_accounts WHERE id = ?1")
                .and_then(|mut s| s.query_row([account], |r| r.get(0)).optional())
                .map_err(&err)?;
            let holder: Option<i64> = tx
                .prepare_cached("SELECT id FROM content_posts WHERE code = ?1")
                .and_then(|mut s| s.query_row([&code], |r| r.get(0)).optional())
                .map_err(&err)?;
            let holder = holder
                .map(|h| uint("post id", h).map(PostId::new))
                .transpose()?;
            let write = stage_post_append(post, stored.as_ref(), exists.is_some(), holder)?;
            if write == PostWrite::Stored {
                tx.prepare_cached(
                    "INSERT INTO content_posts (id, account, code, record) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| s.execute(params![key, account, code, record]))
                .map_err(&err)?;
            }
            Ok(write)
        })
    }

    fn post(&self, id: PostId) -> Result<Option<Post>, StoreError> {
        let key = int("post id", id.get())?;
        post_row(
            &self.conn,
            "SELECT record FROM content_posts WHERE id = ?1",
            key,
            id,
            |e| self.read_err(e),
        )
    }

    fn post_by_code(&self, code: &Label) -> Result<Option<Post>, StoreError> {
        post_row(
            &self.conn,
            "SELECT record FROM content_posts WHERE code = ?1",
            code.as_str(),
            code,
            |e| self.read_err(e),
        )
    }

    fn posts(&self, after: Option<PostId>, n: usize) -> Result<Vec<Post>, StoreError> {
        let after = lower(after.map(PostId::get), "post id")?;
        let rows: Vec<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, record FROM content_posts WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map([after, limit(n)], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(|e| self.read_err(e))?;
        rows.into_iter()
            .map(|(k, p)| serde_json::from_str(&p).map_err(decode_err(POST, k)))
            .collect()
    }
}

impl OutreachEventStore for SqliteStore {
    fn get(&self, event: OutreachEventId) -> Result<Option<Versioned<Roster>>, StoreError> {
        let key = int("outreach event id", event.get())?;
        load_snapshot(
            &self.conn,
            "SELECT version, state FROM outreach_rosters WHERE id = ?1",
            key,
            ROSTER,
            event,
            |e| self.read_err(e),
        )
    }

    fn commit(
        &mut self,
        event: OutreachEventId,
        expected: Option<Version>,
        events: &[RosterEvent],
    ) -> Result<Version, StoreError> {
        let key = int("outreach event id", event.get())?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        // Erasing a patient's seat (health data) must leave no old page image behind.
        let erases = Erases::when(
            events
                .iter()
                .any(|e| matches!(e, RosterEvent::PatientErased { .. })),
        );
        self.write_erasing(erases, |tx| {
            commit_snapshot(
                tx,
                "SELECT version, state FROM outreach_rosters WHERE id = ?1",
                "INSERT INTO outreach_rosters (id, version, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                     state = excluded.state",
                key,
                ROSTER,
                event,
                expected,
                events,
                stage_roster_commit,
                &err,
            )
        })
    }

    fn scan(
        &self,
        after: Option<OutreachEventId>,
        n: usize,
    ) -> Result<Vec<Versioned<Roster>>, StoreError> {
        let after = lower(after.map(OutreachEventId::get), "outreach event id")?;
        let rows: Vec<(i64, i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, version, state FROM outreach_rosters WHERE id > ?1
                 ORDER BY id LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map([after, limit(n)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(|e| self.read_err(e))?;
        rows.into_iter()
            .map(|(k, v, state)| {
                snapshot(
                    ROSTER,
                    OutreachEventId::new(uint("outreach event id", k)?),
                    v,
                    &state,
                )
            })
            .collect()
    }
}
