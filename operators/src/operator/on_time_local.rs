//! Phase one of the on-time aggregate ([`super::Plan::OnTimeWindows`]), on every worker
//! before the exchange: combine per (key, window) until the worker's own input watermark
//! passes the window, then send one accumulator per key and window.
//!
//! With non-merging windows, end-of-window timestamps, no allowed lateness and a trigger
//! without early firings (the default trigger, `after_watermark()` with or without late
//! firings — with no lateness, no record is ever late but not dropped), Beam emits exactly
//! one pane per key and window: the on-time pane of every record that was not too late,
//! when the watermark passes the end of the window. Nothing about it depends on when
//! records arrived before that, so each worker can combine its records per (key, window)
//! until its own input watermark passes the window, and exchange one accumulator per key
//! and window instead of one per record or per batch. The owner of the key merges the
//! accumulators of all workers ([`super::on_time_global`]). The panes are the ones the
//! general reducer emits (`operators/tests/on_time.rs` compares the two); the reducer's
//! per-key bookkeeping (pane indices, trigger state, holds, timers) has nothing to do here
//! and is skipped.
//!
//! Each open window holds one capability at `max(arrival, (max_timestamp, 0))`: the
//! downstream watermark waits for the window, and no longer.

use super::assign::Assigner;
use super::capability::frontier_watermark;
use super::checkpoint::{passed, pending, Checkpointing};
use super::key_hash::KeyHash;
use super::open_slices::{OpenSlices, SliceState};
use super::open_windows::{table_hash, OpenWindows};
use crate::combine::CombineFn;
use crate::reduce::Dropped;
use crate::time::Time;
use crate::window::{Window, WindowFn};
use rustc_hash::FxHashMap;
use std::hash::Hash;
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::ExchangeData;

/// A window's state in a checkpoint: the window, the time its capability holds, and its
/// accumulators per key.
pub(super) type WindowState<K, A> = (Window, Time, Vec<(K, A)>);

/// The state of a phase that combines per slice ([`OpenSlices`]): the windows' own tables,
/// the first window not out and the slices.
type SlicedState<K, A> = (Vec<WindowState<K, A>>, (i64, Vec<SliceState<K, A>>));

/// The open windows as checkpoint state.
pub(super) fn snapshot<K: Clone + Hash + Eq, A: Clone>(open: &OpenWindows<K, A>) -> Vec<WindowState<K, A>> {
    open.iter().map(|b| (b.window, *b.cap.time(), b.table.iter().cloned().collect())).collect()
}

/// Adds restored rows to the open windows (merging the accumulators of one key and window
/// that several workers of the checkpointed run held), keeping the keys `ckpt` owns.
pub(super) fn restore<K, V, C>(
    open: &mut OpenWindows<K, C::Acc>,
    state: Vec<WindowState<K, C::Acc>>,
    ckpt: &Checkpointing,
    mint: &Capability<Time>,
    combine: &C,
) where
    K: Hash + Eq + KeyHash,
    C: CombineFn<V>,
{
    for (window, hold, rows) in state {
        for (k, acc) in rows.into_iter().filter(|(k, _)| ckpt.owns(k)) {
            let table = open.table(window, &hold, |at| mint.delayed(at));
            let h = table_hash(&k);
            match table.find_mut(h, |(x, _)| *x == k) {
                Some((_, a)) => combine.merge(a, acc),
                None => {
                    table.insert_unique(h, (k, acc), |(x, _)| table_hash(x));
                }
            }
        }
    }
}

