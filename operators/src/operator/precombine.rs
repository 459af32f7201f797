//! Beam's combiner lifting ([`super::Plan::Precombined`]): on every worker before the
//! exchange, records are combined per (key, window) within each message, so one
//! accumulator per (key, window) and stamp crosses the exchange instead of every record.

use super::assign::Assigner;
use crate::combine::CombineFn;
use crate::reduce::Dropped;
use crate::strategy::WindowingStrategy;
use crate::time::Time;
use crate::window::Window;
use std::hash::Hash;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::Stream;
use timely::ExchangeData;

/// Combines records per (key, window) within each message into `(key, window,
/// accumulator, element count)`, dropping too-late records to the dead letters (the second
/// stream) by the same rule, at the same watermark, as the reducer would.
#[allow(clippy::type_complexity)]
pub(super) fn precombine<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: &WindowingStrategy,
    combine: C,
) -> (Stream<'scope, Time, Vec<(K, Window, C::Acc, u64)>>, Stream<'scope, Time, Vec<Dropped<K, V>>>)
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
{
    let scope = input.scope();
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let mut input = builder.new_input(input, Pipeline);
    let (out, partials) = builder.new_output::<Vec<(K, Window, C::Acc, u64)>>();
    let (dead_out, dead) = builder.new_output::<Vec<Dropped<K, V>>>();
    let mut out = OutputBuilder::from(out);
    let mut dead_out = OutputBuilder::from(dead_out);
    let mut assigner = Assigner::new(strategy.window_fn.clone(), strategy.allowed_lateness);
    builder.build(move |_caps| {
        let mut table: rustc_hash::FxHashMap<(K, Window), (C::Acc, u64)> = Default::default();
        let mut dropped = Vec::new();
        move |_frontiers| {
            input.for_each(|cap, data| {
                let wm = cap.least().map_or(i64::MIN, |t| t.watermark());
                for (k, t, v) in data.drain(..) {
                    assigner.assign(&k, t, v, wm, &mut dropped, |w, value| {
                        let e = table.entry((k.clone(), w)).or_insert_with(|| (combine.create(), 0));
                        value.add_to(&combine, &mut e.0);
                        e.1 += 1;
                    });
                }
                if !table.is_empty() {
                    out.activate().session(&cap).give_iterator(table.drain().map(|((k, w), (acc, n))| (k, w, acc, n)));
                }
                if !dropped.is_empty() {
                    dead_out.activate().session(&cap).give_iterator(dropped.drain(..));
                }
            });
        }
    });
    (partials, dead)
}
