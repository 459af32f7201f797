//! Window assignment before the exchange, written once: each record goes to each of its
//! windows, or to the dead letters for the windows it is too late for.

use crate::combine::CombineFn;
use crate::reduce::{DropReason, Dropped};
use crate::window::{Window, WindowFn};
use std::sync::Arc;

/// Assigns records to their windows and drops them, per window, when the watermark has
/// passed the window's end plus the allowed lateness (Beam's `LateDataFilter`). Used by
/// the operators that combine before the exchange ([`super::precombine`],
/// [`super::on_time_local`]); the reducer assigns on its own, after the exchange.
pub(super) struct Assigner {
    /// The strategy's window function.
    window_fn: Arc<dyn WindowFn>,
    /// The strategy's allowed lateness.
    lateness: i64,
    /// The windows of the record being assigned (reused).
    windows: Vec<Window>,
}

impl Assigner {
    /// An assigner for `window_fn` with `lateness` allowed.
    pub(super) fn new(window_fn: Arc<dyn WindowFn>, lateness: i64) -> Self {
        Assigner { window_fn, lateness, windows: Vec::new() }
    }

    /// Hands `(key, t, value)` to `add` once per window it is not too late for at
    /// watermark `wm` (the last window takes the value, the others borrow it: see
    /// [`Assigned`]) and pushes a [`DropReason::TooLate`] dead letter to `dropped` for
    /// every other window.
    #[inline]
    pub(super) fn assign<K: Clone, V: Clone>(
        &mut self,
        key: &K,
        t: i64,
        value: V,
        wm: i64,
        dropped: &mut Vec<Dropped<K, V>>,
        mut add: impl FnMut(Window, Assigned<'_, V>),
    ) {
        self.windows.clear();
        self.window_fn.assign(t, &mut self.windows);
        let Some((last, others)) = self.windows.split_last() else { return };
        for w in others {
            if w.gc_time(self.lateness) < wm {
                dropped.push(Dropped {
                    key: key.clone(),
                    timestamp: t,
                    value: value.clone(),
                    window: *w,
                    reason: DropReason::TooLate,
                    watermark: wm,
                });
                continue;
            }
            add(*w, Assigned::Borrowed(&value));
        }
        if last.gc_time(self.lateness) < wm {
            dropped.push(Dropped {
                key: key.clone(),
                timestamp: t,
                value,
                window: *last,
                reason: DropReason::TooLate,
                watermark: wm,
            });
            return;
        }
        add(*last, Assigned::Owned(value));
    }
}

/// A record's value handed to one of its windows: its last window takes it, the others
/// borrow it ([`CombineFn::add_ref`] adds without a clone where it can).
pub(super) enum Assigned<'a, V> {
    /// The value, for its last window.
    Owned(V),
    /// The value, for a window before the last.
    Borrowed(&'a V),
}

impl<V: Clone> Assigned<'_, V> {
    /// Adds the value to `acc`.
    #[inline(always)]
    pub(super) fn add_to<C: CombineFn<V>>(self, combine: &C, acc: &mut C::Acc) {
        match self {
            Assigned::Owned(v) => combine.add(acc, v),
            Assigned::Borrowed(v) => combine.add_ref(acc, v),
        }
    }
}
