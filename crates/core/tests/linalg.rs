//! Matrix products: every operand rank `torch.matmul` accepts, broadcast batch
//! dims, transposed (strided) operands, values against hand-written loops,
//! first and second derivatives, error messages, a PyTorch conformance case,
//! and results that do not depend on the thread count.

use crate::test_support;

use lamina_core::testing::{broadcast_pair, tensor};
use lamina_core::{gradcheck, gradgradcheck, set_num_threads, Element, Tensor};
use proptest::prelude::*;
use test_support::{assert_panics, check, Case, Out};

fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), s)
}

/// `a [m, k] @ b [k, n]`, row-major, by the textbook triple loop.
fn naive_mm(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                c[i * n + j] += a[i * k + p] * b[p * n + j];
            }
        }
    }
    c
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "element {i}: got {g}, want {w}");
    }
}

fn randn(shape: &[usize]) -> Tensor<f64> {
    Tensor::randn(shape)
}

#[test]
fn vector_and_matrix_operands() {
    let dot = t(&[1.0, 2.0, 3.0], &[3]).matmul(&t(&[4.0, 5.0, 6.0], &[3]));
    assert_eq!((dot.shape(), dot.item()), (&[] as &[usize], 32.0));
    let m = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let vm = t(&[1.0, 2.0], &[2]).matmul(&m);
    assert_eq!((vm.shape(), vm.to_vec()), (&[3usize][..], vec![9.0, 12.0, 15.0]));
    let mv = m.matmul(&t(&[1.0, 0.0, -1.0], &[3]));
    assert_eq!((mv.shape(), mv.to_vec()), (&[2usize][..], vec![-2.0, -2.0]));
    let mm = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]).matmul(&t(&[5.0, 6.0, 7.0, 8.0], &[2, 2]));
    assert_eq!(mm.to_vec(), vec![19.0, 22.0, 43.0, 50.0]);
    let outer = t(&[1.0, 2.0], &[2]).outer(&t(&[3.0, 4.0, 5.0], &[3]));
    assert_eq!((outer.shape(), outer.to_vec()), (&[2usize, 3][..], vec![3.0, 4.0, 5.0, 6.0, 8.0, 10.0]));
}

#[test]
fn matrix_products_match_the_triple_loop() {
    for (m, k, n) in [(1, 1, 1), (3, 5, 2), (7, 1, 4), (17, 33, 9), (64, 70, 65)] {
        let (a, b) = (randn(&[m, k]), randn(&[k, n]));
        assert_close(&a.matmul(&b).to_vec(), &naive_mm(&a.to_vec(), &b.to_vec(), m, k, n));
    }
    let (a, b) = (randn(&[0, 3]), randn(&[3, 2]));
    assert_eq!(a.matmul(&b).shape(), &[0, 2]);
    let zero_k = randn(&[2, 0]).matmul(&randn(&[0, 3]));
    assert_eq!(zero_k.to_vec(), vec![0.0; 6]);
}

#[test]
fn batch_dims_broadcast() {
    let (a, b) = (randn(&[2, 1, 3, 4]), randn(&[5, 4, 2]));
    let c = a.matmul(&b);
    assert_eq!(c.shape(), &[2, 5, 3, 2]);
    let (av, bv, cv) = (a.to_vec(), b.to_vec(), c.to_vec());
    for i in 0..2 {
        for j in 0..5 {
            let want = naive_mm(&av[i * 12..(i + 1) * 12], &bv[j * 8..(j + 1) * 8], 3, 4, 2);
            assert_close(&cv[(i * 5 + j) * 6..(i * 5 + j + 1) * 6], &want);
        }
    }
    // 1-d operands against batched ones: the added dim is removed again.
    let (v, batch) = (randn(&[4]), randn(&[2, 3, 4, 5]));
    let vb = v.matmul(&batch);
    assert_eq!(vb.shape(), &[2, 3, 5]);
    let (vv, bv, out) = (v.to_vec(), batch.to_vec(), vb.to_vec());
    for p in 0..6 {
        assert_close(&out[p * 5..(p + 1) * 5], &naive_mm(&vv, &bv[p * 20..(p + 1) * 20], 1, 4, 5));
    }
    let (batch, v) = (randn(&[3, 2, 4]), randn(&[4]));
    let bv1 = batch.matmul(&v);
    assert_eq!(bv1.shape(), &[3, 2]);
    assert_close(&bv1.to_vec(), &naive_mm(&batch.to_vec(), &v.to_vec(), 6, 4, 1));
}

