//! [`Windowing`]: the one door to windows, triggers, lateness, accumulation and pane
//! timestamps.

use super::error::BuildError;
use highwater_operators::duration::{format_millis, millis};
use highwater_operators::strategy::{
    Accumulation, ClosingBehavior, OnTimeBehavior, TimestampCombiner, WindowingStrategy,
};
use highwater_operators::trigger::Trigger;
use highwater_operators::window::{WindowFn, WindowSpec};
use std::sync::Arc;
use std::time::Duration;

/// How to window and trigger a keyed collection — Beam's `Window.into(...)
/// .triggering(...).withAllowedLateness(...)` in one value: a window function, a trigger,
/// the allowed lateness, an accumulation mode and a timestamp combiner. This is the one
/// type a pipeline author needs; the model's plain-data types (`WindowSpec`, `Trigger`,
/// `WindowingStrategy`) sit underneath it.
///
/// Durations are [`std::time::Duration`]s. Event time is kept in whole milliseconds, so a
/// window size, period, offset or lateness with a fraction of a millisecond is refused
/// when the step is built (the error names the step and the duration).
///
/// Beam's defaults apply until changed: the default trigger (one pane when the watermark
/// passes the end of the window, and one per late element within the allowed lateness),
/// no allowed lateness, discarding panes, pane timestamps at the end of the window.
///
/// ```
/// use std::time::Duration;
/// use highwater::pipeline::Windowing;
/// use highwater::model::trigger::Trigger;
///
/// // Ten-second windows every two seconds, an early pane every second of processing
/// // time, late data accepted for a minute, each pane holding everything so far.
/// let w = Windowing::sliding(Duration::from_secs(10), Duration::from_secs(2))
///     .trigger(Trigger::after_watermark().with_early(Trigger::after_processing_time(Duration::from_secs(1))))
///     .allowed_lateness(Duration::from_secs(60))
///     .accumulating();
/// let strategy = w.strategy().unwrap();
/// assert_eq!(strategy.allowed_lateness, 60_000);
/// assert_eq!(w.to_string(), "sliding(10s, 2s), after_watermark(early=after_processing_time(1000)), allowed lateness 1m, accumulating");
///
/// // Out-of-range windows are refused when the step is built, not on the first record.
/// assert!(Windowing::fixed(Duration::ZERO).strategy().is_err());
/// assert!(Windowing::fixed(Duration::from_micros(1_500)).strategy().is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Windowing {
    window: WindowSpec,
    custom: Option<Arc<dyn WindowFn>>,
    trigger: Trigger,
    allowed_lateness: i64,
    pub(super) accumulation: Accumulation,
    timestamp_combiner: TimestampCombiner,
    closing_behavior: ClosingBehavior,
    on_time_behavior: OnTimeBehavior,
    /// The first duration that is not whole milliseconds, reported by [`Windowing::strategy`].
    invalid: Option<String>,
}

