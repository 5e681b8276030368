//! Shape ops: hand-computed values, views that copy nothing, first and second
//! derivatives checked by finite differences over generated shapes (with
//! non-contiguous inputs), error messages, and PyTorch conformance cases.

use crate::op_support;

use lamina_core::testing::{broadcast_pair, shape, tensor};
use lamina_core::{broadcast_shapes, gradcheck_outputs, Element, GradcheckOptions, IndexTensor, PadMode, Tensor};
use op_support::{assert_panics, check_case, check_grads, config_int, config_usizes, rev, unrev};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

const FILE: &str = "tests/shape.rs";

fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), s)
}

/// `0, 1, 2, ...` with shape `s`.
fn range(s: &[usize]) -> Tensor<f64> {
    Tensor::arange(0.0, s.iter().product::<usize>() as f64, 1.0).reshape(s)
}

/// The gradient of `sum(f(x) * w)` with respect to `x`.
fn vjp(x: &Tensor<f64>, w: &[f64], f: impl Fn(&Tensor<f64>) -> Tensor<f64>) -> Vec<f64> {
    let x = x.detach().requires_grad_(true);
    let y = f(&x);
    y.mul(&t(w, y.shape())).sum().backward();
    x.grad().unwrap().to_vec()
}

// ------------------------------------------------------------------ values

#[test]
fn flatten_and_unflatten_merge_and_split_dims_in_row_major_order() {
    let x = range(&[2, 3, 4]);
    assert_eq!(x.flatten(0, -1).shape(), &[24]);
    assert_eq!(x.flatten(1, 2).shape(), &[2, 12]);
    assert_eq!(x.flatten(-2, -1).to_vec(), x.to_vec());
    assert_eq!(x.flatten(1, 1).shape(), &[2, 3, 4]);
    let s = Tensor::<f64>::scalar(5.0).flatten(0, -1);
    assert_eq!((s.shape(), s.to_vec()), (&[1usize][..], vec![5.0]));
    assert_eq!(x.flatten(1, 2).unflatten(1, &[4, 3]).shape(), &[2, 4, 3]);
    assert_eq!(x.unflatten(-1, &[2, 1, 2]).shape(), &[2, 3, 2, 1, 2]);
    // x[i][j][k] = 12i + 4j + k; rows of the result are (j, i) pairs.
    let y = x.transpose(0, 1).flatten(0, 1);
    assert_eq!(y.shape(), &[6, 4]);
    assert_eq!(y.to_vec()[..12], [0.0, 1.0, 2.0, 3.0, 12.0, 13.0, 14.0, 15.0, 4.0, 5.0, 6.0, 7.0]);
}

