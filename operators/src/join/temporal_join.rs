//! The temporal (as-of) join: each record of a stream with the value a versioned table
//! had at the record's event time (Flink's event-time temporal join; Kafka Streams'
//! stream–table join, but as of event time), as a process step over [`Side`] records.

use super::{JoinKind, Side};
use crate::keyed::{Context, KeyedProcess, MapState, ProcessError, ProcessSpec, StateSpec, Timer, ValueState};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// A row of a temporal join: the key, the stream's record, and the table's value for the
/// key as of the record's event time (`None` in a left join when the key had no value
/// then, or had been deleted), with the event time of that version. Its event time is the
/// stream record's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TemporalJoined<K, L, V> {
    /// The key.
    pub key: K,
    /// The stream's record.
    pub left: L,
    /// The table's value as of the record's event time.
    pub right: Option<V>,
    /// The event time of that value's upsert.
    pub version_time: Option<i64>,
}

/// A temporal join, described: a stream (the left side, `L` records) joined with a table
/// given as a changelog (the right side: `Some(value)` an upsert, `None` a delete, each at
/// its event time), per key, as of each stream record's event time. [`JoinKind::Inner`]
/// drops a record whose key had no value then; [`JoinKind::Left`] emits it with `None`.
///
/// **Semantics** (Flink's event-time temporal join, `FOR SYSTEM_TIME AS OF`): the table's
/// version valid at `t` is the latest upsert or delete at or before `t`. A stream record
/// at `t` waits until the watermark — of both inputs: the step's input watermark is the
/// lower of the two — passes `t`, so every change at or before `t` is in; then it is
/// emitted, at `t`, with the value of that version. Versions older than the one valid at
/// the watermark are dropped as the watermark passes the next. Two changes of a key at
/// the same event time: the one applied last wins (within a stamp, the canonical order).
/// A stream record or a change behind the watermark when applied is late (the versions
/// it needs, or the rows it would change, are gone): a dead letter of kind `too_late`.
///
/// ```
/// use highwater::model::join::{JoinKind, TemporalJoin};
/// assert!(TemporalJoin::new(JoinKind::Left).is_ok());
/// assert!(TemporalJoin::new(JoinKind::Full).unwrap_err().contains("inner or left"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemporalJoin {
    kind: JoinKind,
}

impl TemporalJoin {
    /// An inner or left temporal join (the others are refused: a table's versions are
    /// not rows to emit).
    pub fn new(kind: JoinKind) -> Result<Self, String> {
        match kind {
            JoinKind::Inner | JoinKind::Left => Ok(TemporalJoin { kind }),
            other => Err(format!(
                "a temporal join is inner or left; a {other} join would emit the table's versions as rows: use JoinKind::Inner or JoinKind::Left"
            )),
        }
    }

    /// The process step that runs the join over `Side<L, Option<V>>` records of key
    /// `K`: its state is two map cells, `waiting` (stream records by event time) and
    /// `versions` (the table's values by event time), and two value cells, `waiting-at`
    /// and `prune-at` (the times of the key's two timers).
    pub fn spec<K, L, V>(self) -> ProcessSpec<TemporalJoinProcess<K, L, V>>
    where
        L: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let mut state = StateSpec::new();
        let waiting = state.map("waiting");
        let versions = state.map("versions");
        let waiting_at = state.value("waiting-at");
        let prune_at = state.value("prune-at");
        ProcessSpec::new(
            state,
            TemporalJoinProcess { kind: self.kind, waiting, versions, waiting_at, prune_at, _k: PhantomData },
        )
    }
}

/// The [`KeyedProcess`] of a [`TemporalJoin`] (built by [`TemporalJoin::spec`]).
pub struct TemporalJoinProcess<K, L, V> {
    kind: JoinKind,
    /// Stream records waiting for the watermark to pass their time, by event time.
    waiting: MapState<i64, Vec<L>>,
    /// The table's versions by event time (`None`: deleted).
    versions: MapState<i64, Option<V>>,
    /// The time of the `waiting` timer: the earliest waiting record's.
    waiting_at: ValueState<i64>,
    /// The time of the `prune` timer: the earliest version not yet passed by the watermark.
    prune_at: ValueState<i64>,
    _k: PhantomData<fn() -> K>,
}

const WAITING: &str = "waiting";
const PRUNE: &str = "prune";

type Ctx<'c, 'a, K, L, V> = &'c mut Context<'a, K, TemporalJoined<K, L, V>>;