#[test]
fn bmm_multiplies_matching_batches() {
    let (a, b) = (randn(&[3, 2, 4]), randn(&[3, 4, 5]));
    let c = a.bmm(&b);
    assert_eq!(c.shape(), &[3, 2, 5]);
    let (av, bv, cv) = (a.to_vec(), b.to_vec(), c.to_vec());
    for i in 0..3 {
        assert_close(&cv[i * 10..(i + 1) * 10], &naive_mm(&av[i * 8..(i + 1) * 8], &bv[i * 20..(i + 1) * 20], 2, 4, 5));
    }
}

/// Strided operands are read in place; the small-GEMM kernel may sum a
/// strided operand in another order than a packed one, so values agree to
/// rounding rather than bit for bit.
#[test]
fn strided_operands_equal_their_contiguous_copies() {
    let (a, b) = (randn(&[5, 3]), randn(&[5, 4]));
    assert!(!a.t().is_contiguous());
    assert_close(&a.t().matmul(&b).to_vec(), &a.t().contiguous().matmul(&b).to_vec());
    let c = randn(&[4, 3]);
    assert_close(&a.matmul(&c.t()).to_vec(), &a.matmul(&c.t().contiguous()).to_vec());
    let (x, y) = (randn(&[2, 6, 3]), randn(&[2, 4, 6]));
    let xt = x.transpose(-1, -2);
    assert_close(
        &xt.matmul(&y.transpose(1, 2)).to_vec(),
        &xt.contiguous().matmul(&y.transpose(1, 2).contiguous()).to_vec(),
    );
    // A broadcast (stride-0) operand and a stepped slice.
    let row = randn(&[1, 3]).expand(&[4, 3]);
    assert_close(&row.matmul(&c.t()).to_vec(), &row.contiguous().matmul(&c.t()).to_vec());
    let every_other = randn(&[6, 3]).slice(0, 0, 6, 2);
    assert_close(&every_other.matmul(&c.t()).to_vec(), &every_other.contiguous().matmul(&c.t()).to_vec());
}

