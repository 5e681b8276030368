//! proptest strategies for property tests of ops and layers: shapes,
//! broadcast-compatible shape pairs and well-conditioned `f64` tensors.
//!
//! ```
//! use lamina_core::testing::{shape, tensor};
//! use proptest::prelude::*;
//! use proptest::test_runner::TestRunner;
//! let strategy = shape(1, 3, 4).prop_flat_map(|s| tensor(s, -2.0, 2.0));
//! TestRunner::default()
//!     .run(&strategy, |x| {
//!         prop_assert!(x.exp().to_vec().iter().all(|&v| v > 0.0));
//!         Ok(())
//!     })
//!     .unwrap();
//! ```

use crate::Tensor;
use proptest::prelude::*;

/// Shapes of `min_dims..=max_dims` dimensions, each of size `1..=max_size`.
pub fn shape(min_dims: usize, max_dims: usize, max_size: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1..=max_size, min_dims..=max_dims)
}

/// Two shapes that broadcast together: a base shape, and for each operand a
/// suffix of it (leading dims dropped) with some dimensions set to 1.
pub fn broadcast_pair(max_dims: usize, max_size: usize) -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape(1, max_dims, max_size).prop_flat_map(|base| {
        let n = base.len();
        let b1 = base.clone();
        (0..=n, 0..=n, proptest::collection::vec(any::<bool>(), n), proptest::collection::vec(any::<bool>(), n))
            .prop_map(move |(drop_a, drop_b, ones_a, ones_b)| {
                let make = |drop: usize, ones: &[bool]| -> Vec<usize> {
                    (drop.min(n - 1)..n).map(|d| if ones[d] { 1 } else { b1[d] }).collect()
                };
                (make(drop_a, &ones_a), make(drop_b, &ones_b))
            })
    })
}

/// An `f64` tensor of `shape` with values in `[lo, hi]`.
pub fn tensor(shape: Vec<usize>, lo: f64, hi: f64) -> impl Strategy<Value = Tensor<f64>> {
    let n: usize = shape.iter().product();
    proptest::collection::vec(lo..=hi, n).prop_map(move |v| Tensor::from_vec(v, &shape))
}

/// An `f64` tensor of `shape` with `|value|` in `[lo, hi]` and random sign:
/// well-conditioned for ops with a kink or pole at 0 (abs, relu, div, log of |x|).
pub fn tensor_away_from_zero(shape: Vec<usize>, lo: f64, hi: f64) -> impl Strategy<Value = Tensor<f64>> {
    let n: usize = shape.iter().product();
    proptest::collection::vec((lo..=hi, any::<bool>()), n)
        .prop_map(move |v| Tensor::from_vec(v.into_iter().map(|(x, neg)| if neg { -x } else { x }).collect(), &shape))
}

/// An `f64` tensor of `shape` whose values are pairwise at least `gap` apart
/// (a shuffled grid with jitter): max, min, sort and pooling are differentiable there.
pub fn distinct_tensor(shape: Vec<usize>, gap: f64) -> impl Strategy<Value = Tensor<f64>> {
    let n: usize = shape.iter().product();
    (Just((0..n).collect::<Vec<usize>>()).prop_shuffle(), proptest::collection::vec(0.0..0.4, n)).prop_map(
        move |(perm, jitter)| {
            let v = perm.iter().zip(&jitter).map(|(&p, j)| (p as f64 - n as f64 / 2.0 + j) * gap).collect();
            Tensor::from_vec(v, &shape)
        },
    )
}
