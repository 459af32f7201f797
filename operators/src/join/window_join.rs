//! The windowed join: per key and window, every left record with every right record of
//! that window (Beam's `CoGroupByKey` then a join per window; Flink's window join), as a
//! process step over [`Side`] records.

use super::Side;
use crate::keyed::{Context, KeyedProcess, MapState, ProcessError, ProcessSpec, StateSpec, Timer};
use crate::strategy::{Accumulation, TimestampCombiner, WindowingStrategy};
use crate::trigger::Trigger;
use crate::window::{Window, WindowFn};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// Which rows a join emits besides the matched pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum JoinKind {
    /// Only pairs of a left and a right record.
    #[default]
    Inner,
    /// Pairs, and each left record that has no right record to pair with (`right: None`).
    Left,
    /// Pairs, and each right record that has no left record to pair with (`left: None`).
    Right,
    /// Pairs, and the unmatched records of both sides.
    Full,
}

impl JoinKind {
    fn keeps_unmatched_left(self) -> bool {
        matches!(self, JoinKind::Left | JoinKind::Full)
    }
    fn keeps_unmatched_right(self) -> bool {
        matches!(self, JoinKind::Right | JoinKind::Full)
    }
}

impl fmt::Display for JoinKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JoinKind::Inner => "inner",
            JoinKind::Left => "left outer",
            JoinKind::Right => "right outer",
            JoinKind::Full => "full outer",
        })
    }
}

/// A row of a windowed join: the key, the window, and a left and a right record — both
/// present for a matched pair, one of them `None` for an unmatched record of an outer
/// join. Its event time is the end of the window (its maximum timestamp), or for an
/// unmatched record with allowed lateness, the window's garbage-collection time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowJoined<K, L, R> {
    /// The key both records share.
    pub key: K,
    /// The window both records are in.
    pub window: Window,
    /// The left record.
    pub left: Option<L>,
    /// The right record.
    pub right: Option<R>,
}

/// A windowed join, described: the window function and allowed lateness both sides are
/// windowed with, and the [`JoinKind`]. Checked when the pipeline is built.
///
/// **When rows come out** (Beam's default trigger, the one a windowed join supports):
///
/// - when the watermark passes the end of a window, the pairs of every left and right
///   record of the key in that window, at the window's maximum timestamp (Beam's
///   `EndOfWindow` timestamp combiner);
/// - a late record (its window's end passed, its garbage-collection time — the end plus
///   the allowed lateness — not yet) emits at once its pairs with the other side's records
///   of the window so far: only the new pairs, so the rows of a window are the batch join
///   of its records with nothing emitted twice (Beam's discarding late panes would miss
///   those pairs, its accumulating ones repeat the earlier ones);
/// - an outer join's unmatched records come out when the window is collected (the
///   watermark passes its garbage-collection time), since until then a late record may
///   still match them: at the end of the window without allowed lateness, at the
///   garbage-collection time with it;
/// - a record whose window was already collected is a dead letter of kind `too_late`
///   (with sliding windows, it still joins in its windows that are not collected).
///
/// Within a window, rows come in the order the records were applied (stamp by stamp,
/// each stamp in the canonical order), so they are the same at any worker count.
/// Merging windows (sessions) are refused: the windows of two sides would merge
/// differently from what either side saw.
///
/// ```
/// use highwater::model::join::{JoinKind, WindowJoin};
/// use highwater::model::strategy::WindowingStrategy;
/// use highwater::model::window::WindowSpec;
/// use highwater::model::trigger::Trigger;
///
/// let fixed = WindowingStrategy::new(WindowSpec::fixed(1_000)).allowed_lateness(500).build().unwrap();
/// assert!(WindowJoin::new(&fixed, JoinKind::Inner).is_ok());
/// let sessions = WindowingStrategy::new(WindowSpec::sessions(1_000)).build().unwrap();
/// assert!(WindowJoin::new(&sessions, JoinKind::Inner).unwrap_err().contains("merging"));
/// let early = WindowingStrategy::new(WindowSpec::fixed(1_000)).trigger(Trigger::after_count(2)).build().unwrap();
/// assert!(WindowJoin::new(&early, JoinKind::Full).unwrap_err().contains("trigger"));
/// ```
#[derive(Clone)]
pub struct WindowJoin {
    window_fn: Arc<dyn WindowFn>,
    allowed_lateness: i64,
    kind: JoinKind,
}

impl fmt::Debug for WindowJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowJoin")
            .field("window_fn", &self.window_fn.describe())
            .field("allowed_lateness", &self.allowed_lateness)
            .field("kind", &self.kind)
            .finish()
    }
}

