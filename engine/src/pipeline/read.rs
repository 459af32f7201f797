//! The source operator: one per source and worker. It reads the worker's partitions in
//! batches, stamps each batch with its partition's watermark, and keeps the worker's
//! capability at the least stamp any unfinished partition may still produce.
//!
//! The same operator runs replay and live sources:
//!
//! - **Replay** (files, memory, generators): partitions are always ready; the operator
//!   reads a few batches per activation and activates itself again, so other operators
//!   keep up.
//! - **Live** (TCP): a partition with nothing queued is *pending* and is not read again
//!   until its [`Waker`] is woken by the thread that feeds it, or until the next tick
//!   period. The operator never blocks. New partitions (connections) arrive through
//!   [`Live::arrivals`] and start at the source's current watermark; every
//!   [`Live::tick_every`] the stamps' `tick` advances even without data; a partition
//!   silent for [`Live::idle_timeout`] stops holding the watermark back.
//! - **Journaled live** ([`Source::live_journaled`], with checkpoints): a connection is a
//!   live partition read from its journal; its position is its journal offset, and a
//!   restored run replays the journals before new connections arrive.
//! - **Paced replay** ([`Source::pacing`]): records are held until their release time by
//!   the pipeline's clock; a partition holding records is pending until the first is due.
//!
//! Stamps never go below the capability already reached (the *floor*): a new or resumed
//! partition whose own watermark is behind is stamped at the floor, so its records may be
//! late — as they are, the watermark having passed them.

use super::{BuildError, Data, Shared};
use crate::dead_letter::DeadLetter;
use crate::runtime::checkpoint::coordinator::Turn;
use crate::source::{Live, Partition, Source, Waker};
use highwater_operators::time::Time;
use highwater_operators::watermark::{PartitionWatermark, WatermarkStrategy};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::Stream;

/// Batches (or slices of one, [`SLICE`]) read per activation of a source, so other
/// operators keep up.
const BATCHES_PER_ACTIVATION: usize = 10;

/// Fewer when they already brought this many records: about one default batch per
/// activation. Each slice is decoded and shaped while it is in the cache; the operators
/// downstream then read the activation's records from the L2 cache. Fewer records per
/// activation cost more than they saved: at 4 096, every activation's progress tracking
/// (shared between the workers) made hop at 2 workers 5–9 % slower (`benches/README.md`).
const RECORDS_PER_ACTIVATION: usize = 10_240;

/// A replay batch is read in slices of at most this many lines, each emitted at the
/// batch's stamp as soon as it is decoded: a slice's records are shaped while they are
/// still in the cache (a whole default batch, decoded then shaped, is two 800 KiB passes
/// through memory). The stamps, and so every answer, are those of whole batches.
const SLICE: usize = 1024;

/// How often a replay source looks again at a pending partition (no thread wakes it), and
/// at most how long a paced one sleeps.
const RETRY_PENDING: Duration = Duration::from_millis(200);

/// One partition as the operator tracks it.
struct Part<T> {
    partition: Box<dyn Partition<T>>,
    watermark: PartitionWatermark,
    tick: u64,
    /// `read` said done (paced: records may still be held).
    exhausted: bool,
    /// Nothing to read now.
    pending: bool,
    /// Paced: when the first held record is due.
    due: Option<i64>,
    /// Processing time of the last batch that carried something.
    last_active: i64,
    /// Paced: records read but not yet released, and a watermark read after them.
    held: VecDeque<(i64, T)>,
    held_punctuation: Option<i64>,
    /// Bytes the partition had consumed after its last read.
    bytes: u64,
    /// A replay batch read in slices ([`SLICE`]) and not finished.
    open: Option<OpenBatch>,
    /// The partition's index in the source (over all workers): its name in checkpoints.
    index: usize,
    /// Batches read so far (a checkpoint's position: reads are deterministic; a batch
    /// read in slices counts once, when it is finished).
    reads: u64,
    /// Its position at the pending cut is recorded.
    marked: bool,
    /// Records and dead letters read from it (the metrics' per-partition counts).
    records: u64,
    dead: u64,
}

/// A replay batch partly read: the rest of it goes at the same stamp.
#[derive(Clone, Copy)]
struct OpenBatch {
    stamp: Time,
    /// Lines still to read.
    left: usize,
    /// A slice carried records, dead letters or punctuation.
    carried: bool,
}

impl<T> Part<T> {
    /// Where the partition is now, as a checkpoint records it (nothing carried).
    fn position<O>(&self) -> PartitionState<O> {
        PartitionState {
            index: self.index,
            name: self.partition.name(),
            done: false,
            reads: self.reads,
            bytes: self.partition.position(),
            line: self.partition.line(),
            watermark: Some(self.watermark.clone()),
            tick: self.tick,
            carry: Vec::new(),
        }
    }

    fn new(partition: Box<dyn Partition<T>>, strategy: WatermarkStrategy, tick: u64, now: i64) -> Self {
        let index = partition.checkpoint_index().unwrap_or(0);
        Part {
            partition,
            watermark: PartitionWatermark::new(strategy),
            tick,
            exhausted: false,
            pending: false,
            due: None,
            last_active: now,
            held: VecDeque::new(),
            held_punctuation: None,
            bytes: 0,
            open: None,
            index,
            reads: 0,
            marked: false,
            records: 0,
            dead: 0,
        }
    }
    fn done(&self) -> bool {
        self.exhausted && self.held.is_empty() && self.held_punctuation.is_none()
    }
    fn ready(&self) -> bool {
        !self.done() && !self.pending
    }
}

struct LiveState<T> {
    arrivals: Option<std::sync::mpsc::Receiver<Box<dyn Partition<T>>>>,
    tick_every: i64,
    idle_timeout: Option<i64>,
    next_tick_at: Option<i64>,
}

struct Pacing {
    speedup: f64,
    /// The first released record's event time and release time.
    anchor: Option<(i64, i64)>,
}

impl Pacing {
    fn due(&mut self, event_time: i64, now: i64) -> i64 {
        let (t0, p0) = *self.anchor.get_or_insert((event_time, now));
        let ahead = event_time.saturating_sub(t0).max(0) as f64 / self.speedup;
        p0.saturating_add(ahead.min(i64::MAX as f64 / 2.0) as i64)
    }
}

/// When the operator wants to run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// At once: partitions are ready to read.
    Now,
    /// After this long (a tick period, a paced record's release, a pending retry).
    After(Duration),
    /// Only when woken (or never: the source is done).
    Never,
}

/// A batch as the operator emits it: its stamp, records (shaped) and dead letters, and the
/// records that were behind their partition's watermark when they were read, each group at
/// the watermark as of its records (see [`Reader::step`]).
pub(crate) struct Stamped<O> {
    pub(crate) stamp: Time,
    pub(crate) records: Vec<O>,
    pub(crate) dead: Vec<DeadLetter>,
    pub(crate) behind: Vec<(Time, Vec<O>)>,
    /// With a cut pending: this batch brought its partition's stamps to the cut; where
    /// the partition then stood (the groups of `behind` at or after the cut are to be
    /// added to it).
    pub(crate) crossed: Option<PartitionState<O>>,
}

/// Where a partition stands at a cut (a source's state in a checkpoint): after `reads`
/// reads (at `bytes` and `line`), its watermark and tick, and the records it read before
/// that but stamped at or after the cut (they are emitted again when restored). `done`:
/// it had ended before the cut.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct PartitionState<O> {
    pub(crate) index: usize,
    pub(crate) name: String,
    pub(crate) done: bool,
    pub(crate) reads: u64,
    pub(crate) bytes: u64,
    pub(crate) line: u64,
    pub(crate) watermark: Option<PartitionWatermark>,
    pub(crate) tick: u64,
    pub(crate) carry: Vec<(Time, Vec<O>)>,
}

