//! The session aggregate for strategies with one on-time pane per merged session
//! ([`super::Plan::OnTimeSessions`]): sessions merged per key without the reducer's
//! trigger machinery.

use super::capability::{follow_frontier, lowest, move_hold};
use super::checkpoint::{pending, Checkpointing};
use super::key_hash::KeyHash;
use super::output::AggregateOutput;
use crate::combine::CombineFn;
use crate::pane::{Pane, PaneInfo, Timing};
use crate::reduce::{DropReason, Dropped};
use crate::strategy::WindowingStrategy;
use crate::time::{Time, NEG_INF, POS_INF};
use crate::window::Window;
use smallvec::SmallVec;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::hash::Hash;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::ExchangeData;

/// Records stashed by stamp until the frontier passes it: the containers as received.
type Stash<K, V> = BTreeMap<Time, Vec<Vec<(K, i64, V)>>>;

/// One key's open sessions: disjoint, each with its accumulator and its earliest arrival
/// stamp (which gives its pane's tick, as in the other on-time operator: the tick of
/// `max(first arrival, (max_timestamp, 0))`, the same at any worker count).
/// One open session: its window, accumulator and earliest arrival.
type Session<A> = (Window, A, Time);

type Sessions<A> = SmallVec<[Session<A>; 1]>;

/// Session windows with one on-time pane per merged session ([`super::Plan::OnTimeSessions`]).
///
/// Records are exchanged by key and applied stamp by stamp, in stamp order, as the general
/// reducer applies them: first the watermark advances to the stamp's (closing every
/// session it passed: with no allowed lateness a session is gone the moment its pane
/// fires), then each record is dropped as too late or merged with the open sessions of its
/// key that its window intersects. Open sessions of a key never intersect, so the sessions
/// a new window touches merge into one. A heap of `(end, key)` entries — at least one per
/// key at or before its earliest session end — finds the sessions a watermark passes.
///
/// Sessions assign exactly one (proto-)window per record and merge it at once, so this
/// operator takes the record's window itself rather than through [`super::assign`].
/// With more keys than this, the open sessions are counted for [`super::StepGauges`] once
/// every [`GAUGE_EVERY`] activations only.
const GAUGE_EVERY_KEYS: usize = 4096;
/// See [`GAUGE_EVERY_KEYS`] (a power of two).
const GAUGE_EVERY: u64 = 64;

