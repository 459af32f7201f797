//! [`TestStream`]: a scripted source — elements, watermark advances and processing-time
//! advances, applied one at a time (Beam's `TestStream`).

use super::gate::{Gate, Script};
use crate::source::{Batch, Live, Partition, Source, Waker};
use highwater_operators::clock::{Clock, VirtualClock};
use highwater_operators::time::POS_INF;
use highwater_operators::watermark::WatermarkStrategy;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One step of a [`TestStream`]'s script.
#[derive(Clone, Debug, PartialEq)]
pub enum Action<T> {
    /// Elements, each with its event time, arriving together (one bundle).
    Elements(Vec<(i64, T)>),
    /// The watermark moves to this event time (never backwards).
    Watermark(i64),
    /// Processing time moves on by this much.
    ProcessingTime(Duration),
}

impl<T: fmt::Debug> fmt::Display for Action<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Elements(es) => {
                f.write_str("elements ")?;
                for (i, (t, v)) in es.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{v:?} at {t}")?;
                }
                if es.is_empty() {
                    f.write_str("(none)")?;
                }
                Ok(())
            }
            Action::Watermark(POS_INF) => f.write_str("watermark to +∞"),
            Action::Watermark(t) => write!(f, "watermark to {t}"),
            Action::ProcessingTime(d) => write!(f, "processing time +{d:?}"),
        }
    }
}

/// A scripted source (Beam's `TestStream`): elements, watermark advances and
/// processing-time advances, applied in order, each only after the effects of the one
/// before have passed through the whole pipeline.
///
/// The script is built like Beam's; run it with [`super::run`] or [`super::Harness`],
/// which hand it to your pipeline function to read with
/// [`Pipeline::read`](crate::pipeline::Pipeline::read) or
/// [`Pipeline::read_keyed`](crate::pipeline::Pipeline::read_keyed). The watermark moves
/// only when the script says so (from −∞); after the last action the stream ends, the
/// watermark goes to +∞ and every window fires. Processing time starts at 0 and moves a
/// [`VirtualClock`] shared by the run, so `after_processing_time` triggers fire exactly
/// when the script says.
///
/// ```
/// use highwater::testing::{Action, TestStream};
/// use std::time::Duration;
///
/// let stream = TestStream::new()
///     .add_elements([(1, "a"), (2, "b")])
///     .advance_processing_time(Duration::from_millis(500))
///     .advance_watermark_to(10)
///     .add_element(3, "late")
///     .advance_watermark_to_infinity();
/// assert_eq!(stream.actions().len(), 5);
/// assert_eq!(stream.actions()[2], Action::Watermark(10));
/// ```
///
/// The actions are applied one per progress tick: action `a` is stamped `(watermark, a)`.
/// Read outside the harness (by a pipeline of your own run with
/// [`run_with_clock`](crate::pipeline::run_with_clock) and [`TestStream::clock`]) the
/// actions follow each other without waiting for their effects, so processing-time
/// advances race with the data; use the harness for those.
pub struct TestStream<T> {
    actions: Arc<Vec<Action<T>>>,
    clock: VirtualClock,
    gate: Option<Arc<Gate>>,
}

impl<T> Clone for TestStream<T> {
    fn clone(&self) -> Self {
        TestStream { actions: self.actions.clone(), clock: self.clock.clone(), gate: self.gate.clone() }
    }
}

impl<T> Default for TestStream<T> {
    fn default() -> Self {
        TestStream { actions: Arc::new(Vec::new()), clock: VirtualClock::new(0), gate: None }
    }
}

impl<T: Clone> TestStream<T> {
    /// An empty script.
    ///
    /// ```
    /// use highwater::testing::TestStream;
    /// let s: TestStream<u64> = TestStream::new();
    /// assert!(s.actions().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, a: Action<T>) -> Self {
        Arc::make_mut(&mut self.actions).push(a);
        self
    }

    /// Adds elements `(event time, value)` that arrive together, in one bundle.
    ///
    /// ```
    /// use highwater::testing::{Action, TestStream};
    /// let s = TestStream::new().add_elements([(1, 'a'), (5, 'b')]);
    /// assert_eq!(s.actions(), &[Action::Elements(vec![(1, 'a'), (5, 'b')])]);
    /// ```
    pub fn add_elements(self, elements: impl IntoIterator<Item = (i64, T)>) -> Self {
        self.push(Action::Elements(elements.into_iter().collect()))
    }

    /// Adds one element at event time `t`.
    ///
    /// ```
    /// use highwater::testing::{Action, TestStream};
    /// let s = TestStream::new().add_element(7, "x");
    /// assert_eq!(s.actions(), &[Action::Elements(vec![(7, "x")])]);
    /// ```
    pub fn add_element(self, t: i64, value: T) -> Self {
        self.add_elements([(t, value)])
    }

    /// Moves the watermark to event time `t`: windows whose maximum timestamp is before
    /// `t` fire their on-time panes, and elements for windows that ended (plus allowed
    /// lateness) before `t` are too late from now on. A watermark never goes back: an
    /// earlier `t` leaves it where it is.
    ///
    /// ```
    /// use highwater::testing::{Action, TestStream};
    /// let s: TestStream<u8> = TestStream::new().advance_watermark_to(10);
    /// assert_eq!(s.actions(), &[Action::Watermark(10)]);
    /// ```
    pub fn advance_watermark_to(self, t: i64) -> Self {
        self.push(Action::Watermark(t))
    }

    /// Moves the watermark to +∞: every window fires, every later element is too late.
    ///
    /// ```
    /// use highwater::testing::{Action, TestStream};
    /// use highwater::model::time::POS_INF;
    /// let s: TestStream<u8> = TestStream::new().advance_watermark_to_infinity();
    /// assert_eq!(s.actions(), &[Action::Watermark(POS_INF)]);
    /// ```
    pub fn advance_watermark_to_infinity(self) -> Self {
        self.push(Action::Watermark(POS_INF))
    }

    /// Moves processing time on by `d` (milliseconds of the virtual clock): the
    /// `after_processing_time` delays that have run out fire.
    ///
    /// ```
    /// use highwater::testing::{Action, TestStream};
    /// use std::time::Duration;
    /// let s: TestStream<u8> = TestStream::new().advance_processing_time(Duration::from_secs(1));
    /// assert_eq!(s.actions(), &[Action::ProcessingTime(Duration::from_secs(1))]);
    /// ```
    pub fn advance_processing_time(self, d: Duration) -> Self {
        self.push(Action::ProcessingTime(d))
    }
}

