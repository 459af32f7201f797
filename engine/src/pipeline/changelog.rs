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
use highwater_operators::operator::{decode, encode, Checkpointing};
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
    /// panes were produced with. In a run that takes checkpoints its state is saved as
    /// `changelog#N`, the N-th such changelog of the pipeline (a changelog of
    /// [`Windowed::changelog`](super::Windowed::changelog) is saved under its step's name).
    pub fn changelog(self, mode: Accumulation) -> Changelog<'s, K, V> {
        let n = self.shared.changelogs.get();
        self.shared.changelogs.set(n + 1);
        self.changelog_saved_as(mode, format!("changelog#{n}"))
    }

    /// The panes as a changelog whose state is saved at every cut as `step`'s.
    ///
    /// Panes are applied in the order the aggregate emitted them (a key's panes come from
    /// one worker, in order; their times need not be: a pane goes out at the least of its
    /// timestamp and its stamp's watermark). Accumulating panes keep, per key, the panes a
    /// later pane may replace. While a cut is pending, panes at or after it are set aside
    /// until every pane before it has come and the state is saved (the aggregate emits all
    /// of its panes before a cut first). With checkpoints, the worker also keeps the
    /// collection itself — every `((key, window), value)` with its multiplicity — and saves
    /// it at each cut with those panes: a restored run emits it once, before the cut (the
    /// second stage rebuilds from it; [`Changelog::into_rows`] and
    /// [`Changelog::into_upserts`] skip what it gives before the cut, which the run before
    /// the restore wrote), and goes on from the cut exactly as the run before would have.
    pub(crate) fn changelog_saved_as(self, mode: Accumulation, step: String) -> Changelog<'s, K, V> {
        let shared = self.shared.clone();
        let ckpt = super::checkpointing::hooks(&shared);
        let route = Exchange::new(|x: &(i64, Pane<K, V>)| x.1.key.key_hash());
        let stream = self.stream.unary_frontier(route, "changelog", move |initial, _| {
            let mut held = Held::<K, V>::default();
            if let Some(c) = &ckpt {
                c.hooks.register(&step);
                for piece in c.hooks.restored(&step) {
                    match decode::<Held<K, V>>(&piece) {
                        Ok(h) => held.restore(h, |k| c.owns(k)),
                        Err(e) => c.hooks.fail(
                            &step,
                            format!(
                                "its checkpointed state cannot be read ({e}): was the pipeline changed? rerun with --fresh"
                            ),
                        ),
                    }
                }
            }
            let keep = ckpt.is_some();
            // The restored collection goes out once, at the first time (before the cut).
            let mut initial = (!held.contents.is_empty()).then_some(initial);
            // Panes at or after a pending cut, in arrival order, until the state is saved.
            let mut after_cut: Vec<SetAside<K, V>> = Vec::new();
            let mut updates = Vec::new();
            move |(input, frontier), output| {
                if let Some(cap) = initial.take() {
                    let t = *cap.time();
                    output.session(&cap).give_iterator(held.contents.iter().flat_map(|(kw, values)| {
                        values.iter().map(move |(v, r)| ((kw.clone(), v.clone()), t, *r))
                    }));
                }
                // The pending cut is read for each batch after it came: another worker may
                // have begun a cut since this invocation began, and a pane at or after it
                // exists only once the cut is pending.
                let pending = || ckpt.as_ref().and_then(|c| c.hooks.pending(&step));
                // The panes set aside that no pending cut holds back any more — their cut
                // was saved, or dropped (the run stops taking checkpoints), or they come
                // before a newer one — are applied, in the order they came (a key's panes
                // before a cut all come before its panes after it).
                macro_rules! release {
                    () => {{
                        let below = pending();
                        if after_cut.iter().any(|(cap, _)| below.is_none_or(|c| *cap.time() < c)) {
                            let (now, later): (Vec<SetAside<K, V>>, Vec<SetAside<K, V>>) =
                                after_cut.drain(..).partition(|(cap, _)| below.is_none_or(|c| *cap.time() < c));
                            after_cut = later;
                            for (cap, panes) in now {
                                for p in panes {
                                    held.apply(mode, keep, p, &mut updates);
                                }
                                let t = *cap.time();
                                output.session(&cap).give_iterator(updates.drain(..).map(|(d, r)| (d, t, r)));
                            }
                        }
                    }};
                }
                release!();
                input.for_each(|cap, data| {
                    let Some(cap) = cap.retain_least(0) else { return };
                    let t = *cap.time();
                    let panes = data.drain(..).map(|(_, p)| p);
                    if pending().is_some_and(|c| t >= c) {
                        after_cut.push((cap, panes.collect()));
                        return;
                    }
                    for p in panes {
                        held.apply(mode, keep, p, &mut updates);
                    }
                    output.session(&cap).give_iterator(updates.drain(..).map(|(d, r)| (d, t, r)));
                });
                // The frontier has passed the pending cut: every pane before it is applied,
                // none after it. Saved, then the panes set aside are applied.
                if let Some(c) = pending().filter(|c| frontier.frontier().iter().all(|f| f >= c)) {
                    save(&ckpt, &step, c, &held);
                }
                release!();
            }
        });
        Changelog { inner: stream.as_collection(), shared }
    }
}

