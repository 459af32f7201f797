//! Phase two of the on-time aggregate ([`super::Plan::OnTimeWindows`]), on the key's
//! worker: merge the accumulators of every worker per key and window, and emit the
//! window's one on-time pane once the frontier has passed it.

use super::capability::{follow_frontier, frontier_watermark};
use super::checkpoint::{passed, pending, Checkpointing};
use super::key_hash::KeyHash;
use super::on_time_local::{restore, snapshot, WindowState};
use super::open_windows::{table_hash, Bucket, OpenWindows};
use crate::combine::CombineFn;
use crate::pane::{Pane, PaneInfo, Timing};
use crate::reduce::Dropped;
use crate::time::Time;
use crate::window::Window;
use std::hash::Hash;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::ExchangeData;

/// Merges the accumulators of [`super::on_time_local`] per key and window and emits the
/// window's panes once the frontier has passed it. The second stream carries nothing; its
/// frontier is the phase's progress.
#[allow(clippy::type_complexity)]
pub(super) fn on_time_global<'scope, K, V, C>(
    partials: Stream<'scope, Time, Vec<(K, Window, C::Acc)>>,
    name: &str,
    combine: C,
    ckpt: Option<Checkpointing>,
) -> (Stream<'scope, Time, Vec<Pane<K, C::Out>>>, Stream<'scope, Time, Vec<Dropped<K, V>>>)
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    let scope = partials.scope();
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let mut input = builder.new_input(partials, Exchange::new(|x: &(K, Window, C::Acc)| x.0.key_hash()));
    let (out, panes) = builder.new_output::<Vec<Pane<K, C::Out>>>();
    let (progress_out, progress) = builder.new_output::<Vec<Dropped<K, V>>>();
    let mut out = OutputBuilder::from(out);
    let _progress_out: OutputBuilder<Time, timely::container::CapacityContainerBuilder<Vec<Dropped<K, V>>>> =
        OutputBuilder::from(progress_out);
    let step = name.to_owned();
    builder.build(move |mut caps| {
        // Held at the input frontier: the progress stream's frontier follows this phase.
        let mut progress_cap: Option<Capability<Time>> = caps.pop();
        let mut open: OpenWindows<K, C::Acc> = OpenWindows::new();
        if let (Some(c), Some(mint)) = (ckpt.as_ref(), caps.first()) {
            for state in c.start::<Vec<WindowState<K, C::Acc>>>(&step) {
                restore(&mut open, state, c, mint, &combine);
            }
        }
        drop(caps);
        // While a cut is pending: the accumulators stamped at or after it, merged once the
        // state before it is saved.
        let mut later: Vec<(Capability<Time>, Vec<(K, Window, C::Acc)>)> = Vec::new();
        let mut rows: Vec<(K, C::Acc)> = Vec::new();
        let mut batch: Vec<Pane<K, C::Out>> = Vec::new();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&arrival) = cap.least() else { return };
                // Asked per batch: a batch stamped after a cut may come from a source that
                // learnt of the cut after this activation began.
                if pending(&ckpt, &step).is_some_and(|t| arrival >= t) {
                    if let Some(c) = cap.retain_least(0) {
                        later.push((c, std::mem::take(data)));
                    }
                    return;
                }
                merge_partials(&mut open, &combine, arrival, data, |at| cap.delayed(at, 0));
            });
            if let Some(t) = pending(&ckpt, &step).filter(|t| passed(&frontiers[0], *t)) {
                // The windows the cut's watermark closes go out before the state is saved,
                // at times before the cut; then the accumulators at or after it are merged.
                while let Some(bucket) = open.pop_passed(t.watermark()) {
                    emit(bucket, &mut rows, &mut batch, &combine, &mut out);
                }
                if let Some(c) = ckpt.as_ref() {
                    c.save(&step, t, &snapshot(&open));
                }
                for (c, mut data) in later.drain(..) {
                    let arrival = *c.time();
                    merge_partials(&mut open, &combine, arrival, &mut data, |at| c.delayed(at));
                }
            }
            let wm = frontier_watermark(&frontiers[0]);
            while let Some(bucket) = open.pop_passed(wm) {
                emit(bucket, &mut rows, &mut batch, &combine, &mut out);
            }
            follow_frontier(frontiers[0].frontier().iter().min().copied(), [&mut progress_cap]);
        }
    });
    (panes, progress)
}

/// Merges a batch of accumulators that arrived at `arrival` into the open windows.
#[inline(always)]
fn merge_partials<K, V, C>(
    open: &mut OpenWindows<K, C::Acc>,
    combine: &C,
    arrival: Time,
    data: &mut Vec<(K, Window, C::Acc)>,
    mint: impl Fn(&Time) -> Capability<Time>,
) where
    K: Hash + Eq,
    C: CombineFn<V>,
{
    for (k, w, acc) in data.drain(..) {
        let table = open.table(w, &arrival, &mint);
        let h = table_hash(&k);
        match table.find_mut(h, |(x, _)| *x == k) {
            Some((_, a)) => combine.merge(a, acc),
            None => {
                table.insert_unique(h, (k, acc), |(x, _)| table_hash(x));
            }
        }
    }
}

/// Emits the on-time panes of a window the watermark has passed.
fn emit<K, V, C>(
    bucket: Bucket<K, C::Acc>,
    rows: &mut Vec<(K, C::Acc)>,
    batch: &mut Vec<Pane<K, C::Out>>,
    combine: &C,
    out: &mut PanesOutput<K, C::Out>,
) where
    K: Clone + 'static,
    C: CombineFn<V>,
    C::Out: 'static,
{
    let window = bucket.window;
    let tick = bucket.cap.time().tick;
    // In the table's order: the same for the same input at one worker (a fixed-seed
    // hash), unordered across workers as any output is.
    rows.extend(bucket.table);
    let info = PaneInfo { timing: Timing::OnTime, index: 0, nonspeculative_index: 0, first: true, last: true };
    batch.extend(rows.drain(..).map(|(key, acc)| Pane {
        value: combine.extract(&acc),
        key,
        window,
        timestamp: window.max_timestamp(),
        info,
        retraction: false,
        tick,
    }));
    out.activate().session(&bucket.cap).give_container(batch);
    batch.clear();
}

/// The panes output of the phase.
type PanesOutput<K, O> = OutputBuilder<Time, CapacityContainerBuilder<Vec<Pane<K, O>>>>;
