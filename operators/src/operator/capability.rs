//! The capabilities every windowed operator keeps: one that follows the input frontier,
//! and one that holds the output back at the earliest watermark hold.

use crate::time::{Time, POS_INF};
use timely::dataflow::operators::Capability;
use timely::progress::frontier::MutableAntichain;

/// The lower of the hold capability and the frontier capability.
pub(super) fn lowest<'a>(
    hold_cap: Option<&'a Capability<Time>>,
    frontier_cap: Option<&'a Capability<Time>>,
) -> Option<&'a Capability<Time>> {
    [hold_cap, frontier_cap].into_iter().flatten().min_by_key(|c| *c.time())
}

/// Moves the hold capability to `(hold, 0)` — or as close as the capabilities held allow —
/// or drops it when nothing is held.
pub(super) fn move_hold(
    hold_cap: &mut Option<Capability<Time>>,
    frontier_cap: Option<&Capability<Time>>,
    hold: Option<i64>,
) {
    let Some(h) = hold else {
        *hold_cap = None;
        return;
    };
    let target = Time::new(h, 0);
    if let Some(low) = lowest(hold_cap.as_ref(), frontier_cap) {
        let at = if low.time() <= &target { target } else { *low.time() };
        *hold_cap = Some(low.delayed(&at));
    }
}

/// Downgrades capabilities that follow the input frontier to it; drops them once it is
/// empty.
pub(super) fn follow_frontier<const N: usize>(frontier: Option<Time>, caps: [&mut Option<Capability<Time>>; N]) {
    for cap in caps {
        match frontier {
            Some(f) => {
                if let Some(c) = cap.as_mut() {
                    c.downgrade(&f);
                }
            }
            None => *cap = None,
        }
    }
}

/// Moves the capabilities that are before `cut` up to it: after a checkpoint's state is
/// saved, nothing the step sends may be at a time before the cut.
pub(super) fn raise_to<const N: usize>(cut: Time, caps: [&mut Option<Capability<Time>>; N]) {
    for cap in caps.into_iter().flatten() {
        if *cap.time() < cut {
            cap.downgrade(&cut);
        }
    }
}

/// The input watermark of a frontier (`POS_INF` once it is empty).
pub(super) fn frontier_watermark(f: &MutableAntichain<Time>) -> i64 {
    f.frontier().iter().map(|t| t.watermark()).min().unwrap_or(POS_INF)
}