impl Windowing {
    /// Tumbling windows of `size`: `[k·size, (k+1)·size)` (Beam's `FixedWindows`).
    pub fn fixed(size: Duration) -> Self {
        let mut w = Windowing::from_spec(WindowSpec::fixed(0));
        let size = w.ms("window size", size);
        w.window = WindowSpec::fixed(size);
        w
    }
    /// Windows of `size` starting every `period`, so each record is in `size / period`
    /// windows (Beam's `SlidingWindows`).
    pub fn sliding(size: Duration, period: Duration) -> Self {
        let mut w = Windowing::from_spec(WindowSpec::fixed(0));
        let (size, period) = (w.ms("window size", size), w.ms("window period", period));
        w.window = WindowSpec::sliding(size, period);
        w
    }
    /// Per-key sessions: a record at `t` opens `[t, t + gap)`; overlapping sessions merge
    /// (Beam's `Sessions.withGapDuration`).
    pub fn sessions(gap: Duration) -> Self {
        let mut w = Windowing::from_spec(WindowSpec::fixed(0));
        let gap = w.ms("session gap", gap);
        w.window = WindowSpec::sessions(gap);
        w
    }
    /// One window for all time (Beam's `GlobalWindows`); give it a trigger that fires
    /// before the end of the input, or it fires once, at the end.
    pub fn global() -> Self {
        Windowing::from_spec(WindowSpec::Global)
    }
    /// A window function of your own.
    pub fn custom(window_fn: Arc<dyn WindowFn>) -> Self {
        let mut w = Windowing::from_spec(WindowSpec::Global);
        w.custom = Some(window_fn);
        w
    }
    /// Windows of a built-in function given as plain data, in milliseconds — e.g. parsed
    /// from the grammar `highwater run --window` reads:
    ///
    /// ```
    /// use highwater::pipeline::Windowing;
    /// use highwater::model::window::WindowSpec;
    /// let spec: WindowSpec = "sliding(10s, 2s)".parse().unwrap();
    /// assert!(Windowing::from_spec(spec).strategy().is_ok());
    /// ```
    pub fn from_spec(window: WindowSpec) -> Self {
        Windowing {
            window,
            custom: None,
            trigger: Trigger::Default,
            allowed_lateness: 0,
            accumulation: Accumulation::Discarding,
            timestamp_combiner: TimestampCombiner::EndOfWindow,
            closing_behavior: ClosingBehavior::FireIfNonEmpty,
            on_time_behavior: OnTimeBehavior::FireAlways,
            invalid: None,
        }
    }
    /// Shifts fixed or sliding windows by `offset`: `fixed(1h)` with an offset of 15
    /// minutes gives `[00:15, 01:15)`, … (other windows are unchanged).
    ///
    /// ```
    /// use std::time::Duration;
    /// use highwater::pipeline::Windowing;
    /// let w = Windowing::fixed(Duration::from_secs(3600)).offset(Duration::from_secs(900));
    /// assert_eq!(w.to_string(), "fixed(1h, offset=15m)");
    /// ```
    pub fn offset(mut self, offset: Duration) -> Self {
        let o = self.ms("window offset", offset);
        match &mut self.window {
            WindowSpec::Fixed { offset, .. } | WindowSpec::Sliding { offset, .. } => *offset = o,
            WindowSpec::Global | WindowSpec::Sessions { .. } => {}
        }
        self
    }
    /// When panes fire (Beam's `triggering`); the default is [`Trigger::Default`].
    pub fn trigger(mut self, t: Trigger) -> Self {
        self.trigger = t;
        self
    }
    /// How long after the end of a window (by the watermark) its late records are still
    /// accepted and fire late panes; later records are dead letters (`too_late`). The
    /// default is zero.
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.allowed_lateness = self.ms("allowed lateness", lateness);
        self
    }
    /// Each pane holds only what arrived since the previous pane (the default).
    pub fn discarding(mut self) -> Self {
        self.accumulation = Accumulation::Discarding;
        self
    }
    /// Each pane holds everything of its window so far.
    pub fn accumulating(mut self) -> Self {
        self.accumulation = Accumulation::Accumulating;
        self
    }
    /// Accumulating panes, each preceded by the retraction of the pane it replaces
    /// (`docs/retractions.md`).
    pub fn retracting(mut self) -> Self {
        self.accumulation = Accumulation::Retracting;
        self
    }
    /// Any accumulation mode.
    pub fn accumulation(mut self, a: Accumulation) -> Self {
        self.accumulation = a;
        self
    }
    /// How a pane's timestamp is chosen (default: the end of the window).
    pub fn timestamp_combiner(mut self, c: TimestampCombiner) -> Self {
        self.timestamp_combiner = c;
        self
    }
    /// Whether each window emits a final pane when it is garbage-collected (the watermark
    /// passed its end plus the allowed lateness) even if nothing arrived since its previous
    /// pane (Beam's `ClosingBehavior`; [`ClosingBehavior::FireIfNonEmpty`] by default).
    /// With [`ClosingBehavior::FireAlways`] and allowed lateness, every window that received
    /// a record ends with a pane marked `last` — empty when discarding — so a consumer knows
    /// when a window is final.
    ///
    /// ```
    /// use std::time::Duration;
    /// use highwater::model::strategy::ClosingBehavior;
    /// use highwater::pipeline::Windowing;
    ///
    /// // One-minute windows open to late data for ten seconds, each closed by a last pane.
    /// let w = Windowing::fixed(Duration::from_secs(60))
    ///     .allowed_lateness(Duration::from_secs(10))
    ///     .closing_behavior(ClosingBehavior::FireAlways);
    /// assert_eq!(w.strategy().unwrap().closing_behavior, ClosingBehavior::FireAlways);
    /// assert_eq!(w.to_string(), "fixed(1m), allowed lateness 10s, closing fire_always");
    /// ```
    pub fn closing_behavior(mut self, c: ClosingBehavior) -> Self {
        self.closing_behavior = c;
        self
    }
    /// Whether the on-time pane is emitted when nothing arrived since the window's previous
    /// (early) pane (Beam's `OnTimeBehavior`; [`OnTimeBehavior::FireAlways`] by default).
    /// [`OnTimeBehavior::FireIfNonEmpty`] drops those empty on-time panes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use highwater::model::strategy::OnTimeBehavior;
    /// use highwater::model::trigger::Trigger;
    /// use highwater::pipeline::Windowing;
    ///
    /// // An early pane every 100 records, and no empty on-time pane after them.
    /// let w = Windowing::fixed(Duration::from_secs(60))
    ///     .trigger(Trigger::after_watermark().with_early(Trigger::after_count(100)))
    ///     .on_time_behavior(OnTimeBehavior::FireIfNonEmpty);
    /// assert_eq!(w.strategy().unwrap().on_time_behavior, OnTimeBehavior::FireIfNonEmpty);
    /// ```
    pub fn on_time_behavior(mut self, b: OnTimeBehavior) -> Self {
        self.on_time_behavior = b;
        self
    }
    /// The validated strategy: what an aggregation step runs. A step calls this when it
    /// is built; call it yourself to check a windowing early.
    pub fn strategy(&self) -> Result<WindowingStrategy, BuildError> {
        if let Some(bad) = &self.invalid {
            return Err(BuildError::Duration(bad.clone()));
        }
        let b = match &self.custom {
            Some(f) => WindowingStrategy::custom(f.clone()),
            None => WindowingStrategy::new(self.window.clone().validate().map_err(BuildError::Window)?),
        };
        b.trigger(self.trigger.clone())
            .allowed_lateness(self.allowed_lateness)
            .accumulation(self.accumulation)
            .timestamp_combiner(self.timestamp_combiner)
            .closing_behavior(self.closing_behavior)
            .on_time_behavior(self.on_time_behavior)
            .build()
            .map_err(BuildError::Strategy)
    }

    /// `d` in milliseconds; remembers the first that is not a whole number of them.
    fn ms(&mut self, what: &str, d: Duration) -> i64 {
        millis(d).unwrap_or_else(|| {
            self.invalid.get_or_insert_with(|| {
                format!("{what} {d:?} is not a whole number of milliseconds (event time is kept in milliseconds)")
            });
            0
        })
    }
}

