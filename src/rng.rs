//! The one random-number source: a ChaCha8 generator seeded from `--seed`, passed down explicitly
//! (never a global), plus the few draws the project needs.

use rand::{Rng as _, SeedableRng};

/// The generator every seeded operation takes.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator seeded from a user seed.
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// A uniform draw in `[lo, hi)`.
pub fn uniform(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// A standard normal draw (Box-Muller, computed in f64).
pub fn normal(rng: &mut Rng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// A uniform integer in `[0, n)`; `n` must be positive.
pub fn below(rng: &mut Rng, n: usize) -> usize {
    rng.random_range(0..n)
}

/// Fisher-Yates shuffle in place.
pub fn shuffle<T>(rng: &mut Rng, xs: &mut [T]) {
    for i in (1..xs.len()).rev() {
        let j = rng.random_range(0..=i);
        xs.swap(i, j);
    }
}

/// A fresh generator derived from this one, for a sub-task that must not disturb the parent's
/// sequence (e.g. one per calibration trial).
pub fn fork(rng: &mut Rng) -> Rng {
    Rng::seed_from_u64(rng.random::<u64>())
}

/// A seeded random split of `n` items: `(rest, held_out)` indices, each in increasing order, with
/// `fraction` of the items (rounded) held out. Sequence sets and image sets split through it.
pub fn split_indices(n: usize, fraction: f64, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    shuffle(rng, &mut idx);
    let k = ((n as f64) * fraction).round() as usize;
    let (held, rest) = idx.split_at(k.min(n));
    let (mut held, mut rest) = (held.to_vec(), rest.to_vec());
    held.sort_unstable();
    rest.sort_unstable();
    (rest, held)
}
