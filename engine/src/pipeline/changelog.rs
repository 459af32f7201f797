//! Windowed results as differential-dataflow collections, and the second stages that stay
//! correct as early, late and merged panes revise each other.
//!
//! A [`Changelog`] is a collection of `((key, window), value)` whose contents at any time
//! is the latest pane of each window: every refinement arrives as `-previous, +new`. In
//! accumulating-and-retracting mode it is exactly the retracting panes; in accumulating
//! mode the retractions are derived from the panes (the same rule: a pane retracts the
//! earlier panes of its key whose windows lie inside its window, so merged sessions are
//! retracted too); in discarding mode each pane is a `+1` delta. Downstream, differential
//! operators (`reduce`, `join`, `consolidate`) keep the second stage's answer equal to a
//! batch computation over the latest panes.

use super::collection::{Collection, Data, Key};
use super::Shared;
use differential_dataflow::{AsCollection, VecCollection};
use highwater_operators::operator::KeyHash;
use highwater_operators::pane::Pane;
use highwater_operators::strategy::Accumulation;
use highwater_operators::time::Time;
use highwater_operators::window::Window;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::rc::Rc;
use timely::dataflow::channels::pact::{Exchange, Pipeline as PipelinePact};
use timely::dataflow::operators::generic::Operator;

/// What changelog values must be: differential keeps them sorted and exchanges them.
pub trait ChangeValue: Data + Ord + std::hash::Hash + std::fmt::Debug {}
impl<T: Data + Ord + std::hash::Hash + std::fmt::Debug> ChangeValue for T {}

/// A collection of `((key, window), value)` updates: the latest pane of each window.
pub struct Changelog<'s, K: 'static, V: 'static> {
    inner: VecCollection<'s, Time, ((K, Window), V), isize>,
    shared: Rc<Shared<'s>>,
}

impl<'s, K: Key, V: ChangeValue> Clone for Changelog<'s, K, V> {
    fn clone(&self) -> Self {
        Changelog { inner: self.inner.clone(), shared: self.shared.clone() }
    }
}

/// One consolidated change: a row with a `diff` column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRow<K, V> {
    /// The key.
    pub key: K,
    /// The window.
    pub window: Window,
    /// The value.
    pub value: V,
    /// +1 inserted, −1 withdrawn (or multiples).
    pub diff: isize,
    /// The progress time of the change (the watermark and tick at which it took effect);
    /// written as `{"watermark": ms, "tick": n}`, never in its internal encoding.
    #[serde(with = "time_row")]
    pub time: Time,
}

/// A [`Time`] as `{"watermark": ms, "tick": n}` (its fields, not its order-preserving
/// encoding of the watermark).
mod time_row {
    use highwater_operators::time::Time;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct TimeRow {
        watermark: i64,
        tick: u64,
    }

    pub(super) fn serialize<S: Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
        TimeRow { watermark: t.watermark(), tick: t.tick }.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let t = TimeRow::deserialize(d)?;
        Ok(Time::new(t.watermark, t.tick))
    }
}

/// One consolidated change as an upsert or a delete of `(key, window)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Upsert<K, V> {
    /// `(key, window)` now has `value`.
    Upsert {
        /// The key.
        key: K,
        /// The window.
        window: Window,
        /// The new value.
        value: V,
    },
    /// `(key, window)` has no value any more.
    Delete {
        /// The key.
        key: K,
        /// The window.
        window: Window,
    },
}

impl<'s, K: Key, V: ChangeValue> Collection<'s, Pane<K, V>> {
    /// The panes as a changelog (see the module docs); `mode` is the accumulation mode the
    /// panes were produced with.
    pub fn changelog(self, mode: Accumulation) -> Changelog<'s, K, V> {
        let shared = self.shared.clone();
        let stream =
            match mode {
                Accumulation::Retracting | Accumulation::Discarding => {
                    self.stream.unary(PipelinePact, "changelog", |_, _| {
                        move |input, output| {
                            input.for_each(|cap, data| {
                                let Some(t) = cap.least().copied() else { return };
                                output.session(&cap).give_iterator(data.drain(..).map(|(_, p)| {
                                    (((p.key, p.window), p.value), t, if p.retraction { -1 } else { 1 })
                                }));
                            });
                        }
                    })
                }
                Accumulation::Accumulating => {
                    // Derive the retractions: exchange by key, and per key keep the panes not yet
                    // replaced.
                    self.stream.unary(
                        Exchange::new(|x: &(i64, Pane<K, V>)| x.1.key.key_hash()),
                        "changelog-derive",
                        |_, _| {
                            let mut live: HashMap<K, Vec<(Window, V)>> = HashMap::new();
                            move |input, output| {
                                input.for_each(|cap, data| {
                                    let Some(t) = cap.least().copied() else { return };
                                    let mut session = output.session(&cap);
                                    for (_, p) in data.drain(..) {
                                        if p.retraction {
                                            continue;
                                        }
                                        let panes = live.entry(p.key.clone()).or_default();
                                        let mut kept = Vec::with_capacity(panes.len());
                                        for (w, v) in panes.drain(..) {
                                            if w.is_inside(&p.window) {
                                                session.give((((p.key.clone(), w), v), t, -1));
                                            } else {
                                                kept.push((w, v));
                                            }
                                        }
                                        if !p.info.last {
                                            kept.push((p.window, p.value.clone()));
                                        }
                                        *panes = kept;
                                        if panes.is_empty() {
                                            live.remove(&p.key);
                                        }
                                        session.give((((p.key, p.window), p.value), t, 1));
                                    }
                                });
                            }
                        },
                    )
                }
            };
        Changelog { inner: stream.as_collection(), shared }
    }
}

