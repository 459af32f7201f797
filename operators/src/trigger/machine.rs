//! The trigger state machine: runs a [`Trigger`] per (key, window) with Beam Java's
//! semantics (runners-core `TriggerStateMachine`s, driven as `ReduceFnRunner` does).
//!
//! The trigger tree is flattened in pre-order; each node has a "finished" bit and, for
//! `after_count` and `after_processing_time`, one state slot. A window's whole trigger
//! state is a [`TriggerState`]: a bit set and a few integers, no allocation for small trees.

use super::Trigger;
use crate::window::Window;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// The time domain of a timer a trigger asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TimerDomain {
    /// Fires when the input watermark passes the timestamp.
    EventTime,
    /// Fires when processing time passes the timestamp.
    ProcessingTime,
}

const NONE: i64 = i64::MIN;

/// The per-window state of a trigger: finished bits and per-node slots.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerState {
    finished: u128,
    slots: SmallVec<[i64; 2]>,
}

#[derive(Clone, Debug)]
enum Kind {
    Default,
    Never,
    EndOfWindow,
    EarlyLate { early: usize, late: Option<usize> },
    Count { n: u64, slot: usize },
    Delay { delay: i64, slot: usize },
    Repeatedly(usize),
    AfterEach,
    AfterFirst,
    AfterAll,
    OrFinally,
}

#[derive(Clone, Debug)]
struct Node {
    kind: Kind,
    children: Vec<usize>,
}

/// What a trigger sees: the window, the input watermark, processing time, and where to
/// put the timers it sets.
pub struct TriggerCtx<'a> {
    /// The window whose pane this is.
    pub window: Window,
    /// The current input watermark.
    pub input_wm: i64,
    /// The current processing time.
    pub now: i64,
    /// Timers the trigger asks for (the runner dedups them per window, domain and time).
    pub timers: &'a mut Vec<(TimerDomain, i64)>,
}

impl TriggerCtx<'_> {
    fn eow_reached(&self) -> bool {
        self.input_wm > self.window.max_timestamp()
    }
}

/// An executable trigger: the flattened tree plus whether windows can merge.
///
/// ```
/// use highwater::model::trigger::{Trigger, TriggerMachine, TriggerState};
/// use highwater::model::trigger::machine_ctx;
/// use highwater::model::window::Window;
/// let m = TriggerMachine::new(&Trigger::after_count(2), false);
/// let mut st = m.new_state();
/// let mut timers = Vec::new();
/// let w = Window::new(0, 10);
/// m.on_element(&mut st, &mut machine_ctx(w, 0, 0, &mut timers));
/// assert!(!m.should_fire(&st, &mut machine_ctx(w, 0, 0, &mut timers)));
/// m.on_element(&mut st, &mut machine_ctx(w, 0, 0, &mut timers));
/// assert!(m.should_fire(&st, &mut machine_ctx(w, 0, 0, &mut timers)));
/// m.on_fire(&mut st, &mut machine_ctx(w, 0, 0, &mut timers));
/// assert!(m.is_closed(&st));
/// ```
#[derive(Clone, Debug)]
pub struct TriggerMachine {
    nodes: Vec<Node>,
    slots: usize,
    merging: bool,
}

/// Builds a [`TriggerCtx`] (a convenience for tests and examples).
pub fn machine_ctx(window: Window, input_wm: i64, now: i64, timers: &mut Vec<(TimerDomain, i64)>) -> TriggerCtx<'_> {
    TriggerCtx { window, input_wm, now, timers }
}

impl TriggerMachine {
    /// Flattens `trigger`; `merging` says whether the window function merges (Beam runs
    /// some sub-triggers in parallel then).
    ///
    /// Panics if the tree has more than 128 nodes (no real trigger comes close; the
    /// pipeline builder rejects such trees first with [`TriggerMachine::check_size`]).
    pub fn new(trigger: &Trigger, merging: bool) -> Self {
        let mut m = TriggerMachine { nodes: Vec::new(), slots: 0, merging };
        m.flatten(trigger);
        assert!(m.nodes.len() <= 128, "trigger trees are limited to 128 nodes");
        m
    }

