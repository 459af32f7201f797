//! The joins as process runners without timely, against a batch reference over random
//! out-of-order streams with late records, spread over 1 to 4 "workers" (runners owning
//! keys by hash), and restored from a saved state at another number of them.

use super::*;
use crate::keyed::{KeyedProcess, ProcessRunner, ProcessSpec};
use crate::window::{Window, WindowSpec};
use std::collections::BTreeMap;

/// A small deterministic generator (Knuth's MMIX LCG).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// A record: key, event time, side.
type Rec<V> = (u32, i64, V);

/// A script: stamps of records, each with the watermark it was read at.
type Script<V> = Vec<(i64, Vec<Rec<V>>)>;

/// `n` records over `keys` keys, one every 10 ms of event time (times unique: the last
/// three digits are the record's index), out of order by up to `disorder` ms, one in
/// `late_one_in` far behind; stamps of 2 records at a watermark `bound` ms behind the
/// largest event time read before the stamp. `side` makes each record's value from a
/// random number.
fn script<V>(
    seed: u64,
    n: u64,
    keys: u64,
    disorder: i64,
    bound: i64,
    late_one_in: u64,
    side: impl Fn(u64) -> V,
) -> Script<V> {
    let mut r = Lcg(seed);
    let mut stamps = Vec::new();
    let mut max = i64::MIN;
    let mut batch = Vec::new();
    for i in 0..n {
        let mut t = (i as i64) * 10 + r.below(disorder as u64 + 1) as i64;
        if r.below(late_one_in) == 0 {
            t -= 200 + r.below(400) as i64;
        }
        let t = t.max(0) * 1000 + (i % 1000) as i64;
        batch.push((r.below(keys) as u32, t, side(r.below(1_000))));
        if batch.len() == 2 || i + 1 == n {
            let wm = if max == i64::MIN { i64::MIN } else { max - bound * 1000 };
            max = max.max(batch.iter().map(|b| b.1).max().unwrap_or(i64::MIN));
            stamps.push((wm, std::mem::take(&mut batch)));
        }
    }
    // A watermark is monotonic.
    let mut wm = i64::MIN;
    for s in &mut stamps {
        wm = wm.max(s.0);
        s.0 = wm;
    }
    stamps
}

/// What a run emits (sorted `(event time, row)`) and the records it refused as too late
/// (sorted).
type Outcome<O, V> = (Vec<(i64, O)>, Vec<Rec<V>>);

/// Runs `script` through `workers` runners (keys by `key % workers`); with `restore_at`,
/// saves every runner's state before that stamp and restores it into `then` runners. At
/// the end (the watermark at +∞) no key holds state, except `kept` of them.
fn run<V, P>(
    make: impl Fn() -> ProcessSpec<P>,
    script: &Script<V>,
    workers: u32,
    restore_at: Option<(usize, u32)>,
) -> (Outcome<P::Out, V>, usize)
where
    V: Clone + serde::Serialize + Ord,
    P: KeyedProcess<u32, V>,
    P::Out: Ord + Clone,
{
    let mut runners: Vec<ProcessRunner<u32, V, P>> = (0..workers).map(|_| ProcessRunner::new(make())).collect();
    let (mut out, mut late) = (Vec::new(), Vec::new());
    let mut drain = |runners: &mut Vec<ProcessRunner<u32, V, P>>| {
        for r in runners.iter_mut() {
            let (mut o, mut d) = (Vec::new(), Vec::new());
            r.drain(&mut o, &mut d);
            out.extend(o.into_iter().map(|e| (e.event_time, e.value)));
            for d in d {
                assert!(d.too_late, "only late records are refused: {}", d.reason);
                let crate::keyed::RejectedItem::Record(v) = d.item else { panic!("a record") };
                late.push((d.key, d.event_time, v));
            }
        }
    };
    for (i, (wm, records)) in script.iter().enumerate() {
        if let Some((at, then)) = restore_at.filter(|r| r.0 == i) {
            let saved: Vec<Vec<u8>> = runners.iter().map(|r| r.save_state().unwrap()).collect();
            runners = (0..then)
                .map(|w| {
                    let mut r = ProcessRunner::new(make());
                    for piece in &saved {
                        r.restore_state(piece, |k| k % then == w).unwrap();
                    }
                    r
                })
                .collect();
            let _ = at;
        }
        let n = runners.len() as u32;
        for r in runners.iter_mut() {
            r.advance_watermark(*wm, 0);
        }
        drain(&mut runners);
        for (w, r) in runners.iter_mut().enumerate() {
            r.apply(records.iter().filter(|x| x.0 % n == w as u32).cloned().collect(), 0);
        }
        drain(&mut runners);
    }
    for r in runners.iter_mut() {
        r.advance_watermark(i64::MAX, 0);
    }
    let kept = runners.iter().map(|r| r.keys()).sum();
    drain(&mut runners);
    out.sort();
    late.sort();
    ((out, late), kept)
}