impl<O> PartitionState<O> {
    fn done(index: usize, name: String) -> Self {
        PartitionState {
            index,
            name,
            done: true,
            reads: 0,
            bytes: 0,
            line: 0,
            watermark: None,
            tick: 0,
            carry: Vec::new(),
        }
    }
}

/// Judges each record against its partition's watermark as of that record — the watermark
/// after the records before it — not as of the start of its batch, so which records are
/// late does not depend on the batch size. A record at or after that watermark cannot be
/// late in any window (its windows end after it): it goes with the batch, at the batch's
/// stamp. One behind it goes at a stamp of its own, that watermark (rare in practice: only
/// records later than the watermark's bound allows).
struct Judge {
    /// The batch's stamp.
    stamp: Time,
    /// The floor's watermark: a partition behind it is stamped at it.
    floor: i64,
    /// The partition's watermark now (never below the floor).
    now: i64,
    /// The latest event time observed.
    latest: i64,
}

impl Judge {
    fn new(stamp: Time, floor: i64, watermark: &PartitionWatermark) -> Self {
        Judge { stamp, floor, now: watermark.watermark().max(floor), latest: i64::MIN }
    }
    /// Places one record (with the batch, or behind it) and observes its time. Inlined
    /// into the shaping loop: the shaped record is moved once, into the batch.
    #[inline(always)]
    fn place<O>(
        &mut self,
        t: i64,
        o: O,
        watermark: &mut PartitionWatermark,
        batch: &mut Vec<O>,
        behind: &mut Vec<(Time, Vec<O>)>,
    ) {
        if t < self.now && self.now > self.stamp.watermark() {
            let at = Time::new(self.now, self.stamp.tick);
            match behind.last_mut() {
                Some((s, group)) if *s == at => group.push(o),
                _ => behind.push((at, vec![o])),
            }
        } else {
            batch.push(o);
        }
        if t > self.latest {
            self.latest = t;
            watermark.observe(t);
            self.now = watermark.watermark().max(self.floor);
        }
    }
}

/// Replay partitions (files, byte ranges) read at once by one worker, at most: the others
/// wait their turn (and hold the watermark back), so a job over thousands of files keeps
/// few of them open.
pub(crate) const MAX_OPEN_PARTITIONS: usize = 64;

/// The per-worker state of a source operator: its partitions, their watermarks and ticks.
pub(crate) struct Reader<T> {
    parts: Vec<Part<T>>,
    strategy: WatermarkStrategy,
    batch: usize,
    next: usize,
    live: Option<LiveState<T>>,
    pacing: Option<Pacing>,
    /// The least stamp still possible: the capability's time.
    floor: Time,
    /// The live tick: new partitions start here; raised every tick period.
    tick: u64,
    /// The first failure of a partition (it cannot be read): the job fails with it.
    pub(crate) error: Option<String>,
    /// Bytes consumed by the partitions, as last reported to the progress counters.
    bytes_seen: u64,
    /// Bytes consumed by partitions already finished.
    bytes_done: u64,
    /// Partitions finished since last asked ([`Reader::take_finished`]).
    finished: u64,
    /// The pending cut, if any.
    cut: Option<Time>,
    /// The highest stamp emitted so far.
    top: Time,
    /// The partitions that have ended: index and name.
    ended: Vec<(usize, String)>,
    /// What the ended partitions read (records, dead letters), and the highest watermark
    /// any of them reached: the metrics' totals.
    ended_records: u64,
    ended_dead: u64,
    ended_watermark: i64,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

impl<T> Reader<T> {
    pub(crate) fn new(
        parts: Vec<Box<dyn Partition<T>>>,
        strategy: WatermarkStrategy,
        batch: usize,
        live: Option<Live<T>>,
        pacing: Option<f64>,
        now: i64,
    ) -> Self {
        Reader {
            parts: parts
                .into_iter()
                .map(|mut p| {
                    let first = p.first_event_time(batch.max(1));
                    let mut part = Part::new(p, strategy, 0, now);
                    if let Some(t) = first {
                        part.watermark.observe(t);
                    }
                    part
                })
                .collect(),
            strategy,
            batch: batch.max(1),
            next: 0,
            live: live.map(|l| LiveState {
                arrivals: Some(l.arrivals),
                tick_every: millis(l.tick_every),
                idle_timeout: l.idle_timeout.map(millis),
                next_tick_at: None,
            }),
            pacing: pacing.filter(|s| s.is_finite() && *s > 0.0).map(|speedup| Pacing { speedup, anchor: None }),
            floor: Time::new(highwater_operators::time::NEG_INF, 0),
            tick: 0,
            error: None,
            bytes_seen: 0,
            bytes_done: 0,
            finished: 0,
            cut: None,
            top: Time::new(highwater_operators::time::NEG_INF, 0),
            ended: Vec::new(),
            ended_records: 0,
            ended_dead: 0,
            ended_watermark: highwater_operators::time::NEG_INF,
        }
    }

    /// Numbers the partitions as the source assigned them: the `j`-th of `worker` is
    /// partition `worker + j * peers`.
    pub(crate) fn index_partitions(&mut self, worker: usize, peers: usize) {
        for (j, p) in self.parts.iter_mut().enumerate() {
            p.index = p.partition.checkpoint_index().unwrap_or(worker + j * peers);
        }
    }

    /// Makes what every partition has read durable ([`Partition::sync`]) before a
    /// checkpoint records their positions.
    pub(crate) fn sync(&mut self) -> Result<(), String> {
        self.parts.iter_mut().try_for_each(|p| p.partition.sync())
    }

    /// The highest watermark this source has stamped (or its capability holds): a cut
    /// above it is after every stamp emitted so far. Partitions already past it (a byte
    /// range not read yet, whose watermark starts at its first record) record their
    /// position at once ([`Reader::set_cut`]).
    pub(crate) fn top(&self) -> i64 {
        self.top.watermark().max(self.floor.watermark())
    }

    /// The pending cut.
    pub(crate) fn cut(&self) -> Option<Time> {
        self.cut
    }

    /// Sets the pending cut: each partition records its position at the batch after which
    /// its stamps reach it ([`Stamped::crossed`]). Returns the positions of the partitions
    /// whose stamps are there already: they emitted nothing at or after the cut, and will
    /// emit nothing before it.
    pub(crate) fn set_cut<O>(&mut self, cut: Option<Time>) -> Vec<PartitionState<O>> {
        let mut marked = Vec::new();
        if self.cut != cut {
            self.cut = cut;
            let floor = self.floor.watermark();
            for p in self.parts.iter_mut() {
                p.marked = false;
                // A batch still open goes on at its stamp: the partition is not past the
                // cut until the batch is finished.
                let next = match p.open {
                    Some(o) => o.stamp,
                    None => Time::new(p.watermark.watermark().max(floor), p.tick),
                };
                if cut.is_some_and(|c| next >= c) {
                    p.marked = true;
                    marked.push(p.position());
                }
            }
        }
        marked
    }

