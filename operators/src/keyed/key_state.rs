//! One key's state inside the runner: its cells, its timers by tag, its last write.

use super::state::{is_empty, Cell};
use super::timer::TimeDomain;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One key: its cells, its timers (tag → time), and the event time of its last write.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeyState {
    /// One cell per declaration of the spec (shorter when the last ones were never
    /// written). Cleared by the process, or all at once when the time to live runs out.
    pub(crate) cells: Vec<Cell>,
    /// Event-time timers by tag; removed when they fire or are deleted.
    pub(crate) event: BTreeMap<String, i64>,
    /// Processing-time timers by tag; the same.
    pub(crate) processing: BTreeMap<String, i64>,
    /// The latest event time at which the cells were written (for the time to live);
    /// `None` while they are empty.
    pub(crate) touched: Option<i64>,
}

impl KeyState {
    pub(crate) fn timers(&self, domain: TimeDomain) -> &BTreeMap<String, i64> {
        match domain {
            TimeDomain::EventTime => &self.event,
            TimeDomain::ProcessingTime => &self.processing,
        }
    }
    pub(crate) fn timers_mut(&mut self, domain: TimeDomain) -> &mut BTreeMap<String, i64> {
        match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        }
    }
    pub(crate) fn is_empty(&self) -> bool {
        is_empty(&self.cells) && self.event.is_empty() && self.processing.is_empty()
    }
}
