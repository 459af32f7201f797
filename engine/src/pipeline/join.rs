//! Joins of two keyed collections: [`Keyed::connect`] brings them together as one keyed
//! collection of [`Side`] records, and the joins are process steps over it
//! ([`highwater_operators::join`]; `docs/joins.md`).

use super::collection::{Collection, Data, Key, Keyed};
use super::error::BuildError;
use super::windowing::Windowing;
use highwater_operators::join::{
    CoGroup, CoGroupAll, CoGrouped, CoGroupedAll, IntervalJoin, IntervalJoined, JoinKind, Side, TemporalJoin,
    TemporalJoined, WindowJoin, WindowJoined,
};
use highwater_operators::pane::Pane;
use std::fmt::Debug;
use timely::dataflow::operators::Concat;

impl<'s, K: Key, L: Data> Keyed<'s, K, L> {
    /// Brings this keyed collection (the left) and `right` together as one keyed
    /// collection of [`Side`] records — Beam's `KeyedPCollectionTuple`, Flink's
    /// `connect` — for a process step of your own over both, such as a join the library
    /// does not have. The records keep their event times and stamps; the next step's
    /// watermark is the lower of the two sides'.
    ///
    /// ```
    /// use highwater::model::watermark::WatermarkStrategy;
    /// use highwater::pipeline::{run, Collector, Memory, RunConfig, Side};
    /// let out = Collector::new();
    /// let sink = out.clone();
    /// run(RunConfig::workers(2), move |p| {
    ///     let names = p.read_keyed("names", Memory::new(vec![vec![(1, (7u64, "ann".to_string()))]], WatermarkStrategy::Ascending))?;
    ///     let ages = p.read_keyed("ages", Memory::new(vec![vec![(2, (7u64, 31u32))]], WatermarkStrategy::Ascending))?;
    ///     names.connect(ages).into_pairs().write(sink.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// let mut got = out.take();
    /// got.sort();
    /// assert_eq!(got, [(1, (7, Side::Left("ann".to_string()))), (2, (7, Side::Right(31)))]);
    /// ```
    pub fn connect<R: Data>(self, right: Keyed<'s, K, R>) -> Keyed<'s, K, Side<L, R>> {
        let left = self.map_values(Side::Left);
        let right = right.map_values(Side::Right);
        Keyed { stream: left.stream.concat(right.stream), shared: left.shared }
    }

    /// Groups this collection (left) and `right` per key and window: each pane holds the
    /// values of both sides ([`CoGrouped`], each side in arrival order) — Beam's
    /// `CoGroupByKey`. It is the windowed aggregate of the two sides
    /// ([`Keyed::connect`], then [`CoGroup`](crate::model::join::CoGroup)), so it takes
    /// every windowing the aggregate takes: any trigger (early and late firings), allowed
    /// lateness, accumulating or retracting panes, sessions, and the same planner and
    /// operators (the on-time operators for the default trigger). `name` names the step.
    /// [`CoGrouped::join`] turns a pane into inner or outer join rows: with accumulating or
    /// retracting panes a later pane's rows replace the earlier pane's, which is how a
    /// join whose windows fire early stays right ([`WindowJoined`] rows, from
    /// [`Keyed::window_join`], never change once out but fire only at the watermark).
    ///
    /// ```
    /// use highwater::model::pane::Timing;
    /// use highwater::model::trigger::Trigger;
    /// use highwater::model::watermark::WatermarkStrategy;
    /// use highwater::pipeline::{run, Collector, JoinKind, Memory, RunConfig, Windowing};
    /// use std::time::Duration;
    ///
    /// let out = Collector::new();
    /// let sink = out.clone();
    /// run(RunConfig::workers(2), move |p| {
    ///     let orders = vec![(1_000, (7u32, "order-1".to_string())), (3_000, (7, "order-2".to_string()))];
    ///     let payments = vec![(2_000, (7u32, 40u64)), (4_000, (7, 2))];
    ///     // One record per batch: the early firings see the records one at a time.
    ///     let orders = p.read_keyed("orders", Memory::new(vec![orders], WatermarkStrategy::Ascending).batch_size(1))?;
    ///     let payments = p.read_keyed("payments", Memory::new(vec![payments], WatermarkStrategy::Ascending).batch_size(1))?;
    ///     let early = Trigger::after_watermark().with_early(Trigger::after_count(1));
    ///     orders
    ///         .co_group("orders-payments", payments, Windowing::fixed(Duration::from_secs(10)).trigger(early).retracting())?
    ///         .map(|pane| (pane.info.timing, pane.retraction, pane.value.join(JoinKind::Left).len()))
    ///         .write(sink.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// let panes: Vec<_> = out.take().into_iter().map(|(_, row)| row).collect();
    /// // The on-time pane holds both orders and both payments: four pairs.
    /// assert!(panes.contains(&(Timing::OnTime, false, 4)), "{panes:?}");
    /// // Every early pane was retracted by the pane after it.
    /// let early = panes.iter().filter(|p| p.0 == Timing::Early && !p.1).count();
    /// let retractions = panes.iter().filter(|p| p.1).count();
    /// assert!(early >= 1 && retractions == early, "{panes:?}");
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn co_group<R: Data + Debug>(
        self,
        name: &str,
        right: Keyed<'s, K, R>,
        windowing: Windowing,
    ) -> Result<Collection<'s, Pane<K, CoGrouped<L, R>>>, BuildError>
    where
        L: Debug,
    {
        self.connect(right).window(windowing).aggregate(name, CoGroup)
    }

    /// Groups this collection and every collection of `others` per key and window: each
    /// pane holds the values of each ([`CoGroupedAll`]: `sides[0]` this collection's,
    /// `sides[i]` those of `others[i - 1]`, each in arrival order) — Beam's
    /// `CoGroupByKey` over a `KeyedPCollectionTuple` of any size. The collections have one
    /// value type: map each into an enum of your own when they differ. As
    /// [`Keyed::co_group`], it is the windowed aggregate of the tagged values
    /// ([`CoGroupAll`](crate::model::join::CoGroupAll)), so it takes every windowing the
    /// aggregate takes; [`CoGroupedAll::join`] gives inner or outer rows of all of them.
    ///
    /// ```
    /// use highwater::model::watermark::WatermarkStrategy;
    /// use highwater::pipeline::{run, Collector, JoinKind, Memory, RunConfig, Windowing};
    /// use std::time::Duration;
    ///
    /// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// enum Event { Click(String), View(u32), Purchase(u64) }
    ///
    /// let out = Collector::new();
    /// let sink = out.clone();
    /// run(RunConfig::workers(2), move |p| {
    ///     let mut read = |name: &str, records: Vec<(i64, (u32, Event))>| {
    ///         p.read_keyed(name, Memory::new(vec![records], WatermarkStrategy::Ascending))
    ///     };
    ///     let clicks = read("clicks", vec![(1_000, (7, Event::Click("ad-1".into())))])?;
    ///     let views = read("views", vec![(2_000, (7, Event::View(30))), (3_000, (8, Event::View(5)))])?;
    ///     let purchases = read("purchases", vec![(4_000, (7, Event::Purchase(120)))])?;
    ///     clicks
    ///         .co_group_all("funnel", vec![views, purchases], Windowing::fixed(Duration::from_secs(10)))?
    ///         .map(|pane| (pane.key, pane.value.join(JoinKind::Left).len(), pane.value.join(JoinKind::Full).len()))
    ///         .write(sink.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// let mut rows: Vec<_> = out.take().into_iter().map(|(_, row)| row).collect();
    /// rows.sort();
    /// // User 7 clicked, viewed and bought: one row; user 8 only viewed: no row that
    /// // needs a click, one in a full join.
    /// assert_eq!(rows, [(7, 1, 1), (8, 0, 1)]);
    /// ```
    pub fn co_group_all(
        self,
        name: &str,
        others: Vec<Keyed<'s, K, L>>,
        windowing: Windowing,
    ) -> Result<Collection<'s, Pane<K, CoGroupedAll<L>>>, BuildError>
    where
        L: Debug,
    {
        let sides = others.len() + 1;
        let shared = self.shared.clone();
        let mut stream = self.map_values(|v| (0u32, v)).stream;
        for (i, other) in others.into_iter().enumerate() {
            let tag = i as u32 + 1;
            stream = stream.concat(other.map_values(move |v| (tag, v)).stream);
        }
        Keyed { stream, shared }.window(windowing).aggregate(name, CoGroupAll { sides })
    }

    /// Joins this collection (left) with `right` per key and window: both are windowed by
    /// `windowing`'s window function (fixed, sliding or global; not sessions) and allowed
    /// lateness, and `kind` says which rows besides the pairs come out. `name` names the
    /// step. Beam's `CoGroupByKey` per window and a join, Flink's window join; the rows
    /// ([`WindowJoined`]) come out when the watermark passes the end of the window, at
    /// its maximum timestamp; a late record within the allowed lateness adds its pairs at
    /// once; an outer join's unmatched records come out when the window is collected; a
    /// record whose window was collected is a dead letter of kind `too_late`. The same
    /// rows at any worker count; the state is checkpointed like any process step's.
    /// [`highwater::model::join::WindowJoin`](crate::model::join::WindowJoin) has the
    /// details.
    ///
    /// A trigger, accumulation or timestamp combiner other than the defaults, and
    /// merging windows, are a [`BuildError`] naming the step and what to change.
    ///
    /// ```
    /// use highwater::model::watermark::WatermarkStrategy;
    /// use highwater::model::window::Window;
    /// use highwater::pipeline::{run, Collector, JoinKind, Memory, RunConfig, Windowing};
    /// use std::time::Duration;
    ///
    /// let out = Collector::new();
    /// let sink = out.clone();
    /// run(RunConfig::workers(2), move |p| {
    ///     // (time, (ad, impression id)) and (time, (ad, click id))
    ///     let impressions = vec![(1_000, (1u32, "i1".to_string())), (2_000, (2, "i2".to_string())), (12_000, (1, "i3".to_string()))];
    ///     let clicks = vec![(4_000, (1u32, "c1".to_string())), (15_000, (2, "c2".to_string()))];
    ///     let impressions = p.read_keyed("impressions", Memory::new(vec![impressions], WatermarkStrategy::Ascending))?;
    ///     let clicks = p.read_keyed("clicks", Memory::new(vec![clicks], WatermarkStrategy::Ascending))?;
    ///     impressions
    ///         .window_join("impressions-clicks", clicks, Windowing::fixed(Duration::from_secs(10)), JoinKind::Left)?
    ///         .map(|row| (row.key, row.window, row.left, row.right))
    ///         .write(sink.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// let mut rows = out.take();
    /// rows.sort();
    /// let (w0, w1) = (Window::new(0, 10_000), Window::new(10_000, 20_000));
    /// let s = |x: &str| Some(x.to_string());
    /// assert_eq!(rows, [
    ///     (9_999, (1, w0, s("i1"), s("c1"))),
    ///     (9_999, (2, w0, s("i2"), None)), // no click for ad 2 in [0, 10 s)
    ///     (19_999, (1, w1, s("i3"), None)),
    /// ]);
    /// ```
    pub fn window_join<R: Data>(
        self,
        name: &str,
        right: Keyed<'s, K, R>,
        windowing: Windowing,
        kind: JoinKind,
    ) -> Result<Collection<'s, WindowJoined<K, L, R>>, BuildError> {
        let strategy = windowing.strategy().map_err(|e| e.in_step(name))?;
        let join =
            WindowJoin::new(&strategy, kind).map_err(|message| BuildError::Step { step: name.into(), message })?;
        self.connect(right).process(name, join.spec())
    }

