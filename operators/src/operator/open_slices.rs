//! The open slices of sliding windows in the on-time phase before the exchange
//! ([`super::on_time_local`]): when a window's size is a multiple of its period, every
//! element of one period-long slice `[s, s + period)` falls in the same windows, so a
//! record is combined once, into its slice, instead of once per window; a window's
//! accumulators are merged from its slices when the watermark passes it (window slicing,
//! as Flink and Scotty do it).
//!
//! A record that is late for a window not yet emitted (its batch's stamp is past the
//! window, the frontier not yet) cannot go into a slice that window shares: it goes to
//! that window's own table ([`OpenWindows`], the operator's tables without slicing),
//! which is merged in when the window goes out.

use super::open_windows::{table_hash, Bucket, OpenWindows};
use crate::combine::CombineFn;
use crate::time::Time;
use crate::window::{Slicing, Window};
use hashbrown::HashTable;
use std::collections::VecDeque;
use std::hash::Hash;
use timely::dataflow::operators::Capability;

/// One open slice: its start, its accumulators per key and the capability that holds the
/// panes of its windows back.
pub(super) struct Slice<K, A> {
    /// The first event time inside the slice.
    pub(super) start: i64,
    /// `(key, accumulator)`, found by [`table_hash`].
    pub(super) table: HashTable<(K, A)>,
    /// At `max(earliest arrival, (end of the slice's first window not out - 1, 0))`: no
    /// later than any of its windows not out may go out.
    pub(super) cap: Capability<Time>,
}

/// A slice in a checkpoint: its start, the time its capability holds, its accumulators.
pub(super) type SliceState<K, A> = (i64, Time, Vec<(K, A)>);

/// The open slices of one on-time phase, in order of start.
pub(super) struct OpenSlices<K, A> {
    slicing: Slicing,
    slices: VecDeque<Slice<K, A>>,
    /// Every window starting before it has gone out (or never had a record).
    next: i64,
    /// The index of the last slice looked up (records come in runs of one slice).
    last: usize,
    /// The number of keys of the last slice dropped: the capacity a new one starts with.
    size_hint: usize,
}

impl<K: Hash + Eq + Clone, A: Clone> OpenSlices<K, A> {
    /// No open slice.
    pub(super) fn new(slicing: Slicing) -> Self {
        OpenSlices { slicing, slices: VecDeque::new(), next: i64::MIN, last: 0, size_hint: 0 }
    }

    /// The start of the slice of an element at `t`, and the start of the first window it
    /// falls in; `None` where the arithmetic would leave the i64 range (such a record
    /// takes its windows one by one).
    #[inline(always)]
    pub(super) fn slice_of(&self, t: i64) -> Option<(i64, i64)> {
        let Slicing { period, offset, size } = self.slicing;
        let s = t.checked_sub(t.checked_sub(offset)?.rem_euclid(period))?;
        s.checked_add(size)?;
        Some((s, s.checked_sub(size)?.checked_add(period)?))
    }

    /// Whether a record of the slice whose first window starts at `first`, in a batch at
    /// watermark `wm`, is on time for every window of its slice that has not gone out yet
    /// (then it may go into the slice; the windows that went out take it as late or too
    /// late, one by one).
    #[inline(always)]
    pub(super) fn fits(&self, first: i64, wm: i64) -> bool {
        // The first window not out yet ends last among those that are out: if it is on
        // time, so are the later ones.
        let earliest_open = first.max(self.next);
        earliest_open.saturating_add(self.slicing.size - 1) >= wm
    }

    /// The table of the slice starting at `start`, for a record arriving at `arrival`
    /// (`mint` makes a new slice's capability; an existing one moves back if this arrival
    /// allows an earlier time).
    #[inline(always)]
    pub(super) fn table(
        &mut self,
        start: i64,
        arrival: &Time,
        mint: impl Fn(&Time) -> Capability<Time>,
    ) -> &mut HashTable<(K, A)> {
        let hold = (*arrival).max(self.floor(start));
        let n = self.slices.len();
        let found = if self.slices.get(self.last).is_some_and(|s| s.start == start) {
            Ok(self.last)
        } else if n > 0 && self.slices[n - 1].start == start {
            Ok(n - 1)
        } else {
            self.slices.binary_search_by(|s| s.start.cmp(&start))
        };
        let i = match found {
            Ok(i) => {
                let s = &mut self.slices[i];
                if hold < *s.cap.time() {
                    s.cap = mint(&hold);
                }
                i
            }
            Err(i) => {
                let table = HashTable::with_capacity(self.size_hint);
                self.slices.insert(i, Slice { start, table, cap: mint(&hold) });
                i
            }
        };
        self.last = i;
        &mut self.slices[i].table
    }

    /// The earliest time a pane of a window of the slice starting at `start` may go out
    /// at: the end of its first window not out yet. A slice's capability is never before
    /// it (else a window that went out would wait for the next one of the slice).
    #[inline(always)]
    fn floor(&self, start: i64) -> Time {
        let Slicing { period, size, .. } = self.slicing;
        let first = self.next.max(start.saturating_sub(size).saturating_add(period));
        Time::new(first.saturating_add(size - 1), 0)
    }

