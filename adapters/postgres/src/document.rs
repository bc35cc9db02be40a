//! [`TagCatalogStore`] and [`CampaignBookStore`] on PostgreSQL: JSON documents under a
//! version, decoded through their serde validation on every read.

use clinic_ops::campaign::CampaignBook;
use clinic_ops::id::ClinicId;
use clinic_ops::segment::TagCatalog;
use clinic_ops::store::{
    CampaignBookStore, StoreError, TagCatalogStore, Version, Versioned, stage_document_commit,
};

use crate::PgStore;
use crate::store::{Db, col, db, decode_err, encode_err, int, snapshot, version};

const CATALOG: &str = "tag catalog";
const BOOK: &str = "campaign book";

fn current_book(c: &mut impl Db, clinic: i64) -> Result<Option<Version>, StoreError> {
    let row = c
        .query_one(
            "SELECT max(version) FROM campaign_books WHERE clinic = $1",
            &[&clinic],
        )
        .map_err(db)?;
    col::<Option<i64>>(&row, 0)?.map(version).transpose()
}

fn decode_book(clinic: i64, v: i64, text: &str) -> Result<CampaignBook, StoreError> {
    // Through BookSpec's checks and CampaignBook::new's: never trusted.
    serde_json::from_str(text).map_err(decode_err(BOOK, format!("C{clinic} v{v}")))
}

impl TagCatalogStore for PgStore {
    fn catalog(&self) -> Result<Option<Versioned<TagCatalog>>, StoreError> {
        let row = self
            .conn()?
            .query_opt("SELECT version, state FROM tag_catalog WHERE id = 1", &[])
            .map_err(db)?;
        row.map(|r| snapshot(CATALOG, "1", col(&r, 0)?, col(&r, 1)?))
            .transpose()
    }

    fn commit_catalog(
        &mut self,
        expected: Option<Version>,
        catalog: &TagCatalog,
    ) -> Result<Version, StoreError> {
        let state = serde_json::to_string(catalog).map_err(encode_err(CATALOG))?;
        self.write(|tx| {
            let current = tx
                .query_opt("SELECT version FROM tag_catalog WHERE id = 1", &[])
                .map_err(db)?
                .map(|r| col::<i64>(&r, 0).and_then(version))
                .transpose()?;
            let next = stage_document_commit(current, expected)?;
            let v = int("version", next.get())?;
            tx.execute(
                "INSERT INTO tag_catalog (id, version, state) VALUES (1, $1, $2)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                     state = excluded.state",
                &[&v, &state],
            )
            .map_err(db)?;
            Ok(next)
        })
    }
}

impl CampaignBookStore for PgStore {
    fn book(&self, clinic: ClinicId) -> Result<Option<Versioned<CampaignBook>>, StoreError> {
        let key = int("clinic id", clinic.get())?;
        // One statement: the version and the book it names are of one moment.
        let row = self
            .conn()?
            .query_opt(
                "SELECT version, book FROM campaign_books WHERE clinic = $1
                 ORDER BY version DESC LIMIT 1",
                &[&key],
            )
            .map_err(db)?;
        row.map(|r| {
            let v: i64 = col(&r, 0)?;
            Ok(Versioned {
                value: decode_book(key, v, col(&r, 1)?)?,
                version: version(v)?,
            })
        })
        .transpose()
    }

    fn book_at(
        &self,
        clinic: ClinicId,
        version: Version,
    ) -> Result<Option<CampaignBook>, StoreError> {
        let key = int("clinic id", clinic.get())?;
        // A version beyond PostgreSQL's integers was never stored.
        let Ok(v) = i64::try_from(version.get()) else {
            return Ok(None);
        };
        let row = self
            .conn()?
            .query_opt(
                "SELECT book FROM campaign_books WHERE clinic = $1 AND version = $2",
                &[&key, &v],
            )
            .map_err(db)?;
        row.map(|r| decode_book(key, v, col(&r, 0)?)).transpose()
    }

    fn book_version(&self, clinic: ClinicId) -> Result<Option<Version>, StoreError> {
        let key = int("clinic id", clinic.get())?;
        current_book(&mut *self.conn()?, key)
    }

    fn commit_book(
        &mut self,
        clinic: ClinicId,
        expected: Option<Version>,
        book: &CampaignBook,
    ) -> Result<Version, StoreError> {
        let key = int("clinic id", clinic.get())?;
        let json = serde_json::to_string(book).map_err(encode_err(BOOK))?;
        self.write(|tx| {
            let next = stage_document_commit(current_book(tx, key)?, expected)?;
            let v = int("version", next.get())?;
            tx.execute(
                "INSERT INTO campaign_books (clinic, version, book) VALUES ($1, $2, $3)",
                &[&key, &v, &json],
            )
            .map_err(db)?;
            Ok(next)
        })
    }
}
