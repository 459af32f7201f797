//! Runs a scenario through the real engine: a scripted source on every worker, the
//! virtual clock, explicit watermarks, and the windowed operator a pipeline would run for
//! the scenario's strategy ([`plan`]), or the general reducer on request.
//!
//! **Lockstep.** The driver steps every worker through one action at a time and, after
//! each watermark action, latches the global output watermark (the minimum of every
//! worker's holds and the input watermark) on a [`WatermarkBoard`], as Beam's
//! `ReduceFnTester` does. The reducer plans ([`Plan::Reducer`],
//! [`Plan::Precombined`]) publish their holds to it and stamp each pane with the
//! action that produced it, so they are checked exactly.
//!
//! The on-time operators ([`Plan::OnTimeWindows`], [`Plan::OnTimeSessions`])
//! cannot be driven that way: they keep no holds to publish and consult no output
//! watermark (their single pane per key and window is ON_TIME by construction), and a
//! pane's progress tick there is the tick of its window's hold capability, not the action
//! that fired it (`Pane::tick`); and their progress stays at their open windows' holds,
//! so the driver waits for the windows the watermark passed instead of for the input's
//! time (and, with allowed lateness, for the late stamps before the input's time: the
//! dead letters' frontier). Lockstep decides only
//! `after_action` for them: each of their on-time panes fires when the input watermark
//! passes its window's end, so the runner gives it the action that moved the watermark
//! there (a late pane keeps the action that sent its records), and
//! [`check_scenario`] also runs the reducer on the same scenario and requires the same
//! panes, field for field (`after_action` included).

use super::combine::ScenarioCombine;
use super::scenario::{Action, CombineKind, Scenario, ScenarioError};
use highwater_operators::clock::VirtualClock;
use highwater_operators::operator::{plan, windowed_aggregate_planned, OutputWatermark, Plan, WatermarkBoard};
use highwater_operators::pane::{Pane, Timing};
use highwater_operators::strategy::Accumulation;
use highwater_operators::time::{Time, GLOBAL_MAX, NEG_INF};
use highwater_operators::window::Window;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::{Input, Inspect, Probe};
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

/// Which windowed operator the runner drives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OperatorChoice {
    /// The operator a pipeline would run for the scenario's strategy ([`plan`]
    /// with the pipelines' per-key output watermark): an on-time operator where eligible,
    /// else the reducer with or without combiner lifting.
    #[default]
    Auto,
    /// The general reducer, record by record, whatever the strategy.
    Reducer,
}

impl std::str::FromStr for OperatorChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(OperatorChoice::Auto),
            "reducer" => Ok(OperatorChoice::Reducer),
            other => Err(format!("unknown operator `{other}`: use `auto` (what pipelines run) or `reducer`")),
        }
    }
}

impl std::fmt::Display for OperatorChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OperatorChoice::Auto => "auto",
            OperatorChoice::Reducer => "reducer",
        })
    }
}

/// The plan `choice` runs for `scenario`.
pub fn plan_for(scenario: &Scenario, choice: OperatorChoice) -> Result<Plan, RunError> {
    Ok(match choice {
        // Pipelines (the DSL's `aggregate` and `highwater run`) pass the per-key output
        // watermark to the planner.
        OperatorChoice::Auto => plan(&scenario.strategy()?, &OutputWatermark::PerKey),
        OperatorChoice::Reducer => Plan::Reducer,
    })
}

/// Whether `plan` is driven in lockstep with the output watermark board (module docs).
pub fn is_lockstep(plan: Plan) -> bool {
    matches!(plan, Plan::Reducer | Plan::Precombined)
}

