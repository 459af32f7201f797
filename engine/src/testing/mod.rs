//! # Testing pipelines: scripted streams and their panes
//!
//! Beam's `TestStream` and `PAssert`, Flink's operator test harness and Kafka Streams'
//! `TopologyTestDriver`, for highwater pipelines: script elements, watermark advances and
//! processing-time advances into any pipeline of the DSL, then assert on the panes it
//! emitted — by key, window, timing (early, on time, late), index and value, and by the
//! action of the script after which each came — and on its dead letters. The chapter
//! `docs/testing.md` is the longer tutorial.
//!
//! ```
//! use highwater::model::combine::Sum;
//! use highwater::model::trigger::Trigger;
//! use highwater::model::window::Window;
//! use highwater::pipeline::{DeadLetterKind, Windowing};
//! use highwater::testing::{self, TestStream};
//! use std::time::Duration;
//!
//! // Points per player in windows of 10 (event time): an early pane 1 s of processing
//! // time after a pane's first element, a late pane per late element, 5 of lateness.
//! let score = |player: &str, points: u64| (player.to_string(), points);
//! let stream = TestStream::new()
//!     .add_elements([(1, score("ann", 5)), (2, score("ann", 3))]) // action 0
//!     .advance_processing_time(Duration::from_millis(1_001))      // 1: the early pane
//!     .advance_watermark_to(10)                                   // 2: the on-time pane
//!     .add_element(4, score("ann", 10))                           // 3: late, a late pane
//!     .advance_watermark_to(20)                                   // 4: [0, 10) expires
//!     .add_element(5, score("ann", 1));                           // 5: too late
//!
//! let result = testing::run(stream, |p, input| {
//!     let trigger = Trigger::after_watermark()
//!         .with_early(Trigger::after_processing_time(Duration::from_secs(1)))
//!         .with_late(Trigger::after_count(1));
//!     p.read_keyed("scores", input)?
//!         .window(Windowing::fixed(Duration::from_millis(10)).trigger(trigger).allowed_lateness(Duration::from_millis(5)).accumulating())
//!         .aggregate("points", Sum::default())
//! })?;
//!
//! let ann = || result.panes_in(Window::new(0, 10)).of_key(&"ann".to_string());
//! ann().early().assert_values([8]);
//! ann().early().assert_actions([1]); // exactly after the processing-time advance
//! ann().on_time().assert_values([8]); // accumulating: 5 + 3 again
//! ann().late().assert_values([18]);
//! ann().late().assert_actions([3]);
//! let dropped = result.dead_letters_of(DeadLetterKind::TooLate).single();
//! assert_eq!((dropped.step.as_str(), dropped.record.as_str()), ("points", "1"));
//! # Ok::<(), highwater::pipeline::PipelineError>(())
//! ```
//!
//! **What each action waits for.** The stream is one partition, and each action is a
//! progress tick of its own: action `a` is stamped `(watermark, a)`. The harness releases
//! an action only once every worker has seen the one before pass every step of the
//! pipeline (its progress, the frontier of the step's dead letters — the same signal the
//! conformance runner waits on), so processing time moves only when everything before
//! has been applied, and `after_processing_time` fires exactly when the script says, at
//! any worker count. A pane's [`Pane::tick`](crate::model::pane::Pane::tick) in a result
//! is the action after which it came (as the conformance runner's `after_action`).
//!
//! **Limits.** A step behind a window whose hold stands exactly at the current watermark
//! cannot show its progress until the watermark moves on (its frontier stays at the
//! hold). The harness lets such a step through when its frontier has moved at the current
//! watermark, or when it is an on-time aggregation (which reads no processing time); a
//! second windowed stage that stands exactly where it was is waited for up to 5 s, then
//! the next action is released anyway and [`TestResult::warnings`] says so. The tags of a
//! second stage behind an on-time first stage are the first stage's window holds' ticks.
//!
//! The pieces: [`TestStream`] (the script, a [`crate::pipeline::Source`]), [`run`] and
//! [`Harness`] (run a pipeline on it at one or more worker counts), [`TestResult`] with
//! its [`Panes`] and [`DeadLetters`] selections (what came out, and assertions that print
//! the whole run when they fail).

mod gate;
mod harness;
mod result;
mod stream;

pub use harness::{run, Harness, TestError};
pub use result::{DeadLetters, Panes, TestResult};
pub use stream::{Action, TestStream};

#[cfg(test)]
mod tests;