impl<'s, K: Key, V: ChangeValue> super::Keyed<'s, K, Option<V>> {
    /// The current table of a keyed changelog — `Some(value)` upserts the key's value at
    /// the record's event time, `None` deletes it — as a differential [`Changelog`] of
    /// `((key, Window::GLOBAL), value)`: at every time, each key's latest version by event
    /// time, so that a second stage can join windowed results with it (map their windows to
    /// [`Window::GLOBAL`] first) and stay right as the table changes.
    ///
    /// The latest version is the one with the greatest event time, whatever order the
    /// changes arrive in (two at the same event time: an upsert over a delete, then the
    /// greater value), so the table is the same at any worker count. A change is never
    /// late: the table is one global window fired for every batch of changes
    /// (`repeatedly(after_count(1))`, accumulating), and it takes part in checkpoints as
    /// that aggregate and its changelog do. For the value a key had *at a record's event
    /// time*, use [`Keyed::temporal_join`](super::Keyed::temporal_join) instead.
    ///
    /// ```
    /// use highwater::model::watermark::WatermarkStrategy;
    /// use highwater::pipeline::{run, Collector, Memory, RunConfig, Upsert};
    ///
    /// let out = Collector::new();
    /// let sink = out.clone();
    /// run(RunConfig::workers(2), move |p| {
    ///     // Prices as they changed; the change at 3 s arrives after the one at 5 s.
    ///     let changes = vec![
    ///         (1_000, ("apple".to_string(), Some(3u64))),
    ///         (5_000, ("apple".to_string(), Some(5))),
    ///         (3_000, ("apple".to_string(), Some(4))),
    ///         (2_000, ("pear".to_string(), Some(2))),
    ///         (6_000, ("pear".to_string(), None)), // pears are gone
    ///     ];
    ///     let source = Memory::new(vec![changes], WatermarkStrategy::bounded(std::time::Duration::from_secs(5)))
    ///         .batch_size(1);
    ///     p.read_keyed("prices", source)?.current_table("price-table")?.into_upserts().write(sink.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// // The last change of each key in the table: apple at 5 (its 3 s version came too
    /// // late to win), pear deleted.
    /// let mut last = std::collections::BTreeMap::new();
    /// for (_, u) in out.take() {
    ///     match u {
    ///         Upsert::Upsert { key, value, .. } => last.insert(key, Some(value)),
    ///         Upsert::Delete { key, .. } => last.insert(key, None),
    ///     };
    /// }
    /// assert_eq!(last["apple"], Some(5));
    /// assert_eq!(last["pear"], None);
    /// ```
    pub fn current_table(self, name: &str) -> Result<Changelog<'s, K, V>, super::BuildError> {
        use highwater_operators::trigger::Trigger;
        // Each change with its event time, for the latest to win in any order.
        let stream = self.stream.unary(PipelinePact, "table-versions", |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    output.session(&cap).give_iterator(data.drain(..).map(|(k, t, v)| (k, t, (t, v))));
                });
            }
        });
        let versions = super::Keyed { stream, shared: self.shared };
        let table = super::Windowing::global().trigger(Trigger::repeatedly(Trigger::after_count(1))).accumulating();
        let latest = versions.window(table).changelog(name, LatestVersion)?;
        // A deleted key has no row.
        let shared = latest.shared.clone();
        Ok(Changelog { inner: latest.inner.flat_map(|((k, w), v)| v.map(|v| ((k, w), v))), shared })
    }
}

/// A table's latest version of a key: the change with the greatest event time (then an
/// upsert over a delete, then the greater value).
#[derive(Clone, Copy, Debug, Default)]
struct LatestVersion;

impl<V: ChangeValue> highwater_operators::combine::CombineFn<(i64, Option<V>)> for LatestVersion {
    type Acc = Option<(i64, Option<V>)>;
    type Out = Option<V>;
    fn create(&self) -> Self::Acc {
        None
    }
    fn add(&self, acc: &mut Self::Acc, version: (i64, Option<V>)) {
        if acc.as_ref().is_none_or(|a| version > *a) {
            *acc = Some(version);
        }
    }
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc) {
        if let Some(version) = other {
            self.add(acc, version);
        }
    }
    fn extract(&self, acc: &Self::Acc) -> Option<V> {
        acc.as_ref().and_then(|(_, v)| v.clone())
    }
}

/// Panes at or after a pending cut, with the capability of their time.
type SetAside<K, V> = (timely::dataflow::operators::Capability<Time>, Vec<Pane<K, V>>);

/// One update of a changelog, without its time.
type Update<K, V> = (((K, Window), V), isize);

/// Saves a changelog's state at `cut`.
fn save<K: Key, V: ChangeValue>(ckpt: &Option<Checkpointing>, step: &str, cut: Time, held: &Held<K, V>) {
    if let Some(c) = ckpt {
        match encode(held) {
            Ok(bytes) => c.hooks.save(step, cut, bytes),
            Err(e) => c.hooks.fail(step, format!("its state cannot be serialized for a checkpoint: {e}")),
        }
    }
}

