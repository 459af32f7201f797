//! [`Side`]: a record of one of two keyed collections brought together, as the joins read
//! them.

use serde::{Deserialize, Serialize};

/// A record of the left or the right of two keyed collections brought together
/// (`Keyed::connect` in the DSL; Beam's `KeyedPCollectionTuple`, Flink's
/// `ConnectedStreams`): the input of the joins, which are process steps over
/// `Side<L, R>` values.
///
/// ```
/// use highwater::model::join::Side;
/// let s: Side<u64, String> = Side::Left(7);
/// assert_eq!(s.left(), Some(&7));
/// assert_eq!(s.right(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side<L, R> {
    /// A record of the left collection (the one `connect` was called on).
    Left(L),
    /// A record of the right collection (the argument of `connect`).
    Right(R),
}

impl<L, R> Side<L, R> {
    /// The left record, if this is one.
    pub fn left(&self) -> Option<&L> {
        match self {
            Side::Left(l) => Some(l),
            Side::Right(_) => None,
        }
    }
    /// The right record, if this is one.
    pub fn right(&self) -> Option<&R> {
        match self {
            Side::Left(_) => None,
            Side::Right(r) => Some(r),
        }
    }
    /// `"left"` or `"right"`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Side::Left(_) => "left",
            Side::Right(_) => "right",
        }
    }
}