#[test]
fn transpose_and_permute_reorder_elements() {
    assert_eq!(t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).t().to_vec(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    // y[k][i][j] = x[i][j][k] = 12i + 4j + k.
    let y = range(&[2, 3, 4]).permute(&[2, 0, 1]);
    assert_eq!(y.shape(), &[4, 2, 3]);
    assert_eq!(y.to_vec()[..9], [0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 1.0, 5.0, 9.0]);
    assert_eq!(range(&[2, 3]).permute(&[-1, 0]).to_vec(), range(&[2, 3]).t().to_vec());
}

#[test]
fn cat_joins_along_a_dimension_and_splits_the_gradient() {
    let a = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let b = t(&[5.0, 6.0], &[1, 2]);
    let c = t(&[7.0, 8.0], &[2, 1]);
    let y = Tensor::cat(&[&a, &b], 0);
    assert_eq!((y.shape(), y.to_vec()), (&[3usize, 2][..], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    assert_eq!(Tensor::cat(&[&a, &c], -1).to_vec(), vec![1.0, 2.0, 7.0, 3.0, 4.0, 8.0]);
    // A transposed input is read through its strides.
    assert_eq!(Tensor::cat(&[&a.t(), &b], 0).to_vec(), vec![1.0, 3.0, 2.0, 4.0, 5.0, 6.0]);
    // Empty pieces are allowed.
    assert_eq!(Tensor::cat(&[&Tensor::zeros(&[0, 2]), &a], 0).to_vec(), a.to_vec());

    let (a, b) = (a.requires_grad_(true), b.requires_grad_(true));
    let w = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    Tensor::cat(&[&a, &b], 0).mul(&w).sum().backward();
    assert_eq!(a.grad().unwrap().to_vec(), vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(b.grad().unwrap().to_vec(), vec![5.0, 6.0]);
}

#[test]
fn stack_inserts_a_new_dimension() {
    let (a, b) = (t(&[1.0, 2.0], &[2]), t(&[3.0, 4.0], &[2]));
    let y = Tensor::stack(&[&a, &b], 0);
    assert_eq!((y.shape(), y.to_vec()), (&[2usize, 2][..], vec![1.0, 2.0, 3.0, 4.0]));
    let y = Tensor::stack(&[&a, &b], -1);
    assert_eq!((y.shape(), y.to_vec()), (&[2usize, 2][..], vec![1.0, 3.0, 2.0, 4.0]));
    assert_eq!(Tensor::stack(&[&a, &b, &a], 1).shape(), &[2, 3]);
}

#[test]
fn split_and_chunk_follow_pytorch_sizing() {
    let x = range(&[5, 2]);
    let sizes = |parts: &[Tensor<f64>], d: usize| parts.iter().map(|p| p.shape()[d]).collect::<Vec<_>>();
    let parts = x.split(2, 0);
    assert_eq!(sizes(&parts, 0), vec![2, 2, 1]);
    assert_eq!(parts[2].to_vec(), vec![8.0, 9.0]);
    assert_eq!(sizes(&x.split(7, 0), 0), vec![5]);
    let parts = x.split_sizes(&[1, 4], 0);
    assert_eq!(parts[1].to_vec(), vec![2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    assert_eq!(x.split(1, -1)[1].to_vec(), vec![1.0, 3.0, 5.0, 7.0, 9.0]);
    // torch.arange(6).chunk(4) has 3 pieces of 2.
    assert_eq!(sizes(&range(&[6]).chunk(4, 0), 0), vec![2, 2, 2]);
    assert_eq!(sizes(&range(&[5]).chunk(3, 0), 0), vec![2, 2, 1]);
    assert_eq!(sizes(&range(&[5]).chunk(5, 0), 0), vec![1; 5]);
    assert_eq!(sizes(&range(&[2]).chunk(5, 0), 0), vec![1, 1]);
    // An empty dimension: chunk keeps the count, split gives one piece.
    let empty = Tensor::<f64>::zeros(&[0, 3]);
    assert_eq!(sizes(&empty.chunk(3, 0), 0), vec![0, 0, 0]);
    assert_eq!(sizes(&empty.split(2, 0), 0), vec![0]);
}

#[test]
fn pad_fills_the_border_by_mode() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(x.pad(&[1, 0], PadMode::Constant(0.5)).to_vec(), vec![0.5, 1.0, 2.0, 3.0, 0.5, 4.0, 5.0, 6.0]);
    let y = x.pad(&[0, 1, 1, 0], PadMode::Constant(0.5));
    assert_eq!(y.shape(), &[3, 4]);
    assert_eq!(y.to_vec(), vec![0.5, 0.5, 0.5, 0.5, 1.0, 2.0, 3.0, 0.5, 4.0, 5.0, 6.0, 0.5]);
    assert_eq!(x.pad(&[], PadMode::Constant(9.0)).to_vec(), x.to_vec());
    assert_eq!(
        x.pad(&[2, 1], PadMode::Reflect).to_vec(),
        vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 6.0, 5.0, 4.0, 5.0, 6.0, 5.0]
    );
    let y = x.pad(&[1, 1, 1, 1], PadMode::Reflect);
    assert_eq!(y.shape(), &[4, 5]);
    let (r0, r1) = ([2.0, 1.0, 2.0, 3.0, 2.0], [5.0, 4.0, 5.0, 6.0, 5.0]);
    assert_eq!(y.to_vec(), [r1, r0, r1, r0].concat());
    assert_eq!(
        x.pad(&[2, 1], PadMode::Replicate).to_vec(),
        vec![1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0, 5.0, 6.0, 6.0]
    );
    assert_eq!(
        x.pad(&[2, 1], PadMode::Circular).to_vec(),
        vec![2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 5.0, 6.0, 4.0, 5.0, 6.0, 4.0]
    );
    // Through the strides of a transposed input: rows [1, 4], [2, 5], [3, 6].
    assert_eq!(x.t().pad(&[1, 1], PadMode::Replicate).to_vec()[..4], [1.0, 1.0, 4.0, 4.0]);
}

#[test]
fn pad_gradients_sum_over_every_copy() {
    // Output [c b a b c b] for reflect (2, 1), weights 1, 10, ..., 1e5.
    let x = t(&[0.1, 0.2, 0.3], &[1, 3]);
    let w = [1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0];
    assert_eq!(vjp(&x, &w, |x| x.pad(&[2, 1], PadMode::Reflect)), vec![100.0, 101010.0, 10001.0]);
    // [a a a b c c]
    assert_eq!(vjp(&x, &w, |x| x.pad(&[2, 1], PadMode::Replicate)), vec![111.0, 1000.0, 110000.0]);
    // [b c a b c a]
    assert_eq!(vjp(&x, &w, |x| x.pad(&[2, 1], PadMode::Circular)), vec![100100.0, 1001.0, 10010.0]);
    // [v v a b c v]
    assert_eq!(vjp(&x, &w, |x| x.pad(&[2, 1], PadMode::Constant(7.0))), vec![100.0, 1000.0, 10000.0]);
}

#[test]
fn repeat_tiles_like_torch_tensor_repeat() {
    let x = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let y = x.repeat(&[2, 3]);
    assert_eq!(y.shape(), &[4, 6]);
    let (r0, r1) = ([1.0, 2.0, 1.0, 2.0, 1.0, 2.0], [3.0, 4.0, 3.0, 4.0, 3.0, 4.0]);
    assert_eq!(y.to_vec(), [r0, r1, r0, r1].concat());
    let y = x.repeat(&[2, 1, 1]);
    assert_eq!((y.shape(), y.to_vec()), (&[2usize, 2, 2][..], vec![1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]));
    let y = t(&[1.0, 2.0], &[2]).repeat(&[3, 1, 2]);
    assert_eq!((y.shape(), y.to_vec()), (&[3usize, 1, 4][..], [1.0, 2.0].repeat(6)));
    assert_eq!(x.repeat(&[0, 1]).shape(), &[0, 2]);
    assert_eq!(x.t().repeat(&[1, 2]).to_vec(), vec![1.0, 3.0, 1.0, 3.0, 2.0, 4.0, 2.0, 4.0]);
    assert_eq!(vjp(&t(&[1.0, 2.0], &[2]), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], |x| x.repeat(&[3])), vec![9.0, 12.0]);
}

#[test]
fn flip_reverses_the_chosen_dims() {
    let x = range(&[2, 3]);
    assert_eq!(x.flip(&[0]).to_vec(), vec![3.0, 4.0, 5.0, 0.0, 1.0, 2.0]);
    assert_eq!(x.flip(&[-1]).to_vec(), vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
    assert_eq!(x.flip(&[0, 1]).to_vec(), vec![5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);
    assert_eq!(x.flip(&[]).to_vec(), x.to_vec());
    assert_eq!(x.t().flip(&[0]).to_vec(), vec![2.0, 5.0, 1.0, 4.0, 0.0, 3.0]);
    assert_eq!(vjp(&x, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], |x| x.flip(&[1])), vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
}

#[test]
fn squeeze_and_unsqueeze_change_only_unit_dims() {
    assert_eq!(Tensor::<f64>::zeros(&[1, 3, 1, 2]).squeeze_all().shape(), &[3, 2]);
    assert_eq!(Tensor::<f64>::zeros(&[1, 1]).squeeze_all().shape(), &[] as &[usize]);
    let x = range(&[2, 3]);
    assert_eq!(x.unsqueeze(0).shape(), &[1, 2, 3]);
    assert_eq!(x.unsqueeze(-1).shape(), &[2, 3, 1]);
    assert_eq!(x.unsqueeze(1).shape(), &[2, 1, 3]);
    assert_eq!(x.unsqueeze(1).squeeze(1).to_vec(), x.to_vec());
    // As in PyTorch, squeezing a dimension that is not 1 changes nothing.
    assert!(x.squeeze(0).same(&x));
    assert_eq!(x.t().unsqueeze(1).squeeze_all().to_vec(), x.t().to_vec());
}

#[test]
fn slice_takes_every_step_th_element() {
    // x[i][j] = 6i + j; columns 1, 3, 5.
    let y = range(&[4, 6]).slice(1, 1, 6, 2);
    assert_eq!(y.shape(), &[4, 3]);
    assert_eq!(y.to_vec()[..6], [1.0, 3.0, 5.0, 7.0, 9.0, 11.0]);
    assert_eq!(range(&[4, 6]).narrow(0, 3, 1).to_vec(), vec![18.0, 19.0, 20.0, 21.0, 22.0, 23.0]);
    assert_eq!(vjp(&range(&[5]), &[1.0, 2.0], |x| x.slice(0, 1, 5, 3)), vec![0.0, 1.0, 0.0, 0.0, 2.0]);
}

#[test]
fn an_empty_slice_has_a_zero_gradient_of_any_order() {
    // Its backward once overflowed computing the end of an empty range.
    let x = range(&[3]);
    assert_eq!(vjp(&x, &[], |x| x.slice(0, 1, 1, 1)), vec![0.0; 3]);
    check_grads(|xs| xs[0].slice(0, 3, 3, 2), &[x]).unwrap();
}

// ------------------------------------------------------------------ views

#[test]
fn views_share_storage_and_copies_do_not() {
    let x = range(&[4, 6]);
    let mut views = vec![
        x.narrow(0, 1, 2),
        x.narrow(1, 2, 3),
        x.slice(1, 0, 6, 2),
        x.transpose(0, 1),
        x.t(),
        x.permute(&[1, 0]),
        x.unsqueeze(1),
        x.unsqueeze(0).squeeze(0),
        x.unsqueeze(0).squeeze_all(),
        x.expand(&[2, 4, 6]),
        x.reshape(&[6, 4]),
        x.flatten(0, 1),
        x.unflatten(1, &[2, 3]),
        x.narrow(0, 1, 2).reshape(&[12]),
    ];
    views.extend(x.split(4, 1));
    views.extend(x.chunk(3, 0));
    views.extend(x.split_sizes(&[1, 3], 0));
    for (i, v) in views.iter().enumerate() {
        assert!(v.shares_storage(&x), "view {i} of shape {:?} copied", v.shape());
    }
    let copies = [
        Tensor::cat(&[&x], 0),
        Tensor::stack(&[&x], 0),
        x.pad(&[1, 1], PadMode::Constant(0.0)),
        x.pad(&[1, 1], PadMode::Reflect),
        x.pad(&[0, 0], PadMode::Replicate),
        x.flip(&[0]),
        x.flip(&[]),
        x.repeat(&[1, 1]),
        x.repeat(&[2, 1]),
        x.t().reshape(&[24]),
        x.t().flatten(0, 1),
    ];
    for (i, c) in copies.iter().enumerate() {
        assert!(!c.shares_storage(&x) && c.is_contiguous(), "result {i} of shape {:?}", c.shape());
    }
}

#[test]
fn contiguous_copies_only_when_needed() {
    let x = range(&[4, 6]);
    assert!(x.contiguous().same(&x));
    // Whole rows are contiguous: no copy.
    let rows = x.narrow(0, 1, 2);
    assert!(rows.is_contiguous() && rows.contiguous().shares_storage(&x));
    assert!(x.unsqueeze(1).is_contiguous());
    // Columns, a transpose and a broadcast are not: one copy each.
    for v in [x.narrow(1, 1, 2), x.t(), x.slice(0, 0, 4, 2), x.unsqueeze(0).expand(&[2, 4, 6])] {
        assert!(!v.is_contiguous());
        let c = v.contiguous();
        assert!(c.is_contiguous() && !c.shares_storage(&x));
        assert_eq!((c.shape(), c.to_vec()), (v.shape(), v.to_vec()));
    }
    assert_eq!(x.t().contiguous().to_vec()[..5], [0.0, 6.0, 12.0, 18.0, 1.0]);
}

// ------------------------------------------------------------------ gradients

/// A shape and an ordered pair of its dims.
fn shape_and_dims(max_dims: usize, max_size: usize) -> impl Strategy<Value = (Vec<usize>, usize, usize)> {
    shape(1, max_dims, max_size).prop_flat_map(|s| {
        let n = s.len();
        (Just(s), 0..n, 0..n)
    })
}

/// `d` as a negative dimension when `neg`.
fn signed(d: usize, nd: usize, neg: bool) -> isize {
    if neg {
        d as isize - nd as isize
    } else {
        d as isize
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn flatten_unflatten_gradients(
        ((s, a, b), x) in shape_and_dims(3, 3).prop_flat_map(|sd| (Just(sd.clone()), tensor(rev(&sd.0), -2.0, 2.0))),
    ) {
        let (start, end) = (a.min(b), a.max(b));
        let merged = &s[start..=end];
        check_grads(
            |xs| unrev(&xs[0]).flatten(start as isize, end as isize).square().unflatten(start as isize, merged),
            &[x],
        )?;
    }

    #[test]
    fn cat_gradients(
        (leaves, dim, want) in (shape(1, 3, 3), 1..=3usize, any::<bool>())
            .prop_flat_map(|(base, k, neg)| (Just(base.clone()), 0..base.len(), vec(0..=3usize, k), Just(neg)))
            .prop_flat_map(|(base, d, sizes, neg)| {
                let nd = base.len();
                let leaves: Vec<_> = sizes
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| {
                        let mut s = base.clone();
                        s[d] = n;
                        tensor(if i == 0 { rev(&s) } else { s }, -2.0, 2.0)
                    })
                    .collect();
                let mut want = base.clone();
                want[d] = sizes.iter().sum();
                (leaves, Just(signed(d, nd, neg)), Just(want))
            })
    ) {
        let f = |xs: &[Tensor<f64>]| {
            let first = unrev(&xs[0]);
            let parts: Vec<&Tensor<f64>> = std::iter::once(&first).chain(&xs[1..]).collect();
            Tensor::cat(&parts, dim)
        };
        prop_assert_eq!(f(&leaves).shape().to_vec(), want);
        check_grads(f, &leaves)?;
    }

    #[test]
    fn stack_gradients(
        (leaves, dim) in (shape(1, 3, 3), 1..=3usize, any::<bool>())
            .prop_flat_map(|(s, k, neg)| {
                let nd = s.len();
                let leaves: Vec<_> =
                    (0..k).map(|i| tensor(if i == 0 { rev(&s) } else { s.clone() }, -2.0, 2.0)).collect();
                (leaves, (0..=nd).prop_map(move |d| signed(d, nd + 1, neg)))
            })
    ) {
        check_grads(
            |xs| {
                let first = unrev(&xs[0]);
                let parts: Vec<&Tensor<f64>> = std::iter::once(&first).chain(&xs[1..]).collect();
                Tensor::stack(&parts, dim)
            },
            &leaves,
        )?;
    }

    #[test]
    fn split_and_chunk_gradients(
        ((s, d, _), x) in shape_and_dims(3, 4).prop_flat_map(|sd| (Just(sd.clone()), tensor(rev(&sd.0), -2.0, 2.0))),
        size in 1..=3usize,
        chunks in 1..=4usize,
    ) {
        let n = s[d];
        let dim = d as isize;
        let pieces = unrev(&x).split(size, dim);
        prop_assert_eq!(pieces.len(), n.div_ceil(size));
        prop_assert!(unrev(&x).chunk(chunks, dim).len() <= chunks);
        gradcheck_outputs(|xs| unrev(&xs[0]).split(size, dim), std::slice::from_ref(&x), GradcheckOptions::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Second order: weight each piece differently and square it.
        check_grads(
            |xs| {
                let parts: Vec<Tensor<f64>> = unrev(&xs[0])
                    .chunk(chunks, dim)
                    .iter()
                    .enumerate()
                    .map(|(i, p)| p.square().mul_scalar(i as f64 + 1.0))
                    .collect();
                Tensor::cat(&parts.iter().collect::<Vec<_>>(), dim)
            },
            &[x],
        )?;
    }

    #[test]
    fn pad_gradients(
        (x, pads, mode) in (shape(1, 3, 3), 0..4usize, -1.0..1.0f64, vec((0..3usize, 0..3usize), 3), 0..=3usize)
            .prop_map(|(s, m, value, raw, k)| {
                let mode = [PadMode::Constant(value), PadMode::Reflect, PadMode::Replicate, PadMode::Circular][m];
                let mut pads = vec![];
                for (i, &(l, r)) in raw.iter().enumerate().take(k.min(s.len())) {
                    let n = s[s.len() - 1 - i];
                    let limit = match mode {
                        PadMode::Reflect => n - 1,
                        PadMode::Circular => n.min(2),
                        _ => 2,
                    };
                    pads.extend([l % (limit + 1), r % (limit + 1)]);
                }
                (s, pads, mode)
            })
            .prop_flat_map(|(s, pads, mode)| (tensor(rev(&s), -2.0, 2.0), Just(pads), Just(mode)))
    ) {
        let y = unrev(&x).pad(&pads, mode);
        let nd = x.ndim();
        for (i, p) in pads.chunks(2).enumerate() {
            prop_assert_eq!(y.shape()[nd - 1 - i], x.shape()[i] + p[0] + p[1]);
        }
        check_grads(|xs| unrev(&xs[0]).pad(&pads, mode), &[x])?;
    }

    #[test]
    fn repeat_gradients(
        (x, repeats) in (shape(1, 3, 2), 0..=1usize)
            .prop_flat_map(|(s, lead)| (tensor(rev(&s), -2.0, 2.0), vec(0..=2usize, s.len() + lead)))
    ) {
        let y = unrev(&x).repeat(&repeats);
        let lead = repeats.len() - x.ndim();
        let want: Vec<usize> = repeats.iter().enumerate()
            .map(|(i, &r)| r * if i < lead { 1 } else { x.shape()[x.ndim() - 1 - (i - lead)] })
            .collect();
        prop_assert_eq!(y.shape(), &want[..]);
        check_grads(|xs| unrev(&xs[0]).repeat(&repeats), &[x])?;
    }

    #[test]
    fn flip_gradients(
        (x, dims) in shape(1, 3, 3).prop_flat_map(|s| {
            let nd = s.len();
            (tensor(rev(&s), -2.0, 2.0), vec((any::<bool>(), any::<bool>()), nd))
                .prop_map(move |(x, pick)| {
                    let dims: Vec<isize> = pick
                        .iter()
                        .enumerate()
                        .filter(|(_, &(on, _))| on)
                        .map(|(d, &(_, neg))| signed(d, nd, neg))
                        .collect();
                    (x, dims)
                })
        })
    ) {
        // Flipping twice restores the input.
        prop_assert_eq!(unrev(&x).flip(&dims).flip(&dims).to_vec(), unrev(&x).to_vec());
        check_grads(|xs| unrev(&xs[0]).flip(&dims).square(), &[x])?;
    }

    #[test]
    fn transpose_slice_squeeze_gradients(
        ((s, a, b), x) in shape_and_dims(3, 4).prop_flat_map(|sd| (Just(sd.clone()), tensor(rev(&sd.0), -2.0, 2.0))),
        (start, end, step) in (0..=4usize, 0..=4usize, 1..=3usize),
    ) {
        // After the transpose, slice dimension `a` (of size s[b]).
        let n = s[b];
        let (start, end) = (start.min(end).min(n), start.max(end).min(n));
        check_grads(
            |xs| {
                unrev(&xs[0])
                    .transpose(a as isize, b as isize)
                    .slice(a as isize, start, end, step)
                    .unsqueeze(0)
                    .squeeze_all()
            },
            &[x],
        )?;
    }

    #[test]
    fn expand_gradients(
        (x, target) in broadcast_pair(3, 3).prop_flat_map(|(small, big)| {
            let target = broadcast_shapes(&small, &big).unwrap().to_vec();
            (tensor(small, -2.0, 2.0), Just(target))
        })
    ) {
        check_grads(|xs| xs[0].expand(&target).square(), &[x])?;
    }
}

// ------------------------------------------------------------------ errors

#[test]
fn shape_errors_name_the_op_the_shapes_and_the_caller() {
    let m = || Tensor::<f64>::zeros(&[2, 3]);
    assert_panics(|| drop(Tensor::cat(&[&m(), &Tensor::zeros(&[3, 2])], 0)), FILE, &["cat", "[2, 3]", "[3, 2]"]);
    assert_panics(|| drop(Tensor::<f64>::cat(&[], 0)), FILE, &["cat", "non-empty"]);
    assert_panics(|| drop(Tensor::cat(&[&m()], 2)), FILE, &["cat", "dimension 2", "[2, 3]"]);
    assert_panics(|| drop(Tensor::cat(&[&Tensor::<f64>::scalar(1.0)], 0)), FILE, &["cat", "0-d", "[]"]);
    assert_panics(|| drop(Tensor::stack(&[&m(), &m().t()], 0)), FILE, &["stack", "[2, 3]", "[3, 2]"]);
    assert_panics(|| drop(Tensor::stack(&[&m()], 3)), FILE, &["stack", "dimension 3", "[2, 3]"]);
    assert_panics(|| drop(m().split(0, 1)), FILE, &["split", "[2, 3]"]);
    assert_panics(|| drop(m().split_sizes(&[1, 1], 1)), FILE, &["split_sizes", "[1, 1]", "[2, 3]"]);
    assert_panics(|| drop(m().chunk(0, 0)), FILE, &["chunk", "[2, 3]"]);
    assert_panics(|| drop(m().pad(&[1], PadMode::Replicate)), FILE, &["pad", "[2, 3]"]);
    assert_panics(|| drop(m().pad(&[1, 1, 1, 1, 1, 1], PadMode::Constant(0.0))), FILE, &["pad", "[2, 3]"]);
    assert_panics(|| drop(m().pad(&[3, 0], PadMode::Reflect)), FILE, &["pad", "Reflect", "(3, 0)", "[2, 3]"]);
    assert_panics(|| drop(m().pad(&[0, 0, 0, 3], PadMode::Circular)), FILE, &["pad", "Circular", "[2, 3]"]);
    assert_panics(|| drop(m().repeat(&[2])), FILE, &["repeat", "[2, 3]"]);
    assert_panics(|| drop(m().flip(&[0, -2])), FILE, &["flip", "repeated", "[2, 3]"]);
    assert_panics(|| drop(m().flip(&[2])), FILE, &["flip", "dimension 2", "[2, 3]"]);
    assert_panics(|| drop(range(&[2, 3, 4]).flatten(2, 1)), FILE, &["flatten", "[2, 3, 4]"]);
    assert_panics(|| drop(m().unflatten(1, &[2, 2])), FILE, &["unflatten", "[2, 2]", "[2, 3]"]);
    assert_panics(|| drop(m().unflatten(1, &[])), FILE, &["unflatten", "[2, 3]"]);
    assert_panics(|| drop(Tensor::<f64>::scalar(1.0).narrow(0, 0, 1)), FILE, &["slice", "0-d", "[]"]);
    assert_panics(|| drop(m().narrow(1, 2, 2)), FILE, &["slice", "[2, 3]"]);
    assert_panics(|| drop(m().slice(0, 0, 2, 0)), FILE, &["slice", "step 0", "[2, 3]"]);
    assert_panics(|| drop(m().transpose(0, 2)), FILE, &["transpose", "[2, 3]"]);
    assert_panics(|| drop(m().permute(&[0, 0])), FILE, &["permute", "[2, 3]"]);
    assert_panics(|| drop(m().squeeze(2)), FILE, &["squeeze", "[2, 3]"]);
    assert_panics(|| drop(m().unsqueeze(3)), FILE, &["unsqueeze", "[2, 3]"]);
    assert_panics(|| drop(m().reshape(&[4])), FILE, &["reshape", "[2, 3]", "[4]"]);
    assert_panics(|| drop(m().expand(&[3, 3])), FILE, &["expand", "[2, 3]", "[3, 3]"]);
}

// ------------------------------------------------------------------ conformance

fn cat_case<E: Element>(x: &[Tensor<E>], _: &[IndexTensor], case: &Value) -> Tensor<E> {
    Tensor::cat(&x.iter().collect::<Vec<_>>(), config_int(case, "dim"))
}

fn stack_case<E: Element>(x: &[Tensor<E>], _: &[IndexTensor], case: &Value) -> Tensor<E> {
    Tensor::stack(&x.iter().collect::<Vec<_>>(), config_int(case, "dim"))
}

fn pad_case<E: Element>(x: &[Tensor<E>], _: &[IndexTensor], case: &Value) -> Tensor<E> {
    let config = &case["config"];
    let mode = match config["mode"].as_str().unwrap_or("constant") {
        "constant" => PadMode::Constant(config["value"].as_f64().unwrap_or(0.0)),
        "reflect" => PadMode::Reflect,
        "replicate" => PadMode::Replicate,
        "circular" => PadMode::Circular,
        other => panic!("unknown pad mode {other}"),
    };
    x[0].pad(&config_usizes(case, "pad"), mode)
}

fn transpose_then_case<E: Element>(x: &[Tensor<E>], _: &[IndexTensor], case: &Value) -> Tensor<E> {
    let mut y = x[0].transpose(config_int(case, "dim0"), config_int(case, "dim1"));
    for step in case["then"].as_array().expect("then steps") {
        y = match step["function"].as_str() {
            Some("reshape") => y.reshape(&config_usizes(step, "shape")),
            other => panic!("unknown step {other:?}"),
        };
    }
    y
}

#[test]
fn conformance_cat_dim1() {
    check_case("cat_dim1", cat_case::<f64>, cat_case::<f32>);
}

#[test]
fn conformance_stack_dim1() {
    check_case("stack_dim1", stack_case::<f64>, stack_case::<f32>);
}

#[test]
fn conformance_pad_constant() {
    check_case("pad_constant", pad_case::<f64>, pad_case::<f32>);
}

#[test]
fn conformance_pad_reflect() {
    check_case("pad_reflect", pad_case::<f64>, pad_case::<f32>);
}

#[test]
fn conformance_transpose_then_reshape() {
    check_case("transpose_then_reshape", transpose_then_case::<f64>, transpose_then_case::<f32>);
}
