//! The conformance runner: scenarios of `conformance/FORMAT.md` through the real engine.
//!
//! [`Scenario::load`] reads a scenario, [`run_scenario`] runs it through timely with a
//! scripted source and the virtual clock and returns the panes as FORMAT.md's JSON lines,
//! and [`outcome`] checks them exactly as `compare.py` does.
//!
//! The runner drives the operator a pipeline would run for the scenario's strategy
//! ([`OperatorChoice::Auto`]: the planner's [`crate::model::operator::plan()`])
//! or the general reducer ([`OperatorChoice::Reducer`]); [`check_file_with`] checks either,
//! and an on-time operator also against the reducer (see the runner module).

mod combine;
mod compare;
pub(crate) mod diagram;
mod runner;
mod scenario;

pub use combine::{Number, ScenarioAcc, ScenarioCombine};
pub use compare::{diff_fields, outcome, Verdict};
pub use diagram::{diagram_svg, diagram_svg_with_output};
pub use runner::{
    check_scenario, is_lockstep, pane_json, panes_by_action, plan_for, run_plan, run_scenario, run_scenario_watched,
    run_scenario_with, OperatorChoice, RunError, RunOutput,
};
pub use scenario::{Action, CombineKind, Element, Scenario, ScenarioError};

use std::path::{Path, PathBuf};

/// Runs and checks one scenario file on `workers` workers, through the operator a
/// pipeline would run ([`OperatorChoice::Auto`]).
pub fn check_file(path: &Path, workers: usize) -> (String, Verdict) {
    check_file_with(path, workers, OperatorChoice::Auto)
}

/// Runs and checks one scenario file on `workers` workers through the operator `choice`
/// picks: its panes against the scenario ([`outcome`]) and, for an on-time operator, the
/// same panes as the reducer's ([`check_scenario`]; kind `fast_path_differs`).
pub fn check_file_with(path: &Path, workers: usize, choice: OperatorChoice) -> (String, Verdict) {
    match Scenario::load(path) {
        Err(e) => (
            path.display().to_string(),
            Verdict { passed: false, kind: Some("bad_scenario".into()), message: e.to_string() },
        ),
        Ok(s) => match check_scenario(&s, workers, choice) {
            Err(e) => {
                (s.name.clone(), Verdict { passed: false, kind: Some("runner_error".into()), message: e.to_string() })
            }
            Ok((_, Some(diff))) => {
                (s.name.clone(), Verdict { passed: false, kind: Some("fast_path_differs".into()), message: diff })
            }
            Ok((out, None)) => (s.name.clone(), outcome(&s.raw, &out.lines())),
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
