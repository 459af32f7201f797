//! The interval join: per key, each left record `a` with each right record `b` whose
//! event time is within `[a + lower, a + upper]` (Flink's `intervalJoin ... between`), as
//! a process step over [`Side`] records; state is freed as the watermark passes.

use super::Side;
use crate::keyed::{Context, KeyedProcess, MapState, ProcessError, ProcessSpec, StateSpec, Timer, ValueState};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// A pair of an interval join: the key, the two records and their event times. Its event
/// time is the later of the two (as in Flink).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IntervalJoined<K, L, R> {
    /// The key both records share.
    pub key: K,
    /// The left record.
    pub left: L,
    /// The left record's event time.
    pub left_time: i64,
    /// The right record.
    pub right: R,
    /// The right record's event time.
    pub right_time: i64,
}

/// An interval join, described: a left record at `a` pairs with each right record of the
/// same key at `b` with `a + lower <= b <= a + upper` (both bounds inclusive, in
/// milliseconds, either may be negative). Flink's `IntervalJoin` with inclusive bounds.
///
/// **Semantics.** A pair is emitted as soon as its second record is applied, at the later
/// of the two event times. A record is kept only while a record of the other side could
/// still pair with it — a left record until the watermark passes `a + upper`, a right one
/// until it passes `b - lower` — so the state is the records of the last `upper - lower`
/// milliseconds or so. A record behind the watermark when it is applied (its event time
/// before the watermark of its stamp) is **late**: some of its partners may already be
/// gone, so, as in Flink, it is not joined; it becomes a dead letter of kind `too_late`.
/// Pairs come in the order records are applied, the same at any worker count.
///
/// ```
/// use highwater::model::join::IntervalJoin;
/// // Impressions (left) followed by a click (right) within ten seconds.
/// let join = IntervalJoin::between(0, 10_000).unwrap();
/// assert_eq!((join.lower(), join.upper()), (0, 10_000));
/// assert!(IntervalJoin::between(5, -5).unwrap_err().contains("lower bound 5 is above the upper bound -5"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntervalJoin {
    lower: i64,
    upper: i64,
}

impl IntervalJoin {
    /// Pairs left records at `a` with right records in `[a + lower, a + upper]`
    /// (milliseconds). `lower > upper` is an error that says so.
    pub fn between(lower: i64, upper: i64) -> Result<Self, String> {
        if lower > upper {
            return Err(format!(
                "an interval join's lower bound {lower} is above the upper bound {upper}: no pair could match; swap them"
            ));
        }
        if lower.checked_neg().is_none() || upper.checked_neg().is_none() {
            return Err(format!("an interval join's bounds ({lower}, {upper}) are out of range"));
        }
        Ok(IntervalJoin { lower, upper })
    }
    /// The lower bound (milliseconds).
    pub fn lower(&self) -> i64 {
        self.lower
    }
    /// The upper bound (milliseconds).
    pub fn upper(&self) -> i64 {
        self.upper
    }

    /// The process step that runs the join over `Side<L, R>` records of key `K`: its
    /// state is two map cells, `left` and `right` (records by event time), and a value
    /// cell `cleanup-at` (when the key's one `cleanup` timer fires).
    pub fn spec<K, L, R>(self) -> ProcessSpec<IntervalJoinProcess<K, L, R>>
    where
        L: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let mut state = StateSpec::new();
        let left = state.map("left");
        let right = state.map("right");
        let cleanup_at = state.value("cleanup-at");
        ProcessSpec::new(state, IntervalJoinProcess { join: self, left, right, cleanup_at, _k: PhantomData })
    }
}

/// The [`KeyedProcess`] of an [`IntervalJoin`] (built by [`IntervalJoin::spec`]).
pub struct IntervalJoinProcess<K, L, R> {
    join: IntervalJoin,
    /// Left records by event time, each time's in the order they were applied.
    left: MapState<i64, Vec<L>>,
    /// Right records, the same.
    right: MapState<i64, Vec<R>>,
    /// The time of the key's `cleanup` timer, if set: the earliest time a kept record
    /// may be dropped.
    cleanup_at: ValueState<i64>,
    _k: PhantomData<fn() -> K>,
}

const CLEANUP: &str = "cleanup";

