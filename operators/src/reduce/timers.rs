//! Timers (Beam's `TimerInternals` as the runner uses it): event-time and processing-time
//! timers of every (key, window), in time order.
//!
//! Many timers share a time (every key's window of one end has its end-of-window and
//! garbage-collection timers at the same two times), so each domain is a [`TimerQueue`]:
//! one bucket per time, a hash set of `(key, window)` in each, sorted once when the bucket
//! starts to fire. Timers come out in `(time, hash of the key, key, window)` order: a key's
//! timers in time and window order, keys of one time in an order that depends on nothing but
//! the keys (like the on-time operators' tables); setting one costs a hash insert instead of
//! a walk down a tree comparing keys, and a bucket is sorted by 64-bit hashes, not by the
//! keys' own order (one ordered set of `(time, key, window)` was a sixth of the reducer's
//! instructions with allowed lateness; sorting buckets by key, most of that again).

use super::window_state::WinState;
use crate::trigger::TimerDomain;
use crate::window::Window;
use rustc_hash::{FxHashSet, FxHasher};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// The hash that orders the keys of one time.
fn order_hash<K: Hash>(key: &K) -> u64 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    h.finish()
}

/// Timers of one domain, popped in `(time, hash of the key, key, window)` order; at most one
/// per `(time, key, window)`.
pub(super) struct TimerQueue<K> {
    /// Non-empty buckets by time.
    buckets: BTreeMap<i64, Bucket<K>>,
    /// How many timers the buckets hold.
    len: usize,
}

/// The timers of one time.
struct Bucket<K> {
    /// Its `(key, window)` pairs (never empty while the bucket exists).
    set: FxHashSet<(K, Window)>,
    /// Once the bucket starts to fire: its pairs with their [`order_hash`] in descending
    /// order, so the next one is the last. A pair removed from `set` may still be here
    /// (skipped when popped); a pair added to `set` meanwhile is inserted in order.
    order: Option<Vec<(u64, K, Window)>>,
}

impl<K: Clone + Ord + Hash> TimerQueue<K> {
    /// No timers.
    pub(super) fn new() -> Self {
        TimerQueue { buckets: BTreeMap::new(), len: 0 }
    }

    /// How many timers are set.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The earliest time of a timer.
    pub(super) fn first_time(&self) -> Option<i64> {
        self.buckets.first_key_value().map(|(t, _)| *t)
    }

    /// Adds the timer `(t, key, w)` (nothing if it is there).
    pub(super) fn insert(&mut self, t: i64, key: K, w: Window) {
        let bucket = self.buckets.entry(t).or_insert_with(|| Bucket { set: FxHashSet::default(), order: None });
        match &mut bucket.order {
            None => {
                if bucket.set.insert((key, w)) {
                    self.len += 1;
                }
            }
            Some(order) => {
                if bucket.set.insert((key.clone(), w)) {
                    self.len += 1;
                    let item = (order_hash(&key), key, w);
                    let at = order.partition_point(|x| *x > item);
                    order.insert(at, item);
                }
            }
        }
    }

    /// Removes the timer `(t, key, w)` if it is there.
    pub(super) fn remove(&mut self, t: i64, key: &K, w: Window) {
        if let Some(bucket) = self.buckets.get_mut(&t) {
            if bucket.set.remove(&(key.clone(), w)) {
                self.len -= 1;
            }
            if bucket.set.is_empty() {
                self.buckets.remove(&t);
            }
        }
    }

    /// Removes and returns the earliest timer if its time is before `limit`.
    pub(super) fn pop_before(&mut self, limit: i64) -> Option<(i64, K, Window)> {
        let mut entry = self.buckets.first_entry()?;
        let t = *entry.key();
        if t >= limit {
            return None;
        }
        let bucket = entry.get_mut();
        let order = bucket.order.get_or_insert_with(|| {
            let mut order: Vec<(u64, K, Window)> =
                bucket.set.iter().map(|(k, w)| (order_hash(k), k.clone(), *w)).collect();
            order.sort_unstable_by(|a, b| b.cmp(a));
            order
        });
        loop {
            let (_, key, w) = order.pop().expect("every pair of a firing bucket is in its order");
            let item = (key, w);
            if bucket.set.remove(&item) {
                self.len -= 1;
                if bucket.set.is_empty() {
                    entry.remove();
                }
                return Some((t, item.0, item.1));
            }
        }
    }
}

/// The timers of one reducer. Each window also lists its own timers
/// ([`WinState::timers`]), so that they can be deleted with it.
pub(super) struct Timers<K> {
    /// Event-time timers `(time, key, window)`: one garbage-collection timer per window
    /// with state, and the end-of-window timers triggers ask for. Set at most once per
    /// (window, time); removed when the input watermark passes them, or with their window
    /// (merged away or garbage-collected).
    event: TimerQueue<K>,
    /// Processing-time timers `(time, key, window)` that delays ask for: the earliest is
    /// what the operator wakes up for. Removed as the event-time ones.
    processing: TimerQueue<K>,
    /// The timers the trigger machine asks for during one call (its
    /// `TriggerCtx::timers`), not yet set: [`Self::set_requested`] sets them on the
    /// window and empties it.
    pub(super) requested: Vec<(TimerDomain, i64)>,
}

