//! The state and timer machinery without timely.

use super::*;

/// Per key: a running log of values (list), a count (value), a sum per value parity
/// (map); an event-time timer `flush` 10 after each record (moved by each), which emits
/// the log and clears it.
struct Log {
    log: ListState<u64>,
    count: ValueState<u64>,
    parity: MapState<u64, u64>,
}

type Out = (u32, String);

impl KeyedProcess<u32, u64> for Log {
    type Out = Out;
    fn on_record(&self, ctx: &mut Context<'_, u32, Out>, key: &u32, v: &u64) -> Result<(), ProcessError> {
        if *v == 666 {
            return Err(ProcessError::refused("the number of the beast"));
        }
        let n = ctx.state().get(&self.count)?.unwrap_or(0) + 1;
        ctx.state().set(&self.count, &n)?;
        ctx.state().push(&self.log, v)?;
        let p = ctx.state().map_get(&self.parity, &(v % 2))?.unwrap_or(0);
        ctx.state().map_insert(&self.parity, &(v % 2), &(p + v))?;
        ctx.emit(ctx.event_time(), (*key, format!("record {v} #{n}")));
        let t = ctx.event_time() + 10;
        ctx.timers().set_event_time(t, "flush")
    }
    fn on_timer(&self, ctx: &mut Context<'_, u32, Out>, key: &u32, timer: &Timer) -> Result<(), ProcessError> {
        let log = ctx.state().list(&self.log)?;
        let parity = ctx.state().map_entries(&self.parity)?;
        ctx.state().clear(&self.log)?;
        ctx.emit(timer.time, (*key, format!("{} {log:?} {parity:?} wm {}", timer.tag, ctx.watermark())));
        Ok(())
    }
}

fn log_runner(ttl: Option<u64>) -> ProcessRunner<u32, u64, Log> {
    let mut state = StateSpec::new();
    let p = Log { log: state.list("log"), count: state.value("count"), parity: state.map("parity") };
    let mut spec = ProcessSpec::new(state, p);
    if let Some(ms) = ttl {
        spec = spec.state_ttl(std::time::Duration::from_millis(ms));
    }
    assert!(spec.check().is_ok());
    ProcessRunner::new(spec)
}

/// A runner's outputs and dead letters.
type Drained<K, V, O> = (Vec<Emitted<O>>, Vec<Rejected<K, V, O>>);

fn drain<K, V, P: KeyedProcess<K, V>>(r: &mut ProcessRunner<K, V, P>) -> Drained<K, V, P::Out>
where
    K: Clone + std::hash::Hash + Eq + Ord + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    V: Clone + serde::Serialize,
{
    let (mut o, mut d) = (Vec::new(), Vec::new());
    r.drain(&mut o, &mut d);
    (o, d)
}

fn values(out: &[Emitted<Out>]) -> Vec<(i64, String)> {
    out.iter().map(|e| (e.event_time, format!("{} {}", e.value.0, e.value.1))).collect()
}

#[test]
fn records_of_a_stamp_are_applied_in_the_canonical_order_whatever_their_arrival() {
    let records = vec![(1u32, 5i64, 7u64), (2, 3, 1), (1, 5, 3), (1, 2, 9), (2, 3, 0)];
    let mut reversed = records.clone();
    reversed.reverse();
    let run = |rs: Vec<(u32, i64, u64)>| {
        let mut r = log_runner(None);
        r.apply(rs, 0);
        values(&drain(&mut r).0)
    };
    let a = run(records);
    assert_eq!(a, run(reversed));
    // By key, then event time, then the value's bytes (3 before 7: little-endian bincode).
    assert_eq!(
        a,
        [
            (2, "1 record 9 #1".to_string()),
            (5, "1 record 3 #2".to_string()),
            (5, "1 record 7 #3".to_string()),
            (3, "2 record 0 #1".to_string()),
            (3, "2 record 1 #2".to_string()),
        ]
    );
}

