//! The keyed process step through the DSL: a tumbling count written with state and
//! event-time timers against the batch answer at 1, 2 and 4 workers (its outputs on time
//! for a window downstream); deduplication with a time to live; a "no heartbeat for 5
//! minutes" alert; and bad input — a timer in the past, an output behind its input, a
//! missing key, two cells of one name — each a dead letter or a build error with the
//! reason.

use highwater::model::keyed::{
    Context, KeyedProcess, MapState, ProcessError, ProcessSpec, StateSpec, Timer, ValueState,
};
use highwater::pipeline::{
    run, run_with_clock, BuildError, Collector, DeadLetter, DeadLetterKind, Location, Memory, PipelineError, RunConfig,
    Windowing,
};
use highwater::testing::TestStream;
use highwater_operators::pane::Pane;
use highwater_operators::watermark::WatermarkStrategy;
use highwater_operators::window::{Window, WindowSpec};
use highwater_tests::{batch_counts, Bid, Bids};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Bids in 4 partitions, out of order by up to 49 ms within each.
fn bids() -> Vec<Vec<(i64, Bid)>> {
    Bids { seed: 11, partitions: 4, per_partition: 1_500, auctions: 7, bidders: 5, period: 10, disorder: 49, start: 0 }
        .generate()
}

/// A tumbling count of one second per auction, written by hand: a count per window start
/// in a map cell, an event-time timer at the window's last millisecond.
struct TumblingCount {
    counts: MapState<i64, u64>,
}

impl<V: 'static> KeyedProcess<u32, V> for TumblingCount {
    type Out = (u32, i64, u64);
    fn on_record(&self, ctx: &mut Context<'_, u32, Self::Out>, _: &u32, _: &V) -> Result<(), ProcessError> {
        let start = ctx.event_time().div_euclid(1_000) * 1_000;
        let n = ctx.state().map_get(&self.counts, &start)?.unwrap_or(0);
        ctx.state().map_insert(&self.counts, &start, &(n + 1))?;
        ctx.timers().set_event_time(start + 999, &start.to_string())
    }
    fn on_timer(&self, ctx: &mut Context<'_, u32, Self::Out>, key: &u32, timer: &Timer) -> Result<(), ProcessError> {
        let start = timer.time - 999;
        let n = ctx.state().map_get(&self.counts, &start)?.unwrap_or(0);
        ctx.state().map_remove(&self.counts, &start)?;
        ctx.emit(timer.time, (*key, start, n));
        Ok(())
    }
}

#[test]
fn a_tumbling_count_of_state_and_timers_is_the_batch_answer_at_1_2_and_4_workers() {
    let expected = batch_counts(&WindowSpec::fixed(1_000), bids().into_iter().flatten().map(|(t, b)| (b.auction, t)));
    let windows_per_second: BTreeMap<i64, u64> = expected.keys().fold(BTreeMap::new(), |mut m, (_, w)| {
        *m.entry(w.start).or_default() += 1;
        m
    });
    for workers in [1, 2, 4] {
        let (out, downstream, dead) = (Collector::new(), Collector::new(), Collector::<DeadLetter>::new());
        let (o, d, x) = (out.clone(), downstream.clone(), dead.clone());
        run(RunConfig::workers(workers), move |p| {
            p.dead_letters().write(x.clone());
            let mut state = StateSpec::new();
            let counts = state.map("counts");
            let panes = p
                .read(
                    "bids",
                    Memory::new(bids(), WatermarkStrategy::bounded(Duration::from_millis(100))).batch_size(200),
                )?
                .key_by(|b: &Bid| b.auction)
                .process("tumbling", ProcessSpec::new(state, TumblingCount { counts }))?;
            panes.clone().write(o.clone());
            // Downstream, a window over the timers' outputs sees every one on time.
            panes.key_by(|_| ()).window(Windowing::fixed(Duration::from_secs(1))).count("per-second")?.write(d.clone());
            Ok(())
        })
        .unwrap();
        let got: BTreeMap<(u32, Window), u64> =
            out.take().into_iter().map(|(_, (k, start, n))| ((k, Window::new(start, start + 1_000)), n)).collect();
        assert_eq!(got, expected, "{workers} worker(s)");
        assert!(dead.take().is_empty(), "nothing late downstream");
        let per_second: BTreeMap<i64, u64> =
            downstream.take().into_iter().map(|(_, p): (i64, Pane<(), u64>)| (p.window.start, p.value)).collect();
        assert_eq!(per_second, windows_per_second);
    }
}

/// Emits the first record of each key; a time to live forgets the key an hour (of event
/// time) after it was first seen.
struct Dedup {
    seen: ValueState<i64>,
}

