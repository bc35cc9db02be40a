//! The conformance kit against the in-memory adapters: every port, races included.

use clinic_ops::store::memory::{
    MemoryCampaignBookStore, MemoryContactStore, MemoryContentStore, MemoryGroupStore,
    MemoryLedgerStore, MemoryOutreachEventStore, MemoryPatientStore, MemoryPurchaseStore,
    MemoryReferralStore, MemoryTagCatalogStore, MemoryTaskStore, MemoryUsageStore,
    MemoryVisitStore,
};
use clinic_ops::testkit;

#[test]
fn memory_patient_store_conforms() {
    let factory = (MemoryPatientStore::new, |s: &MemoryPatientStore| s.clone());
    testkit::patient_store::run_all(&factory);
}

#[test]
fn memory_ledger_store_conforms() {
    let factory = (MemoryLedgerStore::new, |s: &MemoryLedgerStore| s.clone());
    testkit::ledger_store::run_all(&factory);
}

#[test]
fn memory_referral_store_conforms() {
    let factory = (MemoryReferralStore::new, |s: &MemoryReferralStore| {
        s.clone()
    });
    testkit::referral_store::run_all(&factory);
}

#[test]
fn memory_task_store_conforms() {
    let factory = (MemoryTaskStore::new, |s: &MemoryTaskStore| s.clone());
    testkit::task_store::run_all(&factory);
}

#[test]
fn memory_usage_store_conforms() {
    let factory = (MemoryUsageStore::new, |s: &MemoryUsageStore| s.clone());
    testkit::usage_store::run_all(&factory);
}

#[test]
fn memory_visit_store_conforms() {
    let factory = (MemoryVisitStore::new, |s: &MemoryVisitStore| s.clone());
    testkit::visit_store::run_all(&factory);
}

#[test]
fn memory_purchase_store_conforms() {
    let factory = (MemoryPurchaseStore::new, |s: &MemoryPurchaseStore| {
        s.clone()
    });
    testkit::purchase_store::run_all(&factory);
}

#[test]
fn memory_tag_catalog_store_conforms() {
    let factory = (MemoryTagCatalogStore::new, |s: &MemoryTagCatalogStore| {
        s.clone()
    });
    testkit::tag_catalog_store::run_all(&factory);
}

#[test]
fn memory_campaign_book_store_conforms() {
    let factory = (
        MemoryCampaignBookStore::new,
        |s: &MemoryCampaignBookStore| s.clone(),
    );
    testkit::campaign_book_store::run_all(&factory);
}

#[test]
fn memory_content_store_conforms() {
    let factory = (MemoryContentStore::new, |s: &MemoryContentStore| s.clone());
    testkit::content_store::run_all(&factory);
}

#[test]
fn memory_outreach_event_store_conforms() {
    let factory = (
        MemoryOutreachEventStore::new,
        |s: &MemoryOutreachEventStore| s.clone(),
    );
    testkit::outreach_event_store::run_all(&factory);
}

#[test]
fn memory_appointment_store_conforms() {
    use clinic_ops::store::memory::MemoryAppointmentStore;
    let factory = (MemoryAppointmentStore::new, |s: &MemoryAppointmentStore| {
        s.clone()
    });
    testkit::appointment_store::run_all(&factory);
}

#[test]
fn memory_feedback_store_conforms() {
    use clinic_ops::store::memory::MemoryFeedbackStore;
    let factory = (MemoryFeedbackStore::new, |s: &MemoryFeedbackStore| {
        s.clone()
    });
    testkit::appointment_store::run_all_feedback(&factory);
}

#[test]
fn memory_contact_store_conforms() {
    let factory = (MemoryContactStore::new, |s: &MemoryContactStore| s.clone());
    testkit::contact_store::run_all(&factory);
}

#[test]
fn memory_group_store_conforms() {
    let factory = (MemoryGroupStore::new, |s: &MemoryGroupStore| s.clone());
    testkit::group_store::run_all(&factory);
}
