//! Index ops (index_select, index_add, gather, scatter_add): hand-computed
//! values, first and second derivatives checked by finite differences over
//! generated shapes and valid index tensors (with non-contiguous inputs),
//! out-of-range and shape errors, and PyTorch conformance cases.

use crate::op_support;

use lamina_core::testing::{shape, tensor};
use lamina_core::{Element, IndexTensor, Tensor};
use op_support::{assert_panics, check_case, check_grads, config_int, rev, unrev};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

const FILE: &str = "tests/index.rs";

fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), s)
}

fn idx(v: &[i64], s: &[usize]) -> IndexTensor {
    IndexTensor::from_vec(v.to_vec(), s)
}

/// `0, 1, 2, ...` with shape `s`.
fn range(s: &[usize]) -> Tensor<f64> {
    Tensor::arange(0.0, s.iter().product::<usize>() as f64, 1.0).reshape(s)
}

/// The gradients of `sum(f(xs) * w)` with respect to each of `xs`.
fn vjps(xs: &[Tensor<f64>], w: &[f64], f: impl Fn(&[Tensor<f64>]) -> Tensor<f64>) -> Vec<Vec<f64>> {
    let xs: Vec<Tensor<f64>> = xs.iter().map(|x| x.detach().requires_grad_(true)).collect();
    let y = f(&xs);
    y.mul(&t(w, y.shape())).sum().backward();
    xs.iter().map(|x| x.grad().unwrap().to_vec()).collect()
}

// ------------------------------------------------------------------ values

#[test]
fn index_tensor_conveniences() {
    assert_eq!(IndexTensor::arange(4).to_vec(), vec![0, 1, 2, 3]);
    let i = IndexTensor::from_slice(&[3, 1, 4, 1]);
    assert_eq!((i.shape(), i.ndim(), i.numel()), (&[4usize][..], 1, 4));
    let r = i.reshape(&[2, 2]);
    assert_eq!((r.shape(), r.as_slice()), (&[2usize, 2][..], &[3i64, 1, 4, 1][..]));
    assert_eq!(idx(&[7], &[]).ndim(), 0);
}

