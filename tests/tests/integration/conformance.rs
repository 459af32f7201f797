//! The conformance corpus (`tests/conformance/**.json`: Beam's public transcripts, the
//! retracting-mode cases, Beam Java tests translated by hand, one scenario per rule, the
//! composite early/late firings) and the kit's public sample (`../shared/conformance/public`,
//! when it is beside the checkout) run through the real engine at 1, 2 and 4 workers, both
//! through the operator a pipeline would run (`auto`: the on-time operators where
//! eligible, also compared with the reducer) and through the general reducer.

use highwater::conformance::{
    check_file_with, outcome, panes_by_action, run_scenario, run_scenario_with, scenario_files, OperatorChoice,
    Scenario,
};
use highwater_tests::{corpus_dir, temp_dir, KNOWN_UNSUPPORTED};
use serde_json::Value;
use std::path::PathBuf;

/// The kit's public sample beside the checkout (`../shared/conformance/public`), if present.
fn shared_public_dir() -> Option<PathBuf> {
    let d = corpus_dir().join("../../../shared/conformance/public");
    d.is_dir().then_some(d)
}

/// Every scenario: the project's corpus and, when present, the kit's public sample.
fn all_files() -> Vec<PathBuf> {
    let mut files = scenario_files(&corpus_dir()).expect("corpus readable");
    match shared_public_dir() {
        Some(d) => files.extend(scenario_files(&d).expect("shared sample readable")),
        None => eprintln!(
            "../shared/conformance/public is not beside the checkout: running the copy in tests/conformance/public"
        ),
    }
    files
}

