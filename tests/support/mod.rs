//! What the tests that run the reference calculators as processes share.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The built example binary `name`, next to this test's own `deps` folder.
///
/// `cargo test` (and `cargo test --workspace`, which CI runs) builds every example before it
/// runs the tests. Run alone (`cargo test --test calculator_contracts`), cargo builds only
/// the test, so a missing example is built here, once, with the cargo and the profile that
/// built this test.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let bin = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    // One build at a time: the tests of a binary run on several threads, and cargo would
    // only make them wait on its lock.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    if !bin.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--example", name])
            .args(["--manifest-path", env!("CARGO_MANIFEST_PATH")]);
        if profile.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    bin
}