    /// How many slices are open.
    pub(super) fn len(&self) -> usize {
        self.slices.len()
    }

    /// How many (key, slice) accumulators the slices hold.
    pub(super) fn accumulators(&self) -> usize {
        self.slices.iter().map(|s| s.table.len()).sum()
    }

    /// Sends every window the watermark `wm` has passed: per window, one accumulator per
    /// key merged from its slices and from its own table in `windows` (records late for it
    /// while it was open), at the earliest time its contributions hold; the windows of
    /// `windows` without slices go out as they are. `send` gets the window, the capability
    /// to send at and the accumulators. Slices no window needs any more are dropped.
    pub(super) fn emit_passed<V, C>(
        &mut self,
        wm: i64,
        windows: &mut OpenWindows<K, A>,
        combine: &C,
        mut send: impl FnMut(Window, &Capability<Time>, HashTable<(K, A)>),
    ) where
        C: CombineFn<V, Acc = A>,
    {
        let Slicing { period, size, .. } = self.slicing;
        // The first window with a slice that has not gone out.
        while let Some(front) = self.slices.front() {
            let w = self.next.max(front.start.saturating_sub(size).saturating_add(period));
            let window = Window::new(w, w.saturating_add(size));
            if window.max_timestamp() >= wm {
                break;
            }
            // Windows of their own that go out before this one.
            while windows.front().is_some_and(|b| order(&b.window) < order(&window)) {
                if let Some(b) = windows.pop_front() {
                    send(b.window, &b.cap, b.table);
                }
            }
            let own = windows.front().is_some_and(|b| b.window == window).then(|| windows.pop_front()).flatten();
            let mut out: HashTable<(K, A)> = HashTable::with_capacity(self.size_hint.max(16));
            let mut cap: Option<Capability<Time>> = None;
            let at = Time::new(window.max_timestamp(), 0);
            for slice in self.slices.iter().take_while(|s| s.start < window.end) {
                let t = (*slice.cap.time()).max(at);
                if cap.as_ref().is_none_or(|c| t < *c.time()) {
                    cap = Some(slice.cap.delayed(&t));
                }
                for (k, acc) in slice.table.iter() {
                    merge_into(&mut out, k, acc.clone(), combine);
                }
            }
            if let Some(Bucket { table, cap: own_cap, .. }) = own {
                if cap.as_ref().is_none_or(|c| own_cap.time() < c.time()) {
                    cap = Some(own_cap);
                }
                for (k, acc) in table {
                    merge_into(&mut out, &k, acc, combine);
                }
            }
            self.next = w.saturating_add(period);
            // The slices whose last window this was.
            while self.slices.front().is_some_and(|s| s.start < self.next) {
                if let Some(s) = self.slices.pop_front() {
                    self.size_hint = s.table.len();
                }
                self.last = 0;
            }
            // The others in this window wait for their next window only.
            for i in 0..self.slices.len() {
                let (start, at) = (self.slices[i].start, self.slices[i].cap.time().watermark());
                if start >= window.end {
                    break;
                }
                let floor = self.floor(start);
                if at < floor.watermark() {
                    let t = (*self.slices[i].cap.time()).max(floor);
                    self.slices[i].cap.downgrade(&t);
                }
            }
            if let Some(cap) = cap {
                if !out.is_empty() {
                    send(window, &cap, out);
                }
            }
        }
        // The windows of their own left that the watermark has passed.
        while let Some(b) = windows.pop_passed(wm) {
            send(b.window, &b.cap, b.table);
        }
    }

    /// The slices and the start of the first window not out, as checkpoint state.
    pub(super) fn snapshot(&self) -> (i64, Vec<SliceState<K, A>>) {
        (self.next, self.slices.iter().map(|s| (s.start, *s.cap.time(), s.table.iter().cloned().collect())).collect())
    }

    /// Adds restored slices (merging a key's accumulators that several workers of the
    /// checkpointed run held), keeping the keys `keep` accepts.
    pub(super) fn restore<V, C>(
        &mut self,
        (next, slices): (i64, Vec<SliceState<K, A>>),
        keep: impl Fn(&K) -> bool,
        mint: &Capability<Time>,
        combine: &C,
    ) where
        C: CombineFn<V, Acc = A>,
    {
        self.next = self.next.max(next);
        for (start, hold, rows) in slices {
            for (k, acc) in rows.into_iter().filter(|(k, _)| keep(k)) {
                let table = self.table(start, &hold, |at| mint.delayed(at));
                merge_into(table, &k, acc, combine);
            }
        }
    }
}

/// Merges `acc` into the accumulator of `k` in `table` (a new entry if it has none).
#[inline]
fn merge_into<K: Hash + Eq + Clone, V, C: CombineFn<V>>(
    table: &mut HashTable<(K, C::Acc)>,
    k: &K,
    acc: C::Acc,
    combine: &C,
) {
    let h = table_hash(k);
    match table.find_mut(h, |(x, _)| x == k) {
        Some((_, a)) => combine.merge(a, acc),
        None => {
            table.insert_unique(h, (k.clone(), acc), |(x, _)| table_hash(x));
        }
    }
}

fn order(w: &Window) -> (i64, i64) {
    (w.max_timestamp(), w.start)
}
