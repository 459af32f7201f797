//! The one deterministic random generator of the tests.

use std::ops::Range;

/// A small deterministic random generator: Knuth's MMIX linear congruential generator,
/// of which [`Rng::bits`] returns the high 31 bits. The same seed gives the same values
/// on every run and platform, so every generated case is reproducible.
///
/// ```
/// use highwater_tests::Rng;
/// let mut r = Rng::new(7);
/// let x = r.below(10);
/// assert!(x < 10);
/// assert_eq!(Rng::new(7).below(10), x, "the same seed, the same values");
/// assert!((-5..5).contains(&r.range(-5..5)));
/// assert!(["a", "b"].contains(r.pick(&["a", "b"])));
/// ```
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose state starts at `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 31 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.bits() % n
    }

    /// A number in `range` (not empty).
    pub fn range(&mut self, range: Range<i64>) -> i64 {
        range.start + self.below(range.end.abs_diff(range.start)) as i64
    }

    /// One of `xs` (not empty).
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}
