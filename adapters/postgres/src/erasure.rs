//! Erasure on PostgreSQL: every personal-data port behind one handle, and what it takes
//! for the erased values to leave the database's files.
//!
//! An anonymising commit rewrites the patient's row, the follow-up history's row, the
//! patient's purchase and feedback rows, and the rows of the appointment books, complaints
//! and outreach rosters that held their answers, words or seats, and deletes their contact
//! log and their group event rows, in one transaction each, so no live row holds an erased value once it returns (the
//! conformance kit checks every live row of every table in the tenant's schema).
//! PostgreSQL keeps the old row versions as dead tuples in the table's pages until
//! `VACUUM` removes them and reuses the space; autovacuum does that on its own schedule,
//! and [`PgStore::vacuum_erased`] does it at once for the tables an erasure rewrites or
//! deletes from. The write-ahead log and base backups are the operator's: they age out
//! with the server's WAL retention and backup rotation.

use clinic_ops::store::{
    AppointmentStore, ContactStore, FeedbackStore, GroupStore, OutreachEventStore, PatientStore,
    PersonalDataPorts, PurchaseStore, TaskStore,
};

use crate::{PgError, PgStore};

impl PersonalDataPorts for PgStore {
    fn patients(&mut self) -> &mut dyn PatientStore {
        self
    }
    fn follow_ups(&mut self) -> &mut dyn TaskStore {
        self
    }
    fn purchases(&mut self) -> &mut dyn PurchaseStore {
        self
    }
    fn contacts(&mut self) -> &mut dyn ContactStore {
        self
    }
    fn groups(&mut self) -> &mut dyn GroupStore {
        self
    }
    fn appointments(&mut self) -> &mut dyn AppointmentStore {
        self
    }
    fn feedback(&mut self) -> &mut dyn FeedbackStore {
        self
    }
    fn outreach_events(&mut self) -> &mut dyn OutreachEventStore {
        self
    }
}

impl PgStore {
    /// Runs `VACUUM` on the tables an erasure rewrites or deletes from (patients, follow-up
    /// histories, purchases, contact logs, group events, appointment books, complaints,
    /// feedback and outreach rosters), removing the dead row versions that still hold
    /// erased values. A
    /// transaction begun before the erasure keeps the rows it can see; they go at the first
    /// vacuum after it ends.
    ///
    /// # Errors
    ///
    /// [`PgError`] when the server refuses (the role must own the tables).
    pub fn vacuum_erased(&self) -> Result<(), PgError> {
        let mut c = self.pool_conn()?;
        c.batch_execute(
            "VACUUM patients, followup_histories, purchases, contact_logs, group_events,
                 appointment_books, complaints, feedback, outreach_rosters",
        )?;
        Ok(())
    }
}