impl WindowJoin {
    /// A `kind` join of windows of `strategy`: its window function and allowed lateness.
    /// Its trigger, accumulation and timestamp combiner must be Beam's defaults (the
    /// rows above); merging windows are refused. The error says what to change.
    pub fn new(strategy: &WindowingStrategy, kind: JoinKind) -> Result<Self, String> {
        if strategy.window_fn.is_merging() {
            return Err(format!(
                "a window join of merging windows ({}) is not supported: the two sides' sessions would merge differently; use fixed or sliding windows, an interval join, or a co-group (Keyed::co_group), which merges sessions over both sides",
                strategy.window_fn.describe()
            ));
        }
        if strategy.trigger != Trigger::Default {
            return Err(format!(
                "a window join fires when the watermark passes the end of the window and for each late record; it does not take the trigger `{}`: drop .trigger(...), or use a co-group (Keyed::co_group), which takes any trigger",
                strategy.trigger
            ));
        }
        if strategy.accumulation != Accumulation::Discarding {
            return Err(format!(
                "a window join emits each pair once; it does not take {:?} accumulation: drop .accumulating()/.retracting(), or use a co-group (Keyed::co_group), whose panes accumulate or retract",
                strategy.accumulation
            ));
        }
        if strategy.timestamp_combiner != TimestampCombiner::EndOfWindow {
            return Err(format!(
                "a window join emits its rows at the end of the window; it does not take the timestamp combiner {:?}",
                strategy.timestamp_combiner
            ));
        }
        if strategy.allowed_lateness < 0 {
            return Err(format!("a negative allowed lateness ({} ms)", strategy.allowed_lateness));
        }
        Ok(WindowJoin { window_fn: strategy.window_fn.clone(), allowed_lateness: strategy.allowed_lateness, kind })
    }

    /// The join's kind.
    pub fn kind(&self) -> JoinKind {
        self.kind
    }

    /// The process step that runs the join over `Side<L, R>` records of key `K`: its
    /// state is three map cells, `counts` (per open window, how many records each side
    /// has), `left` and `right` (each record under its window and index, so adding one
    /// encodes that record only), and one event-time timer per window (two with allowed
    /// lateness).
    pub fn spec<K, L, R>(self) -> ProcessSpec<WindowJoinProcess<K, L, R>>
    where
        L: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let mut state = StateSpec::new();
        let counts = state.map("counts");
        let left = state.map("left");
        let right = state.map("right");
        ProcessSpec::new(state, WindowJoinProcess { join: self, counts, left, right, _k: PhantomData })
    }
}

/// The [`KeyedProcess`] of a [`WindowJoin`] (built by [`WindowJoin::spec`]).
pub struct WindowJoinProcess<K, L, R> {
    join: WindowJoin,
    /// Per open window, its number of left and right records.
    counts: MapState<Window, (u32, u32)>,
    /// The left records of each open window by their index, `0..count`, in the order
    /// they were applied.
    left: MapState<(Window, u32), L>,
    /// The right records, the same.
    right: MapState<(Window, u32), R>,
    _k: PhantomData<fn() -> K>,
}

/// The tag of a window's end-of-window timer.
fn end_tag(w: &Window) -> String {
    format!("end {} {}", w.start, w.end)
}

/// The tag of a window's garbage-collection timer (with allowed lateness only).
fn gc_tag(w: &Window) -> String {
    format!("gc {} {}", w.start, w.end)
}

/// The window and whether it is the garbage collection, from a timer's tag.
fn parse_tag(tag: &str) -> Option<(bool, Window)> {
    let mut parts = tag.split(' ');
    let gc = match parts.next()? {
        "end" => false,
        "gc" => true,
        _ => return None,
    };
    let start = parts.next()?.parse().ok()?;
    let end = parts.next()?.parse().ok()?;
    Some((gc, Window::new(start, end)))
}

type Out<K, L, R> = WindowJoined<K, L, R>;

