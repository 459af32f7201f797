//! The open windows of an on-time phase ([`super::on_time_local`], [`super::on_time_global`]):
//! per window, a table of accumulators per key and the capability that holds the window's
//! panes back, in the order the watermark passes them.

use crate::time::Time;
use crate::window::Window;
use hashbrown::HashTable;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use timely::dataflow::operators::Capability;

/// The open windows of one phase, in the order the watermark passes them, each with its
/// accumulators per key and the capability that holds it.
pub(super) struct OpenWindows<K, A> {
    /// Open windows ordered by `(max_timestamp, start)`; a window is removed, whole, when
    /// the watermark passes it ([`Self::pop_passed`]).
    windows: VecDeque<Bucket<K, A>>,
    /// The index of the last window looked up (records come in runs of one window).
    /// Reset to 0 when a window is removed.
    last: usize,
    /// The number of keys of the last window passed: the capacity a new window starts with.
    size_hint: usize,
}

/// One open window.
pub(super) struct Bucket<K, A> {
    /// The window.
    pub(super) window: Window,
    /// `(key, accumulator)`, found by [`table_hash`] (computed once per record).
    pub(super) table: HashTable<(K, A)>,
    /// Holds the window's panes: at `max(earliest arrival, (max_timestamp, 0))`.
    pub(super) cap: Capability<Time>,
}

fn order(w: &Window) -> (i64, i64) {
    (w.max_timestamp(), w.start)
}

/// The hash of a key in the per-window tables: FxHash spread over all 64 bits (the table
/// takes its control bits from the top).
#[inline]
pub(super) fn table_hash<K: Hash>(k: &K) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    k.hash(&mut h);
    h.finish().wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl<K: Hash + Eq, A> OpenWindows<K, A> {
    /// No open window.
    pub(super) fn new() -> Self {
        OpenWindows { windows: VecDeque::new(), last: 0, size_hint: 0 }
    }

    /// The index of `window`, if open. Records come in runs of one window, and a sliding
    /// window's record asks for its windows newest first: the last window looked up, the
    /// one before it and the newest few are tried before a binary search.
    /// Inlined into the per-record loop, as it was before the operators were split into
    /// files (out of line it cost a call per record and window).
    #[inline(always)]
    fn find(&self, window: &Window) -> Result<usize, usize> {
        let n = self.windows.len();
        for i in [self.last, self.last.wrapping_sub(1)] {
            if self.windows.get(i).is_some_and(|b| b.window == *window) {
                return Ok(i);
            }
        }
        if let Some(i) = (n.saturating_sub(4)..n).rev().find(|&i| self.windows[i].window == *window) {
            return Ok(i);
        }
        self.windows.binary_search_by(|b| order(&b.window).cmp(&order(window)))
    }

    /// The table of `window` for a record arriving at `arrival`: opened with a capability
    /// from `mint` at the earliest time its panes may be emitted at if it is new; an
    /// existing window's capability moves back if this arrival allows an earlier time.
    #[inline]
    pub(super) fn table(
        &mut self,
        window: Window,
        arrival: &Time,
        mint: impl Fn(&Time) -> Capability<Time>,
    ) -> &mut HashTable<(K, A)> {
        let i = match self.find(&window) {
            Ok(i) => {
                let b = &mut self.windows[i];
                if arrival < b.cap.time() {
                    let at = hold_for(&window, arrival);
                    if at < *b.cap.time() {
                        b.cap = mint(&at);
                    }
                }
                i
            }
            Err(i) => {
                let table = HashTable::with_capacity(self.size_hint);
                self.windows.insert(i, Bucket { window, table, cap: mint(&hold_for(&window, arrival)) });
                i
            }
        };
        self.last = i;
        &mut self.windows[i].table
    }

    /// How many windows are open.
    pub(super) fn len(&self) -> usize {
        self.windows.len()
    }

    /// How many (key, window) accumulators the open windows hold.
    pub(super) fn accumulators(&self) -> usize {
        self.windows.iter().map(|b| b.table.len()).sum()
    }

    /// The open windows, in the order the watermark passes them (a checkpoint's state).
    pub(super) fn iter(&self) -> impl Iterator<Item = &Bucket<K, A>> {
        self.windows.iter()
    }

    /// The first window (the next the watermark passes).
    pub(super) fn front(&self) -> Option<&Bucket<K, A>> {
        self.windows.front()
    }

    /// Removes and returns the first window.
    pub(super) fn pop_front(&mut self) -> Option<Bucket<K, A>> {
        self.last = 0;
        let b = self.windows.pop_front();
        if let Some(b) = &b {
            self.size_hint = b.table.len();
        }
        b
    }

    /// Removes and returns the first window if the watermark `wm` has passed it.
    pub(super) fn pop_passed(&mut self, wm: i64) -> Option<Bucket<K, A>> {
        if self.windows.front().is_some_and(|b| b.window.max_timestamp() < wm) {
            self.last = 0;
            let b = self.windows.pop_front();
            self.size_hint = b.as_ref().map_or(0, |b| b.table.len());
            b
        } else {
            None
        }
    }
}

/// The earliest time a record arriving at `arrival` may be emitted at for `window`.
#[inline]
fn hold_for(window: &Window, arrival: &Time) -> Time {
    (*arrival).max(Time::new(window.max_timestamp(), 0))
}