impl KeyedProcess<String, String> for Dedup {
    type Out = String;
    fn on_record(&self, ctx: &mut Context<'_, String, String>, _: &String, v: &String) -> Result<(), ProcessError> {
        if ctx.state().get(&self.seen)?.is_none() {
            let t = ctx.event_time();
            ctx.state().set(&self.seen, &t)?;
            ctx.emit(t, v.clone());
        }
        Ok(())
    }
}

const MINUTE: i64 = 60_000;

/// Runs `stream` read keyed through `build` at `workers`, returning what it emits (sorted)
/// and its dead letters.
fn run_script<T, O>(
    stream: TestStream<(String, T)>,
    workers: usize,
    build: impl for<'s> Fn(
            highwater::pipeline::Keyed<'s, String, T>,
        ) -> Result<highwater::pipeline::Collection<'s, O>, BuildError>
        + Send
        + Sync
        + 'static,
) -> (Vec<(i64, O)>, Vec<DeadLetter>)
where
    T: highwater::pipeline::Data + std::fmt::Debug + Sync,
    O: highwater::pipeline::Data + Ord,
{
    let (out, dead) = (Collector::new(), Collector::new());
    let (o, d) = (out.clone(), dead.clone());
    run_with_clock(RunConfig::workers(workers), Arc::new(stream.clock()), move |p| {
        p.dead_letters().write(d.clone());
        build(p.read_keyed("input", stream.clone())?)?.write(o.clone());
        Ok(())
    })
    .unwrap();
    let mut out = out.take();
    out.sort();
    (out, dead.take().into_iter().map(|(_, d)| d).collect())
}

#[test]
fn dedup_emits_the_first_record_per_key_and_forgets_it_after_an_hour() {
    let click = |user: &str, page: &str| (user.to_string(), page.to_string());
    let stream = TestStream::new()
        .add_elements([(0, click("ann", "/a")), (MINUTE, click("ann", "/b")), (2 * MINUTE, click("bob", "/c"))])
        .advance_watermark_to(30 * MINUTE)
        .add_element(40 * MINUTE, click("ann", "/d")) // a duplicate: read, not written
        .advance_watermark_to(61 * MINUTE) // ann's state expires (written at 0, + 1 h)
        .add_elements([(61 * MINUTE, click("ann", "/e")), (61 * MINUTE, click("bob", "/f"))]);
    for workers in [1, 2] {
        let (out, dead) = run_script(stream.clone(), workers, |keyed| {
            let mut state = StateSpec::new();
            let seen = state.value("first-seen");
            keyed.process("dedup", ProcessSpec::new(state, Dedup { seen }).state_ttl(Duration::from_secs(3600)))
        });
        assert_eq!(
            out,
            [(0, "/a".to_string()), (2 * MINUTE, "/c".to_string()), (61 * MINUTE, "/e".to_string())],
            "{workers} worker(s)"
        );
        assert!(dead.is_empty());
    }
}

/// Alerts when a device has sent no heartbeat for 5 minutes of event time: each heartbeat
/// moves the device's `silence` timer to 5 minutes after the latest heartbeat seen.
struct Silence {
    last: ValueState<i64>,
}

impl KeyedProcess<String, ()> for Silence {
    type Out = (String, i64);
    fn on_record(&self, ctx: &mut Context<'_, String, Self::Out>, _: &String, _: &()) -> Result<(), ProcessError> {
        let last = ctx.state().get(&self.last)?.unwrap_or(i64::MIN).max(ctx.event_time());
        ctx.state().set(&self.last, &last)?;
        ctx.timers().set_event_time(last + 5 * MINUTE, "silence")
    }
    fn on_timer(
        &self,
        ctx: &mut Context<'_, String, Self::Out>,
        device: &String,
        t: &Timer,
    ) -> Result<(), ProcessError> {
        let last = ctx.state().get(&self.last)?.unwrap_or(i64::MIN);
        ctx.emit(t.time, (device.clone(), last));
        Ok(())
    }
}

#[test]
fn a_device_silent_for_five_minutes_raises_one_alert() {
    let beat = |d: &str| (d.to_string(), ());
    let stream = TestStream::new()
        .add_elements([(0, beat("a")), (0, beat("b"))])
        .add_elements([(2 * MINUTE, beat("a")), (MINUTE, beat("b"))]) // b: out of order
        .advance_watermark_to(4 * MINUTE)
        .add_elements([(4 * MINUTE, beat("b")), (3 * MINUTE, beat("a"))]) // a: late, but before its alert
        .advance_watermark_to(9 * MINUTE) // b silent since 4 min: alert at 9 min? not yet passed
        .advance_watermark_to(9 * MINUTE + 1) // passed: b's alert
        .add_element(12 * MINUTE, beat("a"))
        .advance_watermark_to(30 * MINUTE); // a's alert, 5 min after 12 min
    for workers in [1, 2] {
        let (out, dead) = run_script(stream.clone(), workers, |keyed| {
            let mut state = StateSpec::new();
            let last = state.value("last-heartbeat");
            keyed.process("silence", ProcessSpec::new(state, Silence { last }))
        });
        assert_eq!(
            out,
            [
                (8 * MINUTE, ("a".to_string(), 3 * MINUTE)),
                (9 * MINUTE, ("b".to_string(), 4 * MINUTE)),
                (17 * MINUTE, ("a".to_string(), 12 * MINUTE)),
            ],
            "{workers} worker(s)"
        );
        assert!(dead.is_empty());
    }
}