/// Panes of one run as a sorted multiset per action: equal for two runs that emit the
/// same panes during the same actions, whatever the emission order across workers.
pub fn panes_by_action(out: &RunOutput) -> BTreeMap<u64, Vec<String>> {
    let mut m: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    if let RunOutput::Panes(ps) = out {
        for p in ps {
            let mut p = p.clone();
            if let Some(Value::Array(vs)) = p.get_mut("values") {
                vs.sort_by_key(|v| v.to_string());
            }
            let action = p["after_action"].as_u64().unwrap_or(u64::MAX);
            m.entry(action).or_default().push(p.to_string());
        }
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

/// Runs `scenario` with `choice` and, where that is an on-time operator, also through the
/// reducer: returns the chosen operator's output, and the first difference from the
/// reducer's panes if there is one (module docs: the check of what lockstep cannot drive).
pub fn check_scenario(
    scenario: &Scenario,
    workers: usize,
    choice: OperatorChoice,
) -> Result<(RunOutput, Option<String>), RunError> {
    let plan = plan_for(scenario, choice)?;
    let out = run_plan(scenario, workers, plan)?;
    if is_lockstep(plan) || matches!(out, RunOutput::Unsupported(_)) {
        return Ok((out, None));
    }
    let reference = run_plan(scenario, workers, Plan::Reducer)?;
    let (a, b) = (panes_by_action(&out), panes_by_action(&reference));
    let differs = (a != b).then(|| {
        let actions: std::collections::BTreeSet<u64> = a.keys().chain(b.keys()).copied().collect();
        let at = actions.into_iter().find(|k| a.get(k) != b.get(k)).unwrap_or(0);
        format!(
            "the {plan:?} operator and the reducer differ after action {at}: {:?} vs {:?}",
            a.get(&at).cloned().unwrap_or_default(),
            b.get(&at).cloned().unwrap_or_default()
        )
    });
    Ok((out, differs))
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
    run_scenario_with(scenario, workers, OperatorChoice::Auto)
}

/// [`run_scenario`] through the operator `choice` picks.
pub fn run_scenario_with(scenario: &Scenario, workers: usize, choice: OperatorChoice) -> Result<RunOutput, RunError> {
    run_plan(scenario, workers, plan_for(scenario, choice)?)
}

/// Runs `scenario` through the operator of `plan` (which must fit its strategy).
pub fn run_plan(scenario: &Scenario, workers: usize, plan: Plan) -> Result<RunOutput, RunError> {
    run_plan_watched(scenario, workers, plan).map(|(out, _)| out)
}

/// [`run_scenario_with`], and the step's output watermark after each action of the
/// transcript (the frontier of its panes; `i64::MAX` once the input ended): what
/// [`super::diagram_svg_with_output`] draws as the output watermark line.
///
/// ```
/// use highwater::conformance::{run_scenario_watched, OperatorChoice, Scenario};
/// let raw = serde_json::json!({
///     "name": "doc", "source": "doc", "window": "fixed(10)", "trigger": "default",
///     "allowed_lateness": 0, "accumulation": "discarding", "timestamp_combiner": "earliest",
///     "combine": "count", "transcript": [{"input": [3, 12]}, {"watermark": 15}, {"watermark": 25}]
/// });
/// let s = Scenario::from_value(std::path::Path::new("doc.json"), raw).unwrap();
/// let (_, output) = run_scenario_watched(&s, 1, OperatorChoice::Reducer).unwrap();
/// // No input watermark yet; then the open window [10, 20) holds the output at its
/// // earliest element, 12, though the input is at 15; then it fires and the hold goes.
/// assert_eq!(output, vec![i64::MIN, 12, 25]);
/// ```
pub fn run_scenario_watched(
    scenario: &Scenario,
    workers: usize,
    choice: OperatorChoice,
) -> Result<(RunOutput, Vec<i64>), RunError> {
    run_plan_watched(scenario, workers, plan_for(scenario, choice)?)
}

fn run_plan_watched(scenario: &Scenario, workers: usize, plan: Plan) -> Result<(RunOutput, Vec<i64>), RunError> {
    if let Err(tc) = &scenario.timestamp_combiner {
        return Ok((
            RunOutput::Unsupported(format!(
                "timestamp combiner `{tc}` (optional, Beam-Python-only) is not implemented"
            )),
            Vec::new(),
        ));
    }
    let strategy = scenario.strategy()?;
    let workers = workers.max(1);
    let collected: Collected = Arc::new(Mutex::new(Vec::new()));
    let watched: Arc<Mutex<Vec<i64>>> = Arc::default();
    let watch = watched.clone();
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
        let pane_probe = ProbeHandle::new();
        let lockstep = is_lockstep(plan);
        let late_stamps = plan == Plan::OnTimeWindows && strategy.allowed_lateness > 0;
        let sink = sink.clone();
        // The driver latches the output watermark after every watermark action, as Beam's
        // ReduceFnTester does, even when the watermark did not move.
        let output_watermark = OutputWatermark::Shared(board.clone());
        let dataflow = worker.next_dataflow_index();
        worker.dataflow(|scope| {
            let stream = scope.input_from(&mut input).container::<Vec<(String, i64, Value)>>();
            let out = windowed_aggregate_planned(
                stream,
                "conformance",
                strategy.clone(),
                combine,
                Arc::new(clock.clone()),
                output_watermark,
                plan,
            );
            let mut seq = 0u64;
            out.panes
                .inspect(move |p: &Pane<String, Value>| {
                    seq += 1;
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push((p.tick, index, seq, p.clone()));
                })
                .probe_with(&pane_probe);
            out.dead_letters.probe_with(&probe);
        });
        let mut wm = NEG_INF;
        let mut ended = false;
        for (i, step) in transcript.iter().enumerate() {
            let next = i as u64 + 1;
            match step {
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
            if lockstep {
                // Every stamp before the input's time applied: the dead letters' frontier is
                // the operator's progress.
                worker.step_while(|| probe.less_than(input.time()));
            } else {
                // The on-time operators hold their progress at their open windows, so wait
                // instead until every window the watermark passed has been collected: the
                // pane stream's frontier is then at `(wm, 0)` (open windows hold it at
                // `(max_timestamp, _)` with `max_timestamp >= wm`).
                // With allowed lateness, their late stamps are applied once complete: the
                // dead letters' frontier (the late stamps' progress) passes the input's time.
                let passed = Time::new(wm, 0);
                worker.step_while(|| pane_probe.less_than(&passed) || (late_stamps && probe.less_than(input.time())));
            }
            if matches!(step, Action::Watermark(_)) && index == 0 {
                board.latch(wm);
            }
            if index == 0 {
                let output = pane_probe.with_frontier(|f| f.iter().map(Time::watermark).min().unwrap_or(i64::MAX));
                watch.lock().unwrap_or_else(|e| e.into_inner()).push(output);
            }
        }
        if ended {
            input.close();
            worker.step_while(|| !probe.done() || !pane_probe.done());
            if index == 0 {
                watch.lock().unwrap_or_else(|e| e.into_inner()).push(i64::MAX);
            }
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
    if !is_lockstep(plan) {
        // An on-time operator emits each on-time pane when the input watermark passes its
        // window's end: the action that moved the watermark there (module docs). A late
        // pane (and the retraction before it) carries the stamp of its late records, whose
        // tick is the action that sent them.
        for (action, _, _, p) in panes.iter_mut() {
            if p.info.timing != Timing::Late && !p.retraction {
                *action = action_passing(&scenario.transcript, p.window.max_timestamp());
            }
        }
    }
    panes.sort_by_key(|(action, worker, seq, _)| (*action, *worker, *seq));
    let retracting = scenario.accumulation == Accumulation::Retracting;
    let collect = scenario.combine == CombineKind::Collect;
    let output = RunOutput::Panes(
        panes
            .into_iter()
            .map(|(action, _, _, mut p)| {
                p.tick = action;
                pane_json(&p, collect, retracting)
            })
            .collect(),
    );
    let watched = std::mem::take(&mut *watched.lock().unwrap_or_else(|e| e.into_inner()));
    Ok((output, watched))
}

/// The index of the first action after which the input watermark is past `max_ts` (`end`
/// moves it to +∞), or `u64::MAX` if none is.
fn action_passing(transcript: &[Action], max_ts: i64) -> u64 {
    let mut wm = NEG_INF;
    for (i, a) in transcript.iter().enumerate() {
        match a {
            Action::Watermark(t) => wm = wm.max(*t),
            Action::End => return i as u64,
            _ => {}
        }
        if wm > max_ts {
            return i as u64;
        }
    }
    u64::MAX
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