#[test]
fn event_time_timers_fire_in_time_key_tag_order_once_the_watermark_passes_them() {
    let mut r = log_runner(None);
    r.apply(vec![(2, 4, 1), (1, 5, 2), (3, 1, 3)], 0);
    drain(&mut r);
    assert_eq!(r.min_hold(), Some(11));
    r.advance_watermark(11, 0); // 11 is not past 11
    assert!(drain(&mut r).0.is_empty());
    r.advance_watermark(15, 0);
    let out = values(&drain(&mut r).0);
    assert_eq!(out, [(11, "3 flush [3] [(1, 3)] wm 12".to_string()), (14, "2 flush [1] [(1, 1)] wm 15".to_string()),]);
    assert_eq!(r.min_hold(), Some(15));
    r.advance_watermark(100, 0);
    assert_eq!(values(&drain(&mut r).0), [(15, "1 flush [2] [(0, 2)] wm 16".to_string())]);
    assert_eq!(r.min_hold(), None);
    // Each timer fired once, and the outputs of a timer carry its time as their hold.
    r.apply(vec![(1, 200, 5)], 0);
    r.advance_watermark(300, 0);
    let (out, _) = drain(&mut r);
    assert_eq!(out.iter().map(|e| e.hold).collect::<Vec<_>>(), [None, Some(210)]);
}

#[test]
fn setting_a_timer_again_moves_it() {
    let mut r = log_runner(None);
    r.apply(vec![(1, 5, 1)], 0);
    r.apply(vec![(1, 8, 2)], 0); // flush moves from 15 to 18
    r.advance_watermark(17, 0);
    assert_eq!(drain(&mut r).0.len(), 2);
    r.advance_watermark(19, 0);
    assert_eq!(values(&drain(&mut r).0), [(18, "1 flush [1, 2] [(0, 2), (1, 1)] wm 19".to_string())]);
}

/// Sets the timer its record says, relative to the watermark; emits at a given offset.
struct Timed;
impl KeyedProcess<u8, (i64, i64, &'static str)> for Timed {
    type Out = i64;
    fn on_record(
        &self,
        ctx: &mut Context<'_, u8, i64>,
        _: &u8,
        &(timer, emit_at, domain): &(i64, i64, &'static str),
    ) -> Result<(), ProcessError> {
        if emit_at != 0 {
            ctx.emit(ctx.event_time() + emit_at, emit_at);
        }
        match domain {
            "event" => ctx.timers().set_event_time(timer, "t"),
            "processing" => ctx.timers().set_processing_time(timer, "p"),
            "delete" => {
                ctx.timers().delete(TimeDomain::EventTime, "t");
                Ok(())
            }
            _ => Ok(()),
        }
    }
    fn on_timer(&self, ctx: &mut Context<'_, u8, i64>, _: &u8, timer: &Timer) -> Result<(), ProcessError> {
        ctx.emit(ctx.event_time(), timer.time);
        if timer.tag == "t" && timer.time < 50 {
            // A timer set by a timer, before the watermark being advanced to: same pass.
            ctx.timers().set_event_time(timer.time + 1, "t")?;
        }
        Ok(())
    }
}

#[test]
fn a_timer_in_the_past_is_a_dead_letter_with_the_reason() {
    let mut r = ProcessRunner::new(ProcessSpec::from(Timed));
    r.advance_watermark(100, 0);
    r.apply(vec![(1, 120, (99, 0, "event"))], 50);
    r.apply(vec![(2, 120, (49, 0, "processing"))], 50);
    let (out, dead) = drain(&mut r);
    assert!(out.is_empty());
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].item, RejectedItem::Record((99, 0, "event")));
    assert_eq!(
        dead[0].reason,
        "event-time timer `t` set at 99, behind the event-time clock at 100: set timers at or after ctx.watermark()"
    );
    assert!(dead[1].reason.starts_with("processing-time timer `p` set at 49, behind the processing-time clock at 50"));
    assert_eq!((dead[0].event_time, dead[0].watermark), (120, 100));
    assert_eq!(r.keys(), 0);
}

