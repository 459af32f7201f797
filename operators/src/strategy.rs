//! The windowing strategy: window function, trigger, allowed lateness, accumulation mode
//! and timestamp combiner — plain data, validated once when a pipeline is built.

use crate::trigger::{Trigger, TriggerError, TriggerMachine};
use crate::window::{WindowFn, WindowSpec};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// How successive panes of one window relate (Beam's `AccumulationMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Accumulation {
    /// Each pane holds only what arrived since the previous pane.
    #[default]
    Discarding,
    /// Each pane holds everything so far.
    Accumulating,
    /// As accumulating, and each pane is preceded by retractions of the panes it replaces:
    /// a changelog that downstream differential operators consume.
    Retracting,
}

impl fmt::Display for Accumulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accumulation::Discarding => "discarding",
            Accumulation::Accumulating => "accumulating",
            Accumulation::Retracting => "retracting",
        })
    }
}

impl std::str::FromStr for Accumulation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "discarding" => Ok(Accumulation::Discarding),
            "accumulating" => Ok(Accumulation::Accumulating),
            "retracting" | "accumulating_and_retracting" => Ok(Accumulation::Retracting),
            other => Err(format!("unknown accumulation mode `{other}`; use discarding, accumulating or retracting")),
        }
    }
}

/// Which timestamp a pane gets (Beam's `TimestampCombiner`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum TimestampCombiner {
    /// The window's maximum timestamp, `end - 1`.
    #[default]
    EndOfWindow,
    /// The earliest on-time element timestamp since the previous pane.
    Earliest,
    /// The latest on-time element timestamp since the previous pane.
    Latest,
    /// Beam Python's `OUTPUT_AT_EARLIEST_TRANSFORMED` with a window function that shifts
    /// output times by a fixed amount: the earliest of (element timestamp + shift). Not
    /// clipped to the window.
    EarliestTransformed(i64),
}

impl TimestampCombiner {
    /// Combines two holds.
    pub fn combine(self, a: i64, b: i64) -> i64 {
        match self {
            TimestampCombiner::Latest => a.max(b),
            _ => a.min(b),
        }
    }
}

impl fmt::Display for TimestampCombiner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampCombiner::EndOfWindow => "end_of_window",
            TimestampCombiner::Earliest => "earliest",
            TimestampCombiner::Latest => "latest",
            TimestampCombiner::EarliestTransformed(d) => return write!(f, "earliest_transformed({d})"),
        })
    }
}

impl std::str::FromStr for TimestampCombiner {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "end_of_window" => Ok(TimestampCombiner::EndOfWindow),
            "earliest" => Ok(TimestampCombiner::Earliest),
            "latest" => Ok(TimestampCombiner::Latest),
            t if t.starts_with("earliest_transformed(") && t.ends_with(')') => {
                let inner = &t["earliest_transformed(".len()..t.len() - 1];
                crate::duration::parse_ticks(inner).map(TimestampCombiner::EarliestTransformed)
            }
            other => Err(format!(
                "unknown timestamp combiner `{other}`; use end_of_window, earliest, latest or earliest_transformed(D)"
            )),
        }
    }
}

/// Whether a window emits a final pane at garbage collection when nothing arrived since its
/// previous pane (Beam's `Window.ClosingBehavior`).
///
/// A window is garbage-collected when the input watermark passes its end plus the allowed
/// lateness. With [`ClosingBehavior::FireAlways`] every window that received an element
/// (and whose trigger has not finished) emits a last pane then, empty or not, so that a
/// consumer learns that the window is final (`last: true`); Beam then also keeps a
/// garbage-collection watermark hold after each pane, so that this pane is never behind the
/// output watermark downstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum ClosingBehavior {
    /// Beam's default: the final pane at garbage collection is emitted only if elements
    /// arrived since the previous pane (or if it is the on-time pane, see
    /// [`OnTimeBehavior`]).
    #[default]
    FireIfNonEmpty,
    /// The final pane (at garbage collection, or when the trigger finishes) is emitted even
    /// when it is empty.
    FireAlways,
}

impl fmt::Display for ClosingBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClosingBehavior::FireIfNonEmpty => "fire_if_non_empty",
            ClosingBehavior::FireAlways => "fire_always",
        })
    }
}

impl std::str::FromStr for ClosingBehavior {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "fire_if_non_empty" => Ok(ClosingBehavior::FireIfNonEmpty),
            "fire_always" => Ok(ClosingBehavior::FireAlways),
            other => Err(format!("unknown closing behavior `{other}`; use fire_if_non_empty or fire_always")),
        }
    }
}

