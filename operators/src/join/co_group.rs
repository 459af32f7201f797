//! The windowed co-group: per key and window, the values of each side (Beam's
//! `CoGroupByKey`), as a combiner ([`CoGroup`]) for the windowed aggregate — so it fires
//! with every trigger, allowed lateness, accumulation mode (retracting too) and window
//! function the aggregate has, through the same planner and operators.

use super::window_join::JoinKind;
use super::Side;
use crate::combine::CombineFn;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// Collects each side's values per key and window ([`CoGrouped`]): the combiner of a
/// windowed co-group of [`Side`] records.
///
/// ```
/// use highwater::model::combine::CombineFn;
/// use highwater::model::join::{CoGroup, CoGrouped, Side};
/// type V = Side<u32, String>;
/// let mut acc = CombineFn::<V>::create(&CoGroup);
/// CoGroup.add(&mut acc, V::Left(1));
/// CoGroup.add(&mut acc, V::Right("a".to_string()));
/// CoGroup.add(&mut acc, V::Left(2));
/// let got = CombineFn::<V>::extract(&CoGroup, &acc);
/// assert_eq!(got, CoGrouped { left: vec![1, 2], right: vec!["a".to_string()] });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CoGroup;

/// The values of both sides in one pane of a co-group, each side in arrival order.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CoGrouped<L, R> {
    /// The left collection's values.
    pub left: Vec<L>,
    /// The right collection's values.
    pub right: Vec<R>,
}

impl<L, R> CombineFn<Side<L, R>> for CoGroup
where
    L: Clone + Debug + Send + Serialize + DeserializeOwned + 'static,
    R: Clone + Debug + Send + Serialize + DeserializeOwned + 'static,
{
    type Acc = CoGrouped<L, R>;
    type Out = CoGrouped<L, R>;
    fn create(&self) -> CoGrouped<L, R> {
        CoGrouped { left: Vec::new(), right: Vec::new() }
    }
    fn add(&self, acc: &mut CoGrouped<L, R>, v: Side<L, R>) {
        match v {
            Side::Left(l) => acc.left.push(l),
            Side::Right(r) => acc.right.push(r),
        }
    }
    fn merge(&self, acc: &mut CoGrouped<L, R>, mut other: CoGrouped<L, R>) {
        acc.left.append(&mut other.left);
        acc.right.append(&mut other.right);
    }
    fn extract(&self, acc: &CoGrouped<L, R>) -> CoGrouped<L, R> {
        acc.clone()
    }
}

impl<L: Clone, R: Clone> CoGrouped<L, R> {
    /// The rows of a join of the two sides: every left value with every right value and,
    /// as `kind` asks, each value of a side the other side has none for (a pane with a
    /// left value and no right one gives `(Some(l), None)` under a left or full join). As
    /// in Beam's `Join` over `CoGroupByKey`, an outer row is decided per pane: with
    /// accumulating panes, a later pane that brings a partner replaces the earlier pane's
    /// rows.
    ///
    /// ```
    /// use highwater::model::join::{CoGrouped, JoinKind};
    /// let g = CoGrouped { left: vec!["ann", "bob"], right: vec![1] };
    /// assert_eq!(g.join(JoinKind::Inner), [(Some("ann"), Some(1)), (Some("bob"), Some(1))]);
    /// let g = CoGrouped::<&str, u32> { left: vec!["ann"], right: vec![] };
    /// assert_eq!(g.join(JoinKind::Inner), []);
    /// assert_eq!(g.join(JoinKind::Left), [(Some("ann"), None)]);
    /// assert_eq!(g.join(JoinKind::Right), []);
    /// ```
    pub fn join(&self, kind: JoinKind) -> Vec<(Option<L>, Option<R>)> {
        let mut rows = Vec::with_capacity(self.left.len() * self.right.len());
        for l in &self.left {
            for r in &self.right {
                rows.push((Some(l.clone()), Some(r.clone())));
            }
        }
        if self.right.is_empty() && matches!(kind, JoinKind::Left | JoinKind::Full) {
            rows.extend(self.left.iter().map(|l| (Some(l.clone()), None)));
        }
        if self.left.is_empty() && matches!(kind, JoinKind::Right | JoinKind::Full) {
            rows.extend(self.right.iter().map(|r| (None, Some(r.clone()))));
        }
        rows
    }
}

