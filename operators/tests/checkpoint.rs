//! The on-time operators' state at a cut, and a restore from it: over random streams with
//! out-of-order and too-late records and merging sessions, a run that saves its state at
//! a cut `T` emits what an uninterrupted run emits; the panes and drops it emitted before
//! `T`, together with those of a second run that restores the saved state and is given
//! only the records stamped at or after `T`, are exactly the uninterrupted run's — at 1
//! and 2 workers, and restored at another worker count than the state was saved at; for
//! the on-time operators and for the general reducer (early and late firings, allowed
//! lateness, every accumulation mode).

use highwater_operators::clock::VirtualClock;
use highwater_operators::operator::{plan, windowed_aggregate_checkpointed, Checkpointing, OutputWatermark, Plan};
use highwater_operators::strategy::{Accumulation, WindowingStrategy};
use highwater_operators::time::Time;
use highwater_operators::trigger::Trigger;
use highwater_operators::window::WindowSpec;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::{Input, Inspect};
use timely::dataflow::InputHandle;
use timely::progress::Timestamp;

mod support;
use support::cut::{Board, Hooks};
use support::{random_stream, CountSum, Step};

/// A pane or a dropped record, and the time it was emitted at.
type Out = (String, Time);

/// Runs `strategy` over `steps` on `workers` workers with `board` as the checkpoint
/// coordinator (`None`: no checkpoints); only the records stamped at or after `from` are
/// sent (a restored run's input). Returns every pane and drop with its time.
fn run(
    strategy: &WindowingStrategy,
    chosen: Plan,
    steps: &[Step],
    workers: usize,
    board: Option<Arc<Mutex<Board>>>,
    from: Time,
) -> Vec<Out> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let (o, s, st) = (out.clone(), strategy.clone(), steps.to_vec());
    timely::execute(timely::Config::process(workers), move |worker| {
        let mut input = InputHandle::new();
        let (o, d) = (o.clone(), o.clone());
        let ckpt = board.clone().map(|board| Checkpointing {
            hooks: Rc::new(Hooks { board, worker: worker.index() }),
            worker: worker.index(),
            peers: worker.peers(),
        });
        worker.dataflow(|scope| {
            let stream = scope.input_from(&mut input).container::<Vec<(u32, i64, u64)>>();
            let clock = Arc::new(VirtualClock::new(0));
            let out = windowed_aggregate_checkpointed(
                stream,
                "agg",
                s.clone(),
                CountSum,
                clock,
                OutputWatermark::PerKey,
                chosen,
                ckpt,
            );
            out.panes.inspect_core(move |event| {
                let Ok((stamp, panes)) = event else { return };
                let t = *stamp.least().expect("sent at a time");
                for p in panes {
                    o.lock().unwrap().push((format!("pane {} {:?} {:?} {}", p.key, p.window, p.value, p.timestamp), t));
                }
            });
            out.dead_letters.inspect_core(move |event| {
                let Ok((stamp, drops)) = event else { return };
                let t = *stamp.least().expect("sent at a time");
                for x in drops {
                    d.lock()
                        .unwrap()
                        .push((format!("drop {} {} {:?} {}", x.key, x.timestamp, x.window, x.watermark), t));
                }
            });
        });
        let mut wm = 0i64;
        let mut tick = 0u64;
        for step in &st {
            if worker.index() == 0 && *input.time() >= from {
                for r in &step.records {
                    input.send(*r);
                }
            }
            tick += 1;
            wm += step.advance;
            input.advance_to(Time::new(wm, tick));
            worker.step();
        }
    })
    .unwrap();
    let out = out.lock().unwrap().clone();
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn check(name: &str, strategy: &WindowingStrategy, chosen: Plan, seed: u64, saved_at: usize, restored_at: usize) {
    let steps = random_stream(seed, 80);
    let whole = sorted(run(strategy, chosen, &steps, 1, None, Time::minimum()).into_iter().map(|x| x.0).collect());
    assert!(!whole.is_empty());
    // A cut in the middle of the stream.
    let total: i64 = steps.iter().map(|s| s.advance).sum();
    let cut = Time::new(total / 2, 0);
    let board = Arc::new(Mutex::new(Board { cut: Some(cut), ..Board::default() }));
    let first = run(strategy, chosen, &steps, saved_at, Some(board.clone()), Time::minimum());
    assert_eq!(sorted(first.iter().map(|x| x.0.clone()).collect()), whole, "{name}: a cut changes nothing");
    let saved = std::mem::take(&mut board.lock().unwrap().saved);
    assert!(board.lock().unwrap().failed.is_empty());
    let steps_saving = if chosen == Plan::OnTimeWindows { 2 } else { 1 };
    assert_eq!(saved.len(), saved_at * steps_saving, "{name}: every step saved");
    let board = Arc::new(Mutex::new(Board::restoring(saved)));
    let second = run(strategy, chosen, &steps, restored_at, Some(board.clone()), cut);
    assert!(board.lock().unwrap().failed.is_empty());
    // Before the cut, from the first run; after it, from the restored one.
    let mut resumed: Vec<String> = first.into_iter().filter(|(_, t)| *t < cut).map(|x| x.0).collect();
    // (Its drops may go out at a time before the cut: the sessions operator sends them at
    // the frontier it last saw, which lags when it had nothing to do. And the general
    // The reducer's panes go out at their holds, which a restored run starts from again.)
    if matches!(chosen, Plan::OnTimeWindows | Plan::OnTimeSessions) {
        let early: Vec<&Out> = second.iter().filter(|(p, t)| *t < cut && p.starts_with("pane")).collect();
        assert!(early.is_empty(), "{name}: a restored run emits no pane before its cut: {early:?}");
    }
    resumed.extend(second.into_iter().map(|x| x.0));
    assert_eq!(sorted(resumed), whole, "{name}, seed {seed}, saved at {saved_at} restored at {restored_at} worker(s)");
}