/// Whether the on-time pane is emitted when nothing arrived since the window's previous
/// pane (Beam's `Window.OnTimeBehavior`).
///
/// The on-time pane is the first non-early pane while the output watermark has not passed
/// the end of the window (see [`crate::pane::Timing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum OnTimeBehavior {
    /// Beam's default: the on-time pane is always emitted, empty in discarding mode after
    /// early panes, a repetition of the contents in accumulating mode.
    #[default]
    FireAlways,
    /// An empty on-time firing emits nothing (the trigger still fires; no index is used),
    /// unless it is also the final pane and the closing behavior is
    /// [`ClosingBehavior::FireAlways`].
    FireIfNonEmpty,
}

impl fmt::Display for OnTimeBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnTimeBehavior::FireAlways => "fire_always",
            OnTimeBehavior::FireIfNonEmpty => "fire_if_non_empty",
        })
    }
}

impl std::str::FromStr for OnTimeBehavior {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "fire_always" => Ok(OnTimeBehavior::FireAlways),
            "fire_if_non_empty" => Ok(OnTimeBehavior::FireIfNonEmpty),
            other => Err(format!("unknown on-time behavior `{other}`; use fire_always or fire_if_non_empty")),
        }
    }
}

/// A complete windowing strategy.
///
/// ```
/// use highwater::model::strategy::{Accumulation, WindowingStrategy};
/// use highwater::model::trigger::Trigger;
/// use highwater::model::window::WindowSpec;
/// let s = WindowingStrategy::new(WindowSpec::fixed(10))
///     .trigger(Trigger::after_watermark().with_late(Trigger::after_count(1)))
///     .allowed_lateness(100)
///     .accumulation(Accumulation::Accumulating)
///     .build()
///     .unwrap();
/// assert_eq!(s.allowed_lateness, 100);
/// ```
#[derive(Clone, Debug)]
pub struct WindowingStrategy {
    /// The window function, described.
    pub window: WindowSpec,
    /// The executable window function (a custom one when `window` is only a label).
    pub window_fn: Arc<dyn WindowFn>,
    /// When panes fire.
    pub trigger: Trigger,
    /// How long after the end of a window late data is still accepted (milliseconds, ≥ 0).
    pub allowed_lateness: i64,
    /// Discarding, accumulating or retracting.
    pub accumulation: Accumulation,
    /// The pane timestamp.
    pub timestamp_combiner: TimestampCombiner,
    /// Whether an empty final pane is emitted at garbage collection.
    pub closing_behavior: ClosingBehavior,
    /// Whether an empty on-time pane is emitted.
    pub on_time_behavior: OnTimeBehavior,
}

/// A strategy that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StrategyError {
    /// The trigger is invalid.
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    /// Negative lateness.
    #[error("allowed lateness must be >= 0, got {0}")]
    NegativeLateness(i64),
    /// The trigger tree is too large.
    #[error("the trigger has more than 128 nodes; simplify it")]
    TriggerTooLarge,
    /// The window is out of range (e.g. `fixed(0)`).
    #[error(transparent)]
    Window(#[from] crate::window::WindowError),
}

impl WindowingStrategy {
    /// A strategy over the built-in window `window`, with Beam's defaults: the default
    /// trigger, no allowed lateness, discarding, end-of-window timestamps, a final pane at
    /// garbage collection only if non-empty, the on-time pane always.
    // A builder by design (STYLE §6): `build()` validates and returns the strategy.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(window: WindowSpec) -> StrategyBuilder {
        let window_fn = window.window_fn();
        StrategyBuilder {
            s: WindowingStrategy {
                window,
                window_fn,
                trigger: Trigger::Default,
                allowed_lateness: 0,
                accumulation: Accumulation::Discarding,
                timestamp_combiner: TimestampCombiner::EndOfWindow,
                closing_behavior: ClosingBehavior::FireIfNonEmpty,
                on_time_behavior: OnTimeBehavior::FireAlways,
            },
        }
    }
    /// A strategy over a custom window function (`label` names it in errors and output).
    pub fn custom(window_fn: Arc<dyn WindowFn>) -> StrategyBuilder {
        let mut b = WindowingStrategy::new(WindowSpec::Global);
        b.s.window_fn = window_fn;
        b
    }
    /// Whether elements may be pre-combined per (key, window) before the exchange (Beam's
    /// combiner lifting) without changing any pane: the windows do not merge, pane
    /// timestamps do not depend on element timestamps (end of window), and windows never
    /// close (so no element is dropped after combining). The closing and on-time behaviors
    /// do not matter: they decide only whether an empty pane is emitted, and a pre-combined
    /// window is empty or not exactly when the window of its elements would be.
    pub fn can_precombine(&self) -> bool {
        !self.window_fn.is_merging()
            && self.timestamp_combiner == TimestampCombiner::EndOfWindow
            && !self.trigger.may_finish()
    }

    /// The trigger machine for this strategy.
    pub fn machine(&self) -> TriggerMachine {
        TriggerMachine::new(&self.trigger, self.window_fn.is_merging())
    }
}