fn check_all(workers: usize, choice: OperatorChoice) {
    let files = all_files();
    assert!(files.len() >= 22, "the corpus has at least the 22 public scenarios, found {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let (name, v) = check_file_with(f, workers, choice);
        let unsupported_ok = KNOWN_UNSUPPORTED.contains(&name.as_str()) && v.kind.as_deref() == Some("unsupported");
        if !(v.passed || unsupported_ok) {
            failures.push(format!("{} ({}): {}", v.summary(&name), f.display(), v.message));
        }
        if KNOWN_UNSUPPORTED.contains(&name.as_str()) && v.passed {
            failures.push(format!("{name} now passes: remove it from KNOWN_UNSUPPORTED"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed at {workers} workers with --operator {choice}:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_passes_through_the_pipelines_operators_on_1_worker() {
    check_all(1, OperatorChoice::Auto);
}

#[test]
fn corpus_passes_through_the_pipelines_operators_on_2_workers() {
    check_all(2, OperatorChoice::Auto);
}

#[test]
fn corpus_passes_through_the_pipelines_operators_on_4_workers() {
    check_all(4, OperatorChoice::Auto);
}

#[test]
fn corpus_passes_through_the_reducer_on_1_worker() {
    check_all(1, OperatorChoice::Reducer);
}

#[test]
fn corpus_passes_through_the_reducer_on_2_workers() {
    check_all(2, OperatorChoice::Reducer);
}

#[test]
fn corpus_passes_through_the_reducer_on_4_workers() {
    check_all(4, OperatorChoice::Reducer);
}

#[test]
fn every_scenario_gives_the_same_panes_at_1_2_and_4_workers_and_through_both_operators() {
    for f in all_files() {
        let s = Scenario::load(&f).unwrap();
        let one = panes_by_action(&run_scenario_with(&s, 1, OperatorChoice::Reducer).unwrap());
        for w in [1, 2, 4] {
            for choice in [OperatorChoice::Auto, OperatorChoice::Reducer] {
                let other = panes_by_action(&run_scenario_with(&s, w, choice).unwrap());
                assert_eq!(
                    one,
                    other,
                    "{}: the reducer on 1 worker and --operator {choice} on {w} differ",
                    f.display()
                );
            }
        }
    }
}

/// `tests/conformance/public` is a copy of the kit's sample: keep it one.
#[test]
fn the_public_copy_equals_the_kits_sample() {
    let Some(shared) = shared_public_dir() else { return };
    let ours = scenario_files(&corpus_dir().join("public")).unwrap();
    let theirs = scenario_files(&shared).unwrap();
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.file_name(), b.file_name());
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), "{} differs from the kit's", a.display());
    }
}

#[test]
fn deliberately_wrong_transcripts_are_rejected_the_stated_way() {
    let mut seen = 0;
    for f in scenario_files(&corpus_dir().join("public")).unwrap() {
        let s = Scenario::load(&f).unwrap();
        let Some(wanted) = s.raw.get("error").and_then(Value::as_str).map(str::to_string) else { continue };
        seen += 1;
        let lines = run_scenario(&s, 1).unwrap().lines();
        let v = outcome(&s.raw, &lines);
        assert!(v.passed, "{}: {}", s.name, v.message);
        assert!(v.message.contains(&wanted));
    }
    assert_eq!(seen, 5);
}

/// Cross-checks the Rust comparer against the official `compare.py` on the public cases.
#[test]
fn official_compare_py_agrees() {
    let dir = corpus_dir();
    let tmp = temp_dir("compare-py");
    for f in scenario_files(&dir.join("public")).unwrap() {
        let s = Scenario::load(&f).unwrap();
        let lines = run_scenario(&s, 1).unwrap().lines();
        let out = tmp.join(format!("{}.jsonl", s.name));
        std::fs::write(&out, lines.join("\n")).unwrap();
        let py = std::process::Command::new("python3")
            .arg(dir.join("compare.py"))
            .arg(&f)
            .arg(&out)
            .output()
            .expect("python3 is installed (see .ci/run)");
        let py_text = String::from_utf8_lossy(&py.stdout).trim().to_string();
        let ours = outcome(&s.raw, &lines).summary(&s.name);
        let head = |t: &str| t.split_whitespace().next().unwrap_or("").to_string();
        assert_eq!(head(&py_text), head(&ours), "{}: compare.py says `{py_text}`, we say `{ours}`", s.name);
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The pane diagram of a public scenario (sessions, early and late firings, accumulating):
/// pinned by a snapshot, and the copy the book shows (`docs/images/`) is what the
/// command draws today (`highwater conformance --diagram docs/images/early-late-sessions.svg
/// tests/conformance/public/beam_transcript_09_early_late_sessions.json`).
#[test]
fn the_pane_diagram_of_a_public_scenario() {
    let path = corpus_dir().join("public/beam_transcript_09_early_late_sessions.json");
    let scenario = Scenario::load(&path).unwrap();
    let (out, output) =
        highwater::conformance::run_scenario_watched(&scenario, 1, highwater::conformance::OperatorChoice::Auto)
            .unwrap();
    let highwater::conformance::RunOutput::Panes(panes) = out else { panic!("the scenario is supported") };
    assert_eq!(output.len(), scenario.transcript.len(), "an output watermark after every action");
    let svg = highwater::conformance::diagram_svg_with_output(&scenario, &panes, &output);
    assert!(svg.contains("<title>output watermark</title>"));
    // Four panes, each a bar whose tooltip is its JSON: two early, one on time, one late.
    for (timing, n) in [("early", 2), ("on_time", 1), ("late", 1)] {
        let needle = format!("&quot;timing&quot;:&quot;{timing}&quot;");
        assert_eq!(svg.matches(&needle).count(), n, "{timing} panes");
    }
    // Eight elements, the three that came after the watermark passed them drawn hollow.
    assert_eq!(svg.matches("<circle").count(), 8);
    assert_eq!(svg.matches("behind the watermark").count(), 3);
    insta::assert_snapshot!(svg);
    let docs = corpus_dir().join("../../docs/images/early-late-sessions.svg");
    let shown = std::fs::read_to_string(&docs).unwrap_or_default();
    assert!(shown == svg, "{} is not what the command draws today: regenerate it (the command above)", docs.display());
}