/// Runs at 1, 2 and 4 runners and restored at other counts mid-way: all the same. Returns
/// the outcome and how many keys hold state at the end.
fn everywhere<V, P>(make: impl Fn() -> ProcessSpec<P>, script: &Script<V>) -> (Outcome<P::Out, V>, usize)
where
    V: Clone + serde::Serialize + Ord + std::fmt::Debug,
    P: KeyedProcess<u32, V>,
    P::Out: Ord + Clone + std::fmt::Debug,
{
    let one = run(&make, script, 1, None);
    for (workers, restore) in [(2, None), (4, None), (2, Some((script.len() / 2, 1))), (1, Some((script.len() / 3, 4)))]
    {
        assert_eq!(run(&make, script, workers, restore), one, "{workers} worker(s), restored {restore:?}");
    }
    one
}

type S = Side<u64, u64>;

fn sides(x: u64) -> S {
    if x.is_multiple_of(2) {
        Side::Left(x)
    } else {
        Side::Right(x)
    }
}

/// The batch window join: records whose window was not collected when they came, grouped
/// by key and window, joined.
fn window_reference(
    script: &Script<S>,
    window: &WindowSpec,
    lateness: i64,
    kind: JoinKind,
) -> Outcome<WindowJoined<u32, u64, u64>, S> {
    let wf = window.window_fn();
    let mut groups: BTreeMap<(u32, Window), (Vec<u64>, Vec<u64>)> = BTreeMap::new();
    let mut late = Vec::new();
    for (wm, records) in script {
        for (k, t, v) in records {
            let mut ws = Vec::new();
            wf.assign(*t, &mut ws);
            if ws.iter().any(|w| w.gc_time(lateness) < *wm) {
                late.push((*k, *t, v.clone()));
            }
            for w in ws.into_iter().filter(|w| w.gc_time(lateness) >= *wm) {
                let g = groups.entry((*k, w)).or_default();
                match v {
                    Side::Left(l) => g.0.push(*l),
                    Side::Right(r) => g.1.push(*r),
                }
            }
        }
    }
    let mut out = Vec::new();
    for ((key, window), (ls, rs)) in groups {
        let row = |left, right| WindowJoined { key, window, left, right };
        for l in &ls {
            for r in &rs {
                out.push((window.max_timestamp(), row(Some(*l), Some(*r))));
            }
        }
        let gc = window.gc_time(lateness);
        if rs.is_empty() && matches!(kind, JoinKind::Left | JoinKind::Full) {
            out.extend(ls.iter().map(|l| (gc, row(Some(*l), None))));
        }
        if ls.is_empty() && matches!(kind, JoinKind::Right | JoinKind::Full) {
            out.extend(rs.iter().map(|r| (gc, row(None, Some(*r)))));
        }
    }
    out.sort();
    late.sort();
    (out, late)
}