    /// Joins this collection (left) with `right` per key over an interval of event time:
    /// a left record at `a` pairs with each right record at `b` with
    /// `a + lower <= b <= a + upper` (milliseconds, inclusive, either may be negative).
    /// `name` names the step. Flink's interval join: a pair ([`IntervalJoined`]) comes out
    /// as soon as both records are there, at the later of their event times; a record is
    /// kept only until the watermark passes the last time a partner could have; a record
    /// behind the watermark is a dead letter of kind `too_late`. The same pairs at any
    /// worker count; the state is checkpointed like any process step's.
    ///
    /// `lower > upper` is a [`BuildError`] naming the step.
    ///
    /// ```
    /// use highwater::model::watermark::WatermarkStrategy;
    /// use highwater::pipeline::{run, Collector, Memory, RunConfig};
    ///
    /// let out = Collector::new();
    /// let sink = out.clone();
    /// run(RunConfig::workers(2), move |p| {
    ///     // A search, then the clicks on its results within 5 seconds.
    ///     let searches = vec![(1_000, ("ann".to_string(), "boots".to_string())), (9_000, ("ann".to_string(), "socks".to_string()))];
    ///     let clicks = vec![(3_000, ("ann".to_string(), 17u32)), (7_000, ("ann".to_string(), 18))];
    ///     let searches = p.read_keyed("searches", Memory::new(vec![searches], WatermarkStrategy::Ascending))?;
    ///     let clicks = p.read_keyed("clicks", Memory::new(vec![clicks], WatermarkStrategy::Ascending))?;
    ///     searches
    ///         .interval_join("search-clicks", clicks, 0, 5_000)?
    ///         .map(|pair| (pair.left, pair.right))
    ///         .write(sink.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// let mut pairs = out.take();
    /// pairs.sort();
    /// assert_eq!(pairs, [(3_000, ("boots".to_string(), 17))]); // the click at 7 s is 6 s after "boots"
    /// ```
    pub fn interval_join<R: Data>(
        self,
        name: &str,
        right: Keyed<'s, K, R>,
        lower: i64,
        upper: i64,
    ) -> Result<Collection<'s, IntervalJoined<K, L, R>>, BuildError> {
        let join =
            IntervalJoin::between(lower, upper).map_err(|message| BuildError::Step { step: name.into(), message })?;
        self.connect(right).process(name, join.spec())
    }

    /// Joins each record of this collection (the stream) with the value `table` had for
    /// its key **as of the record's event time**. `table` is a changelog: `Some(value)`
    /// upserts the key's value at the record's event time, `None` deletes it. `name`
    /// names the step; `kind` is [`JoinKind::Inner`] (a record whose key had no value
    /// then is dropped) or [`JoinKind::Left`] (it comes out with `None`).
    ///
    /// Flink's event-time temporal join (`FOR SYSTEM_TIME AS OF`): a record at `t` waits
    /// until the watermark of both inputs passes `t`, then comes out ([`TemporalJoined`])
    /// at `t` with the latest change at or before `t`. Old versions are dropped as the
    /// watermark passes newer ones; the latest value of each key is kept (it is the
    /// table). A stream record or a change behind the watermark is a dead letter of kind
    /// `too_late`. The same rows at any worker count; the table is checkpointed like any
    /// process step's state.
    ///
    /// ```
    /// use highwater::model::watermark::WatermarkStrategy;
    /// use highwater::pipeline::{run, Collector, JoinKind, Memory, RunConfig};
    ///
    /// let out = Collector::new();
    /// let sink = out.clone();
    /// run(RunConfig::workers(2), move |p| {
    ///     // Orders in euros, and the rate of each currency as it changed.
    ///     let orders = vec![(1_000, ("usd".to_string(), 10u64)), (5_000, ("usd".to_string(), 20)), (6_000, ("gbp".to_string(), 5))];
    ///     let rates = vec![(0, ("usd".to_string(), Some(0.9))), (4_000, ("usd".to_string(), Some(0.95)))];
    ///     let orders = p.read_keyed("orders", Memory::new(vec![orders], WatermarkStrategy::Ascending))?;
    ///     let rates = p.read_keyed("rates", Memory::new(vec![rates], WatermarkStrategy::Ascending))?;
    ///     orders
    ///         .temporal_join("orders-in-euros", rates, JoinKind::Left)?
    ///         .map(|row| (row.key, row.left, row.right))
    ///         .write(sink.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// let mut rows = out.take();
    /// rows.sort_by_key(|r| r.0);
    /// assert_eq!(rows, [
    ///     (1_000, ("usd".to_string(), 10, Some(0.9))),
    ///     (5_000, ("usd".to_string(), 20, Some(0.95))),
    ///     (6_000, ("gbp".to_string(), 5, None)), // no rate for gbp
    /// ]);
    /// ```
    pub fn temporal_join<V: Data>(
        self,
        name: &str,
        table: Keyed<'s, K, Option<V>>,
        kind: JoinKind,
    ) -> Result<Collection<'s, TemporalJoined<K, L, V>>, BuildError> {
        let join = TemporalJoin::new(kind).map_err(|message| BuildError::Step { step: name.into(), message })?;
        self.connect(table).process(name, join.spec())
    }
}