/// Combines the records per key and window until the worker's input watermark passes the
/// window, then sends one accumulator per key and window. Records for windows the
/// watermark has passed by more than `lateness` are too late and go to the dead letters
/// (the third stream); the late ones within it are combined per batch, key and window and
/// sent at once on the second stream, at the batch's stamp (each late stamp makes its own
/// panes). The second stream's frontier is the input's: it holds nothing back.
#[allow(clippy::type_complexity)]
pub(super) fn on_time_local<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    window_fn: Arc<dyn WindowFn>,
    lateness: i64,
    combine: C,
    ckpt: Option<Checkpointing>,
    gauges: Option<Arc<super::gauges::StepGauges>>,
) -> (
    Stream<'scope, Time, Vec<(K, Window, C::Acc)>>,
    Stream<'scope, Time, Vec<(K, Window, C::Acc)>>,
    Stream<'scope, Time, Vec<Dropped<K, V>>>,
)
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
{
    let scope = input.scope();
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let mut input = builder.new_input(input, Pipeline);
    let (out, partials) = builder.new_output::<Vec<(K, Window, C::Acc)>>();
    let (dead_out, dead) = builder.new_output::<Vec<Dropped<K, V>>>();
    let mut out = OutputBuilder::from(out);
    let mut dead_out = OutputBuilder::from(dead_out);
    let (late_out, late_partials) = builder.new_output::<Vec<(K, Window, C::Acc)>>();
    let mut late_out = OutputBuilder::from(late_out);
    let step = name.to_owned();
    // Sliding windows whose size is a multiple of their period combine per slice.
    let slicing = window_fn.slicing();
    builder.build(move |caps| {
        let mut open: OpenWindows<K, C::Acc> = OpenWindows::new();
        let mut slices: Option<OpenSlices<K, C::Acc>> = slicing.map(OpenSlices::new);
        if let (Some(c), Some(mint)) = (ckpt.as_ref(), caps.first()) {
            match slices.as_mut() {
                None => {
                    for state in c.start::<Vec<WindowState<K, C::Acc>>>(&step) {
                        restore(&mut open, state, c, mint, &combine);
                    }
                }
                Some(sl) => {
                    for (windows, sliced) in c.start::<SlicedState<K, C::Acc>>(&step) {
                        restore(&mut open, windows, c, mint, &combine);
                        sl.restore(sliced, |k| c.owns(k), mint, &combine);
                    }
                }
            }
        }
        drop(caps);
        // While a cut is pending: the batches stamped at or after it, applied once the
        // state before it is saved.
        #[allow(clippy::type_complexity)]
        let mut later: Vec<(Capability<Time>, Capability<Time>, Capability<Time>, Vec<(K, i64, V)>)> = Vec::new();
        let mut assigner = Assigner::new(window_fn, lateness);
        let mut dropped = Vec::new();
        // The late records of one batch, per key and window.
        let mut late: FxHashMap<(K, Window), C::Acc> = FxHashMap::default();
        let mut batch = Vec::new();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&arrival) = cap.least() else { return };
                // Asked per batch: a batch stamped after a cut may come from a source that
                // learnt of the cut after this activation began.
                if pending(&ckpt, &step).is_some_and(|t| arrival >= t) {
                    if let (Some(out_cap), Some(dead_cap), Some(late_cap)) =
                        (cap.retain_least(0), cap.retain_least(1), cap.retain_least(2))
                    {
                        later.push((out_cap, dead_cap, late_cap, std::mem::take(data)));
                    }
                    return;
                }
                add_records(
                    &mut open,
                    slices.as_mut(),
                    &mut late,
                    &mut assigner,
                    &combine,
                    &mut dropped,
                    arrival,
                    data,
                    |at| cap.delayed(at, 0),
                );
                if !late.is_empty() {
                    late_out.activate().session(&cap).give_iterator(late.drain().map(|((k, w), a)| (k, w, a)));
                }
                if !dropped.is_empty() {
                    dead_out.activate().session(&cap).give_iterator(dropped.drain(..));
                }
            });
            if let Some(t) = pending(&ckpt, &step).filter(|t| passed(&frontiers[0], *t)) {
                // The windows the cut's watermark closes go out before the state is saved,
                // at times before the cut; then the batches at or after it are applied.
                emit_passed(t.watermark(), &mut open, slices.as_mut(), &combine, |window, cap, table| {
                    batch.extend(table.into_iter().map(|(k, acc)| (k, window, acc)));
                    out.activate().session(cap).give_container(&mut batch);
                    batch.clear();
                });
                if let Some(c) = ckpt.as_ref() {
                    match slices.as_ref() {
                        None => c.save(&step, t, &snapshot(&open)),
                        Some(sl) => c.save(&step, t, &(snapshot(&open), sl.snapshot())),
                    }
                }
                for (out_cap, dead_cap, late_cap, mut data) in later.drain(..) {
                    let arrival = *out_cap.time();
                    add_records(
                        &mut open,
                        slices.as_mut(),
                        &mut late,
                        &mut assigner,
                        &combine,
                        &mut dropped,
                        arrival,
                        &mut data,
                        |at| out_cap.delayed(at),
                    );
                    if !late.is_empty() {
                        late_out.activate().session(&late_cap).give_iterator(late.drain().map(|((k, w), a)| (k, w, a)));
                    }
                    if !dropped.is_empty() {
                        dead_out.activate().session(&dead_cap).give_iterator(dropped.drain(..));
                    }
                }
            }
            let wm = frontier_watermark(&frontiers[0]);
            emit_passed(wm, &mut open, slices.as_mut(), &combine, |window, cap, table| {
                batch.extend(table.into_iter().map(|(k, acc)| (k, window, acc)));
                out.activate().session(cap).give_container(&mut batch);
                batch.clear();
            });
            if let Some(g) = &gauges {
                let (n, a) = slices.as_ref().map_or((0, 0), |s| (s.len(), s.accumulators()));
                g.set((open.len() + n) as u64, (open.accumulators() + a) as u64);
            }
        }
    });
    (partials, late_partials, dead)
}