impl<K: Clone + Ord + Hash> Timers<K> {
    /// No timers.
    pub(super) fn new() -> Self {
        Timers { event: TimerQueue::new(), processing: TimerQueue::new(), requested: Vec::new() }
    }

    fn set_of(&mut self, domain: TimerDomain) -> &mut TimerQueue<K> {
        match domain {
            TimerDomain::EventTime => &mut self.event,
            TimerDomain::ProcessingTime => &mut self.processing,
        }
    }

    /// How many event-time timers are set: one per (key, window) still open.
    pub(super) fn event_count(&self) -> usize {
        self.event.len()
    }

    /// The earliest timer of `domain`.
    pub(super) fn next(&self, domain: TimerDomain) -> Option<i64> {
        match domain {
            TimerDomain::EventTime => self.event.first_time(),
            TimerDomain::ProcessingTime => self.processing.first_time(),
        }
    }

    /// Sets a timer at `t` for window `w` (state `ws`) of `key`, unless it is set already.
    pub(super) fn set<A>(&mut self, key: &K, w: Window, ws: &mut WinState<A>, domain: TimerDomain, t: i64) {
        if ws.timers.contains(&(domain, t)) {
            return;
        }
        ws.timers.push((domain, t));
        self.set_of(domain).insert(t, key.clone(), w);
    }

    /// Sets the [`Self::requested`] timers for window `w` (state `ws`) of `key`.
    pub(super) fn set_requested<A>(&mut self, key: &K, w: Window, ws: &mut WinState<A>) {
        let requested = std::mem::take(&mut self.requested);
        for &(d, t) in &requested {
            self.set(key, w, ws, d, t);
        }
        self.requested = requested;
        self.requested.clear();
    }

    /// Sets again the timers a restored window `w` (state `ws`) of `key` lists.
    pub(super) fn restore<A>(&mut self, key: &K, w: Window, ws: &WinState<A>) {
        for &(d, t) in &ws.timers {
            self.set_of(d).insert(t, key.clone(), w);
        }
    }
    /// Deletes every timer of window `w` (state `ws`) of `key`.
    pub(super) fn delete<A>(&mut self, key: &K, w: Window, ws: &mut WinState<A>) {
        for (d, t) in ws.timers.drain(..) {
            self.set_of(d).remove(t, key, w);
        }
    }

    /// Removes and returns the earliest timer of `domain` if it is before `limit`.
    pub(super) fn pop_before(&mut self, domain: TimerDomain, limit: i64) -> Option<(i64, K, Window)> {
        self.set_of(domain).pop_before(limit)
    }
}

/// Forgets, in the window's own list, its timer `(domain, t)` that just fired.
pub(super) fn fired<A>(ws: &mut WinState<A>, domain: TimerDomain, t: i64) {
    ws.timers.retain(|x| *x != (domain, t));
}

#[cfg(test)]
mod tests {
    use super::{order_hash, TimerQueue};
    use crate::window::Window;
    use std::collections::BTreeSet;

    /// The queue pops what one ordered set of `(time, hash of the key, key, window)` pops,
    /// whatever the mix of inserts, removes and pops (inserts into a bucket that is firing
    /// included).
    #[test]
    fn the_queue_pops_in_the_order_of_one_ordered_set() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..50 {
            let mut queue: TimerQueue<u64> = TimerQueue::new();
            let mut set: BTreeSet<(i64, u64, u64, Window)> = BTreeSet::new();
            for _ in 0..2_000 {
                let t = next(20) as i64;
                let key = next(30);
                let start = next(4) as i64 * 10;
                let w = Window::new(start, start + 10);
                match next(10) {
                    0..=4 => {
                        queue.insert(t, key, w);
                        set.insert((t, order_hash(&key), key, w));
                    }
                    5..=6 => {
                        queue.remove(t, &key, w);
                        set.remove(&(t, order_hash(&key), key, w));
                    }
                    _ => {
                        let limit = next(25) as i64;
                        let expected = set.first().filter(|f| f.0 < limit).copied();
                        if expected.is_some() {
                            set.pop_first();
                        }
                        assert_eq!(queue.pop_before(limit), expected.map(|(t, _, k, w)| (t, k, w)));
                    }
                }
                assert_eq!(queue.first_time(), set.first().map(|f| f.0));
                assert_eq!(queue.len(), set.len());
            }
            while let Some((t, _, k, w)) = set.pop_first() {
                assert_eq!(queue.pop_before(i64::MAX), Some((t, k, w)));
            }
            assert_eq!(queue.pop_before(i64::MAX), None);
        }
    }
}
