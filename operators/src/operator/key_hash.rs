//! The fixed-seed hash that routes a key to its worker.

use std::hash::{Hash, Hasher};

/// The fixed-seed hash that routes a key to its worker: the same in every process and
/// every run.
///
/// ```
/// use highwater::model::operator::KeyHash;
/// assert_eq!("a".key_hash(), "a".to_string().key_hash());
/// ```
pub trait KeyHash {
    /// The routing hash.
    fn key_hash(&self) -> u64;
}

impl<T: Hash + ?Sized> KeyHash for T {
    fn key_hash(&self) -> u64 {
        // FxHash has no random seed: the same in every process and run. Its low bits are
        // weak, so mix them before timely takes the hash modulo the worker count.
        let mut h = rustc_hash::FxHasher::default();
        self.hash(&mut h);
        let x = h.finish();
        (x ^ (x >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
    }
}