#[test]
fn window_joins_are_the_batch_join_at_any_number_of_workers_and_after_a_restore() {
    let cases = [
        (WindowSpec::fixed(100_000), 0, JoinKind::Inner),
        (WindowSpec::fixed(100_000), 150_000, JoinKind::Inner),
        (WindowSpec::fixed(50_000), 100_000, JoinKind::Full),
        (WindowSpec::sliding(100_000, 50_000), 0, JoinKind::Left),
        (WindowSpec::sliding(100_000, 30_000), 120_000, JoinKind::Right),
    ];
    for (seed, (window, lateness, kind)) in cases.into_iter().enumerate() {
        let script = script(seed as u64 + 1, 600, 5, 40, 25, 15, sides);
        let strategy =
            crate::strategy::WindowingStrategy::new(window.clone()).allowed_lateness(lateness).build().unwrap();
        let make = || WindowJoin::new(&strategy, kind).unwrap().spec::<u32, u64, u64>();
        let (got, kept) = everywhere(make, &script);
        assert_eq!(kept, 0, "every window collected at the end");
        let expected = window_reference(&script, &window, lateness, kind);
        assert!(!expected.1.is_empty(), "the case has late records");
        assert!(got.0.len() > 100, "{window} {lateness} {kind}: {} rows", got.0.len());
        assert_eq!(got, expected, "{window}, lateness {lateness}, {kind}");
    }
}

#[test]
fn a_window_join_emits_late_pairs_once_and_outer_rows_when_the_window_is_collected() {
    let strategy = crate::strategy::WindowingStrategy::new(WindowSpec::fixed(10)).allowed_lateness(5).build().unwrap();
    let mut r = ProcessRunner::new(WindowJoin::new(&strategy, JoinKind::Full).unwrap().spec::<char, u32, u64>());
    let (mut out, mut dead) = (Vec::new(), Vec::new());
    r.apply(vec![('a', 1, Side::Left(1)), ('a', 2, Side::Right(20)), ('b', 3, Side::Left(2))], 0);
    r.advance_watermark(10, 0); // the end of [0, 10) passed: the pair, nothing unmatched yet
    r.drain(&mut out, &mut dead);
    let row =
        |k, l: Option<u32>, rt: Option<u64>| WindowJoined { key: k, window: Window::new(0, 10), left: l, right: rt };
    let got: Vec<_> = out.drain(..).map(|e| (e.event_time, e.value)).collect();
    assert_eq!(got, [(9, row('a', Some(1), Some(20)))]);
    r.apply(vec![('b', 4, Side::Right(40)), ('a', 5, Side::Right(50))], 0); // late, within the lateness
    r.drain(&mut out, &mut dead);
    let got: Vec<_> = out.drain(..).map(|e| (e.event_time, e.value)).collect();
    assert_eq!(got, [(9, row('a', Some(1), Some(50))), (9, row('b', Some(2), Some(40)))]);
    r.advance_watermark(15, 0); // gc at 14 passed: nothing unmatched, all cleared
    r.apply(vec![('c', 6, Side::Right(60))], 0); // too late
    r.drain(&mut out, &mut dead);
    assert!(out.is_empty());
    assert_eq!(r.keys(), 0);
    assert_eq!(dead.len(), 1);
    assert!(dead[0].too_late);
    assert_eq!(
        dead[0].reason,
        "too late: the right record at 6 is past its window [0, 10) (collected when the watermark, now 15, passed its end plus the allowed lateness of 5 ms): allow more lateness, or a larger out-of-orderness bound at the source"
    );
}

/// The batch interval join of the records that were not behind the watermark.
fn interval_reference(script: &Script<S>, lower: i64, upper: i64) -> Outcome<IntervalJoined<u32, u64, u64>, S> {
    let (mut on_time, mut late) = (Vec::new(), Vec::new());
    for (wm, records) in script {
        for r in records {
            if r.1 < *wm {
                late.push(r.clone());
            } else {
                on_time.push(r.clone());
            }
        }
    }
    let mut out = Vec::new();
    for (ka, a, l) in &on_time {
        let Side::Left(l) = l else { continue };
        for (kb, b, r) in &on_time {
            let Side::Right(r) = r else { continue };
            if ka == kb && *b >= a + lower && *b <= a + upper {
                let row = IntervalJoined { key: *ka, left: *l, left_time: *a, right: *r, right_time: *b };
                out.push((*a.max(b), row));
            }
        }
    }
    out.sort();
    late.sort();
    (out, late)
}