#[test]
fn an_output_before_its_input_is_a_dead_letter_and_the_rest_goes_on() {
    let mut r = ProcessRunner::new(ProcessSpec::from(Timed));
    r.apply(vec![(1, 10, (0, -1, "")), (1, 20, (0, 5, ""))], 0);
    let (out, dead) = drain(&mut r);
    assert_eq!(out.iter().map(|e| (e.event_time, e.value)).collect::<Vec<_>>(), [(25, 5)]);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].item, RejectedItem::Output(-1));
    assert_eq!(dead[0].event_time, 9);
    assert!(dead[0].reason.starts_with(
        "an output at event time 9 is before 10, the earliest this call may emit at (the record's event time)"
    ));
}

#[test]
fn timers_set_by_timers_fire_in_the_same_advance_and_deleted_ones_do_not() {
    let mut r = ProcessRunner::new(ProcessSpec::from(Timed));
    r.apply(vec![(1, 0, (47, 0, "event"))], 0);
    r.advance_watermark(50, 0);
    let (out, _) = drain(&mut r);
    assert_eq!(out.iter().map(|e| e.value).collect::<Vec<_>>(), [47, 48, 49]);
    assert_eq!(r.min_hold(), Some(50));
    r.apply(vec![(1, 60, (0, 0, "delete"))], 0);
    r.advance_watermark(1000, 0);
    assert!(drain(&mut r).0.is_empty());
    assert_eq!(r.keys(), 0);
}

#[test]
fn processing_time_timers_fire_once_the_clock_passes_them() {
    let mut r = ProcessRunner::new(ProcessSpec::from(Timed));
    r.advance_watermark(7, 0);
    r.apply(vec![(1, 10, (100, 0, "processing")), (2, 10, (50, 0, "processing"))], 0);
    assert_eq!(r.next_processing_deadline(), Some(50));
    r.advance_processing_time(50);
    assert!(drain(&mut r).0.is_empty());
    r.advance_processing_time(101);
    let (out, _) = drain(&mut r);
    // The event time of a processing-time timer's call is the watermark.
    assert_eq!(
        out.iter().map(|e| (e.event_time, e.value, e.hold)).collect::<Vec<_>>(),
        [(7, 50, None), (7, 100, None)]
    );
    assert_eq!(r.next_processing_deadline(), None);
}

#[test]
fn state_expires_a_time_to_live_after_its_last_write_and_reads_do_not_extend_it() {
    /// Counts per key; a record of value 0 only reads.
    struct Count(ValueState<u64>);
    impl KeyedProcess<u8, u64> for Count {
        type Out = u64;
        fn on_record(&self, ctx: &mut Context<'_, u8, u64>, _: &u8, v: &u64) -> Result<(), ProcessError> {
            let n = ctx.state().get(&self.0)?.unwrap_or(0);
            if *v != 0 {
                ctx.state().set(&self.0, &(n + 1))?;
            }
            ctx.emit(ctx.event_time(), n);
            Ok(())
        }
    }
    let mut state = StateSpec::new();
    let c = state.value("count");
    let mut r = ProcessRunner::new(ProcessSpec::new(state, Count(c)).state_ttl(std::time::Duration::from_millis(100)));
    r.apply(vec![(1, 10, 1), (1, 50, 1)], 0); // expires at 150
    r.advance_watermark(100, 0);
    r.apply(vec![(1, 120, 0)], 0); // a read: still 150
    r.advance_watermark(150, 0);
    r.apply(vec![(1, 150, 0)], 0);
    r.advance_watermark(151, 0);
    r.apply(vec![(1, 151, 0)], 0);
    let (out, _) = drain(&mut r);
    assert_eq!(out.iter().map(|e| e.value).collect::<Vec<_>>(), [0, 1, 2, 2, 0]);
    assert_eq!(r.keys(), 0);
}