    /// A live source with no connection holding its watermark — none open, or every one
    /// idle ([`Live::idle_timeout`]) — moves its watermark up to the pending cut, so that
    /// the cut can complete: nothing else would move it until a connection sends. Its
    /// idle connections record their positions now (what they send next is stamped at or
    /// after the cut). Returns those positions. The watermark moves to the cut: one past
    /// the highest watermark any source has stamped, so a record of a new connection is
    /// late only if it is behind everything stamped before.
    pub(crate) fn raise_to_cut<O>(&mut self, now: i64) -> Vec<PartitionState<O>> {
        let Some(cut) = self.cut else { return Vec::new() };
        let listening = self.live.as_ref().is_some_and(|l| l.arrivals.is_some());
        let open: Vec<&Part<T>> = self.parts.iter().filter(|p| !p.done()).collect();
        let quiet = open.iter().all(|p| self.is_idle(p, now) && p.open.is_none());
        if !listening || !quiet || self.floor >= cut {
            return Vec::new();
        }
        self.floor = self.floor.max(cut);
        let mut marked = Vec::new();
        for p in self.parts.iter_mut().filter(|p| !p.marked && !p.done()) {
            p.marked = true;
            marked.push(p.position());
        }
        marked
    }

    /// Whether every partition still open has recorded its position at the pending cut.
    pub(crate) fn all_marked(&self) -> bool {
        self.parts.iter().all(|p| p.marked)
    }

    /// The partitions that have ended, as a checkpoint records them.
    pub(crate) fn ended<O>(&self) -> impl Iterator<Item = PartitionState<O>> + '_ {
        self.ended.iter().map(|(i, n)| PartitionState::done(*i, n.clone()))
    }

    /// Moves the partitions to where a checkpoint left them (`states`, by index, from
    /// every worker of the checkpointed run): ended ones are dropped, the others resume
    /// at their position with their watermark and tick. Returns the records read before
    /// the cut but stamped after it, to emit first, and what each partition resumed at.
    #[allow(clippy::type_complexity)]
    pub(crate) fn restore<O>(
        &mut self,
        mut states: std::collections::BTreeMap<usize, PartitionState<O>>,
    ) -> Result<(Vec<(Time, Vec<O>)>, Vec<String>), String> {
        let mut carry = Vec::new();
        let mut said = Vec::new();
        let mut kept = Vec::new();
        for mut p in std::mem::take(&mut self.parts) {
            let name = p.partition.name();
            let Some(state) = states.remove(&p.index) else {
                if self.live.is_some() {
                    // A connection accepted after the cut: its journal is read from the start.
                    said.push(format!("`{name}` from the start of its journal"));
                    kept.push(p);
                    continue;
                }
                return Err(format!(
                    "the checkpoint has no position for partition {} (`{name}`): the inputs changed; rerun with --fresh to start over",
                    p.index
                ));
            };
            if state.name != name {
                return Err(format!(
                    "partition {} is `{name}`, but `{}` in the checkpoint: the inputs changed; rerun with --fresh to start over",
                    p.index, state.name
                ));
            }
            if state.done {
                said.push(format!("`{name}` finished"));
                self.ended.push((p.index, name));
                continue;
            }
            p.partition.resume(state.reads, self.batch, state.bytes, state.line)?;
            if let Some(w) = state.watermark {
                p.watermark = w;
            }
            p.tick = state.tick;
            p.reads = state.reads;
            p.bytes = state.bytes;
            said.push(match (state.bytes, state.line) {
                // A generator counts neither bytes nor lines: its reads say where it is.
                (0, 0) if state.reads > 0 => format!("`{name}` after {} batch(es)", state.reads),
                (bytes, line) => format!("`{name}` at byte {bytes} (line {line})"),
            });
            carry.extend(state.carry);
            kept.push(p);
        }
        self.parts = kept;
        // Partitions that had ended and were not opened again (a connection whose journal
        // was read to its end): later checkpoints record them ended too.
        for state in states.into_values().filter(|s| s.done) {
            self.ended.push((state.index, state.name));
        }
        Ok((carry, said))
    }

    /// Bytes read since last asked, and partitions finished since last asked.
    pub(crate) fn take_progress(&mut self) -> (u64, u64) {
        let bytes: u64 = self.parts.iter().map(|p| p.bytes).sum::<u64>() + self.bytes_done;
        let delta = bytes.saturating_sub(self.bytes_seen);
        self.bytes_seen = self.bytes_seen.max(bytes);
        (delta, std::mem::take(&mut self.finished))
    }

    /// A partition's stamp: its watermark (never below the floor's) and its tick.
    fn stamp_of(&self, p: &Part<T>) -> Time {
        if let Some(open) = p.open {
            return open.stamp;
        }
        Time::new(p.watermark.watermark().max(self.floor.watermark()), p.tick)
    }

    fn is_idle(&self, p: &Part<T>, now: i64) -> bool {
        let timeout = self.live.as_ref().and_then(|l| l.idle_timeout);
        timeout.is_some_and(|t| now.saturating_sub(p.last_active) >= t) && p.held.is_empty()
    }

    /// Takes arrived partitions, advances the tick when a period has passed, and makes
    /// partitions readable again: those whose paced record or retry is due, and — when the
    /// operator was `woken` by a partition's thread, or a tick period passed — every
    /// pending one (which of them has data is not known; asking costs little). A
    /// self-activation to read on leaves pending partitions alone, so many quiet
    /// connections do not keep the operator spinning.
    pub(crate) fn poll(&mut self, now: i64, woken: bool) {
        let mut refresh = woken;
        self.take_arrivals(now);
        if let Some(live) = self.live.as_mut() {
            let every = live.tick_every;
            match live.next_tick_at {
                Some(at) if now < at => {}
                Some(_) => {
                    live.next_tick_at = Some(now.saturating_add(every));
                    self.bump_ticks();
                    refresh = true;
                }
                None => live.next_tick_at = Some(now.saturating_add(every)),
            }
        }
        for p in self.parts.iter_mut() {
            match p.due {
                Some(d) if d > now => p.pending = true,
                Some(_) => {
                    p.due = None;
                    p.pending = false;
                }
                None if refresh => p.pending = false,
                None => {}
            }
        }
    }

