//! What the operators' integration tests share: a combiner and one random-stream
//! generator (`mod support;` in each test file), and a checkpoint coordinator (`cut`).
// Not every test binary uses every piece.
#![allow(dead_code)]

pub mod cut;

use highwater_operators::combine::CombineFn;

/// Count and sum.
#[derive(Clone)]
pub struct CountSum;
impl CombineFn<u64> for CountSum {
    type Acc = (u64, u64);
    type Out = (u64, u64);
    fn create(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, acc: &mut (u64, u64), v: u64) {
        acc.0 += 1;
        acc.1 += v;
    }
    fn merge(&self, acc: &mut (u64, u64), o: (u64, u64)) {
        acc.0 += o.0;
        acc.1 += o.1;
    }
    fn extract(&self, acc: &(u64, u64)) -> (u64, u64) {
        *acc
    }
}

/// One step of a stream: records sent at the current stamp, then the watermark moves.
#[derive(Clone, Debug)]
pub struct Step {
    pub records: Vec<(u32, i64, u64)>,
    pub advance: i64,
}

pub fn random_stream(seed: u64, steps: usize) -> Vec<Step> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut wm = 0i64;
    (0..steps)
        .map(|_| {
            let n = next(6);
            let records = (0..n).map(|_| (next(5) as u32, wm + next(50) as i64 - 12, next(100))).collect();
            let advance = next(8) as i64;
            wm += advance;
            Step { records, advance }
        })
        .collect()
}
