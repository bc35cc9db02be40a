//! [`TagCatalogStore`] and [`CampaignBookStore`] on SQLite: JSON documents under a
//! version, decoded through their serde validation on every read.

use clinic_ops::campaign::CampaignBook;
use clinic_ops::id::ClinicId;
use clinic_ops::segment::TagCatalog;
use clinic_ops::store::{
    CampaignBookStore, StoreError, TagCatalogStore, Version, Versioned, stage_document_commit,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::SqliteStore;
use crate::store::{db_at, decode_err, encode_err, int, snapshot, version};

const CATALOG: &str = "tag catalog";
const BOOK: &str = "campaign book";

fn catalog_row(
    conn: &Connection,
    err: impl FnOnce(rusqlite::Error) -> StoreError,
) -> Result<Option<Versioned<TagCatalog>>, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT version, state FROM tag_catalog WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(err)?;
    row.map(|(v, s)| snapshot(CATALOG, "1", v, &s)).transpose()
}

fn current_book(
    conn: &Connection,
    clinic: i64,
    err: impl FnOnce(rusqlite::Error) -> StoreError,
) -> Result<Option<Version>, StoreError> {
    let v: Option<i64> = conn
        .prepare_cached("SELECT max(version) FROM campaign_books WHERE clinic = ?1")
        .and_then(|mut s| s.query_row([clinic], |r| r.get(0)))
        .map_err(err)?;
    v.map(version).transpose()
}

impl TagCatalogStore for SqliteStore {
    fn catalog(&self) -> Result<Option<Versioned<TagCatalog>>, StoreError> {
        catalog_row(&self.conn, |e| self.read_err(e))
    }

    fn commit_catalog(
        &mut self,
        expected: Option<Version>,
        catalog: &TagCatalog,
    ) -> Result<Version, StoreError> {
        let state = serde_json::to_string(catalog).map_err(encode_err(CATALOG))?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            let current: Option<i64> = tx
                .prepare_cached("SELECT version FROM tag_catalog WHERE id = 1")
                .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
                .map_err(&err)?;
            let next = stage_document_commit(current.map(version).transpose()?, expected)?;
            let v = int("version", next.get())?;
            tx.prepare_cached(
                "INSERT INTO tag_catalog (id, version, state) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                     state = excluded.state",
            )
            .and_then(|mut s| s.execute(params![v, state]))
            .map_err(&err)?;
            Ok(next)
        })
    }
}

impl SqliteStore {
    fn book_row(&self, clinic: i64, v: i64) -> Result<Option<CampaignBook>, StoreError> {
        let row: Option<String> = self
            .conn
            .prepare_cached("SELECT book FROM campaign_books WHERE clinic = ?1 AND version = ?2")
            .and_then(|mut s| s.query_row([clinic, v], |r| r.get(0)).optional())
            .map_err(|e| self.read_err(e))?;
        row.map(|b| {
            // Through BookSpec's checks and CampaignBook::new's: never trusted.
            serde_json::from_str(&b).map_err(decode_err(BOOK, format!("C{clinic} v{v}")))
        })
        .transpose()
    }
}

impl CampaignBookStore for SqliteStore {
    fn book(&self, clinic: ClinicId) -> Result<Option<Versioned<CampaignBook>>, StoreError> {
        let key = int("clinic id", clinic.get())?;
        // One read transaction, so the version and the book it names agree even while a
        // writer commits the next one (rows are never updated, but a reader must not mix
        // the max of one snapshot with a row of another).
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.read_err(e))?;
        let Some(v) = current_book(&tx, key, |e| self.read_err(e))? else {
            return Ok(None);
        };
        let book = self.book_row(key, int("version", v.get())?)?;
        tx.finish().map_err(|e| self.read_err(e))?;
        Ok(book.map(|value| Versioned { value, version: v }))
    }

    fn book_at(
        &self,
        clinic: ClinicId,
        version: Version,
    ) -> Result<Option<CampaignBook>, StoreError> {
        let key = int("clinic id", clinic.get())?;
        // A version beyond SQLite's integers was never stored.
        match i64::try_from(version.get()) {
            Ok(v) => self.book_row(key, v),
            Err(_) => Ok(None),
        }
    }

    fn book_version(&self, clinic: ClinicId) -> Result<Option<Version>, StoreError> {
        let key = int("clinic id", clinic.get())?;
        current_book(&self.conn, key, |e| self.read_err(e))
    }

    fn commit_book(
        &mut self,
        clinic: ClinicId,
        expected: Option<Version>,
        book: &CampaignBook,
    ) -> Result<Version, StoreError> {
        let key = int("clinic id", clinic.get())?;
        let json = serde_json::to_string(book).map_err(encode_err(BOOK))?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            let next = stage_document_commit(current_book(tx, key, &err)?, expected)?;
            let v = int("version", next.get())?;
            tx.prepare_cached(
                "INSERT INTO campaign_books (clinic, version, book) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![key, v, json]))
            .map_err(&err)?;
            Ok(next)
        })
    }
}