#[test]
fn a_restored_runner_split_over_two_workers_goes_on_as_the_whole_one() {
    let first = vec![(1u32, 5i64, 1u64), (2, 7, 2), (3, 9, 3), (1, 12, 4)];
    let second = vec![(1u32, 16i64, 5u64), (2, 30, 6), (4, 31, 7)];
    let mut whole = log_runner(Some(8));
    whole.apply(first.clone(), 0);
    whole.advance_watermark(16, 0);
    let bytes = whole.save_state().unwrap();
    drain(&mut whole);
    whole.apply(second.clone(), 0);
    whole.advance_watermark(i64::MAX, 0);
    let mut expected = values(&drain(&mut whole).0);
    expected.sort();
    let mut got = Vec::new();
    for worker in 0..2u32 {
        let mut r = log_runner(Some(8));
        r.restore_state(&bytes, |k| k % 2 == worker).unwrap();
        assert_eq!(r.watermark(), 16);
        r.apply(second.iter().filter(|x| x.0 % 2 == worker).cloned().collect(), 0);
        r.advance_watermark(i64::MAX, 0);
        got.extend(values(&drain(&mut r).0));
    }
    got.sort();
    assert_eq!(got, expected);
}

#[test]
fn a_restored_cell_that_does_not_decode_as_its_type_is_an_error_naming_it() {
    let mut r = log_runner(None);
    r.apply(vec![(1, 5, 1)], 0);
    let bytes = r.save_state().unwrap();
    // The same cells, but `count` now holds strings: u64 bytes do not decode as a String.
    struct Other;
    impl KeyedProcess<u32, u64> for Other {
        type Out = Out;
        fn on_record(&self, _: &mut Context<'_, u32, Out>, _: &u32, _: &u64) -> Result<(), ProcessError> {
            Ok(())
        }
    }
    let mut state = StateSpec::new();
    state.list::<u64>("log");
    state.value::<Vec<String>>("count");
    state.map::<u64, u64>("parity");
    let mut other = ProcessRunner::new(ProcessSpec::new(state, Other));
    let e = other.restore_state(&bytes, |_| true).unwrap_err();
    assert!(
        e.starts_with("key 1: its state cell `count` does not decode as alloc::vec::Vec<alloc::string::String>"),
        "{e}"
    );
    // A cell the step no longer declares.
    let mut state = StateSpec::new();
    state.list::<u64>("log");
    let e = ProcessRunner::new(ProcessSpec::new(state, Other)).restore_state(&bytes, |_| true).unwrap_err();
    assert!(e.contains("a state cell `count` this step does not declare"), "{e}");
    assert!(ProcessRunner::new(ProcessSpec::from(Other)).restore_state(b"xx", |_| true).is_err());
}

#[test]
fn a_handle_of_another_spec_is_refused() {
    struct Foreign(ValueState<u64>);
    impl KeyedProcess<u8, u64> for Foreign {
        type Out = u64;
        fn on_record(&self, ctx: &mut Context<'_, u8, u64>, _: &u8, v: &u64) -> Result<(), ProcessError> {
            ctx.state().set(&self.0, v)
        }
    }
    let handle = StateSpec::new().value::<u64>("x");
    let mut r = ProcessRunner::new(ProcessSpec::from(Foreign(handle)));
    r.apply(vec![(1, 1, 1)], 0);
    let (_, dead) = drain(&mut r);
    assert!(dead[0].reason.starts_with("a state handle of another step's StateSpec"));
}

#[test]
fn a_refused_record_is_a_dead_letter_with_the_process_reason() {
    let mut r = log_runner(None);
    r.apply(vec![(1, 5, 666)], 0);
    let (out, dead) = drain(&mut r);
    assert!(out.is_empty());
    assert_eq!(dead[0].reason, "refused by the process: the number of the beast");
    assert_eq!(dead[0].item, RejectedItem::Record(666));
}
