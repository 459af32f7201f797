//! Runs a scenario through the real engine: a scripted source on every worker, the
//! virtual clock, explicit watermarks, the keyed windowed aggregate operator.

use super::combine::ScenarioCombine;
use super::scenario::{Action, CombineKind, Scenario, ScenarioError};
use highwater_operators::clock::VirtualClock;
use highwater_operators::operator::{windowed_aggregate, OutputWatermark, WatermarkBoard};
use highwater_operators::pane::Pane;
use highwater_operators::strategy::Accumulation;
use highwater_operators::time::{Time, GLOBAL_MAX, NEG_INF};
use highwater_operators::window::Window;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

/// What running a scenario produced.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutput {
    /// The panes as JSON objects, in emission order (FORMAT.md "Runner output").
    Panes(Vec<Value>),
    /// The scenario needs a feature highwater does not implement.
    Unsupported(String),
}

impl RunOutput {
    /// The runner's stdout lines.
    pub fn lines(&self) -> Vec<String> {
        match self {
            RunOutput::Panes(ps) => ps.iter().map(|p| p.to_string()).collect(),
            RunOutput::Unsupported(r) => vec![json!({ "unsupported": r }).to_string()],
        }
    }
}

/// A failure of the engine while running (never a property of the scenario).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// Timely could not start or a worker failed.
    #[error("the dataflow failed: {0}")]
    Dataflow(String),
}

type Collected = Arc<Mutex<Vec<(u64, usize, u64, Pane<String, Value>)>>>;

/// Runs `scenario` on `workers` worker threads and returns its panes.
///
/// ```
/// use highwater::conformance::{run_scenario, RunOutput, Scenario};
/// let raw = serde_json::json!({
///     "name": "doc", "source": "doc", "window": "fixed(10)", "trigger": "default",
///     "allowed_lateness": 0, "accumulation": "discarding", "timestamp_combiner": "end_of_window",
///     "combine": "count", "transcript": [{"input": [1, 2, 12]}, {"watermark": 10}]
/// });
/// let s = Scenario::from_value(std::path::Path::new("doc.json"), raw).unwrap();
/// let RunOutput::Panes(panes) = run_scenario(&s, 2).unwrap() else { panic!() };
/// assert_eq!(panes.len(), 1);
/// assert_eq!(panes[0]["value"], 2);
/// assert_eq!(panes[0]["after_action"], 1);
/// ```
pub fn run_scenario(scenario: &Scenario, workers: usize) -> Result<RunOutput, RunError> {
    if let Err(tc) = &scenario.timestamp_combiner {
        return Ok(RunOutput::Unsupported(format!(
            "timestamp combiner `{tc}` (optional, Beam-Python-only) is not implemented"
        )));
    }
    let strategy = scenario.strategy()?;
    let workers = workers.max(1);
    let collected: Collected = Arc::new(Mutex::new(Vec::new()));
    let board = WatermarkBoard::new(workers);
    let transcript = Arc::new(scenario.transcript.clone());
    let combine = ScenarioCombine(scenario.combine);
    let sink = collected.clone();
    let config = timely::Config::process(workers);
    let guards = timely::execute(config, move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let clock = VirtualClock::new(0);
        let mut input: InputHandle<Time, _> = InputHandle::new();
        let probe = ProbeHandle::new();
        let sink = sink.clone();
        // The driver latches the output watermark after every watermark action, as Beam's
        // ReduceFnTester does, even when the watermark did not move.
        let output_watermark = OutputWatermark::Shared(board.clone());
        let dataflow = worker.next_dataflow_index();
        worker.dataflow(|scope| {
            let stream = scope.input_from(&mut input).container::<Vec<(String, i64, Value)>>();
            let out = windowed_aggregate(
                stream,
                "conformance",
                strategy.clone(),
                combine,
                Arc::new(clock.clone()),
                output_watermark,
            );
            let mut seq = 0u64;
            out.panes.sink(Pipeline, "collect-panes", move |(input, _frontier)| {
                input.for_each(|_cap, data| {
                    let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
                    for p in data.drain(..) {
                        seq += 1;
                        sink.push((p.tick, index, seq, p));
                    }
                });
            });
            out.dead_letters.probe_with(&probe);
        });
        let mut wm = NEG_INF;
        let mut ended = false;
        for (i, action) in transcript.iter().enumerate() {
            let next = i as u64 + 1;
            match action {
                Action::Input(elements) => {
                    for (j, e) in elements.iter().enumerate() {
                        if j % peers == index {
                            input.send((e.key.clone(), e.ts, e.value.clone()));
                        }
                    }
                }
                Action::Watermark(t) => wm = wm.max(*t),
                Action::ProcessingTime(t) => clock.set(*t),
                Action::Expect(_) => {}
                Action::End => {
                    ended = true;
                    break;
                }
            }
            input.advance_to(Time::new(wm, next));
            worker.step_while(|| probe.less_than(input.time()));
            if matches!(action, Action::Watermark(_)) && index == 0 {
                board.latch(wm);
            }
        }
        if ended {
            input.close();
            worker.step_while(|| !probe.done());
        } else {
            // A transcript without `end` stops where it stops: the watermark must not
            // advance on its own, so the dataflow is dropped, not drained.
            worker.drop_dataflow(dataflow);
        }
    })
    .map_err(|e| RunError::Dataflow(e.to_string()))?;
    for r in guards.join() {
        r.map_err(RunError::Dataflow)?;
    }
    let mut panes = std::mem::take(&mut *collected.lock().unwrap_or_else(|e| e.into_inner()));
    panes.sort_by_key(|(tick, worker, seq, _)| (*tick, *worker, *seq));
    let retracting = scenario.accumulation == Accumulation::Retracting;
    let collect = scenario.combine == CombineKind::Collect;
    Ok(RunOutput::Panes(panes.into_iter().map(|(_, _, _, p)| pane_json(&p, collect, retracting)).collect()))
}

fn window_json(w: &Window) -> Value {
    if w.is_global() {
        Value::from("global")
    } else {
        json!([w.start, w.end])
    }
}

/// A pane as a line of FORMAT.md's runner output.
pub fn pane_json(p: &Pane<String, Value>, collect: bool, retracting: bool) -> Value {
    let mut o = Map::new();
    o.insert("after_action".into(), Value::from(p.tick));
    o.insert("key".into(), Value::from(p.key.clone()));
    o.insert("window".into(), window_json(&p.window));
    o.insert(if collect { "values" } else { "value" }.into(), p.value.clone());
    o.insert(
        "timestamp".into(),
        if p.timestamp == GLOBAL_MAX { Value::from("global_max") } else { Value::from(p.timestamp) },
    );
    o.insert("timing".into(), Value::from(p.info.timing.to_string()));
    o.insert("index".into(), Value::from(p.info.index));
    o.insert("nonspeculative_index".into(), Value::from(p.info.nonspeculative_index));
    o.insert("first".into(), Value::from(p.info.first));
    o.insert("last".into(), Value::from(p.info.last));
    if retracting {
        o.insert("retraction".into(), Value::from(p.retraction));
    }
    Value::Object(o)
}
