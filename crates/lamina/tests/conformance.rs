//! The conformance runner: every PyTorch-generated case in
//! `tests/conformance/cases/` (and in `$LAMINA_CONFORMANCE_DIR`, if set) runs
//! through lamina's public API and must match PyTorch's float64 results.
//!
//! A case of a kind, function, module or option the runner does not know is a
//! failure, listed by name. Cases of capabilities not yet built are listed in
//! `tests/conformance/pending.txt`; each listed case must still fail (so the
//! list only shrinks), and cases from `$LAMINA_CONFORMANCE_DIR` get no such
//! exemption.

#[path = "conformance/function.rs"]
mod function;
#[path = "conformance/init.rs"]
mod init;
#[path = "conformance/optim.rs"]
mod optim;
#[path = "conformance/support.rs"]
#[allow(dead_code)] // each kind uses part of the shared helpers
mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::Outcome;

fn run_case(case: &Value) -> Outcome {
    match case["kind"].as_str().unwrap_or("") {
        "function" => function::run(case),
        "init" => init::run(case),
        "optimizer" => optim::run_optimizer(case),
        "scheduler" => optim::run_scheduler(case),
        "clip" => optim::run_clip(case),
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let pending: BTreeSet<String> = std::fs::read_to_string(root.join("pending.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let mut failures = Vec::new();
    let mut passed = 0;
    let mut still_pending = 0;
    for path in cases_in(&root.join("cases")) {
        let (name, outcome) = run_file(&path);
        match (outcome, pending.contains(&name)) {
            (Ok(()), false) => passed += 1,
            (Ok(()), true) => failures.push(format!("{name}: passes now; remove it from pending.txt")),
            (Err(_), true) => still_pending += 1,
            (Err(e), false) => failures.push(format!("{name}: {e}")),
        }
    }
    if let Ok(extra) = std::env::var("LAMINA_CONFORMANCE_DIR") {
        for path in cases_in(Path::new(&extra)) {
            match run_file(&path) {
                (_, Ok(())) => passed += 1,
                (name, Err(e)) => failures.push(format!("{name} (extra): {e}")),
            }
        }
    }
    println!("conformance: {passed} passed, {} failed, {still_pending} pending", failures.len());
    assert!(failures.is_empty(), "{} conformance failures:\n{}", failures.len(), failures.join("\n"));
}