#[test]
fn gradients_by_hand() {
    // d/dA Σ (A B) = 1 Bᵀ: every row is B's row sums; d/dB = Aᵀ 1: column sums of A.
    let a = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).requires_grad_(true);
    let b = t(&[1.0, -1.0, 2.0, 0.5, 0.0, 3.0], &[3, 2]).requires_grad_(true);
    a.matmul(&b).sum().backward();
    assert_eq!(a.grad().unwrap().to_vec(), vec![0.0, 2.5, 3.0, 0.0, 2.5, 3.0]);
    assert_eq!(b.grad().unwrap().to_vec(), vec![5.0, 5.0, 7.0, 7.0, 9.0, 9.0]);
    // A broadcast batch operand collects the gradient of every batch.
    let a = t(&[1.0, 2.0], &[1, 1, 2]).requires_grad_(true);
    let b = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2, 1]).requires_grad_(true);
    a.matmul(&b).sum().backward();
    assert_eq!(a.grad().unwrap().to_vec(), vec![9.0, 12.0]);
    assert_eq!(b.grad().unwrap().to_vec(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    // 1-d · 1-d: the gradient of a dot product is the other vector.
    let u = t(&[1.0, 2.0], &[2]).requires_grad_(true);
    let v = t(&[3.0, 4.0], &[2]).requires_grad_(true);
    u.matmul(&v).backward();
    assert_eq!((u.grad().unwrap().to_vec(), v.grad().unwrap().to_vec()), (vec![3.0, 4.0], vec![1.0, 2.0]));
}

#[test]
fn misaligned_shapes_name_the_op_both_shapes_and_the_caller() {
    let z = |s: &[usize]| Tensor::<f64>::zeros(s);
    assert_panics(|| z(&[2, 3]).matmul(&z(&[4, 5])), &["matmul", "[2, 3]", "[4, 5]", "not aligned"]);
    assert_panics(|| z(&[3]).matmul(&z(&[4])), &["matmul", "[3]", "[4]"]);
    assert_panics(|| z(&[3]).matmul(&z(&[4, 2])), &["matmul", "[3]", "[4, 2]"]);
    assert_panics(|| z(&[2, 3]).matmul(&z(&[2])), &["matmul", "[2, 3]", "[2]"]);
    assert_panics(|| z(&[2, 3, 4]).matmul(&z(&[5, 4, 2])), &["matmul", "[2, 3, 4]", "[5, 4, 2]"]);
    assert_panics(|| z(&[]).matmul(&z(&[2])), &["matmul", "[]", "[2]"]);
    assert_panics(|| z(&[2, 3]).bmm(&z(&[2, 3, 4])), &["bmm", "[2, 3]", "[2, 3, 4]"]);
    assert_panics(|| z(&[2, 2, 3]).bmm(&z(&[3, 3, 4])), &["bmm", "[2, 2, 3]", "[3, 3, 4]"]);
    assert_panics(|| z(&[2, 2, 3]).bmm(&z(&[2, 4, 4])), &["bmm", "[2, 2, 3]", "[2, 4, 4]"]);
    assert_panics(|| z(&[2, 2]).outer(&z(&[3])), &["outer", "[2, 2]", "[3]"]);
}

/// Operand shapes for `a @ b`: broadcastable batch dims, then `[m, k]` and
/// `[k, n]`; `rank` 0 drops a's matrix row dim (a 1-d operand), 1 drops b's
/// column dim, 2 keeps both.
fn operands() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>, bool)> {
    (broadcast_pair(2, 3), 1..=3usize, 1..=3usize, 1..=3usize, 0..3usize, any::<bool>()).prop_flat_map(
        |((ba, bb), m, k, n, rank, transpose)| {
            let (mut sa, mut sb) = (ba, bb);
            match rank {
                0 => {
                    sa = vec![k];
                    sb.extend([k, n]);
                }
                1 => {
                    sa.extend([m, k]);
                    sb = vec![k];
                }
                _ => {
                    // Stored as [.., k, m] and transposed in the checked function.
                    sa.extend(if transpose { [k, m] } else { [m, k] });
                    sb.extend([k, n]);
                }
            }
            (tensor(sa, -1.5, 1.5), tensor(sb, -1.5, 1.5), Just(transpose && rank == 2))
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn matmul_gradients((a, b, transpose) in operands()) {
        let f = |xs: &[Tensor<f64>]| {
            let a = if transpose { xs[0].transpose(-1, -2) } else { xs[0].clone() };
            a.matmul(&xs[1])
        };
        check(gradcheck(f, &[a.clone(), b.clone()]))?;
        check(gradgradcheck(f, &[a, b]))?;
    }

    #[test]
    fn bmm_and_outer_gradients(
        (a, b) in (1..=3usize, 1..=3usize, 1..=3usize, 1..=3usize)
            .prop_flat_map(|(p, m, k, n)| (tensor(vec![p, m, k], -1.5, 1.5), tensor(vec![p, k, n], -1.5, 1.5))),
        (u, v) in (1..=4usize, 1..=4usize).prop_flat_map(|(m, n)| (tensor(vec![m], -2.0, 2.0), tensor(vec![n], -2.0, 2.0))),
    ) {
        let bmm = |xs: &[Tensor<f64>]| xs[0].bmm(&xs[1]);
        check(gradcheck(bmm, &[a.clone(), b.clone()]))?;
        check(gradgradcheck(bmm, &[a, b]))?;
        let outer = |xs: &[Tensor<f64>]| xs[0].outer(&xs[1]);
        check(gradcheck(outer, &[u.clone(), v.clone()]))?;
        check(gradgradcheck(outer, &[u, v]))?;
    }
}

/// Runs `f` with 1 and then 2 threads and asserts the same bits come out.
fn same_bits_on_1_and_2_threads(what: &str, f: impl Fn() -> Vec<f32>) {
    set_num_threads(1);
    let one = f();
    set_num_threads(2);
    let two = f();
    let same = one.len() == two.len() && one.iter().zip(&two).all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(same, "{what}: results differ between 1 and 2 threads");
}

#[test]
fn large_products_and_reductions_do_not_depend_on_the_thread_count() {
    let a = Tensor::<f32>::randn(&[300, 256]);
    let b = Tensor::<f32>::randn(&[256, 200]);
    let batch_a = Tensor::<f32>::randn(&[4, 64, 96]);
    let batch_b = Tensor::<f32>::randn(&[96, 80]);
    // A weight times a small batch: split between threads by columns.
    let (batch, weight) = (Tensor::<f32>::randn(&[20, 300]), Tensor::<f32>::randn(&[530, 300]));
    let big = Tensor::<f32>::randn(&[1 << 21]);
    let wide = big.reshape(&[2048, 1024]);
    same_bits_on_1_and_2_threads("matmul", || a.matmul(&b).to_vec());
    same_bits_on_1_and_2_threads("transposed matmul", || b.t().matmul(&a.t()).to_vec());
    same_bits_on_1_and_2_threads("batched matmul", || batch_a.matmul(&batch_b).to_vec());
    same_bits_on_1_and_2_threads("matmul backward", || {
        let (a, b) = (a.detach().requires_grad_(true), b.detach().requires_grad_(true));
        a.matmul(&b).tanh().sum().backward();
        [a.grad().unwrap().to_vec(), b.grad().unwrap().to_vec()].concat()
    });
    same_bits_on_1_and_2_threads("a weight times a batch", || {
        let (x, w) = (batch.detach().requires_grad_(true), weight.detach().requires_grad_(true));
        let y = x.matmul(&w.t());
        y.matmul(&w).tanh().sum().backward();
        [y.to_vec(), x.grad().unwrap().to_vec(), w.grad().unwrap().to_vec()].concat()
    });
    same_bits_on_1_and_2_threads("sum", || big.sum().to_vec());
    same_bits_on_1_and_2_threads("mean", || big.mean().to_vec());
    same_bits_on_1_and_2_threads("sum over rows", || wide.sum_dims(&[0], false).to_vec());
    same_bits_on_1_and_2_threads("sum over columns", || wide.sum_dims(&[1], false).to_vec());
    same_bits_on_1_and_2_threads("sum of a transposed view", || wide.t().sum_dims(&[1], true).to_vec());
    same_bits_on_1_and_2_threads("var", || wide.var_dims(&[0], 1, false).to_vec());
    same_bits_on_1_and_2_threads("std of everything", || big.std().to_vec());
    same_bits_on_1_and_2_threads("logsumexp", || wide.logsumexp(&[1], false).to_vec());
    same_bits_on_1_and_2_threads("norm", || {
        [big.norm(2.0, &[], false).to_vec(), wide.norm(3.0, &[0], false).to_vec()].concat()
    });
    same_bits_on_1_and_2_threads("amax", || wide.amax(&[1], false).to_vec());
    same_bits_on_1_and_2_threads("cumsum", || wide.cumsum(0).to_vec());
    same_bits_on_1_and_2_threads("prod", || wide.mul_scalar(0.01).add_scalar(1.0).prod_dim(1, false).to_vec());
}

fn apply<E: Element>(case: &Case, xs: &[Tensor<E>]) -> Vec<Out<E>> {
    assert_eq!(case.function(), "matmul", "{}: unknown function", case.name);
    vec![Out::F(xs[0].matmul(&xs[1]))]
}

#[test]
fn conformance_with_pytorch() {
    let case = Case::load("matmul_batched_broadcast");
    case.check(&|xs| apply(&case, xs), &|xs| apply(&case, xs));
}

#[test]
fn linear_is_x_times_weight_transposed_plus_bias() {
    let x = t(&[1.0, 2.0, -1.0, 0.5, 3.0, 1.0], &[2, 1, 3]);
    let w = t(&[1.0, 0.0, 2.0, -1.0, 1.0, 1.0], &[2, 3]);
    let b = t(&[0.5, -0.5], &[2]);
    // Row [1, 2, -1]: 1 + 0 - 2 + 0.5 = -0.5 and -1 + 2 - 1 - 0.5 = -0.5;
    // row [0.5, 3, 1]: 0.5 + 0 + 2 + 0.5 = 3 and -0.5 + 3 + 1 - 0.5 = 3.
    let y = x.linear(&w, Some(&b));
    assert_eq!((y.shape(), y.to_vec()), (&[2usize, 1, 2][..], vec![-0.5, -0.5, 3.0, 3.0]));
    assert_eq!(x.linear(&w, None).to_vec(), vec![-1.0, 0.0, 2.5, 3.5]);
}

/// The bias is added as the product is stored: in f32, on one thread and on
/// two (a batch times a weight is split by columns, a tall product by rows),
/// over several blocks of the sum, it lands on the right columns of every
/// row. Quarters of small integers make every sum exact, so it must equal
/// the product plus the bias to the bit.
#[test]
fn linear_adds_its_bias_to_every_row_on_any_thread_count() {
    let quarters = |shape: &[usize], seed: usize| {
        let n: usize = shape.iter().product();
        Tensor::<f32>::from_vec((0..n).map(|i| ((i * 7 + seed) % 11) as f32 / 4.0 - 1.0).collect(), shape)
    };
    for (rows, k, out) in [(20, 300, 530), (300, 600, 200), (7, 5, 3)] {
        let (x, w, b) = (quarters(&[rows, k], 1), quarters(&[out, k], 2), quarters(&[out], 3));
        let want = (x.matmul(&w.t()) + &b).to_vec();
        for threads in [1, 2] {
            set_num_threads(threads);
            assert_eq!(x.linear(&w, Some(&b)).to_vec(), want, "{rows}x{k}->{out} on {threads} threads");
        }
    }
}

#[test]
fn linear_weight_gradient_is_contiguous_like_the_weight() {
    let x = randn(&[4, 3]);
    let w = randn(&[5, 3]).requires_grad_(true);
    x.linear(&w, None).sum().backward();
    let g = w.grad().unwrap();
    assert!(g.is_contiguous());
    // d/dW sum(x Wᵀ) = 1ᵀ x: every row of the gradient is the column sums of x.
    let colsum = x.sum_dims(&[0], false).to_vec();
    for row in g.to_vec().chunks(3) {
        assert_close(row, &colsum);
    }
}

#[test]
fn linear_shape_errors_name_the_op_the_shapes_and_the_caller() {
    let z = |s: &[usize]| Tensor::<f64>::zeros(s);
    assert_panics(|| z(&[2, 3]).linear(&z(&[4, 2]), None), &["linear", "[2, 3]", "[4, 2]", "tests/"]);
    assert_panics(|| z(&[2, 3]).linear(&z(&[4, 3]), Some(&z(&[3]))), &["linear", "[4, 3]", "[3]"]);
    assert_panics(|| z(&[3]).linear(&z(&[3]), None), &["linear", "[3]"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn linear_gradients(
        (x, w, b) in (0..3usize, 1..=3usize, 1..=3usize).prop_flat_map(|(lead, k, o)| {
            let mut xs: Vec<usize> = vec![2; lead];
            xs.push(k);
            (tensor(xs, -1.5, 1.5), tensor(vec![o, k], -1.5, 1.5), tensor(vec![o], -1.0, 1.0))
        }),
        transposed in any::<bool>(),
    ) {
        // A transposed weight view checks the strided path.
        let f = |xs: &[Tensor<f64>]| {
            let w = if transposed { xs[1].t().contiguous().t() } else { xs[1].clone() };
            xs[0].linear(&w, Some(&xs[2]))
        };
        check(gradcheck(f, &[x.clone(), w.clone(), b.clone()]))?;
        check(gradgradcheck(f, &[x, w, b]))?;
    }
}