#[test]
fn index_select_picks_slices_and_sums_gradients_of_repeats() {
    // [[0, 1], [2, 3], [4, 5]]
    let x = range(&[3, 2]);
    assert_eq!(x.index_select(0, &IndexTensor::from_slice(&[2, 0, 2])).to_vec(), vec![4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
    assert_eq!(x.index_select(1, &IndexTensor::from_slice(&[1])).to_vec(), vec![1.0, 3.0, 5.0]);
    let y = x.index_select(-1, &IndexTensor::from_slice(&[1, 1, 0]));
    assert_eq!((y.shape(), y.to_vec()), (&[3usize, 3][..], vec![1.0, 1.0, 0.0, 3.0, 3.0, 2.0, 5.0, 5.0, 4.0]));
    assert_eq!(x.index_select(0, &IndexTensor::from_slice(&[])).shape(), &[0, 2]);
    // A 0-d index selects one slice and keeps the dimension.
    let y = x.index_select(0, &idx(&[1], &[]));
    assert_eq!((y.shape(), y.to_vec()), (&[1usize, 2][..], vec![2.0, 3.0]));
    // Through the strides of a transposed input: x.t() = [[0, 2, 4], [1, 3, 5]].
    assert_eq!(x.t().index_select(1, &IndexTensor::from_slice(&[2, 0])).to_vec(), vec![4.0, 0.0, 5.0, 1.0]);

    let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let g = vjps(&[x], &w, |xs| xs[0].index_select(0, &IndexTensor::from_slice(&[2, 0, 2])));
    assert_eq!(g[0], vec![3.0, 4.0, 0.0, 0.0, 6.0, 8.0]);
}

#[test]
fn index_add_adds_source_slices_at_their_indices() {
    let x = Tensor::<f64>::ones(&[3, 2]);
    let i = IndexTensor::from_slice(&[2, 0, 2]);
    let y = x.index_add(0, &i, &range(&[3, 2]));
    assert_eq!(y.to_vec(), vec![3.0, 4.0, 1.0, 1.0, 5.0, 7.0]);
    let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let g = vjps(&[x, range(&[3, 2])], &w, |xs| xs[0].index_add(0, &i, &xs[1]));
    assert_eq!(g[0], w.to_vec());
    assert_eq!(g[1], vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
}

#[test]
fn gather_follows_torch_gather() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(x.gather(1, &idx(&[2, 0, 1, 1], &[2, 2])).to_vec(), vec![3.0, 1.0, 5.0, 5.0]);
    assert_eq!(x.gather(0, &idx(&[1, 0, 1], &[1, 3])).to_vec(), vec![4.0, 2.0, 6.0]);
    // Along `dim` the index may be longer than the input.
    let y = x.gather(0, &idx(&[0, 1, 1, 1, 0, 0], &[3, 2]));
    assert_eq!((y.shape(), y.to_vec()), (&[3usize, 2][..], vec![1.0, 5.0, 4.0, 5.0, 1.0, 2.0]));
    // x.t() = [[1, 4], [2, 5], [3, 6]]
    assert_eq!(x.t().gather(-1, &idx(&[1, 0, 1], &[3, 1])).to_vec(), vec![4.0, 2.0, 6.0]);
    // x[i][j][k] = 6i + 2j + k; the index covers only part of dims 0 and 2.
    assert_eq!(range(&[2, 3, 2]).gather(1, &idx(&[2, 0], &[1, 2, 1])).to_vec(), vec![4.0, 0.0]);

    let g = vjps(&[x], &[1.0, 2.0, 3.0, 4.0], |xs| xs[0].gather(1, &idx(&[2, 0, 2, 2], &[2, 2])));
    assert_eq!(g[0], vec![2.0, 0.0, 1.0, 0.0, 0.0, 7.0]);
}

#[test]
fn scatter_add_accumulates_collisions() {
    let y = Tensor::<f64>::zeros(&[3]).scatter_add(
        0,
        &IndexTensor::from_slice(&[0, 2, 0, 2]),
        &t(&[1.0, 2.0, 3.0, 4.0], &[4]),
    );
    assert_eq!(y.to_vec(), vec![4.0, 0.0, 6.0]);
    let y = Tensor::<f64>::zeros(&[2, 2]).scatter_add(0, &idx(&[1, 0], &[1, 2]), &t(&[5.0, 6.0], &[1, 2]));
    assert_eq!(y.to_vec(), vec![0.0, 6.0, 5.0, 0.0]);

    let x = Tensor::<f64>::ones(&[2, 3]);
    let i = idx(&[2, 2, 0, 1], &[2, 2]);
    let want = vec![1.0, 1.0, 4.0, 4.0, 5.0, 1.0];
    assert_eq!(x.scatter_add(1, &i, &t(&[1.0, 2.0, 3.0, 4.0], &[2, 2])).to_vec(), want);
    // Elements of `src` outside the index's shape are not used.
    let src = t(&[1.0, 2.0, 9.0, 3.0, 4.0, 9.0], &[2, 3]);
    assert_eq!(x.scatter_add(1, &i, &src).to_vec(), want);

    let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let g = vjps(&[x, src], &w, |xs| xs[0].scatter_add(1, &i, &xs[1]));
    assert_eq!(g[0], w.to_vec());
    assert_eq!(g[1], vec![3.0, 3.0, 0.0, 4.0, 5.0, 0.0]);
}

// ------------------------------------------------------------------ gradients

/// A shape, one of its dims, and (as given) whether to name it negatively.
fn shape_dim() -> impl Strategy<Value = (Vec<usize>, usize, isize)> {
    (shape(1, 3, 3), any::<bool>()).prop_flat_map(|(s, neg)| {
        let nd = s.len();
        (Just(s), 0..nd).prop_map(move |(s, d)| (s, d, if neg { d as isize - nd as isize } else { d as isize }))
    })
}

/// Index tensors for gather / scatter_add along `d` of shape `s`: the same
/// number of dims, at most `s` outside `d`, 1..=3 along `d`, values in range.
fn element_index(s: Vec<usize>, d: usize) -> impl Strategy<Value = IndexTensor> {
    let sizes: Vec<_> = (0..s.len()).map(|i| if i == d { 1..=3 } else { 1..=s[i] }).collect();
    let size = s[d] as i64;
    sizes.prop_flat_map(move |ish| {
        let n: usize = ish.iter().product();
        vec(0..size, n).prop_map(move |v| IndexTensor::from_vec(v, &ish))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn index_select_gradients(
        (x, dim, index) in shape_dim().prop_flat_map(|(s, d, dim)| {
            (tensor(rev(&s), -2.0, 2.0), Just(dim), vec(0..s[d] as i64, 0..=4).prop_map(|v| IndexTensor::from_slice(&v)))
        })
    ) {
        check_grads(|xs| unrev(&xs[0]).index_select(dim, &index), &[x])?;
    }

    #[test]
    fn index_add_gradients(
        (x, src, dim, index) in shape_dim().prop_flat_map(|(s, d, dim)| {
            vec(0..s[d] as i64, 0..=3).prop_flat_map(move |v| {
                let mut ss = s.clone();
                ss[d] = v.len();
                (tensor(rev(&s), -2.0, 2.0), tensor(ss, -2.0, 2.0), Just(dim), Just(IndexTensor::from_slice(&v)))
            })
        })
    ) {
        check_grads(|xs| unrev(&xs[0]).index_add(dim, &index, &xs[1]), &[x, src])?;
    }

    #[test]
    fn gather_gradients(
        (x, dim, index) in shape_dim().prop_flat_map(|(s, d, dim)| {
            (tensor(rev(&s), -2.0, 2.0), Just(dim), element_index(s, d))
        })
    ) {
        let y = unrev(&x).gather(dim, &index);
        prop_assert_eq!(y.shape(), index.shape());
        check_grads(|xs| unrev(&xs[0]).gather(dim, &index).square(), &[x])?;
    }

    #[test]
    fn scatter_add_gradients(
        (x, src, dim, index) in shape_dim().prop_flat_map(|(s, d, dim)| {
            let nd = s.len();
            (element_index(s.clone(), d), vec(0..=1usize, nd)).prop_flat_map(move |(index, extra)| {
                // `src` is as large as the index or one larger per dim.
                let ss: Vec<usize> = index.shape().iter().zip(&extra).map(|(a, b)| a + b).collect();
                (tensor(s.clone(), -2.0, 2.0), tensor(rev(&ss), -2.0, 2.0), Just(dim), Just(index))
            })
        })
    ) {
        check_grads(|xs| xs[0].scatter_add(dim, &index, &unrev(&xs[1])), &[x, src])?;
    }
}

// ------------------------------------------------------------------ errors

#[test]
fn out_of_range_indices_name_the_op_the_value_and_the_dimension() {
    let x = || Tensor::<f64>::zeros(&[3, 4]);
    let parts = |op| [op, "index 5", "dimension 1 with size 4", "[3, 4]"];
    assert_panics(|| drop(x().gather(1, &idx(&[0, 5, 1], &[3, 1]))), FILE, &parts("gather"));
    assert_panics(|| drop(x().gather(-1, &idx(&[0, -1, 1], &[3, 1]))), FILE, &["gather", "index -1", "size 4"]);
    assert_panics(|| drop(x().index_select(1, &IndexTensor::from_slice(&[5]))), FILE, &parts("index_select"));
    assert_panics(|| drop(x().index_select(0, &IndexTensor::from_slice(&[-1]))), FILE, &["index_select", "index -1"]);
    let src = Tensor::<f64>::ones(&[3, 1]);
    assert_panics(|| drop(x().scatter_add(1, &idx(&[0, 5, 1], &[3, 1]), &src)), FILE, &parts("scatter_add"));
    assert_panics(|| drop(x().index_add(1, &IndexTensor::from_slice(&[5]), &src)), FILE, &parts("index_add"));
}

#[test]
fn index_shape_errors_name_the_op_and_the_shapes() {
    let x = || Tensor::<f64>::zeros(&[3, 4]);
    assert_panics(|| drop(x().gather(0, &IndexTensor::from_slice(&[0]))), FILE, &["gather", "[1]", "[3, 4]"]);
    assert_panics(|| drop(x().gather(1, &idx(&[0; 4], &[4, 1]))), FILE, &["gather", "[4, 1]", "[3, 4]"]);
    assert_panics(|| drop(x().gather(2, &idx(&[0], &[1, 1]))), FILE, &["gather", "dimension 2", "[3, 4]"]);
    assert_panics(|| drop(Tensor::<f64>::scalar(1.0).gather(0, &idx(&[0], &[]))), FILE, &["gather", "0-d", "[]"]);
    assert_panics(|| drop(x().index_select(0, &idx(&[0, 1], &[1, 2]))), FILE, &["index_select", "[1, 2]", "[3, 4]"]);
    let src = || Tensor::<f64>::ones(&[2, 2]);
    assert_panics(
        || drop(x().scatter_add(0, &idx(&[0; 3], &[1, 3]), &src())),
        FILE,
        &["scatter_add", "[1, 3]", "[2, 2]", "[3, 4]"],
    );
    assert_panics(
        || drop(x().index_add(0, &IndexTensor::from_slice(&[0]), &src())),
        FILE,
        &["index_add", "[2, 2]", "[1]", "[3, 4]"],
    );
    assert_panics(|| drop(idx(&[0, 1, 2], &[2, 2])), FILE, &["IndexTensor::from_vec", "[2, 2]"]);
    assert_panics(|| drop(IndexTensor::arange(3).reshape(&[2])), FILE, &["IndexTensor::reshape", "[3]", "[2]"]);
}

// ------------------------------------------------------------------ conformance

// Inputs are [input, index], as the cases pass them to torch.gather(input=, index=, dim=).
fn gather_case<E: Element>(x: &[Tensor<E>], index: &[IndexTensor], case: &Value) -> Tensor<E> {
    x[0].gather(config_int(case, "dim"), &index[0])
}

fn index_select_case<E: Element>(x: &[Tensor<E>], index: &[IndexTensor], case: &Value) -> Tensor<E> {
    x[0].index_select(config_int(case, "dim"), &index[0])
}

#[test]
fn conformance_gather_dim1() {
    check_case("gather_dim1", gather_case::<f64>, gather_case::<f32>);
}

#[test]
fn conformance_index_select_dim0() {
    check_case("index_select_dim0", index_select_case::<f64>, index_select_case::<f32>);
}