    /// Takes the partitions that have arrived (a live source's connections).
    pub(crate) fn take_arrivals(&mut self, now: i64) {
        let start_tick = self.tick.max(self.floor.tick);
        let Some(live) = self.live.as_mut() else { return };
        let Some(rx) = live.arrivals.as_ref() else { return };
        loop {
            match rx.try_recv() {
                Ok(p) => self.parts.push(Part::new(p, self.strategy, start_tick, now)),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    live.arrivals = None;
                    break;
                }
            }
        }
    }

    /// Advances every partition's tick past every stamp emitted so far.
    fn bump_ticks(&mut self) {
        let top =
            self.parts.iter().map(|p| p.tick).chain([self.tick, self.floor.tick]).max().unwrap_or(0).saturating_add(1);
        self.tick = top;
        for p in self.parts.iter_mut() {
            p.tick = p.tick.max(top);
        }
    }

    /// Reads one batch from the ready partition whose stamp is least (round robin among
    /// equals). Returns the stamp of the batch (never below the floor), its records in the
    /// shape the operator emits (`shape` of each) and its dead letters; `None` when no
    /// partition is ready.
    ///
    /// The records are shaped and their event times observed in one pass: a batch is
    /// larger than the L1 cache, and every pass over it costs about a cache miss per
    /// record.
    pub(crate) fn step<O>(&mut self, now: i64, mut shape: impl FnMut((i64, T)) -> O) -> Option<Stamped<O>> {
        // A replay reads its first MAX_OPEN_PARTITIONS unfinished partitions (in order);
        // a live source's partitions are all open already.
        let n = if self.live.is_some() { self.parts.len() } else { self.parts.len().min(MAX_OPEN_PARTITIONS) };
        // A batch read in slices is finished first, as if it had been read whole.
        let idx = match (0..n).find(|&i| self.parts[i].open.is_some()) {
            Some(i) => i,
            None => {
                let idx = (0..n)
                    .map(|i| (self.next + i) % n)
                    .filter(|&i| self.parts[i].ready())
                    .min_by_key(|&i| self.stamp_of(&self.parts[i]))?;
                self.next = (idx + 1) % n.max(1);
                idx
            }
        };
        let stamp = self.stamp_of(&self.parts[idx]).max(self.floor);
        // Replay batches are read in slices; a live or paced batch at once (what a live
        // partition has queued is its batch).
        let sliced = self.live.is_none() && self.pacing.is_none();
        let open = self.parts[idx].open.take();
        let left = open.map_or(self.batch, |o| o.left);
        // While a cut is pending and the partition has not reached it, the rest of a batch
        // is read at once: the records of a batch read after the cut was picked may be
        // stamped at or after it (those behind the watermark), and the step that reaches
        // the cut must hold all of them, to carry them in the checkpoint.
        let cutting = self.cut.is_some() && !self.parts[idx].marked;
        let batch_size = match (sliced, cutting) {
            (true, false) => left.min(SLICE),
            (true, true) => left,
            (false, _) => self.batch,
        };
        let floor = self.floor.watermark();
        let part = &mut self.parts[idx];
        let mut judge = Judge::new(stamp, floor, &part.watermark);
        let mut behind = Vec::new();
        let mut records = Vec::new();
        let mut dead = Vec::new();
        let mut punctuation = None;
        let mut read_pending = false;
        let mut did_read = false;
        if part.held.is_empty() && part.held_punctuation.is_none() && !part.exhausted {
            let batch = part.partition.read(batch_size);
            did_read = true;
            read_pending = batch.pending && !batch.done;
            part.exhausted = batch.done || batch.error.is_some();
            part.bytes = part.bytes.max(part.partition.position());
            if let Some(e) = batch.error {
                self.error.get_or_insert(e);
            }
            dead = batch.dead;
            match self.pacing {
                None => {
                    records.reserve(batch.records.len());
                    for r in batch.records {
                        let t = r.0;
                        judge.place(t, shape(r), &mut part.watermark, &mut records, &mut behind);
                    }
                    punctuation = batch.punctuation;
                }
                Some(_) => {
                    part.held.extend(batch.records);
                    part.held_punctuation = batch.punctuation;
                }
            }
        }
        if let Some(pacing) = self.pacing.as_mut() {
            while let Some((t, _)) = part.held.front() {
                let due = pacing.due(*t, now);
                if due > now {
                    part.due = Some(due);
                    break;
                }
                if let Some(r) = part.held.pop_front() {
                    let t = r.0;
                    judge.place(t, shape(r), &mut part.watermark, &mut records, &mut behind);
                }
            }
            if part.held.is_empty() {
                punctuation = part.held_punctuation.take();
            }
        }
        if let Some(p) = punctuation {
            part.watermark.punctuate(p);
        }
        let carried = !records.is_empty() || !dead.is_empty() || punctuation.is_some();
        if carried {
            part.last_active = now;
        }
        let more = sliced && batch_size < left && !part.exhausted && !read_pending && punctuation.is_none();
        if more {
            let carried = carried || open.is_some_and(|o| o.carried);
            part.open = Some(OpenBatch { stamp, left: left - batch_size, carried });
        } else {
            // The batch is finished: one read, as a checkpoint counts them.
            part.reads += u64::from(did_read);
            if carried || open.is_some_and(|o| o.carried) {
                part.tick = part.tick.max(stamp.tick).saturating_add(1);
            }
        }
        if read_pending && part.due.is_none() && self.live.is_none() {
            // No thread wakes a replay partition: look again a little later.
            part.due = Some(now.saturating_add(RETRY_PENDING.as_millis() as i64));
        }
        part.pending = read_pending || part.due.is_some();
        part.records += (records.len() + behind.iter().map(|(_, g)| g.len()).sum::<usize>()) as u64;
        part.dead += dead.len() as u64;
        let top = behind.last().map_or(stamp, |(at, _)| (*at).max(stamp));
        let mut crossed = None;
        if let Some(cut) = self.cut {
            // A batch still open goes on at its stamp: its position is not a cut's.
            let next = match part.open {
                Some(o) => o.stamp,
                None => Time::new(part.watermark.watermark().max(floor), part.tick),
            };
            if !part.marked && next >= cut {
                part.marked = true;
                crossed = Some(part.position());
            }
        }
        self.top = self.top.max(top);
        Some(Stamped { stamp, records, dead, behind, crossed })
    }

    /// The least stamp any unfinished partition may still produce (`None`: the source is
    /// done). Idle partitions do not hold it back unless every partition is idle (then it
    /// stands at the most advanced of them). Never goes backwards.
    pub(crate) fn frontier(&mut self, now: i64) -> Option<Time> {
        let before = self.parts.len();
        for p in self.parts.iter().filter(|p| p.done()) {
            self.bytes_done += p.bytes;
            self.ended.push((p.index, p.partition.name()));
            self.ended_records += p.records;
            self.ended_dead += p.dead;
            self.ended_watermark = self.ended_watermark.max(p.watermark.watermark());
        }
        self.parts.retain(|p| !p.done());
        if self.parts.len() != before {
            self.next = 0;
            self.finished += (before - self.parts.len()) as u64;
        }
        let active = self.parts.iter().filter(|p| !self.is_idle(p, now)).map(|p| self.stamp_of(p)).min();
        let least = match active {
            Some(t) => t,
            None => match self.parts.iter().map(|p| self.stamp_of(p)).max() {
                Some(t) => t,
                None if self.live.as_ref().is_some_and(|l| l.arrivals.is_some()) => {
                    Time::new(self.floor.watermark(), self.tick.max(self.floor.tick))
                }
                None => return None,
            },
        };
        self.floor = least.max(self.floor);
        Some(self.floor)
    }

    /// What this worker's part of the source is doing (the metrics' report): its open
    /// partitions, and what the ended ones read.
    pub(crate) fn report(&self, now: i64, out: &mut crate::runtime::metrics::SourceReport) {
        out.partitions.clear();
        out.partitions.extend(self.parts.iter().map(|p| crate::runtime::metrics::PartitionReport {
            name: p.partition.describe(),
            watermark: p.watermark.watermark(),
            last_active: p.last_active,
            idle: self.is_idle(p, now),
            records: p.records,
            dead: p.dead,
        }));
        out.done = self.ended.len() as u64;
        out.done_records = self.ended_records;
        out.done_dead = self.ended_dead;
        let highest = self.parts.iter().map(|p| p.watermark.watermark()).fold(self.ended_watermark, i64::max);
        out.last_watermark = Some(highest).filter(|w| *w != highwater_operators::time::NEG_INF);
    }

    /// When to run again, after [`Reader::frontier`].
    pub(crate) fn wake(&self, now: i64) -> Wake {
        if self.parts.iter().any(Part::ready) {
            return Wake::Now;
        }
        let mut deadlines: Vec<i64> = self.parts.iter().filter_map(|p| p.due).collect();
        if let Some(l) = &self.live {
            deadlines.extend(l.next_tick_at);
        }
        let until =
            deadlines.into_iter().min().map(|d| Duration::from_millis(d.saturating_sub(now).clamp(1, 60_000) as u64));
        match until {
            // A paced source under a virtual clock still looks again now and then.
            Some(d) if self.pacing.is_some() && self.live.is_none() => Wake::After(d.min(RETRY_PENDING)),
            Some(d) => Wake::After(d),
            None => Wake::Never,
        }
    }
}

