//! The conformance corpus (`tests/conformance/**.json`: Beam's public transcripts, the
//! retracting-mode cases, Beam Java tests translated by hand, and one scenario per rule)
//! run through the real engine at 1, 2 and 4 workers.

use highwater::conformance::{check_file, outcome, run_scenario, scenario_files, Scenario};
use highwater_tests::{corpus_dir, panes_per_action, temp_dir, KNOWN_UNSUPPORTED};
use serde_json::Value;

fn check_all(workers: usize) {
    let files = scenario_files(&corpus_dir()).expect("corpus readable");
    assert!(files.len() >= 22, "the corpus has at least the 22 public scenarios, found {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let (name, v) = check_file(f, workers);
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
        "{} of {} scenarios failed at {workers} workers:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_passes_on_one_worker() {
    check_all(1);
}

#[test]
fn corpus_passes_on_two_workers() {
    check_all(2);
}

#[test]
fn every_scenario_gives_the_same_panes_at_1_2_and_4_workers() {
    for f in scenario_files(&corpus_dir()).unwrap() {
        let s = Scenario::load(&f).unwrap();
        let one = panes_per_action(&run_scenario(&s, 1).unwrap());
        for w in [2, 4] {
            let other = panes_per_action(&run_scenario(&s, w).unwrap());
            assert_eq!(one, other, "{} differs between 1 and {w} workers", f.display());
        }
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
