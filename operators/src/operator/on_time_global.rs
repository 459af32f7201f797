//! Phase two of the on-time aggregate ([`super::Plan::OnTimeWindows`]), on the key's
//! worker: merge the accumulators of every worker per key and window, and emit the
//! window's one on-time pane once the frontier has passed it.

use super::capability::{follow_frontier, frontier_watermark};
use super::key_hash::KeyHash;
use super::open_windows::{table_hash, OpenWindows};
use crate::combine::CombineFn;
use crate::pane::{Pane, PaneInfo, Timing};
use crate::reduce::Dropped;
use crate::time::Time;
use crate::window::Window;
use std::hash::Hash;
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
    builder.build(move |mut caps| {
        // Held at the input frontier: the progress stream's frontier follows this phase.
        let mut progress_cap: Option<Capability<Time>> = caps.pop();
        drop(caps);
        let mut open: OpenWindows<K, C::Acc> = OpenWindows::new();
        let mut rows: Vec<(K, C::Acc)> = Vec::new();
        let mut batch: Vec<Pane<K, C::Out>> = Vec::new();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&arrival) = cap.least() else { return };
                for (k, w, acc) in data.drain(..) {
                    let table = open.table(w, &arrival, |at| cap.delayed(at, 0));
                    let h = table_hash(&k);
                    match table.find_mut(h, |(x, _)| *x == k) {
                        Some((_, a)) => combine.merge(a, acc),
                        None => {
                            table.insert_unique(h, (k, acc), |(x, _)| table_hash(x));
                        }
                    }
                }
            });
            let wm = frontier_watermark(&frontiers[0]);
            while let Some(bucket) = open.pop_passed(wm) {
                let window = bucket.window;
                let tick = bucket.cap.time().tick;
                // In the table's order: the same for the same input at one worker (a
                // fixed-seed hash), unordered across workers as any output is.
                rows.extend(bucket.table);
                let info =
                    PaneInfo { timing: Timing::OnTime, index: 0, nonspeculative_index: 0, first: true, last: true };
                batch.extend(rows.drain(..).map(|(key, acc)| Pane {
                    value: combine.extract(&acc),
                    key,
                    window,
                    timestamp: window.max_timestamp(),
                    info,
                    retraction: false,
                    tick,
                }));
                out.activate().session(&bucket.cap).give_container(&mut batch);
                batch.clear();
            }
            follow_frontier(frontiers[0].frontier().iter().min().copied(), [&mut progress_cap]);
        }
    });
    (panes, progress)
}