/// Sets a timer where its record says, and emits 1 ms before its event time when asked.
struct Careless;

impl KeyedProcess<String, (i64, bool)> for Careless {
    type Out = String;
    fn on_record(
        &self,
        ctx: &mut Context<'_, String, String>,
        _: &String,
        &(timer, behind): &(i64, bool),
    ) -> Result<(), ProcessError> {
        if behind {
            ctx.emit(ctx.event_time() - 1, "behind".to_string());
        }
        ctx.timers().set_event_time(timer, "t")
    }
}

#[test]
fn a_timer_in_the_past_and_an_output_behind_its_input_are_dead_letters_with_the_reason() {
    let stream = TestStream::new()
        .advance_watermark_to(100)
        .add_element(150, ("k".to_string(), (50, false)))
        .add_element(160, ("k".to_string(), (200, true)));
    let (out, mut dead) = run_script(stream, 2, |keyed| keyed.process("careless", ProcessSpec::from(Careless)));
    assert!(out.is_empty());
    dead.sort_by_key(|d| d.reason.clone());
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead.iter().all(|d| d.step == "careless" && d.kind == DeadLetterKind::Refused));
    assert_eq!(
        dead[0].reason,
        "output refused: an output at event time 159 is before 160, the earliest this call may emit at (the record's event time): emit at or after ctx.event_time()"
    );
    assert_eq!(dead[0].record, "\"behind\"");
    assert_eq!(
        dead[1].reason,
        "record refused: event-time timer `t` set at 50, behind the event-time clock at 100: set timers at or after ctx.watermark()"
    );
    assert_eq!(dead[1].location, Location::Key { key: "\"k\"".into(), event_time: 150, watermark: 100 });
    assert_eq!(dead[1].record, "[50,false]");
    let mut row = String::new();
    dead[1].write_json(&mut row);
    assert!(
        row.starts_with(r#"{"step":"careless","kind":"refused","location":{"key":"k"},"reason":"record refused: "#),
        "{row}"
    );
}

