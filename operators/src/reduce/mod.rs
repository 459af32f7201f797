//! The keyed windowed reduction: Beam Java's `ReduceFnRunner`, for every key at once.
//!
//! [`WindowedReducer`] is driven by three calls — a bundle of elements, a new input
//! watermark, a new processing time — and leaves the panes and dead letters it produced in
//! [`WindowedReducer::take_output`]. It knows nothing of timely; the timely operator in
//! [`crate::operator`] drives it. Its state is split along Beam Java's runners-core
//! collaborators, one file each:
//!
//! | file | holds | Beam |
//! |---|---|---|
//! | `reducer.rs` | [`WindowedReducer`]: the keys, the collaborators, the trigger machine and combiner; elements in, timers fired, panes out | `ReduceFnRunner` |
//! | `window_state.rs` | one (key, window): accumulator, non-empty flag, trigger state, closed flag, last pane, holds, its timers | the state tags of `ReduceFnRunner` |
//! | `active_windows.rs` | one key: its windows (open, or closed until garbage collection), which take part in a merge, its unretracted panes | `ActiveWindowSet`, `MergingActiveWindowSet` |
//! | `hold.rs` | the counted watermark holds of every window; pane timestamps | `WatermarkHold` |
//! | `pane_info.rs` | a pane's index, timing, first and last flags | `PaneInfoTracker` |
//! | `timers.rs` | event-time and processing-time timers in time order, a bucket per time | `TimerInternals` |
//! | `output_watermark.rs` | the input watermark, and the output watermark by [`OutputWatermarkMode`] | `ReduceFnRunner`'s output watermark |
//! | `output.rs` | panes, retractions, dead letters, counters ([`Output`], [`ReducerStats`]) | `ReduceFnRunner.onTrigger`'s output |
//! | `dead_letter.rs` | [`Dropped`], [`DropReason`] | `LateDataFilter`'s drops |
//!
//! ```
//! use highwater::model::combine::Collect;
//! use highwater::model::reduce::WindowedReducer;
//! use highwater::model::strategy::WindowingStrategy;
//! use highwater::model::window::{Window, WindowSpec};
//!
//! let strategy = WindowingStrategy::new(WindowSpec::fixed(10)).build().unwrap();
//! let mut r = WindowedReducer::new(strategy, Collect);
//! r.process_key("k", vec![(1, 1), (2, 2), (12, 12)], 0);
//! r.advance_watermark(10, 0);
//! let out = r.take_output();
//! assert_eq!(out.panes.len(), 1);
//! assert_eq!(out.panes[0].window, Window::new(0, 10));
//! assert_eq!(out.panes[0].value, vec![1, 2]);
//! ```

mod active_windows;
mod dead_letter;
mod hold;
mod output;
mod output_watermark;
mod pane_info;
mod reducer;
mod timers;
mod window_state;

pub use dead_letter::{DropReason, Dropped};
pub use output::{Output, ReducerStats};
pub use output_watermark::OutputWatermarkMode;
pub use reducer::WindowedReducer;