#[test]
fn a_restored_on_time_aggregate_emits_what_an_uninterrupted_one_emits() {
    let strategies = [
        ("fixed(10)", WindowingStrategy::new(WindowSpec::fixed(10)).build().unwrap()),
        ("sliding(10, 3)", WindowingStrategy::new(WindowSpec::sliding(10, 3)).build().unwrap()),
        // Combined per slice (12 is a multiple of 3): the slices and the windows' own tables.
        ("sliding(12, 3)", WindowingStrategy::new(WindowSpec::sliding(12, 3)).build().unwrap()),
        ("sessions(5)", WindowingStrategy::new(WindowSpec::sessions(5)).build().unwrap()),
        // With lateness: the fired (key, window)s kept for their late panes, across the cut.
        (
            "fixed(10) lateness 15 retracting",
            WindowingStrategy::new(WindowSpec::fixed(10))
                .allowed_lateness(15)
                .accumulation(Accumulation::Retracting)
                .build()
                .unwrap(),
        ),
        (
            "sliding(12, 3) lateness 4 retracting",
            WindowingStrategy::new(WindowSpec::sliding(12, 3))
                .allowed_lateness(4)
                .accumulation(Accumulation::Retracting)
                .build()
                .unwrap(),
        ),
        (
            "sliding(10, 3) lateness 4 accumulating",
            WindowingStrategy::new(WindowSpec::sliding(10, 3))
                .trigger(Trigger::after_watermark().with_late(Trigger::after_count(1)))
                .allowed_lateness(4)
                .accumulation(Accumulation::Accumulating)
                .build()
                .unwrap(),
        ),
    ];
    for seed in 1..=6u64 {
        for (name, s) in &strategies {
            let chosen = plan(s, &OutputWatermark::PerKey);
            assert!(matches!(chosen, Plan::OnTimeWindows | Plan::OnTimeSessions));
            for (saved_at, restored_at) in [(1, 1), (2, 2), (2, 1), (1, 2)] {
                check(name, s, chosen, seed, saved_at, restored_at);
            }
        }
    }
}

/// The general reducer: early and late firings, allowed lateness, accumulating and
/// retracting panes, merging sessions — its keys' windows, trigger states, pane info,
/// holds, timers and unretracted panes at the cut — through both reducer plans.
#[test]
fn a_restored_reducer_emits_what_an_uninterrupted_one_emits() {
    let early_late = Trigger::after_watermark().with_early(Trigger::after_count(2)).with_late(Trigger::after_count(1));
    let strategy = |w: WindowSpec, a: Accumulation| {
        WindowingStrategy::new(w).trigger(early_late.clone()).allowed_lateness(20).accumulation(a).build().unwrap()
    };
    let strategies = [
        ("fixed(10) retracting", strategy(WindowSpec::fixed(10), Accumulation::Retracting)),
        ("sliding(10, 3) accumulating", strategy(WindowSpec::sliding(10, 3), Accumulation::Accumulating)),
        ("sessions(5) retracting", strategy(WindowSpec::sessions(5), Accumulation::Retracting)),
        ("fixed(10) discarding", strategy(WindowSpec::fixed(10), Accumulation::Discarding)),
    ];
    for seed in 1..=4u64 {
        for (name, s) in &strategies {
            for chosen in [Plan::Reducer, plan(s, &OutputWatermark::PerKey)] {
                for (saved_at, restored_at) in [(1, 1), (2, 2), (2, 1), (1, 2)] {
                    check(&format!("{name} {chosen:?}"), s, chosen, seed, saved_at, restored_at);
                }
            }
        }
    }
}