#[test]
fn a_record_without_its_key_is_a_dead_letter_not_a_panic() {
    let dead = Collector::new();
    let d = dead.clone();
    let out = Collector::new();
    let o = out.clone();
    run(RunConfig::workers(2), move |p| {
        p.dead_letters().write(d.clone());
        let lines = vec![(1, "ann,3".to_string()), (2, ",4".to_string()), (3, "bob,5".to_string())];
        p.read("lines", Memory::new(vec![lines], WatermarkStrategy::Ascending))?
            .try_key_by("user", |l: &String| match l.split(',').next() {
                Some(u) if !u.is_empty() => Ok(u.to_string()),
                _ => Err("the first field, the user, is empty"),
            })?
            .process("echo", ProcessSpec::from(Echo))?
            .write(o.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(out.take().len(), 2);
    let dead = dead.take();
    assert_eq!(dead.len(), 1);
    let d = &dead[0].1;
    assert_eq!((d.step.as_str(), d.kind, d.record.as_str()), ("user", DeadLetterKind::Malformed, "\",4\""));
    assert_eq!(d.reason, "no key: the first field, the user, is empty");
}

/// Emits each record as it is.
struct Echo;
impl KeyedProcess<String, String> for Echo {
    type Out = String;
    fn on_record(&self, ctx: &mut Context<'_, String, String>, _: &String, v: &String) -> Result<(), ProcessError> {
        ctx.emit(ctx.event_time(), v.clone());
        Ok(())
    }
}

#[test]
fn two_state_cells_of_one_name_and_a_bad_time_to_live_are_build_errors_naming_the_step() {
    let build = |ttl: Duration, twice: bool| {
        run(RunConfig::workers(1), move |p| {
            let mut state = StateSpec::new();
            state.value::<u64>("n");
            if twice {
                state.list::<u64>("n");
            }
            let spec = ProcessSpec::new(state, Echo).state_ttl(ttl);
            p.read_keyed(
                "input",
                Memory::new(vec![vec![(1, ("a".to_string(), "x".to_string()))]], WatermarkStrategy::Ascending),
            )?
            .process("echo", spec)?;
            Ok(())
        })
        .unwrap_err()
    };
    let PipelineError::Build(e) = build(Duration::from_secs(1), true) else { panic!("a build error") };
    assert_eq!(e.to_string(), "step `echo`: two state cells are named `n`: give each cell its own name");
    let PipelineError::Build(e) = build(Duration::ZERO, false) else { panic!("a build error") };
    assert_eq!(e.to_string(), "step `echo`: a state time to live of 0ns: use a positive whole number of milliseconds");
}

/// The tumbling count of state and timers in a job that takes checkpoints: taken at 2
/// workers and restored at 1, and the other way round, after rows were written past the
/// last checkpoint (as a killed run leaves them), the file holds exactly the rows of a run
/// without checkpoints.
#[test]
fn a_process_step_restored_at_another_worker_count_writes_the_rows_of_an_uninterrupted_run() {
    use highwater::pipeline::JsonLines;
    use highwater::runtime::checkpoint::{CheckpointConfig, RunCheckpoints};
    use std::io::Write;
    let dir = highwater_tests::temp_dir("keyed-process-checkpoints");
    let lines = |path: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_to_string(path).unwrap().lines().map(String::from).collect();
        v.sort();
        v
    };
    let job = |out: std::path::PathBuf, workers: usize, checkpoints: Option<RunCheckpoints>| {
        let config = RunConfig::workers(workers);
        let config = match checkpoints {
            Some(c) => config.checkpoints(c),
            None => config,
        };
        run(config, move |p| {
            let records: Vec<(i64, (u32, u64))> =
                (0..20_000i64).map(|i| (i * 5 - (i % 7) * 3, ((i % 11) as u32, 1))).collect();
            let src = Memory::new(vec![records], WatermarkStrategy::bounded(Duration::from_millis(30))).batch_size(100);
            let mut state = StateSpec::new();
            let counts = state.map("counts");
            p.read_keyed("numbers", src)?
                .process(
                    "tumbling",
                    ProcessSpec::new(state, TumblingCount { counts }).state_ttl(Duration::from_secs(5)),
                )?
                .write(JsonLines::file(&out));
            Ok(())
        })
        .unwrap()
    };
    let reference = dir.join("reference.jsonl");
    job(reference.clone(), 1, None);
    let expected = lines(&reference);
    assert_eq!(expected.len(), 11 * 100);
    for (first, second) in [(2, 1), (1, 2)] {
        let out = dir.join(format!("out-{first}-{second}.jsonl"));
        let store = dir.join(format!("checkpoints-{first}-{second}"));
        let checkpoints = |interval| RunCheckpoints::new(CheckpointConfig::new(&store)).interval(interval).quiet();
        let summary = job(out.clone(), first, Some(checkpoints(Duration::ZERO)));
        assert!(summary.checkpoints > 0);
        assert_eq!(lines(&out), expected);
        std::fs::OpenOptions::new().append(true).open(&out).unwrap().write_all(b"after the last checkpoint\n").unwrap();
        let summary = job(out.clone(), second, Some(checkpoints(Duration::from_secs(60))));
        assert!(summary.restored_from.is_some());
        assert_eq!(lines(&out), expected, "saved at {first}, restored at {second} worker(s)");
    }
}

/// A process step is a step of the metrics: its keys with state (`highwater_state_keys`),
/// its pending timers and its output watermark, as the windowed steps report theirs.
#[test]
fn a_process_step_reports_its_keys_and_output_watermark_in_the_metrics() {
    let config = RunConfig::workers(2);
    let progress = config.progress();
    let out = Collector::new();
    let o = out.clone();
    run(config, move |p| {
        let mut state = StateSpec::new();
        let dedup = Dedup { seen: state.value("seen") };
        let lines: Vec<(i64, String)> = (0..40).map(|i| (i, format!("user{},{i}", i % 5))).collect();
        p.read("lines", Memory::new(vec![lines], WatermarkStrategy::Ascending))?
            .key_by(|l: &String| l.split(',').next().unwrap_or_default().to_string())
            .process("dedup", ProcessSpec::new(state, dedup))?
            .write(o.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(out.take().len(), 5);
    let status = progress.status();
    let step = status.steps.iter().find(|s| s.name == "dedup").expect("the process step is a step of the metrics");
    // No time to live: every key keeps its state; no timer is left once the input ended.
    assert_eq!((step.state_keys, step.open_windows), (5, 0), "{step:?}");
    assert_eq!(step.output_watermark, Some(i64::MAX));
    let text = highwater::runtime::metrics::encode(&status);
    assert!(text.contains("highwater_state_keys{step=\"dedup\"} 5\n"), "{text}");
}
