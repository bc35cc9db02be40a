//! [`ContentStore`] and [`OutreachEventStore`] on PostgreSQL, laid out as in the SQLite
//! adapter: accounts and rosters are JSON state rows under a version, posts one JSON row
//! each with the channel code as a UNIQUE column; every row read back goes through its
//! type's serde validation.

use clinic_ops::content::{ContentAccount, Post};
use clinic_ops::event::{Roster, RosterEvent};
use clinic_ops::id::{AccountId, OutreachEventId, PostId};
use clinic_ops::store::{
    ContentStore, OutreachEventStore, PostWrite, StoreError, Version, Versioned,
    stage_account_commit, stage_post_append, stage_roster_commit,
};
use clinic_ops::text::Label;
use postgres::types::ToSql;

use crate::PgStore;
use crate::store::{
    Db, col, commit_snapshot, db, decode_err, encode_err, int, load_snapshot, page, snapshot, uint,
};

const ACCOUNT: &str = "account";
const POST: &str = "post";
const ROSTER: &str = "outreach event";

const GET_ROSTER: &str = "SELECT version, state FROM outreach_rosters WHERE id = $1";

/// The post that `sql` (selecting `record` by one key) finds, decoded.
fn post_row(
    c: &mut impl Db,
    sql: &str,
    key: &(dyn ToSql + Sync),
    shown: impl std::fmt::Display,
) -> Result<Option<Post>, StoreError> {
    let row = c.query_opt(sql, &[key]).map_err(db)?;
    row.map(|r| serde_json::from_str(col::<&str>(&r, 0)?).map_err(decode_err(POST, shown)))
        .transpose()
}

impl ContentStore for PgStore {
    fn account(&self, id: AccountId) -> Result<Option<Versioned<ContentAccount>>, StoreError> {
        let key = int("account id", id.get())?;
        load_snapshot(
            &mut *self.conn()?,
            "SELECT version, state FROM content_accounts WHERE id = $1",
            key,
            ACCOUNT,
            id,
        )
    }

    fn commit_account(
        &mut self,
        account: &ContentAccount,
        expected: Option<Version>,
    ) -> Result<Version, StoreError> {
        let key = int("account id", account.id().get())?;
        let state = serde_json::to_string(account).map_err(encode_err(ACCOUNT))?;
        self.write(|tx| {
            let current = tx
                .query_opt(
                    "SELECT version FROM content_accounts WHERE id = $1",
                    &[&key],
                )
                .map_err(db)?
                .map(|r| col(&r, 0).and_then(crate::store::version))
                .transpose()?;
            let staged = stage_account_commit(current, expected, account)?;
            let v = int("version", staged.version.get())?;
            tx.execute(
                "INSERT INTO content_accounts (id, version, state) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                     state = excluded.state",
                &[&key, &v, &state],
            )
            .map_err(db)?;
            Ok(staged.version)
        })
    }

    fn accounts(
        &self,
        after: Option<AccountId>,
        n: usize,
    ) -> Result<Vec<Versioned<ContentAccount>>, StoreError> {
        let (after, limit) = page(after.map(AccountId::get), "account id", n)?;
        let rows = self
            .conn()?
            .query(
                "SELECT id, version, state FROM content_accounts WHERE id > $1
                 ORDER BY id LIMIT $2",
                &[&after, &limit],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let id = AccountId::new(uint("account id", col(r, 0)?)?);
                snapshot(ACCOUNT, id, col(r, 1)?, col(r, 2)?)
            })
            .collect()
    }

    fn append_post(&mut self, post: &Post) -> Result<PostWrite, StoreError> {
        let key = int("post id", post.id().get())?;
        let account = int("account id", post.account().get())?;
        let code = post.code().as_str().to_owned();
        let record = serde_json::to_string(post).map_err(encode_err(POST))?;
        // A concurrent append of the same id or code makes the INSERT a unique violation,
        // which reruns the transaction: the rerun reads the other post and answers as the
        // port requires.
        self.write(|tx| {
            let stored = post_row(
                tx,
                "SELECT record FROM content_posts WHERE id = $1",
                &key,
                post.id(),
            )?;
            let exists = tx
                .query_opt("SELECT 1 FROM content_accounts WHERE id = $1", &[&account])
                .map_err(db)?
                .is_some();
            let holder = tx
                .query_opt("SELECT id FROM content_posts WHERE code = $1", &[&code])
                .map_err(db)?
                .map(|r| col(&r, 0).and_then(|h| uint("post id", h)).map(PostId::new))
                .transpose()?;
            let write = stage_post_append(post, stored.as_ref(), exists, holder)?;
            if write == PostWrite::Stored {
                tx.execute(
                    "INSERT INTO content_posts (id, account, code, record) VALUES ($1, $2, $3, $4)",
                    &[&key, &account, &code, &record],
                )
                .map_err(db)?;
            }
            Ok(write)
        })
    }

    fn post(&self, id: PostId) -> Result<Option<Post>, StoreError> {
        let key = int("post id", id.get())?;
        post_row(
            &mut *self.conn()?,
            "SELECT record FROM content_posts WHERE id = $1",
            &key,
            id,
        )
    }

    fn post_by_code(&self, code: &Label) -> Result<Option<Post>, StoreError> {
        post_row(
            &mut *self.conn()?,
            "SELECT record FROM content_posts WHERE code = $1",
            &code.as_str(),
            code,
        )
    }

    fn posts(&self, after: Option<PostId>, n: usize) -> Result<Vec<Post>, StoreError> {
        let (after, limit) = page(after.map(PostId::get), "post id", n)?;
        let rows = self
            .conn()?
            .query(
                "SELECT id, record FROM content_posts WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &limit],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let id = PostId::new(uint("post id", col(r, 0)?)?);
                serde_json::from_str(col::<&str>(r, 1)?).map_err(decode_err(POST, id))
            })
            .collect()
    }
}

impl OutreachEventStore for PgStore {
    fn get(&self, event: OutreachEventId) -> Result<Option<Versioned<Roster>>, StoreError> {
        let key = int("outreach event id", event.get())?;
        load_snapshot(&mut *self.conn()?, GET_ROSTER, key, ROSTER, event)
    }

    fn commit(
        &mut self,
        event: OutreachEventId,
        expected: Option<Version>,
        events: &[RosterEvent],
    ) -> Result<Version, StoreError> {
        let key = int("outreach event id", event.get())?;
        self.write(|tx| {
            commit_snapshot(
                tx,
                GET_ROSTER,
                "INSERT INTO outreach_rosters (id, version, state) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                         state = excluded.state",
                key,
                ROSTER,
                event,
                expected,
                events,
                stage_roster_commit,
            )
        })
    }

    fn scan(
        &self,
        after: Option<OutreachEventId>,
        n: usize,
    ) -> Result<Vec<Versioned<Roster>>, StoreError> {
        let (after, limit) = page(after.map(OutreachEventId::get), "outreach event id", n)?;
        let rows = self
            .conn()?
            .query(
                "SELECT id, version, state FROM outreach_rosters WHERE id > $1
                 ORDER BY id LIMIT $2",
                &[&after, &limit],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let id = OutreachEventId::new(uint("outreach event id", col(r, 0)?)?);
                snapshot(ROSTER, id, col(r, 1)?, col(r, 2)?)
            })
            .collect()
    }
}
