//! Combiners: how the elements of a pane become its value (Beam's `CombineFn`).
//!
//! A [`CombineFn`] creates an accumulator, adds inputs, merges accumulators (pre-combining
//! before the exchange; session merges) and extracts the output. Built in: [`Count`],
//! [`Sum`], [`Min`], [`Max`], [`Mean`], [`Collect`]; [`from_fns`] turns closures into one.
//!
//! ```
//! use highwater::model::combine::{CombineFn, Mean, Sum};
//! let s = Sum::<i64>::default();
//! let mut acc = s.create();
//! s.add(&mut acc, 3);
//! s.add(&mut acc, 4);
//! assert_eq!(s.extract(&acc), 7);
//! let m = Mean;
//! let mut a = m.create();
//! m.add(&mut a, 1.0);
//! m.add(&mut a, 2.0);
//! assert_eq!(m.extract(&a), Some(1.5));
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::ops::Add;

/// An associative aggregation with an accumulator.
///
/// Accumulators travel between workers and processes (pre-combining before the exchange),
/// so they are serde types; so are outputs, which later stages exchange.
pub trait CombineFn<V>: Clone + Send + 'static {
    /// The running state.
    type Acc: Clone + Debug + Send + Serialize + DeserializeOwned + 'static;
    /// The pane value.
    type Out: Clone + Debug + Send + Serialize + DeserializeOwned + 'static;
    /// An empty accumulator.
    fn create(&self) -> Self::Acc;
    /// Adds one input.
    fn add(&self, acc: &mut Self::Acc, value: V);
    /// Adds one input the caller keeps (a record of several windows is added to each but
    /// the last by reference). By default a clone of it is added; override it when adding
    /// can read the value in place.
    #[inline]
    fn add_ref(&self, acc: &mut Self::Acc, value: &V)
    where
        V: Clone,
    {
        self.add(acc, value.clone())
    }
    /// Merges `other` into `acc`.
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// The output for the accumulator.
    fn extract(&self, acc: &Self::Acc) -> Self::Out;
}

/// Counts elements.
#[derive(Clone, Copy, Debug, Default)]
pub struct Count;
impl<V> CombineFn<V> for Count {
    type Acc = u64;
    type Out = u64;
    fn create(&self) -> u64 {
        0
    }
    fn add(&self, acc: &mut u64, _v: V) {
        *acc += 1;
    }
    fn merge(&self, acc: &mut u64, other: u64) {
        *acc += other;
    }
    fn extract(&self, acc: &u64) -> u64 {
        *acc
    }
}

/// Sums numbers (`T::default()` is zero).
#[derive(Clone, Copy, Debug)]
pub struct Sum<T>(PhantomData<fn() -> T>);
impl<T> Default for Sum<T> {
    fn default() -> Self {
        Sum(PhantomData)
    }
}
impl<T> CombineFn<T> for Sum<T>
where
    T: Add<Output = T> + Default + Clone + Debug + Send + Serialize + DeserializeOwned + 'static,
{
    type Acc = T;
    type Out = T;
    fn create(&self) -> T {
        T::default()
    }
    fn add(&self, acc: &mut T, v: T) {
        *acc = acc.clone() + v;
    }
    fn merge(&self, acc: &mut T, other: T) {
        *acc = acc.clone() + other;
    }
    fn extract(&self, acc: &T) -> T {
        acc.clone()
    }
}

/// The smallest input (`None` for an empty pane).
#[derive(Clone, Copy, Debug, Default)]
pub struct Min;
impl<T: PartialOrd + Clone + Debug + Send + Serialize + DeserializeOwned + 'static> CombineFn<T> for Min {
    type Acc = Option<T>;
    type Out = Option<T>;
    fn create(&self) -> Option<T> {
        None
    }
    fn add(&self, acc: &mut Option<T>, v: T) {
        if acc.as_ref().is_none_or(|a| v < *a) {
            *acc = Some(v);
        }
    }
    fn merge(&self, acc: &mut Option<T>, other: Option<T>) {
        if let Some(v) = other {
            CombineFn::<T>::add(self, acc, v);
        }
    }
    fn extract(&self, acc: &Option<T>) -> Option<T> {
        acc.clone()
    }
}

/// The largest input (`None` for an empty pane).
#[derive(Clone, Copy, Debug, Default)]
pub struct Max;
impl<T: PartialOrd + Clone + Debug + Send + Serialize + DeserializeOwned + 'static> CombineFn<T> for Max {
    type Acc = Option<T>;
    type Out = Option<T>;
    fn create(&self) -> Option<T> {
        None
    }
    fn add(&self, acc: &mut Option<T>, v: T) {
        if acc.as_ref().is_none_or(|a| v > *a) {
            *acc = Some(v);
        }
    }
    fn merge(&self, acc: &mut Option<T>, other: Option<T>) {
        if let Some(v) = other {
            CombineFn::<T>::add(self, acc, v);
        }
    }
    fn extract(&self, acc: &Option<T>) -> Option<T> {
        acc.clone()
    }
}