    /// Whether `trigger` fits the machine (at most 128 nodes).
    pub fn check_size(trigger: &Trigger) -> bool {
        fn count(t: &Trigger) -> usize {
            1 + match t {
                Trigger::AfterWatermark { early, late } => {
                    1 + early.as_deref().map_or(0, count) + late.as_deref().map_or(0, count)
                }
                Trigger::Repeatedly(t) => count(t),
                Trigger::AfterEach(ts) | Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) => ts.iter().map(count).sum(),
                Trigger::OrFinally(a, b) => count(a) + count(b),
                _ => 0,
            }
        }
        count(trigger) <= 128
    }

    fn push(&mut self, kind: Kind) -> usize {
        self.nodes.push(Node { kind, children: Vec::new() });
        self.nodes.len() - 1
    }

    fn flatten(&mut self, t: &Trigger) -> usize {
        match t {
            Trigger::Default => self.push(Kind::Default),
            Trigger::Never => self.push(Kind::Never),
            Trigger::AfterWatermark { early: None, late: None } => self.push(Kind::EndOfWindow),
            Trigger::AfterWatermark { early, late } => {
                let me = self.push(Kind::Never);
                // Beam: withLateFirings alone uses Never as the early trigger.
                let e = match early {
                    Some(e) => self.flatten(e),
                    None => self.push(Kind::Never),
                };
                let l = late.as_ref().map(|l| self.flatten(l));
                self.nodes[me].kind = Kind::EarlyLate { early: e, late: l };
                self.nodes[me].children = std::iter::once(e).chain(l).collect();
                me
            }
            Trigger::AfterCount(n) => {
                let slot = self.slots;
                self.slots += 1;
                self.push(Kind::Count { n: *n, slot })
            }
            Trigger::AfterProcessingTime(d) => {
                let slot = self.slots;
                self.slots += 1;
                self.push(Kind::Delay { delay: *d, slot })
            }
            Trigger::AfterSynchronizedProcessingTime => {
                let slot = self.slots;
                self.slots += 1;
                self.push(Kind::Delay { delay: 0, slot })
            }
            Trigger::Repeatedly(inner) => {
                let me = self.push(Kind::Never);
                let c = self.flatten(inner);
                self.nodes[me].kind = Kind::Repeatedly(c);
                self.nodes[me].children = vec![c];
                me
            }
            Trigger::AfterEach(ts) | Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) => {
                let kind = match t {
                    Trigger::AfterEach(_) => Kind::AfterEach,
                    Trigger::AfterFirst(_) => Kind::AfterFirst,
                    _ => Kind::AfterAll,
                };
                let me = self.push(kind);
                let cs: Vec<usize> = ts.iter().map(|c| self.flatten(c)).collect();
                self.nodes[me].children = cs;
                me
            }
            Trigger::OrFinally(a, b) => {
                let me = self.push(Kind::OrFinally);
                let ca = self.flatten(a);
                let cb = self.flatten(b);
                self.nodes[me].children = vec![ca, cb];
                me
            }
        }
    }

    /// A fresh state: nothing finished, counts zero, no deadline.
    pub fn new_state(&self) -> TriggerState {
        let mut slots = SmallVec::new();
        for i in 0..self.nodes.len() {
            match self.nodes[i].kind {
                Kind::Count { .. } => slots.push(0),
                Kind::Delay { .. } => slots.push(NONE),
                _ => {}
            }
        }
        TriggerState { finished: 0, slots }
    }

    /// Whether the trigger has finished: the window is closed to new elements.
    pub fn is_closed(&self, st: &TriggerState) -> bool {
        fin(st, 0)
    }

    /// The earliest pending processing-time deadline in the state, if any.
    pub fn pending_deadline(&self, st: &TriggerState) -> Option<i64> {
        st.slots
            .iter()
            .zip(self.slot_kinds())
            .filter(|(_, is_delay)| *is_delay)
            .map(|(v, _)| *v)
            .filter(|v| *v != NONE)
            .min()
    }

    fn slot_kinds(&self) -> impl Iterator<Item = bool> + '_ {
        self.nodes.iter().filter_map(|n| match n.kind {
            Kind::Count { .. } => Some(false),
            Kind::Delay { .. } => Some(true),
            _ => None,
        })
    }

    // ---- the root operations, as TriggerStateMachineRunner calls them ----

    /// An element arrived in the window (after it was added to the pane).
    ///
    /// A closed window takes no elements (`ReduceFnRunner.processElement` drops them when
    /// `TriggerStateMachineRunner.isClosed`); this call does nothing for one.
    pub fn on_element(&self, st: &mut TriggerState, cx: &mut TriggerCtx) {
        if !fin(st, 0) {
            self.invoke_on_element(0, st, cx);
        }
    }
    /// Whether the trigger is ready to fire now.
    pub fn should_fire(&self, st: &TriggerState, cx: &mut TriggerCtx) -> bool {
        self.sf(0, st, cx)
    }
    /// The trigger fired (a pane is being emitted): advance its state.
    pub fn on_fire(&self, st: &mut TriggerState, cx: &mut TriggerCtx) {
        self.fire(0, st, cx);
    }
    /// Clears the trigger's state but keeps the finished bits (Beam's `clearState`).
    pub fn clear_state(&self, st: &mut TriggerState) {
        self.clear(0, st);
    }
    /// Merges the states of the active windows `sources` into `result` (which starts as the
    /// result window's own state, or fresh for a new window).
    pub fn on_merge(&self, result: &mut TriggerState, sources: &[&TriggerState], cx: &mut TriggerCtx) {
        self.merge(0, result, sources, cx);
    }

    // ---- per node ----

    /// `ExecutableTriggerStateMachine.invokeOnElement`: runs the node's `onElement` whether
    /// or not the node is finished. Which sub-triggers a composite skips is the composite's
    /// own decision (`after_all` and the non-merging `after_each`/`after_watermark` skip
    /// finished ones; `after_first`, `or_finally`, `repeatedly` and the merging
    /// `after_each`/`after_watermark` do not), so a finished `after_count` under
    /// `after_first` keeps counting, as in Beam Java.
    fn invoke_on_element(&self, i: usize, st: &mut TriggerState, cx: &mut TriggerCtx) {
        self.element(i, st, cx);
    }

    fn first_unfinished(&self, i: usize, st: &TriggerState) -> Option<usize> {
        self.nodes[i].children.iter().copied().find(|&c| !fin(st, c))
    }

    fn element(&self, i: usize, st: &mut TriggerState, cx: &mut TriggerCtx) {
        let node = &self.nodes[i];
        match node.kind {
            Kind::Default | Kind::EndOfWindow => {
                if !cx.eow_reached() {
                    cx.timers.push((TimerDomain::EventTime, cx.window.max_timestamp()));
                }
            }
            Kind::Never => {}
            Kind::EarlyLate { .. } => {
                if !cx.eow_reached() {
                    cx.timers.push((TimerDomain::EventTime, cx.window.max_timestamp()));
                }
                if !self.merging {
                    if let Some(c) = self.first_unfinished(i, st) {
                        self.invoke_on_element(c, st, cx);
                    }
                } else {
                    for &c in &node.children {
                        self.invoke_on_element(c, st, cx);
                    }
                }
            }
            Kind::Count { slot, .. } => st.slots[slot] += 1,
            Kind::Delay { delay, slot } => {
                if st.slots[slot] == NONE {
                    let target = cx.now.saturating_add(delay);
                    st.slots[slot] = target;
                    cx.timers.push((TimerDomain::ProcessingTime, target));
                }
            }
            Kind::Repeatedly(c) => self.invoke_on_element(c, st, cx),
            Kind::AfterEach => {
                if !self.merging {
                    if let Some(c) = self.first_unfinished(i, st) {
                        self.invoke_on_element(c, st, cx);
                    }
                } else {
                    for &c in &node.children {
                        self.invoke_on_element(c, st, cx);
                    }
                }
            }
            Kind::AfterFirst | Kind::OrFinally => {
                for &c in &node.children {
                    self.invoke_on_element(c, st, cx);
                }
            }
            Kind::AfterAll => {
                for &c in &node.children {
                    if !fin(st, c) {
                        self.invoke_on_element(c, st, cx);
                    }
                }
            }
        }
    }

    fn sf(&self, i: usize, st: &TriggerState, cx: &mut TriggerCtx) -> bool {
        let node = &self.nodes[i];
        match node.kind {
            Kind::Default | Kind::EndOfWindow => cx.eow_reached(),
            Kind::Never => false,
            Kind::EarlyLate { early, late } => {
                if !fin(st, early) {
                    self.sf(early, st, cx) || cx.eow_reached()
                } else {
                    match late {
                        None => false,
                        Some(l) => self.sf(l, st, cx),
                    }
                }
            }
            Kind::Count { n, slot } => st.slots[slot] >= n as i64,
            Kind::Delay { slot, .. } => st.slots[slot] != NONE && cx.now > st.slots[slot],
            Kind::Repeatedly(c) => self.sf(c, st, cx),
            Kind::AfterEach => match self.first_unfinished(i, st) {
                Some(c) => self.sf(c, st, cx),
                None => false,
            },
            // `AfterFirstStateMachine.shouldFire`: a finished sub-trigger counts as ready. After
            // an early or late firing `after_watermark` clears its sub-trigger and unsets only
            // that sub-trigger's own finished bit, so the bits of an `after_first`'s children
            // stay set and it is ready at every evaluation from then on.
            Kind::AfterFirst => node.children.iter().any(|&c| fin(st, c) || self.sf(c, st, cx)),
            // `OrFinallyStateMachine.shouldFire`: no finished check.
            Kind::OrFinally => node.children.iter().any(|&c| self.sf(c, st, cx)),
            Kind::AfterAll => node.children.iter().all(|&c| fin(st, c) || self.sf(c, st, cx)),
        }
    }

    fn fire(&self, i: usize, st: &mut TriggerState, cx: &mut TriggerCtx) {
        let node = &self.nodes[i];
        match node.kind {
            Kind::Default => {}
            Kind::Never => {}
            Kind::EndOfWindow => set_fin(st, i, true),
            Kind::EarlyLate { early, late } => {
                if !fin(st, early) {
                    // onNonLateFiring
                    if !cx.eow_reached() {
                        self.fire(early, st, cx);
                        self.clear(early, st);
                        set_fin(st, early, false);
                    } else {
                        if self.sf(early, st, cx) {
                            self.fire(early, st, cx);
                        }
                        set_fin(st, early, true);
                        self.clear(early, st);
                        match late {
                            None => set_fin(st, i, true),
                            Some(l) => self.clear(l, st),
                        }
                    }
                } else if let Some(l) = late {
                    // onLateFiring: implicit repeat
                    self.fire(l, st, cx);
                    self.clear(l, st);
                    set_fin(st, l, false);
                } else {
                    set_fin(st, i, true);
                }
            }
            Kind::Count { .. } | Kind::Delay { .. } => {
                self.clear(i, st);
                set_fin(st, i, true);
            }
            Kind::Repeatedly(c) => {
                self.fire(c, st, cx);
                if fin(st, c) {
                    self.reset_tree(c, st);
                }
            }
            Kind::AfterEach => {
                if let Some(c) = self.first_unfinished(i, st) {
                    self.fire(c, st, cx);
                }
                if self.merging {
                    for &c in &node.children {
                        self.clear(c, st);
                    }
                }
                let done = self.first_unfinished(i, st).is_none();
                set_fin(st, i, done);
            }
            Kind::AfterFirst => {
                for &c in &node.children {
                    if self.sf(c, st, cx) {
                        self.fire(c, st, cx);
                    } else {
                        self.clear(c, st);
                    }
                }
                set_fin(st, i, true);
            }
            Kind::AfterAll => {
                for &c in &node.children {
                    self.fire(c, st, cx);
                }
                set_fin(st, i, true);
            }
            Kind::OrFinally => {
                let (actual, until) = (node.children[0], node.children[1]);
                if self.sf(until, st, cx) {
                    self.fire(until, st, cx);
                    self.clear(actual, st);
                } else {
                    self.fire(actual, st, cx);
                }
                let done = fin(st, actual) || fin(st, until);
                set_fin(st, i, done);
            }
        }
    }

    fn clear(&self, i: usize, st: &mut TriggerState) {
        match self.nodes[i].kind {
            Kind::Count { slot, .. } => st.slots[slot] = 0,
            Kind::Delay { slot, .. } => st.slots[slot] = NONE,
            _ => {
                for k in 0..self.nodes[i].children.len() {
                    let c = self.nodes[i].children[k];
                    self.clear(c, st);
                }
            }
        }
    }

    fn clear_finished_recursively(&self, i: usize, st: &mut TriggerState) {
        set_fin(st, i, false);
        for &c in &self.nodes[i].children {
            self.clear_finished_recursively(c, st);
        }
    }

    fn reset_tree(&self, i: usize, st: &mut TriggerState) {
        self.clear_finished_recursively(i, st);
        self.clear(i, st);
    }

    fn merge(&self, i: usize, st: &mut TriggerState, src: &[&TriggerState], cx: &mut TriggerCtx) {
        let node = &self.nodes[i];
        let in_any = |j: usize| src.iter().any(|s| fin(s, j));
        let in_all = |j: usize| src.iter().all(|s| fin(s, j));
        match node.kind {
            Kind::Default => {
                if !cx.eow_reached() {
                    cx.timers.push((TimerDomain::EventTime, cx.window.max_timestamp()));
                }
            }
            Kind::Never => {}
            Kind::EndOfWindow => {
                let done = in_all(i) && cx.eow_reached();
                set_fin(st, i, done);
            }
            Kind::EarlyLate { early, late } => {
                if !in_all(early) || !cx.eow_reached() {
                    self.merge(early, st, src, cx);
                    set_fin(st, early, false);
                    if let Some(l) = late {
                        set_fin(st, l, false);
                        self.clear(l, st);
                    }
                } else {
                    set_fin(st, early, true);
                    if let Some(l) = late {
                        self.merge(l, st, src, cx);
                    }
                }
            }
            Kind::Count { slot, .. } => {
                if in_any(i) {
                    set_fin(st, i, true);
                    st.slots[slot] = 0;
                } else {
                    st.slots[slot] = src.iter().map(|s| s.slots[slot]).sum::<i64>();
                }
            }
            Kind::Delay { slot, .. } => {
                // `AfterDelayFromFirstElementStateMachine.onMerge` asks whether the trigger is
                // finished in the *result* window (its own bits; empty for a new window), not
                // in any merging window as `AfterPaneStateMachine` does, and never sets the bit.
                if fin(st, i) {
                    st.slots[slot] = NONE;
                } else {
                    let earliest = src
                        .iter()
                        .map(|s| s.slots[slot])
                        .chain(std::iter::once(st.slots[slot]))
                        .filter(|v| *v != NONE)
                        .min();
                    st.slots[slot] = earliest.unwrap_or(NONE);
                    if let Some(t) = earliest {
                        cx.timers.push((TimerDomain::ProcessingTime, t));
                    }
                }
            }
            Kind::Repeatedly(c) => self.merge(c, st, src, cx),
            Kind::AfterEach => {
                let mut prior_all_finished = true;
                for &c in &node.children {
                    if prior_all_finished {
                        self.merge(c, st, src, cx);
                        prior_all_finished &= fin(st, c);
                    } else {
                        self.clear(c, st);
                    }
                }
                let done = self.first_unfinished(i, st).is_none();
                set_fin(st, i, done);
            }
            Kind::AfterFirst => {
                for &c in &node.children {
                    self.merge(c, st, src, cx);
                }
                let any = node.children.iter().any(|&c| fin(st, c));
                set_fin(st, i, any);
            }
            Kind::AfterAll => {
                for &c in &node.children {
                    self.merge(c, st, src, cx);
                }
                let all = node.children.iter().all(|&c| fin(st, c));
                set_fin(st, i, all);
            }
            Kind::OrFinally => {
                for &c in &node.children {
                    self.merge(c, st, src, cx);
                }
                let any = node.children.iter().any(|&c| fin(st, c));
                set_fin(st, i, any);
            }
        }
    }
}