#[test]
fn interval_joins_are_the_batch_join_at_any_number_of_workers_and_after_a_restore() {
    for (seed, (lower, upper)) in [(0, 60_000), (-40_000, 40_000), (-90_000, -20_000), (0, 0)].into_iter().enumerate() {
        let script = script(seed as u64 + 10, 600, 4, 40, 25, 15, sides);
        let make = || IntervalJoin::between(lower, upper).unwrap().spec::<u32, u64, u64>();
        let (got, kept) = everywhere(make, &script);
        assert_eq!(kept, 0, "every record dropped at the end");
        let expected = interval_reference(&script, lower, upper);
        assert!(!expected.1.is_empty(), "the case has late records");
        if upper > lower {
            assert!(got.0.len() > 50, "[{lower}, {upper}]: {} pairs", got.0.len());
        }
        assert_eq!(got, expected, "[{lower}, {upper}]");
    }
}

#[test]
fn an_interval_join_keeps_records_only_while_a_partner_may_come() {
    let mut r = ProcessRunner::new(IntervalJoin::between(-5, 10).unwrap().spec::<char, u32, u32>());
    r.apply(vec![('a', 100, Side::Left(1)), ('a', 96, Side::Right(2)), ('a', 111, Side::Right(3))], 0);
    let (mut out, mut dead) = (Vec::new(), Vec::new());
    r.drain(&mut out, &mut dead);
    // 96 is in [95, 110]; 111 is not.
    let got: Vec<_> = out.drain(..).map(|e| (e.event_time, e.value.right)).collect();
    assert_eq!(got, [(100, 2)]);
    r.advance_watermark(111, 0); // the left at 100 is kept until 110: dropped; the right at 111 until 116
    r.apply(vec![('a', 111, Side::Left(4))], 0); // pairs with 111 (in [106, 121])
    r.advance_watermark(200, 0);
    r.drain(&mut out, &mut dead);
    let got: Vec<_> = out.drain(..).map(|e| (e.event_time, e.value.left, e.value.right)).collect();
    assert_eq!(got, [(111, 4, 3)]);
    // At the edge: a left at 300 waits for a right until the watermark passes 310.
    r.apply(vec![('b', 300, Side::Left(5))], 0);
    r.advance_watermark(310, 0);
    r.apply(vec![('b', 310, Side::Right(6))], 0);
    r.advance_watermark(311, 0);
    r.apply(vec![('b', 311, Side::Right(7))], 0); // in [295, 310]? no: and the left is gone
    r.drain(&mut out, &mut dead);
    let got: Vec<_> = out.drain(..).map(|e| (e.event_time, e.value.left, e.value.right)).collect();
    assert_eq!(got, [(310, 5, 6)]);
    r.apply(vec![('b', 311, Side::Left(8))], 0); // pairs with both rights, kept until 316 and 316
    r.advance_watermark(316, 0);
    r.apply(vec![('b', 316, Side::Right(9))], 0); // pairs with the left at 311 (until 321)
    r.advance_watermark(400, 0);
    r.drain(&mut out, &mut dead);
    let got: Vec<_> = out.drain(..).map(|e| (e.event_time, e.value.left, e.value.right)).collect();
    assert_eq!(got, [(311, 8, 6), (311, 8, 7), (316, 8, 9)]);
    assert_eq!(r.keys(), 0, "everything dropped once the watermark passed");
    assert!(dead.is_empty());
}

type T = Side<u64, Option<u64>>;

/// Table changes (a delete one in five) on odd numbers, stream records on even ones.
fn changes(x: u64) -> T {
    match x % 10 {
        1 => Side::Right(None),
        3 | 5 | 7 | 9 => Side::Right(Some(x)),
        _ => Side::Left(x),
    }
}