/// Builds a [`WindowingStrategy`]; [`StrategyBuilder::build`] validates it.
#[derive(Clone, Debug)]
pub struct StrategyBuilder {
    s: WindowingStrategy,
}

impl StrategyBuilder {
    /// Sets the trigger.
    pub fn trigger(mut self, t: Trigger) -> Self {
        self.s.trigger = t;
        self
    }
    /// Sets the allowed lateness in milliseconds.
    pub fn allowed_lateness(mut self, l: i64) -> Self {
        self.s.allowed_lateness = l;
        self
    }
    /// Sets the accumulation mode.
    pub fn accumulation(mut self, a: Accumulation) -> Self {
        self.s.accumulation = a;
        self
    }
    /// Sets the timestamp combiner.
    pub fn timestamp_combiner(mut self, c: TimestampCombiner) -> Self {
        self.s.timestamp_combiner = c;
        self
    }
    /// Sets the closing behavior: whether an empty final pane is emitted at garbage
    /// collection ([`ClosingBehavior::FireIfNonEmpty`] by default).
    ///
    /// ```
    /// use highwater::model::strategy::{ClosingBehavior, WindowingStrategy};
    /// use highwater::model::window::WindowSpec;
    /// // Every window says when it is final, 5 ticks after its end.
    /// let s = WindowingStrategy::new(WindowSpec::fixed(10))
    ///     .allowed_lateness(5)
    ///     .closing_behavior(ClosingBehavior::FireAlways)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(s.closing_behavior, ClosingBehavior::FireAlways);
    /// ```
    pub fn closing_behavior(mut self, c: ClosingBehavior) -> Self {
        self.s.closing_behavior = c;
        self
    }
    /// Sets the on-time behavior: whether an empty on-time pane is emitted
    /// ([`OnTimeBehavior::FireAlways`] by default).
    ///
    /// ```
    /// use highwater::model::strategy::{OnTimeBehavior, WindowingStrategy};
    /// use highwater::model::trigger::Trigger;
    /// use highwater::model::window::WindowSpec;
    /// // Early panes every 100 elements, and no empty on-time pane after them.
    /// let s = WindowingStrategy::new(WindowSpec::fixed(10))
    ///     .trigger(Trigger::after_watermark().with_early(Trigger::after_count(100)))
    ///     .on_time_behavior(OnTimeBehavior::FireIfNonEmpty)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(s.on_time_behavior, OnTimeBehavior::FireIfNonEmpty);
    /// ```
    pub fn on_time_behavior(mut self, b: OnTimeBehavior) -> Self {
        self.s.on_time_behavior = b;
        self
    }
    /// Validates and returns the strategy.
    pub fn build(mut self) -> Result<WindowingStrategy, StrategyError> {
        // A built-in window out of range (a zero size or gap) would fail on the first
        // element: refuse it here. (A custom window function is labelled `global`.)
        let window = self.s.window.clone().validate()?;
        if window != self.s.window {
            self.s.window_fn = window.window_fn();
            self.s.window = window;
        }
        self.s.trigger.validate()?;
        if !TriggerMachine::check_size(&self.s.trigger) {
            return Err(StrategyError::TriggerTooLarge);
        }
        if self.s.allowed_lateness < 0 {
            return Err(StrategyError::NegativeLateness(self.s.allowed_lateness));
        }
        Ok(self.s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fixed(0)` used to build, then panic on the first element.
    #[test]
    fn strategy_builder_refuses_a_zero_sized_window() {
        for w in [WindowSpec::fixed(0), WindowSpec::sliding(10, 0), WindowSpec::sessions(0)] {
            let err = WindowingStrategy::new(w.clone()).build().err();
            assert!(matches!(err, Some(StrategyError::Window(_))), "{w:?}: {err:?}");
        }
        assert!(WindowingStrategy::new(WindowSpec::fixed(10)).build().is_ok());
    }
}
