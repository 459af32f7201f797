//! Random scenarios (every window function, trigger shape, accumulation mode, several keys,
//! late data, processing time, `end`) run at 1, 2 and 4 workers: the engine must never fail
//! and must give the same panes at every worker count. The shared fixed-seed generator keeps
//! the cases the same at every run.

use highwater::conformance::{run_scenario, run_scenario_with, OperatorChoice, Scenario};
use highwater_tests::{panes_per_action, Rng};
use serde_json::{json, Value};

fn once(r: &mut Rng, depth: u32) -> String {
    match r.below(if depth > 1 { 3 } else { 5 }) {
        0 => format!("after_count({})", 1 + r.below(3)),
        1 => format!("after_processing_time({})", r.below(6)),
        2 => "after_watermark".to_string(),
        3 => format!("after_first({}, {})", once(r, depth + 1), once(r, depth + 1)),
        _ => format!("after_all({}, {})", once(r, depth + 1), once(r, depth + 1)),
    }
}

fn trigger(r: &mut Rng) -> String {
    match r.below(9) {
        0 => "default".into(),
        1 => "never".into(),
        2 => format!("after_watermark(early={})", once(r, 0)),
        3 => format!("after_watermark(early={}, late={})", once(r, 0), once(r, 0)),
        4 => format!("after_watermark(late={})", once(r, 0)),
        5 => format!("repeatedly({})", once(r, 0)),
        6 => format!("after_each({}, {})", once(r, 0), once(r, 0)),
        7 => format!("or_finally(repeatedly({}), {})", once(r, 0), once(r, 0)),
        _ => once(r, 0),
    }
}

fn scenario(seed: u64) -> Value {
    let mut r = Rng::new(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    let window = r.pick(&["fixed(10)", "fixed(10, offset=3)", "sliding(10, 5)", "sessions(5)", "global"]);
    let mut transcript = Vec::new();
    let mut wm = 0i64;
    let mut pt = 0i64;
    for _ in 0..(4 + r.below(10)) {
        match r.below(4) {
            0 | 1 => {
                let n = 1 + r.below(4);
                let els: Vec<Value> = (0..n)
                    .map(|_| {
                        let ts = wm - 8 + r.below(30) as i64;
                        json!({"ts": ts, "key": r.pick(&["a", "b", "c"]), "value": r.below(9)})
                    })
                    .collect();
                transcript.push(json!({"input": els}));
            }
            2 => {
                wm += r.below(15) as i64;
                transcript.push(json!({"watermark": wm}));
            }
            _ => {
                pt += 1 + r.below(6) as i64;
                transcript.push(json!({"processing_time": pt}));
            }
        }
    }
    if r.below(2) == 0 {
        transcript.push(json!({"end": true}));
    }
    json!({
        "name": format!("random_{seed}"),
        "source": "tests/tests/integration/random_scenarios.rs",
        "window": window,
        "trigger": trigger(&mut r),
        "allowed_lateness": r.pick(&["0", "5", "20"]).parse::<i64>().unwrap(),
        "accumulation": r.pick(&["discarding", "accumulating", "retracting"]),
        "timestamp_combiner": r.pick(&["end_of_window", "earliest", "latest"]),
        "combine": r.pick(&["collect", "sum", "count"]),
        "transcript": transcript,
    })
}

#[test]
fn random_scenarios_agree_across_worker_counts() {
    let mut with_panes = 0;
    for seed in 0..150 {
        let raw = scenario(seed);
        let s = Scenario::from_value(std::path::Path::new("random.json"), raw.clone())
            .unwrap_or_else(|e| panic!("{e}\n{raw}"));
        if s.strategy().is_err() {
            continue;
        }
        let one = panes_per_action(&run_scenario(&s, 1).unwrap());
        if !one.is_empty() {
            with_panes += 1;
        }
        for w in [2, 4] {
            let other = panes_per_action(&run_scenario(&s, w).unwrap());
            assert_eq!(one, other, "seed {seed} differs between 1 and {w} workers: {raw}");
        }
        // `run_scenario` runs what a pipeline would (an on-time operator where eligible):
        // the general reducer must give the same panes.
        let reducer = panes_per_action(&run_scenario_with(&s, 1, OperatorChoice::Reducer).unwrap());
        assert_eq!(one, reducer, "seed {seed}: the pipelines' operator and the reducer differ: {raw}");
    }
    assert!(with_panes > 50, "the generator should produce panes in most cases, got {with_panes}");
}