/// Adds the source operator of `source` to the pipeline; returns its records and dead
/// letters (whose `step` is `name`).
#[allow(clippy::type_complexity)]
pub(crate) fn source_operator<'s, T: Data, O: Data, S: Source<T> + 'static>(
    shared: &Rc<Shared<'s>>,
    name: &str,
    source: S,
    worker: usize,
    peers: usize,
    shape: impl Fn((i64, T)) -> O + 'static,
) -> Result<(Stream<'s, Time, Vec<O>>, Stream<'s, Time, Vec<DeadLetter>>), BuildError> {
    let source_error = |message: String| BuildError::Source { step: name.to_string(), message };
    let parts = source.open(worker, peers).map_err(source_error)?;
    let scope = shared.scope;
    let mut builder = OperatorBuilder::new(format!("source:{name}"), scope);
    let info = builder.operator_info();
    let activator = scope.activator_for(info.address.clone());
    let alive = Arc::new(());
    let waker = Waker::new(scope.worker().sync_activator_for(info.address.to_vec()), &alive);
    let (out, stream) = builder.new_output::<Vec<O>>();
    let (dead_out, dead) = builder.new_output::<Vec<DeadLetter>>();
    let mut out = OutputBuilder::from(out);
    let mut dead_out = OutputBuilder::from(dead_out);
    // Checkpoints: the source records its partitions' positions at each cut, and a
    // restored run starts where the checkpoint left them; a live source journals what it
    // accepts and replays it.
    let ckpt = shared.checkpoints.clone();
    let restored_states = match &ckpt {
        Some(k) => decode_states::<O>(k.restored(name)),
        None => Ok(std::collections::BTreeMap::new()),
    };
    let live = restored_states.and_then(|states| {
        let Some(k) = &ckpt else { return source.live(worker, peers, waker.clone()) };
        let positions = states
            .values()
            .map(|s| {
                let at = if s.done {
                    crate::source::JournalPosition::Done
                } else {
                    crate::source::JournalPosition::At { bytes: s.bytes, line: s.line }
                };
                (s.index, at)
            })
            .collect();
        let journals = crate::source::tcp::journal::JournalDir::new(&k.journal_dir(), name);
        let dir = journals.path().to_path_buf();
        let live = source.live_journaled(worker, peers, waker.clone(), crate::source::Journal { dir, positions })?;
        if live.is_some() && k.processes().1 > 1 {
            return Err("a live socket source does not take part in the checkpoints of a cluster of processes yet: run it in one process (any --workers), or without a checkpoint directory".to_string());
        }
        if live.is_some() {
            // The journals of connections the checkpoint records as ended are not read
            // again: deleted once no older checkpoint is left.
            let done = states.values().filter(|s| s.done).map(|s| journals.log(s.index)).collect();
            k.journals_done(done, true);
        }
        Ok(live)
    });
    let live = match live {
        Ok(l) => l,
        Err(message) => {
            // Every reserved operator must be built: build one that ends at once.
            builder.build(|_caps| |_frontiers| {});
            return Err(source_error(message));
        }
    };
    let clock = shared.clock.clone();
    let mut reader = Reader::new(parts, source.watermark(), source.batch_size(), live, source.pacing(), clock.now());
    reader.index_partitions(worker, peers);
    // The journals replayed are there already: restored with the opened partitions.
    reader.take_arrivals(clock.now());
    let counters = shared.counters.clone();
    let cell = counters.progress.metrics().source(name, worker, reader.live.is_some());
    let publish_every = crate::runtime::metrics::PUBLISH_EVERY.as_millis() as i64;
    let mut next_publish = i64::MIN;
    let step = name.to_string();
    // A live source's journals (with checkpoints).
    let journals = match (&ckpt, reader.live.is_some()) {
        (Some(k), true) => Some(crate::source::tcp::journal::JournalDir::new(&k.journal_dir(), name)),
        _ => None,
    };
    let mut carry: Vec<(Time, Vec<O>)> = Vec::new();
    if let Some(k) = &ckpt {
        let restored = if reader.pacing.is_some() {
            Err("a paced source does not take part in checkpoints yet (its release times are processing time): run it without --pace, or without a checkpoint directory"
                .to_string())
        } else {
            k.register(worker, name, true);
            restore_source(&mut reader, k.restored(name))
        };
        match restored {
            Ok((c, said)) => {
                carry = c;
                if k.verbose() && !said.is_empty() {
                    tracing::info!(source = %name, worker, "source `{name}` (worker {worker}) resumes: {}", said.join(", "));
                }
            }
            Err(message) => {
                builder.build(|_caps| |_frontiers| {});
                return Err(source_error(message));
            }
        }
    }
    // The positions recorded at the pending cut.
    let mut marks: Vec<PartitionState<O>> = Vec::new();
    builder.build(move |mut caps| {
        let mut dead_cap = caps.pop();
        let mut cap = caps.pop();
        move |_frontiers| {
            // Owned by the operator (dropped with it): the source's threads then stop.
            let _alive = &alive;
            let progress = &counters.progress;
            if progress.halted() {
                // The run failed or was asked to stop: read nothing more. Dropping the
                // capabilities ends the source as if its input ended here.
                if cap.is_some() {
                    progress.publish_watermark(worker, None);
                }
                cap = None;
                dead_cap = None;
                return;
            }
            if let Some(k) = &ckpt {
                match k.source_turn(worker, &step, reader.top()) {
                    Turn::Wait => {
                        // A cut is being picked: nothing is read until every source has
                        // said how far it stamped.
                        activator.activate_after(Duration::from_millis(1));
                        return;
                    }
                    Turn::Read(cut) => {
                        if reader.cut() != cut {
                            marks.clear();
                            marks.extend(reader.set_cut(cut));
                        }
                    }
                }
                if let Some(c) = cap.as_ref() {
                    for (at, mut group) in carry.drain(..) {
                        progress.add_records(group.len() as u64);
                        out.activate().session(&c.delayed(&at)).give_container(&mut group);
                    }
                }
            }
            let woken = waker.rearm();
            let now = clock.now();
            reader.poll(now, woken);
            let mut emitted = 0;
            for _ in 0..BATCHES_PER_ACTIVATION {
                if emitted >= RECORDS_PER_ACTIVATION {
                    break;
                }
                let Some(Stamped { stamp, records: mut batch, dead: dead_letters, behind, crossed }) =
                    reader.step(now, &shape)
                else {
                    break;
                };
                if let (Some(mut state), Some(cut)) = (crossed, reader.cut()) {
                    // The records of this batch stamped at or after the cut are the
                    // checkpoint's: its operators' state will not hold them.
                    state.carry = behind.iter().filter(|(at, _)| *at >= cut).cloned().collect();
                    marks.push(state);
                }
                let (Some(c), Some(d)) = (cap.as_ref(), dead_cap.as_ref()) else { break };
                emitted += batch.len();
                progress.add_records(batch.len() as u64);
                if !batch.is_empty() {
                    // The batch goes downstream as a whole container (shaped in place: no
                    // per-record copy into timely's buffers).
                    out.activate().session(&c.delayed(&stamp)).give_container(&mut batch);
                }
                for (at, mut group) in behind {
                    emitted += group.len();
                    progress.add_records(group.len() as u64);
                    out.activate().session(&c.delayed(&at)).give_container(&mut group);
                }
                if !dead_letters.is_empty() {
                    let step = step.clone();
                    dead_out.activate().session(&d.delayed(&stamp)).give_iterator(dead_letters.into_iter().map(
                        move |mut x| {
                            if x.step.is_empty() {
                                x.step = step.clone();
                            }
                            x
                        },
                    ));
                }
            }
            if let Some(e) = reader.error.take() {
                counters.report(format!("source `{step}`: {e}"));
                activator.activate();
            }
            if ckpt.is_some() {
                marks.extend(reader.raise_to_cut(now));
            }
            let frontier = reader.frontier(now);
            if let Some(k) = &ckpt {
                if let Some(cut) = reader.cut().filter(|_| reader.all_marked()) {
                    // The positions recorded must be on disk before the checkpoint is.
                    if let Err(e) = reader.sync() {
                        counters.report(format!("source `{step}`: {e}"));
                        activator.activate();
                    }
                    if let Some(journals) = &journals {
                        k.journals_done(reader.ended.iter().map(|(i, _)| journals.log(*i)).collect(), false);
                    }
                    k.save(worker, &step, cut, source_state(&reader, marks.drain(..)));
                    reader.set_cut::<O>(None);
                }
                if frontier.is_none() && cap.is_some() {
                    k.source_finished(
                        worker,
                        &step,
                        reader.top(),
                        source_state(&reader, std::iter::empty::<PartitionState<O>>()),
                    );
                }
            }
            let (bytes, finished) = reader.take_progress();
            progress.add_bytes(bytes);
            for _ in 0..finished {
                progress.partition_done();
            }
            progress.publish_watermark(worker, frontier.map(|f| f.watermark()));
            // The metrics' report, a few times a second (and at the end).
            if now >= next_publish || frontier.is_none() {
                next_publish = now.saturating_add(publish_every);
                let mut report = cell.report();
                reader.report(now, &mut report);
                report.frontier = frontier.map(|f| f.watermark());
            }
            match frontier {
                Some(f) => {
                    if let Some(c) = cap.as_mut() {
                        c.downgrade(&f);
                    }
                    if let Some(d) = dead_cap.as_mut() {
                        d.downgrade(&f);
                    }
                    match reader.wake(now) {
                        Wake::Now => activator.activate(),
                        Wake::After(d) => activator.activate_after(d),
                        Wake::Never => {}
                    }
                }
                None => {
                    cap = None;
                    dead_cap = None;
                }
            }
        }
    });
    Ok((stream, dead))
}

