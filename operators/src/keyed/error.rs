//! Why a process call, a timer or an output was refused: each becomes a dead letter with
//! this reason.

use super::timer::TimeDomain;

/// Why a record, a timer or an output of a process step was refused. A call that returns
/// one sends its record (or timer) to the step's dead letters with the message as the
/// reason; an output behind its input's time goes there by itself.
///
/// ```
/// use highwater::model::keyed::ProcessError;
/// let e = ProcessError::refused("no price");
/// assert_eq!(e.to_string(), "refused by the process: no price");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// A timer set before its clock: it could never fire in order.
    #[error(
        "{domain} timer `{tag}` set at {time}, behind the {domain} clock at {now}: set timers at or after ctx.{}()",
        if *domain == TimeDomain::EventTime { "watermark" } else { "processing_time" }
    )]
    TimerInPast {
        /// Its domain.
        domain: TimeDomain,
        /// Its tag.
        tag: String,
        /// The time asked for.
        time: i64,
        /// The clock then (the input watermark, or processing time).
        now: i64,
    },
    /// An output whose event time is before the earliest the call may emit at (the
    /// record's event time, the event-time timer's time, or the watermark for a
    /// processing-time timer): downstream it could be late, or on time by accident.
    #[error("an output at event time {event_time} is before {earliest}, the earliest this call may emit at ({why}): emit at or after ctx.event_time()")]
    OutputBehind {
        /// The event time asked for.
        event_time: i64,
        /// The earliest allowed.
        earliest: i64,
        /// What the earliest is.
        why: &'static str,
    },
    /// A state cell whose value cannot be encoded or decoded.
    #[error("state cell `{cell}`: {message}")]
    State {
        /// The cell's name.
        cell: String,
        /// What failed.
        message: String,
    },
    /// A state handle of another step's [`super::StateSpec`].
    #[error("a state handle of another step's StateSpec: use the handles the StateSpec given to this step returned")]
    ForeignState,
    /// The process refused the record or timer, with its own reason.
    #[error("refused by the process: {0}")]
    Refused(String),
    /// The record came too late for the process to use it (e.g. a join whose window was
    /// already collected): a dead letter of kind `too_late`, not `refused`.
    #[error("too late: {0}")]
    TooLate(String),
}

impl ProcessError {
    /// A refusal with a reason of your own (the dead letter's reason).
    pub fn refused(reason: impl Into<String>) -> Self {
        ProcessError::Refused(reason.into())
    }
    /// A record too late to be used, with the reason (the dead letter's kind is
    /// `too_late`).
    ///
    /// ```
    /// use highwater::model::keyed::ProcessError;
    /// let e = ProcessError::too_late("the window [0, 10) was collected at watermark 12");
    /// assert_eq!(e.to_string(), "too late: the window [0, 10) was collected at watermark 12");
    /// assert!(e.is_too_late());
    /// ```
    pub fn too_late(reason: impl Into<String>) -> Self {
        ProcessError::TooLate(reason.into())
    }
    /// Whether this is [`ProcessError::TooLate`].
    pub fn is_too_late(&self) -> bool {
        matches!(self, ProcessError::TooLate(_))
    }
}