/// What one worker of a changelog holds: the panes a later pane may replace and, in a run
/// that takes checkpoints, the collection.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct Held<K: Key, V: ChangeValue> {
    /// Accumulating mode: per key, the panes not yet replaced (not the last of their
    /// window): a pane retracts those whose windows lie inside its own.
    live: HashMap<K, Vec<(Window, V)>>,
    /// With checkpoints: each `(key, window)`'s values and their multiplicities.
    contents: HashMap<(K, Window), Vec<(V, isize)>>,
}

impl<K: Key, V: ChangeValue> Default for Held<K, V> {
    fn default() -> Self {
        Held { live: HashMap::new(), contents: HashMap::new() }
    }
}

impl<K: Key, V: ChangeValue> Held<K, V> {
    /// The updates of one pane, into `out`; the collection follows them if `keep`.
    fn apply(&mut self, mode: Accumulation, keep: bool, p: Pane<K, V>, out: &mut Vec<Update<K, V>>) {
        let start = out.len();
        match mode {
            Accumulation::Retracting | Accumulation::Discarding => {
                out.push((((p.key, p.window), p.value), if p.retraction { -1 } else { 1 }));
            }
            Accumulation::Accumulating => {
                // The retractions are derived: this pane replaces the earlier panes of its
                // key whose windows lie inside its window (merged sessions too).
                if p.retraction {
                    return;
                }
                let panes = self.live.entry(p.key.clone()).or_default();
                let mut kept = Vec::with_capacity(panes.len());
                for (w, v) in panes.drain(..) {
                    if w.is_inside(&p.window) {
                        out.push((((p.key.clone(), w), v), -1));
                    } else {
                        kept.push((w, v));
                    }
                }
                if !p.info.last {
                    kept.push((p.window, p.value.clone()));
                }
                *panes = kept;
                if panes.is_empty() {
                    self.live.remove(&p.key);
                }
                out.push((((p.key, p.window), p.value), 1));
            }
        }
        if keep {
            for ((kw, v), r) in &out[start..] {
                let values = self.contents.entry(kw.clone()).or_default();
                match values.iter_mut().position(|(x, _)| x == v) {
                    Some(i) => {
                        values[i].1 += r;
                        if values[i].1 == 0 {
                            values.swap_remove(i);
                        }
                    }
                    None => values.push((v.clone(), *r)),
                }
                if values.is_empty() {
                    self.contents.remove(kw);
                }
            }
        }
    }

    /// Adds the restored state of another worker, keeping the keys `owns` says are ours.
    fn restore(&mut self, other: Held<K, V>, owns: impl Fn(&K) -> bool) {
        self.live.extend(other.live.into_iter().filter(|(k, _)| owns(k)));
        self.contents.extend(other.contents.into_iter().filter(|((k, _), _)| owns(k)));
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
    ///
    /// After a restore from a checkpoint, the changes before its cut are not given again:
    /// the run before the restore wrote them.
    pub fn into_rows(self) -> Collection<'s, ChangeRow<K, V>> {
        let restored = self.shared.restored_cut();
        let stream = self.inner.consolidate().inner.unary(PipelinePact, "change-rows", move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    // A row goes out at its change's time (a batch of an arrangement holds
                    // changes at or after its message's time): a file sink's cut, and the
                    // restored run's, are then the changes' times.
                    data.retain(|(_, t, _)| restored.is_none_or(|c| *t >= c));
                    data.sort_by_key(|(_, t, _)| *t);
                    let mut rows = data.drain(..).peekable();
                    while let Some(&(_, t, _)) = rows.peek() {
                        let at = cap.delayed(&t, 0);
                        let mut session = output.session(&at);
                        while let Some((((k, w), v), _, r)) = rows.next_if(|(_, u, _)| *u == t) {
                            session
                                .give((w.max_timestamp(), ChangeRow { key: k, window: w, value: v, diff: r, time: t }));
                        }
                    }
                });
            }
        });
        Collection { stream, shared: self.shared }
    }
    /// The consolidated changes as upserts and deletes of `(key, window)`: once the
    /// frontier passes a time, each `(key, window)` changed at it becomes one upsert (its new
    /// value) or one delete (no value any more).
    ///
    /// After a restore from a checkpoint, the changes before its cut are not given again:
    /// the run before the restore wrote them.
    pub fn into_upserts(self) -> Collection<'s, Upsert<K, V>> {
        let restored = self.shared.restored_cut();
        use timely::dataflow::operators::Capability;
        // All updates of one (key, window) meet on one worker, grouped by time.
        let route = Exchange::new(|x: &(((K, Window), V), Time, isize)| (x.0).0.key_hash());
        let stream = self.inner.inner.unary_frontier(route, "upserts", |_, _| {
            type Updates<K, V> = Vec<(((K, Window), V), isize)>;
            let mut pending: std::collections::BTreeMap<Time, (Capability<Time>, Updates<K, V>)> =
                std::collections::BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for (d, t, r) in data.drain(..).filter(|(_, t, _)| restored.is_none_or(|c| *t >= c)) {
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
