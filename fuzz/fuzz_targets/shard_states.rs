//! `cargo +nightly fuzz run shard_states`: the body is `clinic_ops::testkit::fuzz::shard_states`, which the
//! stable test `tests/fuzz_regressions.rs` also runs over the corpus and saved findings.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clinic_ops::testkit::fuzz::shard_states(data));
