//! Membership points: a ledger of lots with expiry, pending points, refunds, idempotency and tiers.
