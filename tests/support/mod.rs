//! What the tests that run the reference calculators as processes share (also included by
//! `adapters/datafusion/tests/sql_cli.rs` for the `sql` example: standard library only).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The built example binary `name`, next to this test's own `deps` folder.
///
/// `cargo test` builds the examples that are programs before it runs the tests, but the
/// ones marked `test = true` (`funnel`, `retention`) only as test harnesses, and a test run
/// alone (`cargo test --test calculator_contracts`) builds none. So each example is built
/// here, once per test process, with the cargo and the profile that built this test: a
/// no-op when it is fresh, and never a stale binary left by an earlier build.
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
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        // The workspace's feature set, as `cargo test --workspace` resolves it: then the
        // build finds every artifact fresh, where the package's own set would compile a
        // second clinic-ops (and, for the SQL example, a second DataFusion).
        cmd.args(["build", "--quiet", "--workspace", "--example", name])
            .args(["--manifest-path", env!("CARGO_MANIFEST_PATH")]);
        if profile.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "cargo build --example {name} failed");
        built.push(name.to_owned());
    }
    bin
}