/// The batch temporal join: each on-time stream record with the latest on-time change
/// of its key at or before it.
fn temporal_reference(script: &Script<T>, kind: JoinKind) -> Outcome<TemporalJoined<u32, u64, u64>, T> {
    let (mut on_time, mut late) = (Vec::new(), Vec::new());
    for (wm, records) in script {
        for r in records {
            if r.1 < *wm {
                late.push(r.clone());
            } else {
                on_time.push(r.clone());
            }
        }
    }
    let mut out = Vec::new();
    for (k, t, v) in &on_time {
        let Side::Left(l) = v else { continue };
        let version = on_time
            .iter()
            .filter_map(|(k2, t2, v2)| match v2 {
                Side::Right(c) if k2 == k && t2 <= t => Some((*t2, *c)),
                _ => None,
            })
            .max_by_key(|x| x.0);
        let (right, version_time) = match version {
            Some((vt, Some(value))) => (Some(value), Some(vt)),
            _ => (None, None),
        };
        if right.is_some() || kind == JoinKind::Left {
            out.push((*t, TemporalJoined { key: *k, left: *l, right, version_time }));
        }
    }
    out.sort();
    late.sort();
    (out, late)
}

#[test]
fn temporal_joins_are_the_batch_join_as_of_event_time_at_any_number_of_workers_and_after_a_restore() {
    for (seed, kind) in [JoinKind::Inner, JoinKind::Left].into_iter().enumerate() {
        let script = script(seed as u64 + 20, 700, 4, 40, 25, 15, changes);
        let make = || TemporalJoin::new(kind).unwrap().spec::<u32, u64, u64>();
        let (got, kept) = everywhere(make, &script);
        // The table's last value of each key stays (unless deleted): it is the table.
        assert!(kept <= 4);
        let expected = temporal_reference(&script, kind);
        assert!(!expected.1.is_empty(), "the case has late records");
        assert!(got.0.len() > 100, "{kind}: {} rows", got.0.len());
        assert!(got.0.iter().any(|r| r.1.right.is_none()) == (kind == JoinKind::Left));
        assert_eq!(got, expected, "{kind}");
    }
}

#[test]
fn a_temporal_join_waits_for_the_watermark_and_keeps_one_version_behind_it() {
    let mut r = ProcessRunner::new(TemporalJoin::new(JoinKind::Left).unwrap().spec::<char, char, u32>());
    let (mut out, mut dead) = (Vec::new(), Vec::new());
    r.apply(vec![('a', 10, Side::Right(Some(1))), ('a', 20, Side::Left('x')), ('a', 30, Side::Right(Some(3)))], 0);
    r.advance_watermark(20, 0);
    r.drain(&mut out, &mut dead);
    assert!(out.is_empty(), "x at 20 waits until the watermark passes 20");
    r.apply(vec![('a', 20, Side::Right(Some(2)))], 0); // a change at 20 still counts for x
    r.advance_watermark(100, 0);
    r.drain(&mut out, &mut dead);
    let got: Vec<_> =
        out.drain(..).map(|e| (e.event_time, e.value.left, e.value.right, e.value.version_time)).collect();
    assert_eq!(got, [(20, 'x', Some(2), Some(20))]);
    r.apply(vec![('a', 150, Side::Left('y')), ('a', 140, Side::Right(None))], 0);
    r.advance_watermark(i64::MAX, 0);
    r.drain(&mut out, &mut dead);
    let got: Vec<_> = out.drain(..).map(|e| (e.event_time, e.value.left, e.value.right)).collect();
    assert_eq!(got, [(150, 'y', None)], "deleted at 140");
    assert_eq!(r.keys(), 0);
}

#[test]
fn bad_join_specs_are_refused_with_what_to_do() {
    assert!(IntervalJoin::between(1, 0).unwrap_err().contains("swap them"));
    assert!(IntervalJoin::between(i64::MIN, 0).is_err());
    assert!(TemporalJoin::new(JoinKind::Right).is_err());
    let acc = crate::strategy::WindowingStrategy::new(WindowSpec::fixed(10))
        .accumulation(crate::strategy::Accumulation::Accumulating)
        .build()
        .unwrap();
    assert!(WindowJoin::new(&acc, JoinKind::Inner).unwrap_err().contains("accumulation"));
}