impl<'s, K: Key, V: ChangeValue> Changelog<'s, K, V> {
    /// The changelog as a differential-dataflow collection (not a DSL
    /// [`Collection`](super::Collection)), for any differential operator.
    pub fn differential(&self) -> VecCollection<'s, Time, ((K, Window), V), isize> {
        self.inner.clone()
    }
    /// Wraps a differential-dataflow collection of `((key, window), value)` (e.g. the result
    /// of a differential operator on [`Changelog::differential`]).
    pub fn from_differential(&self, inner: VecCollection<'s, Time, ((K, Window), V), isize>) -> Self {
        Changelog { inner, shared: self.shared.clone() }
    }
    /// Transforms each `(key, window, value)`.
    pub fn map<K2: Key, V2: ChangeValue>(
        self,
        f: impl Fn(K, Window, V) -> (K2, Window, V2) + 'static,
    ) -> Changelog<'s, K2, V2> {
        Changelog {
            inner: self.inner.map(move |((k, w), v)| {
                let (k2, w2, v2) = f(k, w, v);
                ((k2, w2), v2)
            }),
            shared: self.shared,
        }
    }
    /// Keeps the entries for which `f` is true.
    pub fn filter(self, f: impl Fn(&K, &Window, &V) -> bool + 'static) -> Self {
        Changelog { inner: self.inner.filter(move |((k, w), v)| f(k, w, v)), shared: self.shared }
    }
    /// Groups by a new key; the old key moves into the value.
    pub fn rekey<K2: Key>(self, f: impl Fn(&K, &V) -> K2 + 'static) -> Changelog<'s, K2, (K, V)> {
        self.map(move |k, w, v| (f(&k, &v), w, (k, v)))
    }
    /// Joins two changelogs on `(key, window)`: the result stays the join of the latest
    /// panes as both sides are revised.
    pub fn join<V2: ChangeValue>(self, other: Changelog<'s, K, V2>) -> Changelog<'s, K, (V, V2)> {
        Changelog { inner: self.inner.join(other.inner), shared: self.shared }
    }
    /// A grouped reduce over each key and window's... over each *window*: `f` sees every
    /// `(key, value)` of the window (with multiplicities) and says the window's result.
    pub fn reduce_per_window<O: ChangeValue>(
        self,
        f: impl Fn(&Window, &[(&(K, V), isize)]) -> Vec<O> + 'static,
    ) -> Changelog<'s, (), O> {
        let reduced =
            self.inner.map(|((k, w), v)| (w, (k, v))).reduce(move |w, input, output: &mut Vec<(O, isize)>| {
                for o in f(w, input) {
                    output.push((o, 1));
                }
            });
        Changelog { inner: reduced.map(|(w, o)| (((), w), o)), shared: self.shared }
    }
    /// The entries with the highest `score` in each window (all ties), as `(score, keys)`.
    pub fn max_per_window<S: ChangeValue>(self, score: impl Fn(&V) -> S + 'static) -> Changelog<'s, (), (S, Vec<K>)> {
        self.extreme_per_window(score, |a, b| a > b)
    }
    /// The entries with the lowest `score` in each window (all ties), as `(score, keys)`.
    pub fn min_per_window<S: ChangeValue>(self, score: impl Fn(&V) -> S + 'static) -> Changelog<'s, (), (S, Vec<K>)> {
        self.extreme_per_window(score, |a, b| a < b)
    }
    /// The entries whose score is best by `better` (all ties), as `(score, keys)`.
    fn extreme_per_window<S: ChangeValue>(
        self,
        score: impl Fn(&V) -> S + 'static,
        better: fn(&S, &S) -> bool,
    ) -> Changelog<'s, (), (S, Vec<K>)> {
        self.reduce_per_window(move |_, input| {
            let mut best: Option<S> = None;
            for ((_, v), r) in input {
                if *r > 0 {
                    let sc = score(v);
                    if best.as_ref().is_none_or(|b| better(&sc, b)) {
                        best = Some(sc);
                    }
                }
            }
            match best {
                None => vec![],
                Some(b) => {
                    let mut keys: Vec<K> = input
                        .iter()
                        .filter(|((_, v), r)| *r > 0 && score(v) == b)
                        .map(|((k, _), _)| k.clone())
                        .collect();
                    keys.sort();
                    keys.dedup();
                    vec![(b, keys)]
                }
            }
        })
    }
    /// The `n` entries with the highest `score` in each window, best first (ties by key).
    pub fn top_k_per_window<S: ChangeValue>(
        self,
        n: usize,
        score: impl Fn(&V) -> S + 'static,
    ) -> Changelog<'s, (), Vec<(K, V)>> {
        self.reduce_per_window(move |_, input| {
            let mut all: Vec<(S, K, V)> =
                input.iter().filter(|(_, r)| *r > 0).map(|((k, v), _)| (score(v), k.clone(), v.clone())).collect();
            all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            vec![all.into_iter().take(n).map(|(_, k, v)| (k, v)).collect()]
        })
    }
    /// The number of keys with a result in each window.
    pub fn count_per_window(self) -> Changelog<'s, (), i64> {
        self.reduce_per_window(|_, input| vec![input.iter().map(|(_, r)| *r as i64).sum::<i64>()])
    }
    /// The sum of `f(value)` over the keys of each window.
    pub fn sum_per_window(self, f: impl Fn(&V) -> i64 + 'static) -> Changelog<'s, (), i64> {
        self.reduce_per_window(move |_, input| vec![input.iter().map(|((_, v), r)| f(v) * *r as i64).sum::<i64>()])
    }
    /// The consolidated changes as rows with a `diff` column (event time: the window's end).
    pub fn into_rows(self) -> Collection<'s, ChangeRow<K, V>> {
        let stream = self.inner.consolidate().inner.unary(PipelinePact, "change-rows", |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    output.session(&cap).give_iterator(data.drain(..).map(|(((k, w), v), t, r)| {
                        (w.max_timestamp(), ChangeRow { key: k, window: w, value: v, diff: r, time: t })
                    }));
                });
            }
        });
        Collection { stream, shared: self.shared }
    }
    /// The consolidated changes as upserts and deletes of `(key, window)`: once the
    /// frontier passes a time, each `(key, window)` changed at it becomes one upsert (its new
    /// value) or one delete (no value any more).
    pub fn into_upserts(self) -> Collection<'s, Upsert<K, V>> {
        use timely::dataflow::operators::Capability;
        // All updates of one (key, window) meet on one worker, grouped by time.
        let route = Exchange::new(|x: &(((K, Window), V), Time, isize)| (x.0).0.key_hash());
        let stream = self.inner.inner.unary_frontier(route, "upserts", |_, _| {
            type Updates<K, V> = Vec<(((K, Window), V), isize)>;
            let mut pending: std::collections::BTreeMap<Time, (Capability<Time>, Updates<K, V>)> =
                std::collections::BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for (d, t, r) in data.drain(..) {
                        let entry = pending.entry(t).or_insert_with(|| (cap.delayed(&t, 0), Vec::new()));
                        entry.1.push((d, r));
                    }
                });
                while let Some((&t, _)) = pending.first_key_value() {
                    if frontier.frontier().less_equal(&t) {
                        break;
                    }
                    let (cap, updates) = pending.pop_first().expect("present").1;
                    // Net change per (key, window, value); then per (key, window): a value
                    // that gained is an upsert (its loser is implied), only losses a delete.
                    let mut net: std::collections::BTreeMap<((K, Window), V), isize> =
                        std::collections::BTreeMap::new();
                    for (d, r) in updates {
                        *net.entry(d).or_insert(0) += r;
                    }
                    let mut by: std::collections::BTreeMap<(K, Window), Option<V>> = std::collections::BTreeMap::new();
                    for (((k, w), v), r) in net {
                        if r == 0 {
                            continue;
                        }
                        let e = by.entry((k, w)).or_insert(None);
                        if r > 0 {
                            *e = Some(v);
                        }
                    }
                    output.session(&cap).give_iterator(by.into_iter().map(|((k, w), v)| {
                        let t = w.max_timestamp();
                        match v {
                            Some(value) => (t, Upsert::Upsert { key: k, window: w, value }),
                            None => (t, Upsert::Delete { key: k, window: w }),
                        }
                    }));
                }
            }
        });
        Collection { stream, shared: self.shared }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change row written as JSON showed its time as `{"wm":9223373740924862726,…}`, the
    /// internal encoding of the watermark.
    #[test]
    fn a_change_row_writes_its_time_in_milliseconds_not_its_encoding() {
        let row = ChangeRow { key: 1u64, window: Window::new(0, 10), value: 2u64, diff: 1, time: Time::new(1_500, 3) };
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(
            json,
            r#"{"key":1,"window":{"start":0,"end":10},"value":2,"diff":1,"time":{"watermark":1500,"tick":3}}"#
        );
        assert_eq!(serde_json::from_str::<ChangeRow<u64, u64>>(&json).unwrap(), row);
    }
}
