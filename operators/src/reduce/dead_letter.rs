//! Elements the reducer (or an operator before the exchange) did not add to a window.

use crate::window::Window;
use serde::{Deserialize, Serialize};

/// Why an element was not added to a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DropReason {
    /// The watermark had passed the window's end plus the allowed lateness.
    TooLate,
    /// The window's trigger had finished.
    WindowClosed,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DropReason::TooLate => "too late: the watermark passed the window's end plus the allowed lateness",
            DropReason::WindowClosed => "the window's trigger has finished",
        })
    }
}

/// An element that was dropped for one of its windows (dead-letter output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dropped<K, V> {
    /// The element's key.
    pub key: K,
    /// The element's event time.
    pub timestamp: i64,
    /// The element.
    pub value: V,
    /// The window it was dropped for.
    pub window: Window,
    /// Why.
    pub reason: DropReason,
    /// The input watermark then.
    pub watermark: i64,
}
