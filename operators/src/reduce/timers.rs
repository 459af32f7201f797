//! Timers (Beam's `TimerInternals` as the runner uses it): event-time and processing-time
//! timers of every (key, window), in time order.

use super::window_state::WinState;
use crate::trigger::TimerDomain;
use crate::window::Window;
use std::collections::BTreeSet;

/// The timers of one reducer. Each window also lists its own timers
/// ([`WinState::timers`]), so that they can be deleted with it.
pub(super) struct Timers<K> {
    /// Event-time timers `(time, key, window)`: one garbage-collection timer per window
    /// with state, and the end-of-window timers triggers ask for. Set at most once per
    /// (window, time); removed when the input watermark passes them, or with their window
    /// (merged away or garbage-collected).
    event: BTreeSet<(i64, K, Window)>,
    /// Processing-time timers `(time, key, window)` that delays ask for: the earliest is
    /// what the operator wakes up for. Removed as the event-time ones.
    processing: BTreeSet<(i64, K, Window)>,
    /// The timers the trigger machine asks for during one call (its
    /// `TriggerCtx::timers`), not yet set: [`Self::set_requested`] sets them on the
    /// window and empties it.
    pub(super) requested: Vec<(TimerDomain, i64)>,
}

impl<K: Clone + Ord> Timers<K> {
    /// No timers.
    pub(super) fn new() -> Self {
        Timers { event: BTreeSet::new(), processing: BTreeSet::new(), requested: Vec::new() }
    }

    fn set_of(&mut self, domain: TimerDomain) -> &mut BTreeSet<(i64, K, Window)> {
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
            TimerDomain::EventTime => self.event.first().map(|t| t.0),
            TimerDomain::ProcessingTime => self.processing.first().map(|t| t.0),
        }
    }

    /// Sets a timer at `t` for window `w` (state `ws`) of `key`, unless it is set already.
    pub(super) fn set<A>(&mut self, key: &K, w: Window, ws: &mut WinState<A>, domain: TimerDomain, t: i64) {
        if ws.timers.contains(&(domain, t)) {
            return;
        }
        ws.timers.push((domain, t));
        self.set_of(domain).insert((t, key.clone(), w));
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
            self.set_of(d).insert((t, key.clone(), w));
        }
    }
    /// Deletes every timer of window `w` (state `ws`) of `key`.
    pub(super) fn delete<A>(&mut self, key: &K, w: Window, ws: &mut WinState<A>) {
        for (d, t) in ws.timers.drain(..) {
            self.set_of(d).remove(&(t, key.clone(), w));
        }
    }

    /// Removes and returns the earliest timer of `domain` if it is before `limit`.
    pub(super) fn pop_before(&mut self, domain: TimerDomain, limit: i64) -> Option<(i64, K, Window)> {
        let set = self.set_of(domain);
        if set.first().is_some_and(|first| first.0 < limit) {
            set.pop_first()
        } else {
            None
        }
    }
}

/// Forgets, in the window's own list, its timer `(domain, t)` that just fired.
pub(super) fn fired<A>(ws: &mut WinState<A>, domain: TimerDomain, t: i64) {
    ws.timers.retain(|x| *x != (domain, t));
}