/// The arithmetic mean of `f64` inputs (`None` for an empty pane).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mean;
impl CombineFn<f64> for Mean {
    type Acc = (f64, u64);
    type Out = Option<f64>;
    fn create(&self) -> (f64, u64) {
        (0.0, 0)
    }
    fn add(&self, acc: &mut (f64, u64), v: f64) {
        acc.0 += v;
        acc.1 += 1;
    }
    fn merge(&self, acc: &mut (f64, u64), other: (f64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
    fn extract(&self, acc: &(f64, u64)) -> Option<f64> {
        (acc.1 > 0).then(|| acc.0 / acc.1 as f64)
    }
}

/// Collects every input (Beam's `GroupByKey`): the pane value is the list.
#[derive(Clone, Copy, Debug, Default)]
pub struct Collect;
impl<T: Clone + Debug + Send + Serialize + DeserializeOwned + 'static> CombineFn<T> for Collect {
    type Acc = Vec<T>;
    type Out = Vec<T>;
    fn create(&self) -> Vec<T> {
        Vec::new()
    }
    fn add(&self, acc: &mut Vec<T>, v: T) {
        acc.push(v);
    }
    fn merge(&self, acc: &mut Vec<T>, mut other: Vec<T>) {
        acc.append(&mut other);
    }
    fn extract(&self, acc: &Vec<T>) -> Vec<T> {
        acc.clone()
    }
}

/// A combiner made of closures.
///
/// ```
/// use highwater::model::combine::{from_fns, CombineFn};
/// let longest = from_fns(
///     || 0usize,
///     |acc: &mut usize, s: String| *acc = (*acc).max(s.len()),
///     |acc: &mut usize, other: usize| *acc = (*acc).max(other),
///     |acc: &usize| *acc,
/// );
/// let mut a = longest.create();
/// longest.add(&mut a, "tide".to_string());
/// assert_eq!(longest.extract(&a), 4);
/// ```
pub fn from_fns<V, A, O, C, Ad, M, E>(create: C, add: Ad, merge: M, extract: E) -> FnCombine<C, Ad, M, E>
where
    C: Fn() -> A,
    Ad: Fn(&mut A, V),
    M: Fn(&mut A, A),
    E: Fn(&A) -> O,
{
    FnCombine { create, add, merge, extract }
}

/// See [`from_fns`].
#[derive(Clone, Copy, Debug)]
pub struct FnCombine<C, Ad, M, E> {
    create: C,
    add: Ad,
    merge: M,
    extract: E,
}

impl<V, A, O, C, Ad, M, E> CombineFn<V> for FnCombine<C, Ad, M, E>
where
    A: Clone + Debug + Send + Serialize + DeserializeOwned + 'static,
    O: Clone + Debug + Send + Serialize + DeserializeOwned + 'static,
    C: Fn() -> A + Clone + Send + 'static,
    Ad: Fn(&mut A, V) + Clone + Send + 'static,
    M: Fn(&mut A, A) + Clone + Send + 'static,
    E: Fn(&A) -> O + Clone + Send + 'static,
{
    type Acc = A;
    type Out = O;
    fn create(&self) -> A {
        (self.create)()
    }
    fn add(&self, acc: &mut A, v: V) {
        (self.add)(acc, v)
    }
    fn merge(&self, acc: &mut A, other: A) {
        (self.merge)(acc, other)
    }
    fn extract(&self, acc: &A) -> O {
        (self.extract)(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn builtins() {
        let mut a = CombineFn::<i32>::create(&Min);
        Min.add(&mut a, 5);
        Min.add(&mut a, 2);
        Min.merge(&mut a, Some(3));
        assert_eq!(Min.extract(&a), Some(2));
        let mut b = CombineFn::<i32>::create(&Max);
        Max.merge(&mut b, Some(3));
        Max.add(&mut b, 1);
        assert_eq!(Max.extract(&b), Some(3));
        let mut c = CombineFn::<&str>::create(&Count);
        CombineFn::<&str>::add(&Count, &mut c, "x");
        CombineFn::<&str>::merge(&Count, &mut c, 2);
        assert_eq!(CombineFn::<&str>::extract(&Count, &c), 3);
        let mut d = CombineFn::<i32>::create(&Collect);
        Collect.add(&mut d, 1);
        Collect.merge(&mut d, vec![2]);
        assert_eq!(Collect.extract(&d), vec![1, 2]);
        assert_eq!(Mean.extract(&Mean.create()), None);
    }
}
