//! Shared support of the integration tests (the one test binary `tests/integration/`):
//! the conformance corpus, one deterministic random generator ([`Rng`]), one bid
//! generator ([`Bids`]), one batch reference ([`group_by_window`], [`batch_counts`],
//! [`max_per_window`]; for the joins [`batch_window_join`], [`batch_interval_join`],
//! [`batch_temporal_join`]) and small helpers (temp folders, panes per action).

mod bids;
mod joins;
mod random;
mod reference;

pub use bids::{Bid, Bids};
pub use joins::{batch_interval_join, batch_temporal_join, batch_window_join};
pub use random::Rng;
pub use reference::{batch_counts, group_by_window, max_per_window, windows_of};

use highwater::conformance::RunOutput;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The project's conformance corpus: `tests/conformance/`.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// Scenarios that need an optional feature highwater does not implement; each must be
/// reported `unsupported` (not silently skipped), and the list shrinks when one is built.
pub const KNOWN_UNSUPPORTED: &[&str] = &[];

/// A fresh, empty temp folder for one test: `name` must be unique in the test binary.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("highwater-tests-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp folder");
    dir
}

/// The panes of one scenario run as a sorted multiset per action (emission order across
/// workers may differ; so may the order of a `collect` pane's values), to compare runs.
pub fn panes_per_action(out: &RunOutput) -> BTreeMap<u64, Vec<String>> {
    let mut m: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    if let RunOutput::Panes(ps) = out {
        for p in ps {
            let mut p = p.clone();
            if let Some(Value::Array(vs)) = p.get_mut("values") {
                vs.sort_by_key(|v| v.to_string());
            }
            let action = p["after_action"].as_u64().expect("each pane names its action");
            m.entry(action).or_default().push(p.to_string());
        }
    }
    m.values_mut().for_each(|v| v.sort());
    m
}
