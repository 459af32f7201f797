//! The keyed process operator over random streams with out-of-order and late records: at
//! 1 and 2 workers, with records arriving from every worker in any order, it emits what a
//! sequential run of the same process gives (records applied stamp by stamp in the
//! canonical order), and its running counts are a batch reference's; a checkpoint at a cut
//! and a restore at the same or another worker count emit what an uninterrupted run emits;
//! processing-time timers fire once the clock passes them.

use highwater_operators::clock::VirtualClock;
use highwater_operators::keyed::{
    Context, KeyedProcess, ListState, ProcessError, ProcessRunner, ProcessSpec, RejectedItem, StateSpec, Timer,
    ValueState,
};
use highwater_operators::operator::{keyed_process, Checkpointing};
use highwater_operators::time::{Time, POS_INF};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use timely::dataflow::operators::{Input, Inspect};
use timely::dataflow::InputHandle;
use timely::progress::Timestamp;

mod support;
use support::cut::{Board, Hooks};
use support::{random_stream, Step};

/// Per key: a running count and the values since the last flush; an event-time timer
/// `flush` 10 after each record (moved by the next), which emits and clears the values.
/// A record too late for its timer is refused before it changes anything.
struct Flush {
    count: ValueState<u64>,
    values: ListState<u64>,
}

impl KeyedProcess<u32, u64> for Flush {
    type Out = String;
    fn on_record(&self, ctx: &mut Context<'_, u32, String>, key: &u32, v: &u64) -> Result<(), ProcessError> {
        let flush_at = ctx.event_time() + 10;
        ctx.timers().set_event_time(flush_at, "flush")?;
        let n = ctx.state().get(&self.count)?.unwrap_or(0) + 1;
        ctx.state().set(&self.count, &n)?;
        ctx.state().push(&self.values, v)?;
        ctx.emit(ctx.event_time(), format!("count {key} {n} {v}"));
        Ok(())
    }
    fn on_timer(&self, ctx: &mut Context<'_, u32, String>, key: &u32, timer: &Timer) -> Result<(), ProcessError> {
        let values = ctx.state().list(&self.values)?;
        ctx.state().clear(&self.values)?;
        ctx.emit(timer.time, format!("flush {key} {values:?}"));
        Ok(())
    }
}

fn spec(ttl: Option<u64>) -> ProcessSpec<Flush> {
    let mut state = StateSpec::new();
    let p = Flush { count: state.value("count"), values: state.list("values") };
    let spec = ProcessSpec::new(state, p);
    match ttl {
        Some(ms) => spec.state_ttl(Duration::from_millis(ms)),
        None => spec,
    }
}

/// What came out: `(event time, record)` or a dead letter, and the stamp it went out at.
type Out = (String, Time);

/// The stamps of a random stream as [`run`] sends it: step 0's records at the minimum
/// time, step `i`'s at `(watermark after i steps, i)`.
fn stamps(steps: &[Step]) -> Vec<Time> {
    let mut wm = 0i64;
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let t = if i == 0 { Time::minimum() } else { Time::new(wm, i as u64) };
            wm += s.advance;
            t
        })
        .collect()
}

/// Runs the process over `steps` on `workers` workers, record `j` of a step sent by worker
/// `j % workers`; only the stamps at or after `from` are sent (a restored run's input).
fn run(steps: &[Step], ttl: Option<u64>, workers: usize, board: Option<Arc<Mutex<Board>>>, from: Time) -> Vec<Out> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let (o, st) = (out.clone(), steps.to_vec());
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
            let out = keyed_process(stream, "flush", spec(ttl), Arc::new(VirtualClock::new(0)), ckpt, None);
            out.records.inspect_core(move |event| {
                let Ok((stamp, records)) = event else { return };
                let t = *stamp.least().expect("sent at a time");
                for (et, r) in records {
                    if r.starts_with("flush") {
                        assert!(t.watermark() <= *et, "a timer's output at {et} went out late, at {t:?}");
                    }
                    o.lock().unwrap().push((format!("{et} {r}"), t));
                }
            });
            out.dead_letters.inspect_core(move |event| {
                let Ok((stamp, dead)) = event else { return };
                let t = *stamp.least().expect("sent at a time");
                for x in dead {
                    let RejectedItem::Record(v) = &x.item else { panic!("only records are refused: {x:?}") };
                    d.lock().unwrap().push((format!("dead {} {} {v} {}", x.key, x.event_time, x.reason), t));
                }
            });
        });
        let (index, peers) = (worker.index(), worker.peers());
        let mut wm = 0i64;
        for (tick, step) in st.iter().enumerate() {
            if *input.time() >= from {
                for (j, r) in step.records.iter().enumerate() {
                    if j % peers == index {
                        input.send(*r);
                    }
                }
            }
            wm += step.advance;
            input.advance_to(Time::new(wm, tick as u64 + 1));
            worker.step();
        }
    })
    .unwrap();
    let out = out.lock().unwrap().clone();
    out
}