pub(super) fn on_time_sessions<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
    ckpt: Option<Checkpointing>,
    gauges: Option<std::sync::Arc<super::gauges::StepGauges>>,
) -> AggregateOutput<'scope, K, C::Out, V>
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    let scope = input.scope();
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let mut input = builder.new_input(input, Exchange::new(|x: &(K, i64, V)| x.0.key_hash()));
    let (panes_out, panes) = builder.new_output::<Vec<Pane<K, C::Out>>>();
    let (dead_out, dead_letters) = builder.new_output::<Vec<Dropped<K, V>>>();
    let mut panes_out = OutputBuilder::from(panes_out);
    let mut dead_out = OutputBuilder::from(dead_out);
    let window_fn = strategy.window_fn.clone();
    let step = name.to_owned();
    builder.build(move |mut caps| {
        let mut dead_cap: Option<Capability<Time>> = caps.pop();
        let mut frontier_cap: Option<Capability<Time>> = caps.pop();
        let mut hold_cap: Option<Capability<Time>> = None;
        let mut stash: Stash<K, V> = BTreeMap::new();
        let mut open: rustc_hash::FxHashMap<K, Sessions<C::Acc>> = Default::default();
        let mut ends: BinaryHeap<Reverse<(i64, K)>> = BinaryHeap::new();
        let mut wm = NEG_INF;
        if let Some(c) = ckpt.as_ref() {
            for state in c.start::<SessionsState<K, C::Acc>>(&step) {
                wm = wm.max(state.watermark);
                for (k, sessions) in state.open.into_iter().filter(|(k, _)| c.owns(k)) {
                    let list = open.entry(k).or_default();
                    list.extend(sessions);
                }
            }
            for (k, list) in open.iter() {
                if let Some(end) = list.iter().map(|(w, _, _)| w.max_timestamp()).min() {
                    ends.push(Reverse((end, k.clone())));
                }
            }
        }
        let mut fired: Vec<Pane<K, C::Out>> = Vec::new();
        let mut dropped: Vec<Dropped<K, V>> = Vec::new();
        let mut windows: Vec<Window> = Vec::new();
        let mut touched: SmallVec<[usize; 4]> = SmallVec::new();
        let mut activations: u64 = 0;

        // Closes every session that ends before `to`, in (end, key) order.
        let advance = move |to: i64,
                            open: &mut rustc_hash::FxHashMap<K, Sessions<C::Acc>>,
                            ends: &mut BinaryHeap<Reverse<(i64, K)>>,
                            fired: &mut Vec<Pane<K, C::Out>>,
                            combine: &C| {
            while ends.peek().is_some_and(|Reverse((end, _))| *end < to) {
                let Some(Reverse((_, key))) = ends.pop() else { break };
                let Some(list) = open.get_mut(&key) else { continue };
                list.sort_unstable_by_key(|(w, _, _)| w.start);
                let mut i = 0;
                while i < list.len() {
                    if list[i].0.max_timestamp() < to {
                        let (window, acc, first) = list.remove(i);
                        let tick = first.max(Time::new(window.max_timestamp(), 0)).tick;
                        fired.push(Pane {
                            value: combine.extract(&acc),
                            key: key.clone(),
                            window,
                            timestamp: window.max_timestamp(),
                            info: PaneInfo {
                                timing: Timing::OnTime,
                                index: 0,
                                nonspeculative_index: 0,
                                first: true,
                                last: true,
                            },
                            retraction: false,
                            tick,
                        });
                    } else {
                        i += 1;
                    }
                }
                match list.iter().map(|(w, _, _)| w.max_timestamp()).min() {
                    Some(next) => ends.push(Reverse((next, key))),
                    None => {
                        open.remove(&key);
                    }
                }
            }
        };

        move |frontiers| {
            input.for_each(|cap, data| {
                if let Some(t) = cap.least() {
                    stash.entry(*t).or_default().push(std::mem::take(data));
                }
            });
            let frontier: Option<Time> = frontiers[0].frontier().iter().min().copied();
            // A pending cut the frontier has passed: the state is saved between the last
            // stamp before it and the first after it.
            let mut cut = pending(&ckpt, &step).filter(|c| frontier.is_none_or(|f| f >= *c));
            // At the cut: the sessions its watermark closes and the dead letters so far go
            // out at times before it, the state is saved, and the capabilities move to it.
            macro_rules! take_cut {
                ($c:expr) => {{
                    let c: Time = $c;
                    if c.watermark() > wm {
                        advance(c.watermark(), &mut open, &mut ends, &mut fired, &combine);
                        wm = c.watermark();
                    }
                    emit(
                        &mut fired,
                        &mut dropped,
                        &mut panes_out,
                        &mut dead_out,
                        hold_cap.as_ref(),
                        frontier_cap.as_ref(),
                        dead_cap.as_ref(),
                    );
                    if let Some(k) = ckpt.as_ref() {
                        let state = SessionsState {
                            watermark: wm,
                            open: open.iter().map(|(k, l)| (k.clone(), l.to_vec())).collect(),
                        };
                        k.save(&step, c, &state);
                    }
                    follow_frontier(Some(c), [&mut frontier_cap, &mut dead_cap]);
                    move_hold(&mut hold_cap, frontier_cap.as_ref(), ends.peek().map(|Reverse((end, _))| *end));
                }};
            }
            // Apply every complete stamp, in order.
            while let Some((&t, _)) = stash.first_key_value() {
                if frontier.is_some_and(|f| f <= t) {
                    break;
                }
                if let Some(c) = cut.filter(|c| t >= *c) {
                    take_cut!(c);
                    cut = None;
                }
                let batches = stash.pop_first().map(|e| e.1).unwrap_or_default();
                if t.watermark() > wm {
                    advance(t.watermark(), &mut open, &mut ends, &mut fired, &combine);
                    wm = t.watermark();
                }
                for (k, ts, v) in batches.into_iter().flatten() {
                    windows.clear();
                    window_fn.assign(ts, &mut windows);
                    let Some(&w) = windows.first() else { continue };
                    if w.max_timestamp() < wm {
                        dropped.push(Dropped {
                            key: k,
                            timestamp: ts,
                            value: v,
                            window: w,
                            reason: DropReason::TooLate,
                            watermark: wm,
                        });
                        continue;
                    }
                    match open.get_mut(&k) {
                        Some(list) => {
                            touched.clear();
                            touched.extend((0..list.len()).filter(|&i| list[i].0.intersects(&w)));
                            if touched.is_empty() {
                                let mut acc = combine.create();
                                combine.add(&mut acc, v);
                                if list.iter().all(|(x, _, _)| x.max_timestamp() > w.max_timestamp()) {
                                    ends.push(Reverse((w.max_timestamp(), k.clone())));
                                }
                                list.push((w, acc, t));
                            } else {
                                // Merge every touched session into the first.
                                let first = touched[0];
                                let mut span = w;
                                let mut earliest = t;
                                for &i in touched.iter().skip(1).rev() {
                                    let (x, acc, at) = list.swap_remove(i);
                                    span = span.span(&x);
                                    earliest = earliest.min(at);
                                    combine.merge(&mut list[first].1, acc);
                                }
                                let target = &mut list[first];
                                target.0 = target.0.span(&span);
                                target.2 = target.2.min(earliest);
                                combine.add(&mut target.1, v);
                            }
                        }
                        None => {
                            let mut acc = combine.create();
                            combine.add(&mut acc, v);
                            ends.push(Reverse((w.max_timestamp(), k.clone())));
                            open.insert(k, smallvec::smallvec![(w, acc, t)]);
                        }
                    }
                }
            }
            if let Some(c) = cut {
                take_cut!(c);
            }
            // Advance to the frontier.
            let to = frontier.map_or(POS_INF, |f| f.watermark());
            if to > wm {
                advance(to, &mut open, &mut ends, &mut fired, &combine);
                wm = to;
            }
            emit(
                &mut fired,
                &mut dropped,
                &mut panes_out,
                &mut dead_out,
                hold_cap.as_ref(),
                frontier_cap.as_ref(),
                dead_cap.as_ref(),
            );
            // Hold the output at the earliest open session end.
            move_hold(&mut hold_cap, frontier_cap.as_ref(), ends.peek().map(|Reverse((end, _))| *end));
            follow_frontier(frontier, [&mut frontier_cap, &mut dead_cap]);
            if let Some(g) = &gauges {
                // Counting the sessions visits every key: with many keys, once every
                // GAUGE_EVERY activations.
                activations = activations.wrapping_add(1);
                if open.len() < GAUGE_EVERY_KEYS || activations & (GAUGE_EVERY - 1) == 0 {
                    let sessions: usize = open.values().map(|l| l.len()).sum();
                    g.set(sessions as u64, open.len() as u64);
                }
            }
        }
    });
    AggregateOutput { panes, dead_letters }
}