impl<K, L, R> WindowJoinProcess<K, L, R>
where
    K: Clone + Ord + 'static,
    L: Clone + Serialize + DeserializeOwned + 'static,
    R: Clone + Serialize + DeserializeOwned + 'static,
{
    /// Emits the pairs of `lefts` × `rights` in `w` at `at`.
    fn pairs(ctx: &mut Context<'_, K, Out<K, L, R>>, key: &K, w: Window, at: i64, lefts: &[L], rights: &[R]) {
        for l in lefts {
            for r in rights {
                let row = WindowJoined { key: key.clone(), window: w, left: Some(l.clone()), right: Some(r.clone()) };
                ctx.emit(at, row);
            }
        }
    }

    /// The left and right records of `w`, in the order they were applied.
    #[allow(clippy::type_complexity)]
    fn records(&self, ctx: &mut Context<'_, K, Out<K, L, R>>, w: Window) -> Result<(Vec<L>, Vec<R>), ProcessError> {
        let (nl, nr) = ctx.state().map_get(&self.counts, &w)?.unwrap_or_default();
        let mut lefts = Vec::with_capacity(nl as usize);
        for i in 0..nl {
            lefts.extend(ctx.state().map_get(&self.left, &(w, i))?);
        }
        let mut rights = Vec::with_capacity(nr as usize);
        for i in 0..nr {
            rights.extend(ctx.state().map_get(&self.right, &(w, i))?);
        }
        Ok((lefts, rights))
    }

    /// Collects `w`: emits the unmatched records an outer join keeps, at `at`, and clears
    /// the window's state.
    fn collect(&self, ctx: &mut Context<'_, K, Out<K, L, R>>, key: &K, w: Window, at: i64) -> Result<(), ProcessError> {
        let (lefts, rights) = self.records(ctx, w)?;
        if rights.is_empty() && self.join.kind.keeps_unmatched_left() {
            for l in lefts.iter() {
                ctx.emit(at, WindowJoined { key: key.clone(), window: w, left: Some(l.clone()), right: None });
            }
        }
        if lefts.is_empty() && self.join.kind.keeps_unmatched_right() {
            for r in rights.iter() {
                ctx.emit(at, WindowJoined { key: key.clone(), window: w, left: None, right: Some(r.clone()) });
            }
        }
        let (nl, nr) = ctx.state().map_get(&self.counts, &w)?.unwrap_or_default();
        for i in 0..nl {
            ctx.state().map_remove(&self.left, &(w, i))?;
        }
        for i in 0..nr {
            ctx.state().map_remove(&self.right, &(w, i))?;
        }
        ctx.state().map_remove(&self.counts, &w)
    }
}

impl<K, L, R> KeyedProcess<K, Side<L, R>> for WindowJoinProcess<K, L, R>
where
    K: Clone + Ord + 'static,
    L: Clone + Serialize + DeserializeOwned + 'static,
    R: Clone + Serialize + DeserializeOwned + 'static,
{
    type Out = WindowJoined<K, L, R>;

    fn on_record(&self, ctx: &mut Context<'_, K, Self::Out>, key: &K, value: &Side<L, R>) -> Result<(), ProcessError> {
        let (t, wm) = (ctx.event_time(), ctx.watermark());
        let mut windows = Vec::new();
        self.join.window_fn.assign(t, &mut windows);
        let mut collected = Vec::new();
        for w in windows {
            let (end, gc) = (w.max_timestamp(), w.gc_time(self.join.allowed_lateness));
            if gc < wm {
                collected.push(w);
                continue;
            }
            // A late record pairs with the other side so far, then is stored.
            if end < wm {
                let (lefts, rights) = self.records(ctx, w)?;
                match value {
                    Side::Left(l) => Self::pairs(ctx, key, w, end, std::slice::from_ref(l), &rights),
                    Side::Right(r) => Self::pairs(ctx, key, w, end, &lefts, std::slice::from_ref(r)),
                }
            }
            let (nl, nr) = ctx.state().map_get(&self.counts, &w)?.unwrap_or_default();
            match value {
                Side::Left(l) => {
                    ctx.state().map_insert(&self.left, &(w, nl), l)?;
                    ctx.state().map_insert(&self.counts, &w, &(nl + 1, nr))?;
                }
                Side::Right(r) => {
                    ctx.state().map_insert(&self.right, &(w, nr), r)?;
                    ctx.state().map_insert(&self.counts, &w, &(nl, nr + 1))?;
                }
            }
            if end >= wm {
                ctx.timers().set_event_time(end, &end_tag(&w))?;
            }
            if gc > end {
                ctx.timers().set_event_time(gc, &gc_tag(&w))?;
            }
        }
        if collected.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = collected.iter().map(Window::to_string).collect();
        Err(ProcessError::too_late(format!(
            "the {} record at {t} is past its window {} (collected when the watermark, now {wm}, passed its end plus the allowed lateness of {} ms): allow more lateness, or a larger out-of-orderness bound at the source",
            value.name(),
            list.join(", "),
            self.join.allowed_lateness,
        )))
    }

    fn on_timer(&self, ctx: &mut Context<'_, K, Self::Out>, key: &K, timer: &Timer) -> Result<(), ProcessError> {
        let Some((gc, w)) = parse_tag(&timer.tag) else {
            return Err(ProcessError::refused(format!("a timer `{}` the window join did not set", timer.tag)));
        };
        if gc {
            return self.collect(ctx, key, w, timer.time);
        }
        let (lefts, rights) = self.records(ctx, w)?;
        Self::pairs(ctx, key, w, timer.time, &lefts, &rights);
        if w.gc_time(self.join.allowed_lateness) == w.max_timestamp() {
            self.collect(ctx, key, w, timer.time)?;
        }
        Ok(())
    }
}