/// A source's state in a checkpoint: every partition it has had, by index.
#[derive(serde::Serialize, serde::Deserialize)]
struct SourceState<O> {
    partitions: Vec<PartitionState<O>>,
}

/// The source's state at the pending cut: the positions recorded, and the partitions that
/// ended before their stamps reached it.
fn source_state<T, O: Data>(reader: &Reader<T>, marks: impl Iterator<Item = PartitionState<O>>) -> Vec<u8> {
    let mut all: std::collections::BTreeMap<usize, PartitionState<O>> =
        reader.ended().map(|p: PartitionState<O>| (p.index, p)).collect();
    all.extend(marks.map(|p| (p.index, p)));
    let state = SourceState { partitions: all.into_values().collect() };
    bincode::serialize(&state).unwrap_or_default()
}

/// Restores the source from its state in a checkpoint (nothing when the run starts
/// afresh).
#[allow(clippy::type_complexity)]
fn restore_source<T, O: Data>(
    reader: &mut Reader<T>,
    pieces: Vec<Vec<u8>>,
) -> Result<(Vec<(Time, Vec<O>)>, Vec<String>), String> {
    if pieces.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    reader.restore(decode_states(pieces)?)
}

/// The partitions' positions in a source's checkpointed state (from every worker that
/// wrote a piece), by index.
#[allow(clippy::type_complexity)]
fn decode_states<O: Data>(
    pieces: Vec<Vec<u8>>,
) -> Result<std::collections::BTreeMap<usize, PartitionState<O>>, String> {
    let mut states = std::collections::BTreeMap::new();
    for piece in pieces {
        let state: SourceState<O> = bincode::deserialize(&piece).map_err(|e| {
            format!("its checkpointed state cannot be read ({e}): was the pipeline changed? rerun with --fresh")
        })?;
        for p in state.partitions {
            states.insert(p.index, p);
        }
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Batch;
    use highwater_operators::time::NEG_INF;
    use std::collections::BTreeMap;

    /// A partition fed by a test: each read takes the next scripted batch, then the
    /// partition stays open with nothing to read.
    struct Scripted(VecDeque<Batch<u64>>);
    impl Partition<u64> for Scripted {
        fn read(&mut self, _max: usize) -> Batch<u64> {
            self.0.pop_front().unwrap_or_else(Batch::pending)
        }
        fn name(&self) -> String {
            "scripted".into()
        }
    }

    fn records(ts: &[i64]) -> Batch<u64> {
        Batch { records: ts.iter().map(|&t| (t, t as u64)).collect(), ..Batch::default() }
    }

    /// The watermark used to advance once per batch, so a record behind the watermark
    /// counted as on time or late depending on where the batch boundary fell.
    #[test]
    fn a_record_behind_its_partitions_watermark_is_stamped_with_that_watermark() {
        let part = Scripted(VecDeque::from([
            records(&[1_000, 5_000, 12_000, 4_000, 30_000, 2_000, 3_000, 31_000]),
            Batch { done: true, ..Batch::default() },
        ]));
        let mut r = Reader::new(
            vec![Box::new(part) as Box<dyn Partition<u64>>],
            WatermarkStrategy::Ascending,
            100,
            None,
            None,
            0,
        );
        r.poll(0, true);
        let Stamped { stamp, records, behind, .. } = r.step(0, |x| x).unwrap();
        assert_eq!(stamp.watermark(), NEG_INF);
        let in_batch: Vec<i64> = records.iter().map(|(t, _)| *t).collect();
        assert_eq!(in_batch, vec![1_000, 5_000, 12_000, 30_000, 31_000]);
        let behind: Vec<(i64, Vec<i64>)> =
            behind.into_iter().map(|(at, g)| (at.watermark(), g.into_iter().map(|(t, _)| t).collect())).collect();
        // Ascending: the watermark is just below the latest event time read before.
        assert_eq!(behind, vec![(11_999, vec![4_000]), (29_999, vec![2_000, 3_000])]);
    }

    /// A replay partition of `n` ascending records, `max` per read, as files read.
    struct Counted {
        next: u64,
        n: u64,
    }
    impl Partition<u64> for Counted {
        fn read(&mut self, max: usize) -> Batch<u64> {
            let end = (self.next + max as u64).min(self.n);
            let records = (self.next..end).map(|i| (i as i64 * 10, i)).collect();
            self.next = end;
            Batch { records, done: end == self.n, ..Batch::default() }
        }
        fn name(&self) -> String {
            "counted".into()
        }
    }

    /// A batch is read in slices for the cache's sake; its records must still share the
    /// batch's one stamp (the watermark before the batch), and the frontier must not pass
    /// it while the batch is open.
    #[test]
    fn a_batch_read_in_slices_keeps_one_stamp() {
        let (n, batch) = (6_000u64, 2_500usize);
        let part = Counted { next: 0, n };
        let mut r = Reader::new(
            vec![Box::new(part) as Box<dyn Partition<u64>>],
            WatermarkStrategy::Ascending,
            batch,
            None,
            None,
            0,
        );
        r.poll(0, true);
        let mut stamps: Vec<(Time, u64)> = Vec::new();
        while let Some(Stamped { stamp, records, behind, .. }) = r.step(0, |x| x) {
            assert!(behind.is_empty());
            assert!(records.len() <= SLICE);
            for (_, i) in records {
                stamps.push((stamp, i));
            }
            if let Some(f) = r.frontier(0) {
                assert!(f <= stamp || stamps.len().is_multiple_of(batch), "the frontier passed an open batch");
            }
        }
        assert_eq!(stamps.len() as u64, n);
        for (k, chunk) in stamps.chunks(batch).enumerate() {
            let want =
                if k == 0 { Time::new(NEG_INF, 0) } else { Time::new((k * batch) as i64 * 10 - 10 - 1, k as u64) };
            assert!(chunk.iter().all(|(s, _)| *s == want), "batch {k}: {:?} != {want:?}", chunk[0].0);
        }
    }

    /// Every record a reader emits, with its stamp, until the partitions end; with `cut`,
    /// stops once every partition has recorded its position at it and returns the state.
    #[allow(clippy::type_complexity)]
    fn read_all(
        r: &mut Reader<u64>,
        cut: Option<Time>,
    ) -> (Vec<(Time, (i64, u64))>, Option<BTreeMap<usize, PartitionState<(i64, u64)>>>) {
        let mut out = Vec::new();
        let mut marks: BTreeMap<usize, PartitionState<(i64, u64)>> =
            r.set_cut(cut).into_iter().map(|p| (p.index, p)).collect();
        loop {
            r.poll(0, true);
            let Some(Stamped { stamp, records, behind, crossed, .. }) = r.step(0, |x| x) else {
                if r.frontier(0).is_none() {
                    for p in r.ended::<(i64, u64)>() {
                        marks.entry(p.index).or_insert(p);
                    }
                    return (out, cut.map(|_| marks));
                }
                continue;
            };
            out.extend(records.into_iter().map(|x| (stamp, x)));
            for (at, group) in &behind {
                out.extend(group.iter().map(|x| (*at, *x)));
            }
            if let (Some(mut state), Some(c)) = (crossed, cut) {
                state.carry = behind.iter().filter(|(at, _)| *at >= c).cloned().collect();
                marks.insert(state.index, state);
            }
            r.frontier(0);
            if cut.is_some() && r.all_marked() {
                for p in r.ended::<(i64, u64)>() {
                    marks.entry(p.index).or_insert(p);
                }
                return (out, Some(marks));
            }
        }
    }

    fn memory_reader(source: &crate::source::Memory<u64>, worker: usize, peers: usize) -> Reader<u64> {
        memory_reader_with(source, worker, peers, 3)
    }

    fn memory_reader_with(
        source: &crate::source::Memory<u64>,
        worker: usize,
        peers: usize,
        batch: usize,
    ) -> Reader<u64> {
        let parts = source.open(worker, peers).unwrap();
        let mut r = Reader::new(parts, WatermarkStrategy::BoundedOutOfOrderness(5), batch, None, None, 0);
        r.index_partitions(worker, peers);
        r
    }

    /// A source's state at a cut: the records stamped before the cut from the first run,
    /// then the carried ones and the rest from a reader restored at that state, are the
    /// records and stamps of an uninterrupted reader — also restored at another worker
    /// count.
    #[test]
    fn a_restored_reader_continues_where_the_cut_left_its_partitions() {
        let partition = |seed: i64| -> Vec<(i64, u64)> {
            (0..200i64)
                .map(|i| (if i % 17 == 5 { i * 10 - 40 + seed } else { i * 10 + seed }, (seed * 1000 + i) as u64))
                .collect()
        };
        let source =
            crate::source::Memory::new(vec![partition(0), partition(3), partition(7)], WatermarkStrategy::Ascending);
        let mut whole = Vec::new();
        for w in 0..2 {
            whole.extend(read_all(&mut memory_reader(&source, w, 2), None).0);
        }
        whole.sort();
        // Partition 0's batch of records 105 to 107 crosses the cut, and its record 107
        // (late) is stamped after it.
        let cut = Time::new(1_055, 0);
        for (saved_at, restored_at) in [(1, 1), (2, 2), (2, 1), (1, 2), (1, 3)] {
            let mut states = BTreeMap::new();
            let mut got = Vec::new();
            for w in 0..saved_at {
                let mut r = memory_reader(&source, w, saved_at);
                let (before, marks) = read_all(&mut r, Some(cut));
                got.extend(before.into_iter().filter(|(t, _)| *t < cut));
                states.extend(marks.unwrap());
            }
            assert_eq!(states.len(), 3, "every partition has a position");
            assert!(states.values().any(|s| !s.carry.is_empty()), "a late record is carried across the cut");
            for w in 0..restored_at {
                let mut r = memory_reader(&source, w, restored_at);
                let (carry, _) = r.restore(states.clone()).unwrap();
                for (at, group) in carry {
                    got.extend(group.into_iter().map(|x| (at, x)));
                }
                let (after, _) = read_all(&mut r, None);
                assert!(after.iter().all(|(t, _)| *t >= cut));
                got.extend(after);
            }
            got.sort();
            assert_eq!(got, whole, "saved at {saved_at}, restored at {restored_at} worker(s)");
        }
    }

    /// A cut picked while a batch is being read in slices (as the coordinator picks it:
    /// above every stamp emitted so far): the partition reaches the cut only when the batch
    /// is finished, and the records of the batch stamped at or after the cut — read after
    /// it was picked — are carried. Broke when slices first met checkpoints: a partition
    /// whose watermark had passed the cut mid-batch was marked at once, mid-batch.
    #[test]
    fn a_cut_picked_in_the_middle_of_a_sliced_batch_loses_and_repeats_nothing() {
        let (n, batch) = (5_000i64, 3 * SLICE);
        // Every 13th record is 60 behind: behind the bounded (5) watermark, so it is
        // stamped at the watermark as of it, after its batch's stamp.
        let records: Vec<(i64, u64)> =
            (0..n).map(|i| (if i % 13 == 7 { i * 10 - 60 } else { i * 10 }, i as u64)).collect();
        let source = crate::source::Memory::new(vec![records], WatermarkStrategy::Ascending);
        let whole = {
            let mut w = read_all(&mut memory_reader_with(&source, 0, 1, batch), None).0;
            w.sort();
            w
        };
        for slices_before_the_cut in [1, 2, 4] {
            let mut r = memory_reader_with(&source, 0, 1, batch);
            let mut got = Vec::new();
            for _ in 0..slices_before_the_cut {
                r.poll(0, true);
                let Stamped { stamp, records, behind, .. } = r.step(0, |x| x).unwrap();
                got.extend(records.into_iter().map(|x| (stamp, x)));
                got.extend(behind.into_iter().flat_map(|(at, g)| g.into_iter().map(move |x| (at, x))));
                r.frontier(0);
            }
            assert!(r.parts[0].open.is_some(), "the cut comes in the middle of a batch");
            let cut = Time::new(r.top() + 1, 0);
            let (rest, marks) = read_all(&mut r, Some(cut));
            let marks = marks.unwrap();
            assert!(marks[&0].reads >= 1, "the position is after the batch the cut came in, not inside it");
            got.extend(rest);
            // What the first run emitted before the cut stays; the rest comes from the
            // checkpoint (carried) and a restored reader.
            let mut kept: Vec<(Time, (i64, u64))> = got.into_iter().filter(|(t, _)| *t < cut).collect();
            let mut restored = memory_reader_with(&source, 0, 1, batch);
            let (carry, _) = restored.restore(marks.clone()).unwrap();
            for (at, group) in carry {
                kept.extend(group.into_iter().map(|x| (at, x)));
            }
            let (after, _) = read_all(&mut restored, None);
            assert!(after.iter().all(|(t, _)| *t >= cut));
            kept.extend(after);
            kept.sort();
            assert_eq!(kept, whole, "cut after {slices_before_the_cut} slice(s)");
        }
    }

    #[test]
    fn a_pending_partition_holds_the_frontier_and_a_new_one_starts_at_it() {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn Partition<u64>>>();
        let live = Live { arrivals: rx, tick_every: Duration::from_millis(100), idle_timeout: None };
        let mut r = Reader::new(Vec::new(), WatermarkStrategy::Ascending, 10, Some(live), None, 0);
        r.poll(0, true);
        assert_eq!(r.frontier(0), Some(Time::new(NEG_INF, 0)));
        tx.send(Box::new(Scripted(VecDeque::from([records(&[10, 20]), Batch::pending()])))).unwrap();
        r.poll(1, true);
        let Stamped { stamp, records: recs, .. } = r.step(1, |x| x).unwrap();
        assert_eq!((stamp, recs.len()), (Time::new(NEG_INF, 0), 2));
        assert_eq!(r.frontier(1), Some(Time::new(19, 1)));
        // Nothing queued: pending, not re-read until polled again.
        assert!(r.step(1, |x| x).unwrap().records.is_empty());
        assert!(r.step(1, |x| x).is_none());
        assert_eq!(r.wake(1), Wake::After(Duration::from_millis(99)));
        // A second connection starts at the frontier, not at −∞.
        tx.send(Box::new(Scripted(VecDeque::from([records(&[5])])))).unwrap();
        r.poll(2, true);
        let Stamped { stamp, .. } = r.step(2, |x| x).unwrap();
        assert!(stamp >= Time::new(19, 1), "{stamp:?}");
        // The period advances the tick with no data at all.
        let before = r.frontier(2).unwrap();
        r.poll(150, true);
        while r.step(150, |x| x).is_some() {}
        assert!(r.frontier(150).unwrap() > before);
        drop(tx);
        r.poll(151, true);
        while r.step(151, |x| x).is_some() {}
        // The first connection is still open (pending), so the source is not done.
        assert!(r.frontier(151).is_some());
    }

    /// A listening source with no connection open, or only idle ones, would hold a cut
    /// forever (its watermark moves only with data): it raises its watermark to the cut,
    /// and its idle connection records its position there. Broke when sockets first took
    /// part in checkpoints: no checkpoint completed between two clients.
    #[test]
    fn a_listening_source_with_no_connection_sending_moves_up_to_a_pending_cut() {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn Partition<u64>>>();
        let live = Live {
            arrivals: rx,
            tick_every: Duration::from_millis(100),
            idle_timeout: Some(Duration::from_millis(500)),
        };
        let mut r = Reader::new(Vec::new(), WatermarkStrategy::Ascending, 10, Some(live), None, 0);
        r.poll(0, true);
        let cut = Time::new(1_000, 0);
        assert!(r.set_cut::<u64>(Some(cut)).is_empty());
        assert!(r.raise_to_cut::<u64>(0).is_empty(), "no connection to record");
        assert!(r.frontier(0).unwrap() >= cut);
        r.set_cut::<u64>(None);
        // One connection that sent and went quiet: it holds the cut until it is idle.
        tx.send(Box::new(Scripted(VecDeque::from([records(&[5_000]), Batch::pending()])))).unwrap();
        r.poll(10, true);
        while r.step(10, |x| x).is_some() {}
        r.frontier(10);
        let cut = Time::new(r.top() + 1, 0);
        r.set_cut::<u64>(Some(cut));
        assert!(r.raise_to_cut::<u64>(100).is_empty(), "an active connection holds the cut");
        assert!(r.frontier(100).unwrap() < cut);
        let marked = r.raise_to_cut::<u64>(600);
        assert_eq!(marked.len(), 1, "the idle connection records its position");
        assert!(r.all_marked());
        assert!(r.frontier(600).unwrap() >= cut);
        drop(tx);
    }

    #[test]
    fn many_quiet_connections_do_not_keep_the_operator_spinning() {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn Partition<u64>>>();
        let live = Live { arrivals: rx, tick_every: Duration::from_millis(100), idle_timeout: None };
        let mut r = Reader::new(Vec::new(), WatermarkStrategy::Ascending, 10, Some(live), None, 0);
        let connections: usize = 25;
        for _ in 0..connections {
            tx.send(Box::new(Scripted(VecDeque::new()))).unwrap();
        }
        let (mut activations, mut asked) = (0, 0);
        let mut woken = true;
        loop {
            activations += 1;
            r.poll(0, woken);
            woken = false;
            for _ in 0..BATCHES_PER_ACTIVATION {
                if r.step(0, |x| x).is_none() {
                    break;
                }
                asked += 1;
            }
            r.frontier(0);
            if r.wake(0) != Wake::Now {
                break;
            }
            assert!(activations < connections, "spinning");
        }
        assert_eq!(asked, connections, "each quiet connection is asked once");
        assert_eq!(activations, connections.div_ceil(BATCHES_PER_ACTIVATION));
        assert_eq!(r.wake(0), Wake::After(Duration::from_millis(100)));
    }

    #[test]
    fn an_idle_partition_stops_holding_the_watermark() {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn Partition<u64>>>();
        let live = Live {
            arrivals: rx,
            tick_every: Duration::from_millis(100),
            idle_timeout: Some(Duration::from_millis(500)),
        };
        let mut r = Reader::new(Vec::new(), WatermarkStrategy::Ascending, 10, Some(live), None, 0);
        tx.send(Box::new(Scripted(VecDeque::from([Batch::pending(), Batch::pending(), Batch::pending()])))).unwrap();
        tx.send(Box::new(Scripted(VecDeque::from([records(&[1_000]), Batch::pending(), Batch::pending()])))).unwrap();
        r.poll(0, true);
        while r.step(0, |x| x).is_some() {}
        assert_eq!(r.frontier(0).unwrap().watermark(), NEG_INF);
        r.poll(600, true);
        while r.step(600, |x| x).is_some() {}
        // Both are idle now: the frontier stands at the most advanced.
        assert_eq!(r.frontier(600).unwrap().watermark(), 999);
    }

    #[test]
    fn paced_records_wait_for_their_release_time() {
        let part =
            Scripted(VecDeque::from([records(&[1_000, 1_500, 3_000]), Batch { done: true, ..Batch::default() }]));
        let mut r = Reader::new(
            vec![Box::new(part) as Box<dyn Partition<u64>>],
            WatermarkStrategy::Ascending,
            10,
            None,
            Some(2.0),
            0,
        );
        r.poll(0, true);
        let Stamped { records: recs, .. } = r.step(0, |x| x).unwrap();
        assert_eq!(recs.len(), 1, "only the first record is due at once");
        assert!(r.step(0, |x| x).is_none());
        r.frontier(0);
        assert_eq!(r.wake(0), Wake::After(Duration::from_millis(200)));
        r.poll(250, true);
        assert_eq!(r.step(250, |x| x).unwrap().records.len(), 1, "1 500 is due 250 ms later at speed 2");
        r.poll(999, true);
        assert!(r.step(999, |x| x).is_none());
        r.poll(1_000, true);
        assert_eq!(r.step(1_000, |x| x).unwrap().records.len(), 1);
        r.poll(1_000, true);
        while r.step(1_000, |x| x).is_some() {}
        assert_eq!(r.frontier(1_000), None);
    }
}
