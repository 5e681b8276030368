//! The conformance runner: every PyTorch-generated case in
//! `tests/conformance/cases/` (and in `$LAMINA_CONFORMANCE_DIR`, if set) runs
//! through lamina's public API and must match PyTorch's float64 results.
//!
//! Every case runs in f64 and, where it is marked `f32_ok`, again in f32
//! (atol 1e-4, rtol 1e-3). A case of a kind, function, module or option the
//! runner does not know is a failure, listed by name, never a skip. The
//! repo's copy holds the cases of the features that exist; it grows with them.
//!
//! Run: `cargo test --release -p lamina --test conformance -- --nocapture`.

#[path = "conformance/function.rs"]
mod function;
#[path = "conformance/init.rs"]
mod init;
#[path = "conformance/module.rs"]
#[allow(dead_code)] // the factory's option readers are used as layers land
mod module;
#[path = "conformance/optim.rs"]
mod optim;
#[path = "conformance/support.rs"]
#[allow(dead_code)] // each kind uses part of the shared helpers
mod support;
#[path = "conformance/training.rs"]
mod training;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::Outcome;

fn run_case(case: &Value) -> Outcome {
    match case["kind"].as_str().unwrap_or("") {
        "function" => function::run(case),
        "init" => init::run(case),
        "module" => module::run(case),
        "double_backward" => module::run_double_backward(case),
        "optimizer" => optim::run_optimizer(case),
        "scheduler" => optim::run_scheduler(case),
        "clip" => optim::run_clip(case),
        "training" => training::run(case),
        other => Err(format!("unknown kind `{other}`")),
    }
}

fn cases_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read conformance dir {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn run_file(path: &Path) -> (String, Outcome) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let case: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return (path.display().to_string(), Err(format!("invalid JSON: {e}"))),
    };
    let name = case["name"].as_str().map_or_else(|| path.display().to_string(), str::to_owned);
    let kind = case["kind"].as_str().unwrap_or("?").to_owned();
    let outcome = std::panic::catch_unwind(|| run_case(&case))
        .unwrap_or_else(|p| Err(format!("panicked: {}", p.downcast_ref::<String>().cloned().unwrap_or_default())));
    (format!("{kind}/{name}"), outcome)
}

#[test]
fn pytorch_conformance() {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases")];
    if let Ok(extra) = std::env::var("LAMINA_CONFORMANCE_DIR") {
        dirs.push(PathBuf::from(extra));
    }
    let mut failures = Vec::new();
    let mut passed = 0;
    for path in dirs.iter().flat_map(|d| cases_in(d)) {
        match run_file(&path) {
            (_, Ok(())) => passed += 1,
            (name, Err(e)) => {
                println!("FAILED {name}: {e}");
                failures.push(name);
            }
        }
    }
    println!("conformance: {passed} passed, {} failed", failures.len());
    assert!(failures.is_empty(), "failing conformance cases: {}", failures.join(", "));
}
