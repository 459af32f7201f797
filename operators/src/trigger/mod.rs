//! Triggers: when a (key, window) pane is emitted.
//!
//! A [`Trigger`] is a description — plain data, checked when the pipeline is built,
//! printable in and parseable from the grammar of the conformance format. The
//! [`TriggerMachine`] runs it per (key, window) with Beam Java's semantics.
//!
//! ```
//! use highwater::model::trigger::Trigger;
//! use std::time::Duration;
//! let t = Trigger::after_watermark()
//!     .with_early(Trigger::after_processing_time(Duration::from_secs(1)))
//!     .with_late(Trigger::after_count(1));
//! assert_eq!(t.to_string(), "after_watermark(early=after_processing_time(1000), late=after_count(1))");
//! let parsed: Trigger = t.to_string().parse().unwrap();
//! assert_eq!(parsed, t);
//! ```

mod machine;
mod parse;

pub use machine::{machine_ctx, TimerDomain, TriggerCtx, TriggerMachine, TriggerState};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A trigger description, with Beam's names and semantics.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Trigger {
    /// Fire every time the watermark has passed the end of the window (and for every late
    /// bundle after it); Beam's `DefaultTrigger`.
    Default,
    /// Never fire; only garbage collection emits.
    Never,
    /// Fire when the watermark passes the end of the window, with optional repeated early
    /// firings before and late firings after.
    AfterWatermark {
        /// Fires repeatedly before the end of the window.
        early: Option<Box<Trigger>>,
        /// Fires repeatedly after the end of the window.
        late: Option<Box<Trigger>>,
    },
    /// Fire once the pane holds at least this many elements.
    AfterCount(u64),
    /// Fire once processing time is strictly after the arrival of the pane's first element
    /// plus this delay.
    AfterProcessingTime(i64),
    /// Beam's runner-internal synchronized processing time (a zero delay here).
    AfterSynchronizedProcessingTime,
    /// Fire whenever the inner trigger fires, forever.
    Repeatedly(Box<Trigger>),
    /// Run the triggers one after the other; finish with the last.
    AfterEach(Vec<Trigger>),
    /// Fire when any of the triggers fires (Beam `AfterFirst`).
    AfterFirst(Vec<Trigger>),
    /// Fire when all of the triggers have fired.
    AfterAll(Vec<Trigger>),
    /// Fire as the first; finish when the second fires.
    OrFinally(Box<Trigger>, Box<Trigger>),
}

/// A trigger that cannot run, with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TriggerError {
    /// The text is not in the trigger grammar.
    #[error("invalid trigger `{text}` at byte {at}: {reason}")]
    Syntax {
        /// The whole text.
        text: String,
        /// Byte offset of the problem.
        at: usize,
        /// What was expected.
        reason: String,
    },
    /// A well-formed trigger that Beam's model rejects.
    #[error("invalid trigger `{trigger}`: {reason}")]
    Invalid {
        /// The offending (sub-)trigger, printed.
        trigger: String,
        /// Why, and what to use instead.
        reason: String,
    },
}

impl Trigger {
    /// `after_watermark` with no early or late firings.
    pub fn after_watermark() -> Self {
        Trigger::AfterWatermark { early: None, late: None }
    }
    /// Adds early firings to an `after_watermark` (other triggers are returned unchanged).
    pub fn with_early(self, early: Trigger) -> Self {
        match self {
            Trigger::AfterWatermark { late, .. } => Trigger::AfterWatermark { early: Some(Box::new(early)), late },
            other => other,
        }
    }
    /// Adds late firings to an `after_watermark` (other triggers are returned unchanged).
    pub fn with_late(self, late: Trigger) -> Self {
        match self {
            Trigger::AfterWatermark { early, .. } => Trigger::AfterWatermark { early, late: Some(Box::new(late)) },
            other => other,
        }
    }
    /// `after_count(n)`: fires once the pane holds at least `n` records. As in Beam, a
    /// trigger is evaluated once per bundle (a source batch), not per record, so a pane
    /// may fire with more than `n` records when a bundle brings it past `n` (a source's
    /// `batch_size(1)` evaluates it after every record).
    pub fn after_count(n: u64) -> Self {
        Trigger::AfterCount(n)
    }
    /// `after_processing_time(delay)`: fires `delay` of processing time after the pane's
    /// first element arrived. Processing time is kept in whole milliseconds; a fraction of a
    /// millisecond is rounded up.
    ///
    /// ```
    /// use std::time::Duration;
    /// use highwater::model::trigger::Trigger;
    /// assert_eq!(Trigger::after_processing_time(Duration::from_secs(1)).to_string(), "after_processing_time(1000)");
    /// ```
    pub fn after_processing_time(delay: std::time::Duration) -> Self {
        Trigger::AfterProcessingTime(crate::duration::millis_rounded_up(delay))
    }
    /// `repeatedly(t)`.
    pub fn repeatedly(t: Trigger) -> Self {
        Trigger::Repeatedly(Box::new(t))
    }
    /// `or_finally(self, until)`.
    pub fn or_finally(self, until: Trigger) -> Self {
        Trigger::OrFinally(Box::new(self), Box::new(until))
    }