/// Collects the values of any number of collections per key and window
/// ([`CoGroupedAll`]): the combiner of a windowed co-group of values tagged with the index
/// of their collection (`(index, value)`, index below `sides`; a value with another index
/// is kept in no side). All collections have one value type: map each into an enum of
/// your own when they differ.
///
/// ```
/// use highwater::model::combine::CombineFn;
/// use highwater::model::join::{CoGroupAll, CoGroupedAll};
/// let three = CoGroupAll { sides: 3 };
/// let mut acc = CombineFn::<(u32, char)>::create(&three);
/// three.add(&mut acc, (2, 'c'));
/// three.add(&mut acc, (0, 'a'));
/// let got = CombineFn::<(u32, char)>::extract(&three, &acc);
/// assert_eq!(got, CoGroupedAll { sides: vec![vec!['a'], vec![], vec!['c']] });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CoGroupAll {
    /// How many collections take part.
    pub sides: usize,
}

/// The values of every collection in one pane of a co-group of many, each in arrival
/// order: `sides[i]` holds the `i`-th collection's.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CoGroupedAll<T> {
    /// Each collection's values, in the order the collections were given.
    pub sides: Vec<Vec<T>>,
}

impl<T> CombineFn<(u32, T)> for CoGroupAll
where
    T: Clone + Debug + Send + Serialize + DeserializeOwned + 'static,
{
    type Acc = CoGroupedAll<T>;
    type Out = CoGroupedAll<T>;
    fn create(&self) -> CoGroupedAll<T> {
        CoGroupedAll { sides: (0..self.sides).map(|_| Vec::new()).collect() }
    }
    fn add(&self, acc: &mut CoGroupedAll<T>, (side, v): (u32, T)) {
        if let Some(values) = acc.sides.get_mut(side as usize) {
            values.push(v);
        }
    }
    fn merge(&self, acc: &mut CoGroupedAll<T>, other: CoGroupedAll<T>) {
        for (values, mut more) in acc.sides.iter_mut().zip(other.sides) {
            values.append(&mut more);
        }
    }
    fn extract(&self, acc: &CoGroupedAll<T>) -> CoGroupedAll<T> {
        acc.clone()
    }
}

impl<T: Clone> CoGroupedAll<T> {
    /// The rows of a join of every collection: each combination of one value per
    /// collection, `None` standing for a collection with no value in the pane where
    /// `kind` lets it be missing — no collection under [`JoinKind::Inner`], all but the
    /// first under [`JoinKind::Left`], all but the last under [`JoinKind::Right`], any under
    /// [`JoinKind::Full`] (as long as one has a value). With two collections these are the
    /// rows of [`CoGrouped::join`]; as there, an outer row is decided per pane.
    ///
    /// ```
    /// use highwater::model::join::{CoGroupedAll, JoinKind};
    /// let g = CoGroupedAll { sides: vec![vec!["ann"], vec![], vec!["x", "y"]] };
    /// assert!(g.join(JoinKind::Inner).is_empty());
    /// assert_eq!(g.join(JoinKind::Left), [
    ///     vec![Some("ann"), None, Some("x")],
    ///     vec![Some("ann"), None, Some("y")],
    /// ]);
    /// ```
    pub fn join(&self, kind: JoinKind) -> Vec<Vec<Option<T>>> {
        let last = self.sides.len().saturating_sub(1);
        let may_miss = |i: usize| match kind {
            JoinKind::Inner => false,
            JoinKind::Left => i != 0,
            JoinKind::Right => i != last,
            JoinKind::Full => true,
        };
        if self.sides.iter().all(Vec::is_empty) {
            return Vec::new();
        }
        let mut rows: Vec<Vec<Option<T>>> = vec![Vec::with_capacity(self.sides.len())];
        for (i, values) in self.sides.iter().enumerate() {
            let choices: Vec<Option<T>> = if values.is_empty() {
                if !may_miss(i) {
                    return Vec::new();
                }
                vec![None]
            } else {
                values.iter().cloned().map(Some).collect()
            };
            rows = rows
                .into_iter()
                .flat_map(|row| {
                    choices.iter().map(move |c| {
                        let mut row = row.clone();
                        row.push(c.clone());
                        row
                    })
                })
                .collect();
        }
        rows
    }
}