/// The state of the sessions operator in a checkpoint: the watermark applied, and each
/// key's open sessions (window, accumulator, earliest arrival).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(serialize = "K: serde::Serialize, A: serde::Serialize"))]
#[serde(bound(deserialize = "K: serde::de::DeserializeOwned, A: serde::de::DeserializeOwned"))]
struct SessionsState<K, A> {
    /// The watermark the sessions were closed up to.
    watermark: i64,
    /// Each key's open sessions.
    open: Vec<(K, Vec<Session<A>>)>,
}

/// Emits the fired panes (at the earliest pane timestamp, from the lowest capability held)
/// and the dropped records.
#[allow(clippy::too_many_arguments)]
fn emit<K: Clone + 'static, O: 'static, V: 'static>(
    fired: &mut Vec<Pane<K, O>>,
    dropped: &mut Vec<Dropped<K, V>>,
    panes_out: &mut OutputBuilder<Time, CapacityContainerBuilder<Vec<Pane<K, O>>>>,
    dead_out: &mut OutputBuilder<Time, CapacityContainerBuilder<Vec<Dropped<K, V>>>>,
    hold_cap: Option<&Capability<Time>>,
    frontier_cap: Option<&Capability<Time>>,
    dead_cap: Option<&Capability<Time>>,
) {
    if !fired.is_empty() {
        let earliest = fired.iter().map(|p| p.timestamp).min().unwrap_or(POS_INF);
        if let Some(low) = lowest(hold_cap, frontier_cap) {
            let at = (*low.time()).max(Time::new(earliest, 0));
            panes_out.activate().session(&low.delayed(&at)).give_container(fired);
        }
        fired.clear();
    }
    if !dropped.is_empty() {
        if let Some(dc) = dead_cap {
            dead_out.activate().session(dc).give_container(dropped);
        }
        dropped.clear();
    }
}