impl<T> TestStream<T> {
    /// The script, in order.
    ///
    /// ```
    /// use highwater::testing::TestStream;
    /// assert_eq!(TestStream::new().add_element(1, ()).actions().len(), 1);
    /// ```
    pub fn actions(&self) -> &[Action<T>] {
        &self.actions
    }

    /// The virtual clock the processing-time advances move (for a pipeline of your own:
    /// `run_with_clock(config, Arc::new(stream.clock()), ...)`; the harness gives each run
    /// a fresh one).
    ///
    /// ```
    /// use highwater::testing::TestStream;
    /// use highwater::model::clock::Clock;
    /// let s: TestStream<u8> = TestStream::new();
    /// assert_eq!(s.clock().now(), 0);
    /// ```
    pub fn clock(&self) -> VirtualClock {
        self.clock.clone()
    }

    /// The watermarks the script moves through, for the gate and the result.
    pub(crate) fn script(&self) -> Script {
        Script::new(self.actions.iter().map(|a| match a {
            Action::Watermark(t) => Some(*t),
            _ => None,
        }))
    }

    /// This script bound to one run: its clock and gate.
    pub(crate) fn bound(&self, clock: VirtualClock, gate: Arc<Gate>) -> Self {
        TestStream { actions: self.actions.clone(), clock, gate: Some(gate) }
    }
}

impl<T: fmt::Debug> fmt::Debug for TestStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestStream").field("actions", &self.actions).finish_non_exhaustive()
    }
}

/// The one partition of a test stream (worker 0's).
struct ScriptPartition<T> {
    actions: Arc<Vec<Action<T>>>,
    clock: VirtualClock,
    gate: Option<Arc<Gate>>,
    next: usize,
    watermark: i64,
}

impl<T: Clone + Send + Sync> Partition<T> for ScriptPartition<T> {
    fn read(&mut self, _max: usize) -> Batch<T> {
        let released = |a: usize| self.gate.as_ref().is_none_or(|g| g.try_release(a));
        let Some(action) = self.actions.get(self.next) else {
            // The end waits for the last action too, so that it is an action of its own.
            let settled = self.gate.as_ref().is_none_or(|g| g.is_settled());
            return if settled { Batch { done: true, ..Batch::default() } } else { Batch::pending() };
        };
        if !released(self.next) {
            return Batch::pending();
        }
        self.next += 1;
        let mut batch = Batch::default();
        match action {
            Action::Elements(es) => batch.records = es.clone(),
            Action::Watermark(t) => self.watermark = self.watermark.max(*t),
            Action::ProcessingTime(d) => {
                let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                self.clock.set(self.clock.now().saturating_add(ms));
            }
        }
        // Every action carries the watermark, so that each is a stamp of its own (the
        // read step advances the tick once per batch that carries something).
        batch.punctuation = Some(self.watermark);
        batch
    }
    fn name(&self) -> String {
        "test stream".into()
    }
}

impl<T: Clone + Send + Sync + 'static> Source<T> for TestStream<T> {
    fn open(&self, worker: usize, peers: usize) -> Result<Vec<Box<dyn Partition<T>>>, String> {
        if let Some(g) = &self.gate {
            g.open(worker, peers)?;
        }
        if worker != 0 {
            return Ok(Vec::new());
        }
        Ok(vec![Box::new(ScriptPartition {
            actions: self.actions.clone(),
            clock: self.clock.clone(),
            gate: self.gate.clone(),
            next: 0,
            watermark: highwater_operators::time::NEG_INF,
        })])
    }
    fn watermark(&self) -> WatermarkStrategy {
        WatermarkStrategy::Punctuated
    }
    fn batch_size(&self) -> usize {
        usize::MAX
    }
    /// Worker 0's partition waits for the gate between actions as a live partition waits
    /// for data: pending until the gate wakes the source. No ticks of its own and no idle
    /// timeout (processing time is the script's).
    fn live(&self, worker: usize, _peers: usize, waker: Waker) -> Result<Option<Live<T>>, String> {
        let Some(gate) = self.gate.as_ref().filter(|_| worker == 0) else { return Ok(None) };
        gate.set_source(waker);
        let (_, arrivals) = std::sync::mpsc::channel();
        Ok(Some(Live { arrivals, tick_every: Duration::MAX, idle_timeout: None }))
    }
}