// Merging counts: `StateMerging.mergeCombiningValues` sums the sources into the result; the
// result window is either one of the sources or new (zero), so the sum alone is right.

fn fin(st: &TriggerState, i: usize) -> bool {
    st.finished & (1u128 << i) != 0
}

fn set_fin(st: &mut TriggerState, i: usize, v: bool) {
    if v {
        st.finished |= 1u128 << i;
    } else {
        st.finished &= !(1u128 << i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Trigger {
        s.parse().unwrap()
    }

    struct Run {
        m: TriggerMachine,
        st: TriggerState,
        w: Window,
        wm: i64,
        now: i64,
        timers: Vec<(TimerDomain, i64)>,
    }

    impl Run {
        fn new(trigger: &str, merging: bool) -> Self {
            let m = TriggerMachine::new(&t(trigger), merging);
            let st = m.new_state();
            Run { m, st, w: Window::new(0, 10), wm: i64::MIN, now: 0, timers: Vec::new() }
        }
        fn element(&mut self) {
            let mut cx = TriggerCtx { window: self.w, input_wm: self.wm, now: self.now, timers: &mut self.timers };
            self.m.on_element(&mut self.st, &mut cx);
        }
        /// Evaluates and fires if ready; returns whether it fired.
        fn eval(&mut self) -> bool {
            let mut cx = TriggerCtx { window: self.w, input_wm: self.wm, now: self.now, timers: &mut self.timers };
            if self.m.should_fire(&self.st, &mut cx) {
                self.m.on_fire(&mut self.st, &mut cx);
                true
            } else {
                false
            }
        }
        fn closed(&self) -> bool {
            self.m.is_closed(&self.st)
        }
    }

    #[test]
    fn after_count_fires_once_and_closes() {
        let mut r = Run::new("after_count(2)", false);
        r.element();
        assert!(!r.eval());
        r.element();
        assert!(r.eval());
        assert!(r.closed());
    }

    #[test]
    fn repeatedly_resets_its_child() {
        let mut r = Run::new("repeatedly(after_count(2))", false);
        for round in 0..3 {
            r.element();
            assert!(!r.eval(), "round {round}");
            r.element();
            assert!(r.eval(), "round {round}");
            assert!(!r.closed());
        }
    }

    #[test]
    fn processing_time_is_strictly_after_the_deadline() {
        let mut r = Run::new("after_processing_time(5)", false);
        r.now = 10;
        r.element();
        assert_eq!(r.timers, vec![(TimerDomain::ProcessingTime, 15)]);
        r.now = 12;
        r.element(); // does not move the deadline
        r.now = 15;
        assert!(!r.eval());
        r.now = 16;
        assert!(r.eval());
        assert!(r.closed());
    }

    #[test]
    fn after_watermark_sets_the_end_of_window_timer_and_fires_after_it() {
        let mut r = Run::new("after_watermark", false);
        r.wm = 3;
        r.element();
        assert_eq!(r.timers, vec![(TimerDomain::EventTime, 9)]);
        assert!(!r.eval());
        r.wm = 10;
        assert!(r.eval());
        assert!(r.closed());
    }

    #[test]
    fn early_firings_repeat_then_on_time_then_late_firings_repeat() {
        let mut r = Run::new("after_watermark(early=after_count(2), late=after_count(1))", false);
        r.element();
        assert!(!r.eval());
        r.element();
        assert!(r.eval()); // early
        r.element();
        r.element();
        assert!(r.eval()); // early again
        r.wm = 10;
        assert!(r.eval()); // on time
        assert!(!r.eval());
        r.element();
        assert!(r.eval()); // late
        r.element();
        assert!(r.eval()); // late again
        assert!(!r.closed());
    }

    #[test]
    fn early_only_finishes_at_the_end_of_window() {
        let mut r = Run::new("after_watermark(early=after_count(5))", false);
        r.element();
        r.wm = 10;
        assert!(r.eval());
        assert!(r.closed());
    }

    #[test]
    fn or_finally_counts_across_firings() {
        let mut r = Run::new("or_finally(repeatedly(after_count(2)), after_count(3))", false);
        r.element();
        assert!(!r.eval());
        r.element();
        assert!(r.eval());
        assert!(!r.closed());
        r.element();
        assert!(r.eval());
        assert!(r.closed());
    }

    #[test]
    fn after_each_runs_in_sequence_and_skips_the_watermark_without_elements() {
        let mut r = Run::new("after_each(after_count(2), after_watermark)", false);
        r.element();
        r.element();
        assert!(r.eval());
        assert!(r.timers.is_empty(), "after_watermark has not seen an element yet");
        r.element();
        assert_eq!(r.timers, vec![(TimerDomain::EventTime, 9)]);
        r.wm = 10;
        assert!(r.eval());
        assert!(r.closed());
    }

    #[test]
    fn after_first_resets_the_sibling_that_did_not_fire() {
        let mut r = Run::new("repeatedly(after_first(after_count(2), after_processing_time(10)))", false);
        r.now = 0;
        r.element();
        r.element();
        assert!(r.eval());
        r.now = 5;
        r.element();
        r.now = 11;
        assert!(!r.eval(), "the old deadline was cleared when the count fired");
        r.now = 16;
        assert!(r.eval());
    }

    #[test]
    fn after_all_waits_for_every_child() {
        let mut r = Run::new("after_all(after_count(2), after_processing_time(5))", false);
        r.element();
        r.element();
        assert!(!r.eval());
        r.now = 6;
        assert!(r.eval());
        assert!(r.closed());
    }

    #[test]
    fn merged_counts_add_up_and_finished_counts_stay_finished() {
        let m = TriggerMachine::new(&t("after_count(3)"), true);
        let w = Window::new(0, 20);
        let mut timers = Vec::new();
        let mut a = m.new_state();
        let mut b = m.new_state();
        let mut cx = TriggerCtx { window: w, input_wm: 0, now: 0, timers: &mut timers };
        m.on_element(&mut a, &mut cx);
        m.on_element(&mut b, &mut cx);
        let mut merged = m.new_state();
        m.on_merge(&mut merged, &[&a, &b], &mut cx);
        assert!(!m.should_fire(&merged, &mut cx));
        m.on_element(&mut merged, &mut cx);
        assert!(m.should_fire(&merged, &mut cx));
        let mut done = m.new_state();
        set_fin(&mut done, 0, true);
        let mut merged = m.new_state();
        m.on_merge(&mut merged, &[&a, &done], &mut cx);
        assert!(m.is_closed(&merged));
    }

    #[test]
    fn merge_returns_to_the_early_phase_unless_all_were_late() {
        let m = TriggerMachine::new(&t("after_watermark(early=after_count(2), late=after_count(3))"), true);
        let mut timers = Vec::new();
        let w = Window::new(0, 10);
        let mut late = m.new_state();
        let mut cx = TriggerCtx { window: w, input_wm: 50, now: 0, timers: &mut timers };
        m.on_element(&mut late, &mut cx);
        assert!(m.should_fire(&late, &mut cx));
        m.on_fire(&mut late, &mut cx); // on time: now in the late phase
        let mut merged = late.clone();
        m.on_merge(&mut merged, &[&late], &mut cx);
        m.on_element(&mut merged, &mut cx);
        assert!(!m.should_fire(&merged, &mut cx), "late phase: needs 3 late elements");
        let fresh = m.new_state();
        let mut merged = m.new_state();
        m.on_merge(&mut merged, &[&late, &fresh], &mut cx);
        assert!(m.should_fire(&merged, &mut cx), "back to the early phase past the end: fires at once");
    }

    // ---- Beam Java, bit by bit: composites under after_watermark, merges ----

    #[test]
    fn early_after_first_keeps_its_childs_finished_bit_and_fires_at_every_evaluation() {
        // AfterWatermarkEarlyAndLate.onNonLateFiring unsets only the early trigger's own bit;
        // AfterFirstStateMachine.shouldFire counts the finished count (bit 2) as ready.
        let mut r = Run::new("after_watermark(early=after_first(after_count(2), after_processing_time(5)))", false);
        r.element();
        r.element();
        assert!(r.eval(), "the count fires the first early pane");
        assert!(fin(&r.st, 2), "the count's bit stays set");
        assert!(!fin(&r.st, 1), "the early trigger's own bit is unset");
        r.element();
        assert!(r.eval(), "ready at once: a finished sub-trigger counts as ready");
        assert!(r.eval(), "and at every evaluation, with or without elements");
        r.wm = 10;
        assert!(r.eval(), "the on-time firing");
        assert!(r.closed());
    }

    #[test]
    fn finished_sub_triggers_still_receive_elements() {
        // ExecutableTriggerStateMachine.invokeOnElement does not look at the finished bit:
        // under after_first the finished count keeps counting, the finished delay re-arms.
        let mut r = Run::new("after_watermark(early=after_first(after_count(3), after_processing_time(5)))", false);
        r.element();
        r.now = 6;
        assert!(r.eval(), "the delay fires");
        assert!(fin(&r.st, 3));
        r.timers.clear();
        r.element();
        assert!(r.timers.contains(&(TimerDomain::ProcessingTime, 11)), "the finished delay is armed again");
        assert_eq!(r.st.slots[0], 1, "the count saw the element");
    }

    #[test]
    fn early_after_all_with_finished_children_fires_at_once() {
        // AfterAllStateMachine.onElement runs only unfinished sub-triggers; shouldFire skips
        // finished ones: after the first early firing every evaluation fires.
        let mut r = Run::new("after_watermark(early=after_all(after_count(2), after_processing_time(5)))", false);
        r.element();
        r.element();
        assert!(!r.eval());
        r.now = 6;
        assert!(r.eval());
        assert!(fin(&r.st, 2) && fin(&r.st, 3) && !fin(&r.st, 1));
        r.element();
        assert_eq!(r.st.slots[0], 0, "after_all skips its finished count");
        assert!(r.eval());
    }

    #[test]
    fn late_after_first_behaves_like_early_after_first() {
        let mut r = Run::new("after_watermark(late=after_first(after_count(2), after_processing_time(5)))", false);
        r.element();
        r.wm = 10;
        assert!(r.eval(), "on time");
        r.element();
        assert!(!r.eval());
        r.element();
        assert!(r.eval(), "the late count fires");
        r.element();
        assert!(r.eval(), "the late count's bit stays set: ready at once");
        assert!(!r.closed());
    }

    #[test]
    fn nested_after_first_under_after_all_stays_finished() {
        let mut r = Run::new(
            "after_watermark(early=after_all(after_first(after_count(2), after_processing_time(5)), after_count(3)))",
            false,
        );
        r.element();
        r.element();
        assert!(!r.eval(), "after_count(3) is not ready");
        r.element();
        assert!(r.eval());
        assert!(fin(&r.st, 2) && fin(&r.st, 3) && fin(&r.st, 5));
        r.element();
        assert!(r.eval(), "every sub-trigger of after_all is finished");
    }

    #[test]
    fn a_merged_delay_is_finished_only_if_the_result_window_had_finished_it() {
        // AfterDelayFromFirstElementStateMachine.onMerge asks c.trigger().isFinished(): the
        // result window's own bit, not the merging windows' (unlike AfterPaneStateMachine).
        let m =
            TriggerMachine::new(&t("after_watermark(early=after_all(after_count(2), after_processing_time(5)))"), true);
        let w = Window::new(1, 12);
        let mut timers = Vec::new();
        let mut src = m.new_state();
        let mut cx = TriggerCtx { window: w, input_wm: i64::MIN, now: 0, timers: &mut timers };
        m.on_element(&mut src, &mut cx);
        m.on_element(&mut src, &mut cx);
        cx.now = 6;
        assert!(m.should_fire(&src, &mut cx));
        m.on_fire(&mut src, &mut cx);
        assert!(fin(&src, 2) && fin(&src, 3));
        // Into a new window: the count is finished (finished in a merging window), the delay not.
        let mut merged = m.new_state();
        cx.window = Window::new(1, 19);
        m.on_merge(&mut merged, &[&src], &mut cx);
        assert!(fin(&merged, 2) && !fin(&merged, 3));
        assert!(!m.should_fire(&merged, &mut cx), "after_all waits for the delay again");
        // Into the same window (the result is the source): its own bit keeps the delay finished.
        let mut same = src.clone();
        cx.window = w;
        m.on_merge(&mut same, &[&src], &mut cx);
        assert!(fin(&same, 3));
        assert!(m.should_fire(&same, &mut cx));
    }

    #[test]
    fn merging_early_trigger_counts_in_the_late_phase_and_brings_it_back_on_merge() {
        // With merging windows AfterWatermarkEarlyAndLate.onElement runs every sub-trigger,
        // the finished early one too; a merge back into the early phase sums those counts.
        let m = TriggerMachine::new(
            &t("after_watermark(early=after_first(after_count(2), after_processing_time(100)), late=after_count(1))"),
            true,
        );
        let mut timers = Vec::new();
        let mut st = m.new_state();
        let mut cx = TriggerCtx { window: Window::new(1, 11), input_wm: i64::MIN, now: 0, timers: &mut timers };
        m.on_element(&mut st, &mut cx);
        cx.input_wm = 11;
        assert!(m.should_fire(&st, &mut cx));
        m.on_fire(&mut st, &mut cx); // on time
        m.on_element(&mut st, &mut cx); // a late element
        assert_eq!(st.slots[0], 1, "the finished early after_first counted it");
        assert!(m.should_fire(&st, &mut cx));
        m.on_fire(&mut st, &mut cx); // late pane
        let mut merged = m.new_state();
        cx.window = Window::new(1, 15);
        m.on_merge(&mut merged, &[&st], &mut cx);
        assert!(!fin(&merged, 1), "back to the early phase");
        m.on_element(&mut merged, &mut cx);
        assert!(m.should_fire(&merged, &mut cx), "1 (late phase) + 1 reaches after_count(2)");
    }

    #[test]
    fn merging_after_each_revives_an_or_finally_whose_delay_fired() {
        let m = TriggerMachine::new(
            &t("after_each(or_finally(repeatedly(after_count(2)), after_processing_time(5)), or_finally(repeatedly(after_count(1)), after_count(2)))"),
            true,
        );
        let mut timers = Vec::new();
        let mut st = m.new_state();
        let mut cx = TriggerCtx { window: Window::new(1, 11), input_wm: i64::MIN, now: 0, timers: &mut timers };
        m.on_element(&mut st, &mut cx);
        cx.now = 6;
        assert!(m.should_fire(&st, &mut cx));
        m.on_fire(&mut st, &mut cx);
        assert!(fin(&st, 1) && fin(&st, 4), "the first or_finally finished by its delay");
        // A new merged window: the delay is unfinished there, so is the or_finally.
        let mut merged = m.new_state();
        cx.window = Window::new(1, 13);
        m.on_merge(&mut merged, &[&st], &mut cx);
        assert!(!fin(&merged, 1));
        m.on_element(&mut merged, &mut cx);
        assert!(!m.should_fire(&merged, &mut cx), "back at the first or_finally, count 1 of 2");
        // The same window as result: its own bits keep the first or_finally finished.
        let mut same = st.clone();
        cx.window = Window::new(1, 11);
        m.on_merge(&mut same, &[&st], &mut cx);
        assert!(fin(&same, 1));
        m.on_element(&mut same, &mut cx);
        assert!(m.should_fire(&same, &mut cx), "the second or_finally's repeatedly(after_count(1))");
    }
}