    /// Whether the trigger can finish (and so close its window to later elements). `false`
    /// for triggers that fire forever: `default`, `repeatedly`, and `after_watermark` with
    /// late firings. Conservative: `true` when unsure.
    ///
    /// ```
    /// use highwater::model::trigger::Trigger;
    /// assert!(!Trigger::Default.may_finish());
    /// assert!(Trigger::after_count(3).may_finish());
    /// assert!(!Trigger::after_watermark().with_late(Trigger::after_count(1)).may_finish());
    /// ```
    pub fn may_finish(&self) -> bool {
        !matches!(self, Trigger::Default | Trigger::Repeatedly(_) | Trigger::AfterWatermark { late: Some(_), .. })
    }

    /// Whether this is a "once" trigger in Beam's sense: it fires at most once.
    pub fn is_once(&self) -> bool {
        match self {
            Trigger::AfterCount(_)
            | Trigger::AfterProcessingTime(_)
            | Trigger::AfterSynchronizedProcessingTime
            | Trigger::Never
            | Trigger::AfterWatermark { early: None, late: None } => true,
            Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) => ts.iter().all(Trigger::is_once),
            _ => false,
        }
    }

    /// Checks the trigger as Beam Java does when a pipeline is built: counts ≥ 1, delays
    /// ≥ 0, non-empty composites, and only "once" triggers where Beam requires them (inside
    /// `after_first`/`after_all`, as `or_finally`'s second argument, as early/late firings).
    ///
    /// ```
    /// use highwater::model::trigger::Trigger;
    /// assert!("after_first(after_count(2), after_watermark)".parse::<Trigger>().unwrap().validate().is_ok());
    /// let bad: Trigger = "after_first(repeatedly(after_count(2)))".parse().unwrap();
    /// assert!(bad.validate().unwrap_err().to_string().contains("once"));
    /// ```
    pub fn validate(&self) -> Result<(), TriggerError> {
        let invalid =
            |t: &Trigger, reason: &str| TriggerError::Invalid { trigger: t.to_string(), reason: reason.to_string() };
        let need_once = |t: &Trigger, role: &str| -> Result<(), TriggerError> {
            if t.is_once() {
                Ok(())
            } else {
                Err(invalid(t, &format!("{role} must be a trigger that fires once (after_count, after_processing_time, after_watermark without early/late, never, or after_first/after_all of those); Beam repeats early/late firings by itself, and `repeatedly` belongs outside")))
            }
        };
        match self {
            Trigger::AfterCount(0) => Err(invalid(self, "the count must be at least 1")),
            Trigger::AfterProcessingTime(d) if *d < 0 => Err(invalid(self, "the delay must not be negative")),
            Trigger::AfterWatermark { early, late } => {
                for (t, role) in [(early, "an early firing"), (late, "a late firing")] {
                    if let Some(t) = t {
                        need_once(t, role)?;
                        t.validate()?;
                    }
                }
                Ok(())
            }
            Trigger::Repeatedly(t) => t.validate(),
            Trigger::AfterEach(ts) | Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) if ts.is_empty() => {
                Err(invalid(self, "needs at least one sub-trigger"))
            }
            Trigger::AfterEach(ts) => ts.iter().try_for_each(Trigger::validate),
            Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) => {
                for t in ts {
                    need_once(t, "a sub-trigger of after_first/after_all")?;
                    t.validate()?;
                }
                Ok(())
            }
            Trigger::OrFinally(a, until) => {
                need_once(until, "the second argument of or_finally")?;
                a.validate()?;
                until.validate()
            }
            _ => Ok(()),
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, name: &str, ts: &[Trigger]) -> fmt::Result {
    write!(f, "{name}(")?;
    for (i, t) in ts.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{t}")?;
    }
    write!(f, ")")
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Default => write!(f, "default"),
            Trigger::Never => write!(f, "never"),
            Trigger::AfterWatermark { early: None, late: None } => write!(f, "after_watermark"),
            Trigger::AfterWatermark { early, late } => {
                write!(f, "after_watermark(")?;
                if let Some(e) = early {
                    write!(f, "early={e}")?;
                }
                if let Some(l) = late {
                    if early.is_some() {
                        write!(f, ", ")?;
                    }
                    write!(f, "late={l}")?;
                }
                write!(f, ")")
            }
            Trigger::AfterCount(n) => write!(f, "after_count({n})"),
            Trigger::AfterProcessingTime(d) => write!(f, "after_processing_time({d})"),
            Trigger::AfterSynchronizedProcessingTime => write!(f, "after_synchronized_processing_time"),
            Trigger::Repeatedly(t) => write!(f, "repeatedly({t})"),
            Trigger::AfterEach(ts) => write_list(f, "after_each", ts),
            Trigger::AfterFirst(ts) => write_list(f, "after_first", ts),
            Trigger::AfterAll(ts) => write_list(f, "after_all", ts),
            Trigger::OrFinally(a, b) => write!(f, "or_finally({a}, {b})"),
        }
    }
}

impl std::str::FromStr for Trigger {
    type Err = TriggerError;
    fn from_str(text: &str) -> Result<Self, TriggerError> {
        parse::parse(text)
    }
}
