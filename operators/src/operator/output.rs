//! What every windowed aggregate returns: panes, and dead letters whose frontier is the
//! aggregate's progress.

use crate::pane::Pane;
use crate::reduce::Dropped;
use crate::time::Time;
use timely::dataflow::Stream;

/// The two outputs of [`windowed_aggregate`](super::windowed_aggregate) and
/// [`windowed_aggregate_precombined`](super::windowed_aggregate_precombined).
pub struct AggregateOutput<'scope, K, O, V> {
    /// Panes (and retractions), each stamped no later than the input watermark at which it
    /// was emitted.
    pub panes: Stream<'scope, Time, Vec<Pane<K, O>>>,
    /// Elements dropped as too late or for a closed window. Its frontier is the
    /// operator's progress: every stamp before it has been fully applied.
    pub dead_letters: Stream<'scope, Time, Vec<Dropped<K, V>>>,
}