/// Sends the windows the watermark `wm` has passed: from their slices and their own
/// tables when the phase combines per slice, else from their tables.
fn emit_passed<K, V, C>(
    wm: i64,
    open: &mut OpenWindows<K, C::Acc>,
    slices: Option<&mut OpenSlices<K, C::Acc>>,
    combine: &C,
    mut send: impl FnMut(Window, &Capability<Time>, hashbrown::HashTable<(K, C::Acc)>),
) where
    K: Clone + Hash + Eq,
    C: CombineFn<V>,
{
    match slices {
        Some(sl) => sl.emit_passed(wm, open, combine, send),
        None => {
            while let Some(bucket) = open.pop_passed(wm) {
                send(bucket.window, &bucket.cap, bucket.table);
            }
        }
    }
}

/// Adds a batch of records that arrived at `arrival` to the open windows (`mint` makes a
/// new window's capability) — with `slices`, once into its slice a record on time for
/// every window of the slice not out yet; the late ones (the watermark passed their
/// window, not by more than the lateness) to `late`; the too-late ones go to `dropped`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn add_records<K, V, C>(
    open: &mut OpenWindows<K, C::Acc>,
    mut slices: Option<&mut OpenSlices<K, C::Acc>>,
    late: &mut FxHashMap<(K, Window), C::Acc>,
    assigner: &mut Assigner,
    combine: &C,
    dropped: &mut Vec<Dropped<K, V>>,
    arrival: Time,
    data: &mut Vec<(K, i64, V)>,
    mint: impl Fn(&Time) -> Capability<Time>,
) where
    K: Clone + Hash + Eq,
    V: Clone,
    C: CombineFn<V>,
{
    let wm = arrival.watermark();
    for (k, t, v) in data.drain(..) {
        let h = table_hash(&k);
        // Into its slice, once, if it fits; else window by window.
        let mut route = match slices.as_deref().and_then(|sl| sl.slice_of(t).filter(|&(_, first)| sl.fits(first, wm))) {
            Some((start, _)) => Route::Slice(start),
            None => Route::Windows,
        };
        assigner.assign(&k, t, v, wm, dropped, |w, value| {
            if w.max_timestamp() < wm {
                let acc = late.entry((k.clone(), w)).or_insert_with(|| combine.create());
                value.add_to(combine, acc);
                return;
            }
            let table = match (route, slices.as_deref_mut()) {
                (Route::Added, _) => return,
                (Route::Slice(start), Some(sl)) => {
                    route = Route::Added;
                    sl.table(start, &arrival, &mint)
                }
                _ => open.table(w, &arrival, &mint),
            };
            match table.find_mut(h, |(x, _)| *x == k) {
                Some((_, acc)) => value.add_to(combine, acc),
                None => {
                    let mut acc = combine.create();
                    value.add_to(combine, &mut acc);
                    table.insert_unique(h, (k.clone(), acc), |(x, _)| table_hash(x));
                }
            }
        });
    }
}

/// Where a record's on-time windows take it.
#[derive(Clone, Copy)]
enum Route {
    /// Into the slice starting here (every window of it that is not out is on time).
    Slice(i64),
    /// Into its slice already: its other windows have it.
    Added,
    /// Into each window's own table.
    Windows,
}