impl<K, L, R> IntervalJoinProcess<K, L, R>
where
    K: Clone + Ord + 'static,
    L: Clone + Serialize + DeserializeOwned + 'static,
    R: Clone + Serialize + DeserializeOwned + 'static,
{
    /// Moves the key's cleanup timer to `at` if that is earlier than where it is.
    fn cleanup_no_later_than(
        &self,
        ctx: &mut Context<'_, K, IntervalJoined<K, L, R>>,
        at: i64,
    ) -> Result<(), ProcessError> {
        let current = ctx.state().get(&self.cleanup_at)?;
        if current.is_none_or(|c| at < c) {
            ctx.timers().set_event_time(at, CLEANUP)?;
            ctx.state().set(&self.cleanup_at, &at)?;
        }
        Ok(())
    }
}

impl<K, L, R> KeyedProcess<K, Side<L, R>> for IntervalJoinProcess<K, L, R>
where
    K: Clone + Ord + 'static,
    L: Clone + Serialize + DeserializeOwned + 'static,
    R: Clone + Serialize + DeserializeOwned + 'static,
{
    type Out = IntervalJoined<K, L, R>;

    fn on_record(&self, ctx: &mut Context<'_, K, Self::Out>, key: &K, value: &Side<L, R>) -> Result<(), ProcessError> {
        let (t, wm) = (ctx.event_time(), ctx.watermark());
        let (lower, upper) = (self.join.lower, self.join.upper);
        if t < wm {
            return Err(ProcessError::too_late(format!(
                "the {} record at {t} is behind the watermark {wm}: the interval join has dropped what it could pair with; use a larger out-of-orderness bound at the source",
                value.name()
            )));
        }
        match value {
            Side::Left(l) => {
                // Right records in [t + lower, t + upper].
                for (b, rights) in ctx.state().map_entries(&self.right)? {
                    if b < t.saturating_add(lower) || b > t.saturating_add(upper) {
                        continue;
                    }
                    for r in rights {
                        let row =
                            IntervalJoined { key: key.clone(), left: l.clone(), left_time: t, right: r, right_time: b };
                        ctx.emit(t.max(b), row);
                    }
                }
                // Kept while a right record at or after the watermark may still pair.
                let until = t.saturating_add(upper);
                if until >= wm {
                    let mut lefts = ctx.state().map_get(&self.left, &t)?.unwrap_or_default();
                    lefts.push(l.clone());
                    ctx.state().map_insert(&self.left, &t, &lefts)?;
                    self.cleanup_no_later_than(ctx, until)?;
                }
            }
            Side::Right(r) => {
                // Left records in [t - upper, t - lower].
                for (a, lefts) in ctx.state().map_entries(&self.left)? {
                    if a < t.saturating_sub(upper) || a > t.saturating_sub(lower) {
                        continue;
                    }
                    for l in lefts {
                        let row =
                            IntervalJoined { key: key.clone(), left: l, left_time: a, right: r.clone(), right_time: t };
                        ctx.emit(t.max(a), row);
                    }
                }
                let until = t.saturating_sub(lower);
                if until >= wm {
                    let mut rights = ctx.state().map_get(&self.right, &t)?.unwrap_or_default();
                    rights.push(r.clone());
                    ctx.state().map_insert(&self.right, &t, &rights)?;
                    self.cleanup_no_later_than(ctx, until)?;
                }
            }
        }
        Ok(())
    }

    fn on_timer(&self, ctx: &mut Context<'_, K, Self::Out>, _: &K, timer: &Timer) -> Result<(), ProcessError> {
        if timer.tag != CLEANUP {
            return Err(ProcessError::refused(format!("a timer `{}` the interval join did not set", timer.tag)));
        }
        // The watermark has passed `timer.time`: drop what no later record can pair with.
        let now = timer.time;
        let (lower, upper) = (self.join.lower, self.join.upper);
        let mut next: Option<i64> = None;
        for (a, _) in ctx.state().map_entries(&self.left)? {
            let until = a.saturating_add(upper);
            if until <= now {
                ctx.state().map_remove(&self.left, &a)?;
            } else {
                next = Some(next.map_or(until, |n| n.min(until)));
            }
        }
        for (b, _) in ctx.state().map_entries(&self.right)? {
            let until = b.saturating_sub(lower);
            if until <= now {
                ctx.state().map_remove(&self.right, &b)?;
            } else {
                next = Some(next.map_or(until, |n| n.min(until)));
            }
        }
        match next {
            Some(at) => {
                ctx.timers().set_event_time(at, CLEANUP)?;
                ctx.state().set(&self.cleanup_at, &at)
            }
            None => ctx.state().clear(&self.cleanup_at),
        }
    }
}