impl<K, L, V> TemporalJoinProcess<K, L, V>
where
    K: Clone + Ord + 'static,
    L: Clone + Serialize + DeserializeOwned + 'static,
    V: Clone + Serialize + DeserializeOwned + 'static,
{
    /// Sets the timer `tag` (whose time `cell` holds) to `at` if that is earlier.
    fn timer_no_later_than(
        &self,
        ctx: Ctx<'_, '_, K, L, V>,
        cell: &ValueState<i64>,
        tag: &str,
        at: i64,
    ) -> Result<(), ProcessError> {
        if ctx.state().get(cell)?.is_none_or(|c| at < c) {
            ctx.timers().set_event_time(at, tag)?;
            ctx.state().set(cell, &at)?;
        }
        Ok(())
    }

    /// Drops the versions no record at or after `now + 1` can see: of those at or before
    /// `now`, all but the latest, and the latest too if it is a delete. Returns the
    /// earliest version after `now`.
    fn prune(&self, ctx: Ctx<'_, '_, K, L, V>, now: i64) -> Result<Option<i64>, ProcessError> {
        let versions = ctx.state().map_entries(&self.versions)?;
        let passed: Vec<&(i64, Option<V>)> = versions.iter().filter(|(t, _)| *t <= now).collect();
        if let Some((latest, value)) = passed.last() {
            for (t, _) in &passed {
                if t != latest || value.is_none() {
                    ctx.state().map_remove(&self.versions, t)?;
                }
            }
        }
        Ok(versions.iter().map(|(t, _)| *t).find(|t| *t > now))
    }
}

impl<K, L, V> KeyedProcess<K, Side<L, Option<V>>> for TemporalJoinProcess<K, L, V>
where
    K: Clone + Ord + 'static,
    L: Clone + Serialize + DeserializeOwned + 'static,
    V: Clone + Serialize + DeserializeOwned + 'static,
{
    type Out = TemporalJoined<K, L, V>;

    fn on_record(
        &self,
        ctx: &mut Context<'_, K, Self::Out>,
        _: &K,
        value: &Side<L, Option<V>>,
    ) -> Result<(), ProcessError> {
        let (t, wm) = (ctx.event_time(), ctx.watermark());
        if t < wm {
            let why = match value {
                Side::Left(_) => "the table's versions it would be joined with may be gone",
                Side::Right(_) => "records after it may already have been joined with the version it changes",
            };
            return Err(ProcessError::too_late(format!(
                "the {} record at {t} is behind the watermark {wm}: {why}; use a larger out-of-orderness bound at the source",
                if matches!(value, Side::Left(_)) { "stream" } else { "table" },
            )));
        }
        match value {
            Side::Left(l) => {
                let mut waiting = ctx.state().map_get(&self.waiting, &t)?.unwrap_or_default();
                waiting.push(l.clone());
                ctx.state().map_insert(&self.waiting, &t, &waiting)?;
                self.timer_no_later_than(ctx, &self.waiting_at, WAITING, t)
            }
            Side::Right(change) => {
                ctx.state().map_insert(&self.versions, &t, change)?;
                self.timer_no_later_than(ctx, &self.prune_at, PRUNE, t)
            }
        }
    }

    fn on_timer(&self, ctx: &mut Context<'_, K, Self::Out>, key: &K, timer: &Timer) -> Result<(), ProcessError> {
        let now = timer.time;
        match timer.tag.as_str() {
            WAITING => {
                // Every change at or before `now` is in: join the records waiting at `now`.
                let versions = ctx.state().map_entries(&self.versions)?;
                let version = versions.iter().rev().find(|(v, _)| *v <= now);
                let (right, version_time) = match version {
                    Some((v, Some(value))) => (Some(value.clone()), Some(*v)),
                    _ => (None, None),
                };
                let records = ctx.state().map_get(&self.waiting, &now)?.unwrap_or_default();
                ctx.state().map_remove(&self.waiting, &now)?;
                if right.is_some() || self.kind == JoinKind::Left {
                    for l in records {
                        let row = TemporalJoined { key: key.clone(), left: l, right: right.clone(), version_time };
                        ctx.emit(now, row);
                    }
                }
                let next = ctx.state().map_entries(&self.waiting)?.first().map(|(t, _)| *t);
                match next {
                    Some(at) => {
                        ctx.timers().set_event_time(at, WAITING)?;
                        ctx.state().set(&self.waiting_at, &at)
                    }
                    None => ctx.state().clear(&self.waiting_at),
                }
            }
            PRUNE => match self.prune(ctx, now)? {
                Some(at) => {
                    ctx.timers().set_event_time(at, PRUNE)?;
                    ctx.state().set(&self.prune_at, &at)
                }
                None => ctx.state().clear(&self.prune_at),
            },
            other => Err(ProcessError::refused(format!("a timer `{other}` the temporal join did not set"))),
        }
    }
}