impl std::fmt::Display for Windowing {
    /// The windowing in the grammar of `highwater run` (durations with units), then the
    /// settings that differ from Beam's defaults.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = |ms: i64| format_millis(ms);
        match (&self.custom, &self.window) {
            (Some(_), _) => write!(f, "custom")?,
            (None, WindowSpec::Global) => write!(f, "global")?,
            (None, WindowSpec::Fixed { size, offset: 0 }) => write!(f, "fixed({})", d(*size))?,
            (None, WindowSpec::Fixed { size, offset }) => write!(f, "fixed({}, offset={})", d(*size), d(*offset))?,
            (None, WindowSpec::Sliding { size, period, offset: 0 }) => {
                write!(f, "sliding({}, {})", d(*size), d(*period))?
            }
            (None, WindowSpec::Sliding { size, period, offset }) => {
                write!(f, "sliding({}, {}, offset={})", d(*size), d(*period), d(*offset))?
            }
            (None, WindowSpec::Sessions { gap }) => write!(f, "sessions({})", d(*gap))?,
        }
        if self.trigger != Trigger::Default {
            write!(f, ", {}", self.trigger)?;
        }
        if self.allowed_lateness != 0 {
            write!(f, ", allowed lateness {}", d(self.allowed_lateness))?;
        }
        match self.accumulation {
            Accumulation::Discarding => {}
            Accumulation::Accumulating => write!(f, ", accumulating")?,
            Accumulation::Retracting => write!(f, ", retracting")?,
        }
        if self.timestamp_combiner != TimestampCombiner::EndOfWindow {
            write!(f, ", timestamps {:?}", self.timestamp_combiner)?;
        }
        if self.closing_behavior != ClosingBehavior::default() {
            write!(f, ", closing {}", self.closing_behavior)?;
        }
        if self.on_time_behavior != OnTimeBehavior::default() {
            write!(f, ", on time {}", self.on_time_behavior)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations used to be bare `i64` ticks: a fraction of a millisecond must not be
    /// silently truncated to a different window.
    #[test]
    fn windowing_refuses_durations_finer_than_a_millisecond() {
        let e = Windowing::sessions(Duration::from_nanos(10_000_500)).strategy().unwrap_err();
        assert!(e.to_string().contains("session gap"), "{e}");
        let e = Windowing::fixed(Duration::from_secs(10))
            .allowed_lateness(Duration::from_micros(1))
            .strategy()
            .unwrap_err();
        assert!(e.to_string().contains("allowed lateness"), "{e}");
        let s = Windowing::fixed(Duration::from_millis(1_500)).strategy().unwrap();
        assert_eq!(s.window, WindowSpec::fixed(1_500));
    }

    #[test]
    fn windowing_offsets_only_aligned_windows() {
        let s = Windowing::sliding(Duration::from_secs(10), Duration::from_secs(2))
            .offset(Duration::from_secs(3))
            .strategy()
            .unwrap();
        assert_eq!(s.window, WindowSpec::Sliding { size: 10_000, period: 2_000, offset: 1_000 });
        let s = Windowing::sessions(Duration::from_secs(5)).offset(Duration::from_secs(3)).strategy().unwrap();
        assert_eq!(s.window, WindowSpec::sessions(5_000));
    }
}
