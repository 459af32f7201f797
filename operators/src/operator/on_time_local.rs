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
use super::open_windows::{table_hash, OpenWindows};
use crate::combine::CombineFn;
use crate::reduce::Dropped;
use crate::time::Time;
use crate::window::{Window, WindowFn};
use std::hash::Hash;
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::Stream;
use timely::ExchangeData;

/// Combines the records per key and window until the worker's input watermark passes the
/// window, then sends one accumulator per key and window. Records for windows the
/// watermark has already passed are too late (no allowed lateness here) and go to the
/// dead letters (the second stream).
#[allow(clippy::type_complexity)]
pub(super) fn on_time_local<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    window_fn: Arc<dyn WindowFn>,
    combine: C,
) -> (Stream<'scope, Time, Vec<(K, Window, C::Acc)>>, Stream<'scope, Time, Vec<Dropped<K, V>>>)
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
    builder.build(move |_caps| {
        let mut open: OpenWindows<K, C::Acc> = OpenWindows::new();
        // No allowed lateness on this plan: too late is past the window's max timestamp.
        let mut assigner = Assigner::new(window_fn, 0);
        let mut dropped = Vec::new();
        let mut batch = Vec::new();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&arrival) = cap.least() else { return };
                let wm = arrival.watermark();
                for (k, t, v) in data.drain(..) {
                    let h = table_hash(&k);
                    assigner.assign(&k, t, v, wm, &mut dropped, |w, value| {
                        let table = open.table(w, &arrival, |at| cap.delayed(at, 0));
                        match table.find_mut(h, |(x, _)| *x == k) {
                            Some((_, acc)) => combine.add(acc, value),
                            None => {
                                let mut acc = combine.create();
                                combine.add(&mut acc, value);
                                table.insert_unique(h, (k.clone(), acc), |(x, _)| table_hash(x));
                            }
                        }
                    });
                }
                if !dropped.is_empty() {
                    dead_out.activate().session(&cap).give_iterator(dropped.drain(..));
                }
            });
            let wm = frontier_watermark(&frontiers[0]);
            while let Some(bucket) = open.pop_passed(wm) {
                let window = bucket.window;
                batch.extend(bucket.table.into_iter().map(|(k, acc)| (k, window, acc)));
                out.activate().session(&bucket.cap).give_container(&mut batch);
                batch.clear();
            }
        }
    });
    (partials, dead)
}
