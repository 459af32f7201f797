//! Watermark holds (Beam's `WatermarkHold`): how long a window's pending pane holds the
//! output watermark back, and the pane timestamp that follows from it.

use super::window_state::WinState;
use crate::strategy::TimestampCombiner;
use crate::window::Window;
use std::collections::BTreeMap;

/// The holds of every (key, window) of one reducer. Each window keeps its own two holds
/// ([`WinState::element_hold`], [`WinState::extra_hold`]); every change goes through here,
/// so that the earliest hold of all is known at once.
pub(super) struct WatermarkHold {
    /// Every window's element and garbage-collection holds, counted by time: a hold enters
    /// when it is set on a window and leaves when it is replaced or released (a pane, a
    /// merge, garbage collection). The earliest is where the operator's hold capability
    /// sits.
    counts: BTreeMap<i64, usize>,
    /// The strategy's timestamp combiner: an element's output time, and how element holds
    /// combine.
    combiner: TimestampCombiner,
    /// The strategy's allowed lateness: where garbage-collection holds go.
    lateness: i64,
}

impl WatermarkHold {
    /// No hold, for a strategy with `combiner` and `lateness`.
    pub(super) fn new(combiner: TimestampCombiner, lateness: i64) -> Self {
        WatermarkHold { counts: BTreeMap::new(), combiner, lateness }
    }

    /// The earliest hold of any window.
    pub(super) fn min(&self) -> Option<i64> {
        self.counts.keys().next().copied()
    }

    /// The hold an element at `t` places in `w` (the timestamp combiner's output time).
    pub(super) fn output_time(&self, w: Window, t: i64) -> i64 {
        match self.combiner {
            TimestampCombiner::EndOfWindow => w.max_timestamp(),
            TimestampCombiner::EarliestTransformed(d) => t.saturating_add(d),
            _ => t,
        }
    }

    fn add(&mut self, h: Option<i64>) {
        if let Some(h) = h {
            *self.counts.entry(h).or_default() += 1;
        }
    }

    fn remove(&mut self, h: Option<i64>) {
        if let Some(h) = h {
            if let Some(c) = self.counts.get_mut(&h) {
                *c -= 1;
                if *c == 0 {
                    self.counts.remove(&h);
                }
            }
        }
    }

    /// Sets the element hold of `ws`.
    pub(super) fn set_element<A>(&mut self, ws: &mut WinState<A>, h: Option<i64>) {
        if ws.element_hold == h {
            // Most elements leave the hold where it is (the earliest so far): no count moves.
            return;
        }
        let old = std::mem::replace(&mut ws.element_hold, h);
        self.remove(old);
        self.add(h);
    }

    /// Sets the garbage-collection hold of `ws`.
    pub(super) fn set_extra<A>(&mut self, ws: &mut WinState<A>, h: Option<i64>) {
        if ws.extra_hold == h {
            return;
        }
        let old = std::mem::replace(&mut ws.extra_hold, h);
        self.remove(old);
        self.add(h);
    }

    /// Counts the holds of a restored window.
    pub(super) fn restore<A>(&mut self, ws: &WinState<A>) {
        self.add(ws.element_hold);
        self.add(ws.extra_hold);
    }

    /// Releases both holds of `ws`.
    pub(super) fn release<A>(&mut self, ws: &mut WinState<A>) {
        self.set_element(ws, None);
        self.set_extra(ws, None);
    }

    /// `WatermarkHold.addHolds`: an element hold for an element at `t` if it is on time
    /// for output watermark `owm`, else a garbage-collection hold.
    pub(super) fn add_holds<A>(&mut self, w: Window, ws: &mut WinState<A>, t: i64, owm: i64, input_wm: i64) {
        if !self.add_element_hold(w, ws, t, owm, input_wm) {
            self.add_gc_hold(w, ws, input_wm);
        }
    }

    /// `WatermarkHold.addElementHold`: combines the output time of an element at `t` into
    /// the window's element hold, unless the output watermark has passed it or the input
    /// watermark has passed the window. Whether it did.
    fn add_element_hold<A>(&mut self, w: Window, ws: &mut WinState<A>, t: i64, owm: i64, input_wm: i64) -> bool {
        let combiner = self.combiner;
        let hold = self.output_time(w, t);
        let too_late = hold < owm || w.max_timestamp() < input_wm;
        if too_late {
            return false;
        }
        let new = Some(ws.element_hold.map_or(hold, |h| combiner.combine(h, hold)));
        self.set_element(ws, new);
        true
    }

    /// `WatermarkHold.addGarbageCollectionHold`: a hold at the window's garbage-collection
    /// time, unless the input watermark has passed it.
    pub(super) fn add_gc_hold<A>(&mut self, w: Window, ws: &mut WinState<A>, input_wm: i64) {
        let gc = w.gc_time(self.lateness);
        if gc < input_wm {
            return;
        }
        let new = Some(ws.extra_hold.map_or(gc, |h| h.min(gc)));
        self.set_extra(ws, new);
    }

    /// `WatermarkHold.onMerge`: the holds of the merged-away `sources` move into the state
    /// `base` of the `result` window; `active` windows took part, `result_is_source` if the
    /// result was one of them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_merge<A>(
        &mut self,
        result: Window,
        base: &mut WinState<A>,
        sources: &mut [WinState<A>],
        active: usize,
        result_is_source: bool,
        owm: i64,
        input_wm: i64,
    ) {
        // Element holds.
        let combiner = self.combiner;
        if active == 0 {
            // nothing to merge
        } else if active == 1 && result_is_source && combiner != TimestampCombiner::Latest {
            // source and sink are the same
        } else if combiner == TimestampCombiner::EndOfWindow {
            for s in sources.iter_mut() {
                self.set_element(s, None);
            }
            self.set_element(base, None);
            self.add_element_hold(result, base, i64::MIN, owm, input_wm);
        } else {
            let mut merged: Option<i64> = if result_is_source { base.element_hold } else { None };
            for s in sources.iter() {
                if let Some(h) = s.element_hold {
                    merged = Some(merged.map_or(h, |m| combiner.combine(m, h)));
                }
            }
            for s in sources.iter_mut() {
                self.set_element(s, None);
            }
            if merged.is_some() {
                self.set_element(base, merged);
            }
        }
        // Garbage-collection holds: cleared in the sources, one for the result.
        for s in sources.iter_mut() {
            self.set_extra(s, None);
        }
        if result_is_source {
            self.set_extra(base, None);
        }
        self.add_gc_hold(result, base, input_wm);
    }

    /// `WatermarkHold.extractAndRelease`: the timestamp of the pane `ws` of `w` is about to
    /// emit, from its holds, which are released.
    pub(super) fn extract_and_release<A>(&mut self, w: Window, ws: &mut WinState<A>) -> i64 {
        let max_ts = w.max_timestamp();
        let hold = match (ws.element_hold, ws.extra_hold) {
            (None, x) => x,
            (e, None) => e,
            (Some(e), Some(x)) => Some(e.min(x)),
        };
        let timestamp = match (hold, self.combiner) {
            // Beam Python does not clip transformed output times to the window.
            (Some(_), TimestampCombiner::EarliestTransformed(_)) => ws.element_hold.or(hold).unwrap_or(max_ts),
            (Some(h), _) if h <= max_ts => h,
            _ => max_ts,
        };
        self.release(ws);
        timestamp
    }
}
