//! `cargo +nightly fuzz run parse_inputs`: the body is `clinic_ops::testkit::fuzz::parse_inputs`, which the
//! stable test `tests/fuzz_regressions.rs` also runs over the corpus and saved findings.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clinic_ops::testkit::fuzz::parse_inputs(data));
