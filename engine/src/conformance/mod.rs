//! The conformance runner: scenarios of `conformance/FORMAT.md` through the real engine.
//!
//! [`Scenario::load`] reads a scenario, [`run_scenario`] runs it through timely with a
//! scripted source and the virtual clock and returns the panes as FORMAT.md's JSON lines,
//! and [`outcome`] checks them exactly as `compare.py` does.

mod combine;
mod compare;
mod runner;
mod scenario;

pub use combine::{Number, ScenarioAcc, ScenarioCombine};
pub use compare::{diff_fields, outcome, Verdict};
pub use runner::{pane_json, run_scenario, RunError, RunOutput};
pub use scenario::{Action, CombineKind, Element, Scenario, ScenarioError};

use std::path::{Path, PathBuf};

/// Runs and checks one scenario file on `workers` workers.
pub fn check_file(path: &Path, workers: usize) -> (String, Verdict) {
    match Scenario::load(path) {
        Err(e) => (
            path.display().to_string(),
            Verdict { passed: false, kind: Some("bad_scenario".into()), message: e.to_string() },
        ),
        Ok(s) => match run_scenario(&s, workers) {
            Err(e) => {
                (s.name.clone(), Verdict { passed: false, kind: Some("runner_error".into()), message: e.to_string() })
            }
            Ok(out) => (s.name.clone(), outcome(&s.raw, &out.lines())),
        },
    }
}

/// Every `*.json` file under `dir`, recursively, sorted.
pub fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