fn sorted(out: impl IntoIterator<Item = Out>) -> Vec<String> {
    let mut v: Vec<String> = out.into_iter().map(|x| x.0).collect();
    v.sort();
    v
}

/// The same process run without timely: stamp by stamp, the watermark first, then the
/// stamp's records.
fn sequential(steps: &[Step], ttl: Option<u64>) -> Vec<String> {
    let mut runner = ProcessRunner::new(spec(ttl));
    let (mut out, mut dead) = (Vec::new(), Vec::new());
    for (step, t) in steps.iter().zip(stamps(steps)) {
        runner.advance_watermark(t.watermark(), 0);
        runner.apply(step.records.clone(), 0);
    }
    runner.advance_watermark(POS_INF, 0);
    runner.drain(&mut out, &mut dead);
    let mut all: Vec<String> = out.into_iter().map(|e| format!("{} {}", e.event_time, e.value)).collect();
    all.extend(dead.into_iter().map(|x| {
        let RejectedItem::Record(v) = x.item else { unreachable!() };
        format!("dead {} {} {v} {}", x.key, x.event_time, x.reason)
    }));
    all.sort();
    all
}

/// A batch reference for the running counts (no time to live): per key, the records in
/// (stamp, event time, value) order, leaving out those too late for their timer.
fn counts(steps: &[Step]) -> Vec<String> {
    let mut all: Vec<(u32, Time, i64, u64)> = Vec::new();
    for (step, t) in steps.iter().zip(stamps(steps)) {
        // A record of a stamp is too late for its timer if it is behind the stamp's
        // watermark by more than 10.
        all.extend(step.records.iter().filter(|r| r.1 + 10 >= t.watermark()).map(|r| (r.0, t, r.1, r.2)));
    }
    // u64 values compare as their little-endian bytes do only for equal lengths: bincode
    // of a u64 is 8 bytes, so compare the bytes.
    all.sort_by_key(|r| (r.0, r.1, r.2, r.3.to_le_bytes()));
    let mut n = std::collections::BTreeMap::<u32, u64>::new();
    let mut out: Vec<String> = all
        .into_iter()
        .map(|(k, _, et, v)| {
            let c = n.entry(k).or_default();
            *c += 1;
            format!("{et} count {k} {c} {v}")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_process_emits_the_same_at_1_and_2_workers_as_a_sequential_run() {
    for seed in 1..=12u64 {
        let steps = random_stream(seed, 60);
        for ttl in [None, Some(15)] {
            let expected = sequential(&steps, ttl);
            assert!(expected.iter().any(|x| x.contains("flush")), "seed {seed}: timers fired");
            for workers in [1, 2] {
                let got = sorted(run(&steps, ttl, workers, None, Time::minimum()));
                assert_eq!(got, expected, "seed {seed}, ttl {ttl:?}, {workers} worker(s)");
            }
            if ttl.is_none() {
                let got: Vec<String> = expected.iter().filter(|x| x.contains(" count ")).cloned().collect();
                assert_eq!(got, counts(&steps), "seed {seed}: the counts are the batch reference's");
            }
        }
    }
}

#[test]
fn records_too_late_for_their_timer_are_dead_letters_with_the_reason() {
    let steps = random_stream(3, 60);
    let out = sorted(run(&steps, None, 2, None, Time::minimum()));
    let dead: Vec<&String> = out.iter().filter(|x| x.starts_with("dead")).collect();
    assert!(!dead.is_empty());
    assert!(dead.iter().all(|d| d.contains("event-time timer `flush` set at")), "{dead:?}");
}

#[test]
fn a_restored_process_emits_what_an_uninterrupted_one_emits() {
    for seed in 1..=6u64 {
        let steps = random_stream(seed, 60);
        for ttl in [None, Some(15)] {
            let whole = sorted(run(&steps, ttl, 1, None, Time::minimum()));
            let total: i64 = steps.iter().map(|s| s.advance).sum();
            let cut = Time::new(total / 2, 0);
            for (saved_at, restored_at) in [(1, 1), (2, 2), (1, 2), (2, 1)] {
                let board = Arc::new(Mutex::new(Board { cut: Some(cut), ..Board::default() }));
                let first = run(&steps, ttl, saved_at, Some(board.clone()), Time::minimum());
                assert_eq!(sorted(first.clone()), whole, "seed {seed}: a cut changes nothing");
                let saved = std::mem::take(&mut board.lock().unwrap().saved);
                assert_eq!(saved.len(), saved_at, "every worker saved");
                assert!(board.lock().unwrap().failed.is_empty());
                let board = Arc::new(Mutex::new(Board::restoring(saved)));
                let second = run(&steps, ttl, restored_at, Some(board.clone()), cut);
                assert!(board.lock().unwrap().failed.is_empty());
                let early: Vec<&Out> = second.iter().filter(|(_, t)| *t < cut).collect();
                assert!(early.is_empty(), "a restored run emits nothing before its cut: {early:?}");
                let mut resumed: Vec<Out> = first.into_iter().filter(|(_, t)| *t < cut).collect();
                resumed.extend(second);
                assert_eq!(
                    sorted(resumed),
                    whole,
                    "seed {seed}, ttl {ttl:?}, saved at {saved_at}, restored at {restored_at} worker(s)"
                );
            }
        }
    }
}

#[test]
fn a_restored_state_that_does_not_decode_fails_the_step_naming_the_cell() {
    let steps = random_stream(5, 40);
    let total: i64 = steps.iter().map(|s| s.advance).sum();
    let board = Arc::new(Mutex::new(Board { cut: Some(Time::new(total / 2, 0)), ..Board::default() }));
    run(&steps, None, 1, Some(board.clone()), Time::minimum());
    let mut saved = std::mem::take(&mut board.lock().unwrap().saved);
    // Corrupt the state: cut its bytes short.
    for bytes in saved.values_mut() {
        bytes.truncate(bytes.len() / 2);
    }
    let board = Arc::new(Mutex::new(Board::restoring(saved)));
    run(&steps, None, 1, Some(board.clone()), Time::new(total / 2, 0));
    let failed = board.lock().unwrap().failed.clone();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].starts_with("flush: its checkpointed state cannot be read ("), "{failed:?}");
    assert!(failed[0].ends_with("was the pipeline changed? rerun with --fresh"), "{failed:?}");
}

/// Sets a processing-time timer 100 ms after each record; emits the timer's time when it
/// fires, at the watermark.
struct Ping;
impl KeyedProcess<u32, u64> for Ping {
    type Out = i64;
    fn on_record(&self, ctx: &mut Context<'_, u32, i64>, _: &u32, _: &u64) -> Result<(), ProcessError> {
        let at = ctx.processing_time() + 100;
        ctx.timers().set_processing_time(at, "ping")
    }
    fn on_timer(&self, ctx: &mut Context<'_, u32, i64>, _: &u32, timer: &Timer) -> Result<(), ProcessError> {
        ctx.emit(ctx.event_time(), timer.time);
        Ok(())
    }
}

#[test]
fn processing_time_timers_fire_once_the_clock_passes_them_at_the_watermark() {
    let out = Arc::new(Mutex::new(Vec::new()));
    let (o, seen) = (out.clone(), out.clone());
    let clock = VirtualClock::new(1_000);
    timely::execute_directly(move |worker| {
        let mut input = InputHandle::new();
        let c = clock.clone();
        worker.dataflow(|scope| {
            let stream = scope.input_from(&mut input).container::<Vec<(u32, i64, u64)>>();
            let out = keyed_process(stream, "ping", ProcessSpec::from(Ping), Arc::new(c), None, None);
            out.records.inspect_core(move |event| {
                if let Ok((stamp, records)) = event {
                    let t = *stamp.least().expect("sent at a time");
                    o.lock().unwrap().extend(records.iter().map(|r| (t.watermark(), *r)));
                }
            });
        });
        input.send((7, 5, 1));
        input.advance_to(Time::new(10, 1));
        for _ in 0..5 {
            worker.step();
        }
        clock.set(1_100); // not past 1 100 yet
        input.advance_to(Time::new(20, 2));
        for _ in 0..5 {
            worker.step();
        }
        assert!(seen.lock().unwrap().is_empty());
        clock.set(1_101);
        input.advance_to(Time::new(30, 3));
        for _ in 0..5 {
            worker.step();
        }
    });
    // Fired at watermark 30, its output at event time 30 (the watermark).
    assert_eq!(*out.lock().unwrap(), [(30, (30, 1_100))]);
}
