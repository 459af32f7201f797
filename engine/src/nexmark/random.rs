//! `java.util.Random`, bit for bit: the generator Beam's Nexmark seeds once per event.
//!
//! Beam builds every event from `new Random(eventId)`, so porting the generator faithfully
//! means porting this 48-bit linear congruential generator exactly (its algorithm is part of
//! the `java.util.Random` specification, unchanged since JDK 1.0): the seed is scrambled
//! with `0x5DEECE66D`, each step is `seed = seed * 0x5DEECE66D + 0xB (mod 2^48)`, and
//! `next(bits)` returns the top `bits` of the new seed as a Java `int`. The derived methods
//! (`nextInt(bound)` with its rejection loop, `nextLong`, `nextDouble`) keep Java's signed,
//! wrapping arithmetic.

/// The LCG multiplier of `java.util.Random`.
const MULTIPLIER: u64 = 0x5_DEEC_E66D;
/// The LCG increment of `java.util.Random`.
const ADDEND: u64 = 0xB;
/// The state is 48 bits wide.
const MASK: u64 = (1 << 48) - 1;
/// `nextDouble` scales 53 random bits by 2^-53.
const DOUBLE_UNIT: f64 = 1.0 / (1u64 << 53) as f64;

/// A port of `java.util.Random`: the same seed gives the same sequence as the JDK.
///
/// ```
/// use highwater::nexmark::JavaRandom;
/// // What `new java.util.Random(42)` yields on any JDK:
/// let mut random = JavaRandom::new(42);
/// let draws: Vec<i32> = (0..5).map(|_| random.next_int_bounded(100)).collect();
/// assert_eq!(draws, [30, 63, 48, 84, 70]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    /// `new Random(seed)`: the seed is XORed with the multiplier and cut to 48 bits.
    pub fn new(seed: i64) -> Self {
        JavaRandom { seed: (seed as u64 ^ MULTIPLIER) & MASK }
    }

    /// `next(bits)`: advances the state and returns its top `bits` bits (1 ≤ `bits` ≤ 32)
    /// as a Java `int` — negative when `bits` is 32 and the top bit is set.
    #[inline]
    pub fn next_bits(&mut self, bits: u32) -> i32 {
        debug_assert!((1..=32).contains(&bits));
        self.seed = self.seed.wrapping_mul(MULTIPLIER).wrapping_add(ADDEND) & MASK;
        // Java's `(int)(seed >>> (48 - bits))`: keep the low 32 bits, reinterpret as signed.
        (self.seed >> (48 - bits)) as u32 as i32
    }

    /// `nextInt()`: 32 random bits, any `int`.
    #[inline]
    pub fn next_int(&mut self) -> i32 {
        self.next_bits(32)
    }

    /// `nextInt(bound)`: uniform in `[0, bound)`, with Java's power-of-two shortcut and
    /// its rejection loop (so the number of draws consumed matches the JDK).
    ///
    /// # Panics
    /// If `bound` is not positive, as Java throws `IllegalArgumentException`. The
    /// generator's configuration is validated so that it never asks for that.
    #[inline]
    pub fn next_int_bounded(&mut self, bound: i32) -> i32 {
        assert!(bound > 0, "java.util.Random.nextInt: bound must be positive, got {bound}");
        let mut r = self.next_bits(31);
        let m = bound - 1;
        if bound & m == 0 {
            // A power of two: take the high bits.
            return ((bound as i64 * r as i64) >> 31) as i32;
        }
        // `for (int u = r; u - (r = u % bound) + m < 0; u = next(31));` — the sum
        // overflows an `int` exactly when `u` falls in the last, partial copy of the range.
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next_bits(31);
        }
    }

    /// `nextLong()`: `((long) next(32) << 32) + next(32)`, with Java's signed addition.
    #[inline]
    pub fn next_long(&mut self) -> i64 {
        let high = (self.next_bits(32) as i64) << 32;
        high.wrapping_add(self.next_bits(32) as i64)
    }

    /// `nextDouble()`: 53 random bits scaled into `[0, 1)`.
    #[inline]
    pub fn next_double(&mut self) -> f64 {
        let high = (self.next_bits(26) as i64) << 27;
        (high + self.next_bits(27) as i64) as f64 * DOUBLE_UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::JavaRandom;

    // Every expected value below was printed by OpenJDK 17 (`java.util.Random`), e.g.
    // `Random r = new Random(42); r.nextInt(100)` five times.

    #[test]
    fn next_int_bounded_matches_the_jdk_for_seed_42() {
        let mut random = JavaRandom::new(42);
        let draws: Vec<i32> = (0..5).map(|_| random.next_int_bounded(100)).collect();
        assert_eq!(draws, [30, 63, 48, 84, 70]);
        // The well-known "new Random(42).nextInt(10) == 0".
        assert_eq!(JavaRandom::new(42).next_int_bounded(10), 0);
    }

    #[test]
    fn mixed_draws_match_the_jdk() {
        let mut random = JavaRandom::new(42);
        assert_eq!(random.next_int(), -1_170_105_035);
        assert_eq!(random.next_long(), 1_008_396_158_678_580_193);
        assert_eq!(random.next_double(), 0.047_939_305_137_387_644);
        // A power-of-two bound takes the high-bits shortcut.
        assert_eq!(random.next_int_bounded(1 << 20), 987_835);
        assert_eq!(random.next_int_bounded(7), 1);

        let mut random = JavaRandom::new(0);
        assert_eq!(random.next_int(), -1_155_484_576);
        assert_eq!(random.next_long(), -3_109_364_765_729_502_342);
        assert_eq!(random.next_double(), 0.606_345_215_997_359_6);

        // Bounds near 2^31 exercise the rejection loop's wrapping test.
        let mut random = JavaRandom::new(-1);
        assert_eq!(random.next_int_bounded(1_000_000_007), 577_549_913);
        assert_eq!(random.next_int_bounded(i32::MAX), 943_952_225);
        assert_eq!(random.next_long(), 226_341_162_490_527_646);
    }

    #[test]
    #[should_panic(expected = "bound must be positive")]
    fn a_non_positive_bound_panics_like_java() {
        JavaRandom::new(1).next_int_bounded(0);
    }
}
