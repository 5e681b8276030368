//! The fused ops (`lstm_cell`, `lstm_sequence`, `layer_norm`), each against the same formula
//! written from primitive ops, in one module.

mod layer_norm;
mod lstm_cell;
mod lstm_sequence;

/// `n` deterministic values in `[-scale, scale)` from `seed`.
fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let hash = |k: usize| (k as u64).wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(97));
    (0..n).map(|k| ((hash(k) % 1000) as f64 / 500.0 - 1.0) * scale).collect()
}
