//! Matrix products through the strided GEMM interface (`crate::gemm`):
//! transposed operands are passed by strides, never copied, and a large
//! product is shared between threads by rows, or by columns for a weight
//! times a small batch.

use crate::gemm::{gemm_into, gemm_with, Kernel, Start, PAR_FLOPS};
use crate::layout::{broadcast_shapes, walk};
use crate::profile::{scope, Family};
use crate::tensor::at;
use crate::threads::{for_each_task, num_threads};
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::panic::Location;

/// The output of a product whose column blocks threads write at once.
struct SharedOutput<E>(*mut E);

// SAFETY: each task writes only its own block's elements through the pointer
// (see `batched_gemm`), and `out` outlives the tasks.
unsafe impl<E: Send> Sync for SharedOutput<E> {}

impl<E> SharedOutput<E> {
    /// The address `i` values in.
    fn at(&self, i: usize) -> *mut E {
        self.0.wrapping_add(i)
    }
}

/// `a @ b` for `a: [..., m, k]`, `b: [..., k, n]` with broadcast batch dims
/// (unrecorded), plus `bias` (`n` values) in every row when given.
#[track_caller]
fn batched_gemm<E: Element>(a: &Tensor<E>, b: &Tensor<E>, bias: Option<&[E]>) -> Tensor<E> {
    let (ra, rb) = (a.ndim(), b.ndim());
    let (m, k, k2, n) = (a.shape()[ra - 2], a.shape()[ra - 1], b.shape()[rb - 2], b.shape()[rb - 1]);
    let batch = broadcast_shapes(&a.shape()[..ra - 2], &b.shape()[..rb - 2]);
    let Some(batch) = batch.filter(|_| k == k2) else {
        panic!("matmul: shapes {:?} and {:?} are not aligned at {}", a.shape(), b.shape(), at(Location::caller()));
    };
    let mut out_shape: Vec<usize> = batch.to_vec();
    out_shape.extend([m, n]);
    let nb: usize = batch.iter().product();
    // Counted here too, on the calling thread, for products split over workers.
    let _profile = scope(Family::Gemm);
    let mut out: Vec<E> = crate::buffers::reused(nb * m * n);
    if m * n > 0 {
        let mut full_a: Vec<usize> = batch.to_vec();
        full_a.extend([m, k]);
        let mut full_b: Vec<usize> = batch.to_vec();
        full_b.extend([k, n]);
        let la = a.layout().broadcast_to(&full_a).expect("batch broadcast");
        let lb = b.layout().broadcast_to(&full_b).expect("batch broadcast");
        // Offsets of each batch's matrices.
        let mut offs = Vec::with_capacity(nb);
        let (sa, sb) = (&la.strides()[..batch.len()], &lb.strides()[..batch.len()]);
        walk(&batch, [sa, sb], [la.offset(), lb.offset()], 0..nb, |[i, j]| offs.push((i, j)));
        let nbd = batch.len();
        let (rsa, csa) = (la.strides()[nbd], la.strides()[nbd + 1]);
        let (rsb, csb) = (lb.strides()[nbd], lb.strides()[nbd + 1]);
        a.with_data(|da, _| {
            b.with_data(|db, _| {
                // Rows `r0..` of batch `bi`'s product, into `c` (whole rows).
                let kernel = Kernel::for_shape::<E>(m, k, n);
                // What columns `cols` of the product are added to.
                let start = |cols: std::ops::Range<usize>| bias.map_or(Start::Zero, |v| Start::Rows(&v[cols]));
                let product = |bi: usize, r0: usize, c: &mut [E]| {
                    let (oa, ob) = offs[bi];
                    let a = &da[oa + r0 * rsa..];
                    gemm_with(kernel, [c.len() / n, k, n], a, [rsa, csa], &db[ob..], [rsb, csb], start(0..n), c, n);
                };
                let threads = if nb * m * n * k >= PAR_FLOPS { num_threads() } else { 1 };
                if let Some(cols) = kernel.columns_per_call(m, n, threads.div_ceil(nb)) {
                    // Column blocks of each batch's product, written through
                    // one pointer into `out` (every block's elements its own).
                    let c = SharedOutput(out.as_mut_ptr());
                    let tasks: Vec<_> = (0..nb).flat_map(|bi| (0..n).step_by(cols).map(move |j| (bi, j))).collect();
                    for_each_task(tasks, |(bi, j0)| {
                        let ((oa, ob), w) = (offs[bi], cols.min(n - j0));
                        let c = c.at(bi * m * n + j0);
                        // SAFETY: the block's `m` rows of `w` columns lie
                        // inside `out` (`(m - 1) n + w` values from `c`), and
                        // no other task writes them.
                        unsafe {
                            gemm_into(
                                kernel,
                                [m, k, w],
                                &da[oa..],
                                [rsa, csa],
                                &db[ob + j0 * csb..],
                                [rsb, csb],
                                start(j0..j0 + w),
                                (c, (m - 1) * n + w),
                                n,
                            )
                        }
                    });
                    return;
                }
                let rows = kernel.rows_per_call(m, threads.div_ceil(nb));
                let blocks = m.div_ceil(rows);
                // One part per row block of each batch's product.
                let parts: Vec<_> = out.chunks_mut(m * n).flat_map(|cb| cb.chunks_mut(rows * n)).enumerate().collect();
                let one = |(i, c): (usize, &mut [E])| product(i / blocks, i % blocks * rows, c);
                if threads > 1 {
                    for_each_task(parts, one);
                } else {
                    parts.into_iter().for_each(one);
                }
            })
        });
    }
    Tensor::from_vec(out, &out_shape)
}

impl<E: Element> Tensor<E> {
    /// Matrix product with `torch.matmul`'s rules: 1-d operands are promoted
    /// (and the added dimension removed), batch dimensions broadcast.
    /// d/da = g bᵀ, d/db = aᵀ g, each summed over broadcast batch dims.
    #[track_caller]
    pub fn matmul(&self, rhs: &Tensor<E>) -> Tensor<E> {
        if self.ndim() == 0 || rhs.ndim() == 0 {
            panic!(
                "matmul: both operands need at least 1 dim, got {:?} and {:?} at {}",
                self.shape(),
                rhs.shape(),
                at(Location::caller())
            );
        }
        // Checked here, on the caller's shapes, before 1-d operands are promoted.
        let (ra, rb) = (self.ndim(), rhs.ndim());
        let batch = broadcast_shapes(&self.shape()[..ra.saturating_sub(2)], &rhs.shape()[..rb.saturating_sub(2)]);
        if self.shape()[ra - 1] != rhs.shape()[rb.saturating_sub(2)] || batch.is_none() {
            panic!(
                "matmul: shapes {:?} and {:?} are not aligned at {}",
                self.shape(),
                rhs.shape(),
                at(Location::caller())
            );
        }
        if rhs.ndim() == 2 && self.ndim() > 2 {
            // A matrix applied to a batch is one GEMM over the batch's rows, as
            // PyTorch folds it; the weight's gradient is then one GEMM too.
            let (lead, k) = self.shape().split_at(ra - 1);
            let mut out_shape = lead.to_vec();
            out_shape.push(rhs.shape()[1]);
            return self.reshape(&[lead.iter().product(), k[0]]).mm_nd(rhs).reshape(&out_shape);
        }
        let a = if self.ndim() == 1 { self.unsqueeze(0) } else { self.clone() };
        let b = if rhs.ndim() == 1 { rhs.unsqueeze(1) } else { rhs.clone() };
        let mut out = a.mm_nd(&b);
        if rhs.ndim() == 1 {
            out = out.squeeze(-1);
        }
        if self.ndim() == 1 {
            out = out.squeeze(if rhs.ndim() == 1 { -1 } else { -2 });
        }
        out
    }

    /// `a @ b` for operands of at least 2 dims.
    #[track_caller]
    fn mm_nd(&self, rhs: &Tensor<E>) -> Tensor<E> {
        let (a, b) = (self.clone(), rhs.clone());
        batched_gemm(self, rhs, None).record("matmul", &[self, rhs], move |c, g| {
            smallvec![
                c.needs(0).then(|| g.mm_nd(&b.transpose(-1, -2)).sum_to(a.shape())),
                c.needs(1).then(|| a.transpose(-1, -2).mm_nd(g).sum_to(b.shape()))
            ]
        })
    }

    /// `x Wᵀ + b` over the last dimension of `x: [..., in]`, for `weight:
    /// [out, in]` and `bias: [out]`, PyTorch's `F.linear`. One recorded op whose
    /// gradients are GEMMs written straight into each operand's layout:
    /// dx = g W, dW = gᵀ x (contiguous, like the weight), db = Σ g.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[1, 2]);
    /// let w = Tensor::from_vec(vec![1.0, 0.0, 1.0, 1.0, 0.5, -1.0], &[3, 2]);
    /// let b = Tensor::from_vec(vec![0.0, 1.0, 2.0], &[3]);
    /// assert_eq!(x.linear(&w, Some(&b)).to_vec(), vec![1.0, 4.0, 0.5]);
    /// ```
    #[track_caller]
    pub fn linear(&self, weight: &Tensor<E>, bias: Option<&Tensor<E>>) -> Tensor<E> {
        let (out, k) = match weight.shape() {
            &[o, i] => (o, i),
            _ => self.linear_error(weight, bias),
        };
        if self.ndim() == 0 || self.shape()[self.ndim() - 1] != k || bias.is_some_and(|b| b.shape() != [out]) {
            self.linear_error(weight, bias);
        }
        let lead = &self.shape()[..self.ndim() - 1];
        let rows: usize = lead.iter().product();
        let mut out_shape = lead.to_vec();
        out_shape.push(out);
        let x2 = self.reshape(&[rows, k]);
        // The bias is added as the product is stored, not in a pass of its own.
        let y = batched_gemm(&x2, &weight.t(), bias.map(|b| b.to_vec()).as_deref()).reshape(&out_shape);
        let (x, w, x_shape) = (x2, weight.clone(), self.shape().to_vec());
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        y.record("linear", &inputs, move |c, g| {
            let g2 = g.reshape(&[x.shape()[0], w.shape()[0]]);
            smallvec![
                c.needs(0).then(|| g2.mm_nd(&w).reshape(&x_shape)),
                c.needs(1).then(|| g2.t().mm_nd(&x)),
                c.needs(2).then(|| g2.sum_dims(&[0], false)),
            ]
        })
    }

    #[track_caller]
    fn linear_error(&self, weight: &Tensor<E>, bias: Option<&Tensor<E>>) -> ! {
        panic!(
            "linear: input {:?} does not fit weight {:?} and bias {:?} (want [..., in], [out, in], [out]) at {}",
            self.shape(),
            weight.shape(),
            bias.map(|b| b.shape().to_vec()),
            at(Location::caller())
        )
    }

    /// Batched matrix product of two 3-d tensors `[b, m, k] @ [b, k, n]`.
    #[track_caller]
    pub fn bmm(&self, rhs: &Tensor<E>) -> Tensor<E> {
        if self.ndim() != 3 || rhs.ndim() != 3 || self.shape()[0] != rhs.shape()[0] || self.shape()[2] != rhs.shape()[1]
        {
            panic!(
                "bmm: expects [b, m, k] and [b, k, n], got {:?} and {:?} at {}",
                self.shape(),
                rhs.shape(),
                at(Location::caller())
            );
        }
        self.mm_nd(rhs)
    }

    /// Outer product of two 1-d tensors.
    #[track_caller]
    pub fn outer(&self, rhs: &Tensor<E>) -> Tensor<E> {
        if self.ndim() != 1 || rhs.ndim() != 1 {
            panic!(
                "outer: expects two 1-d tensors, got {:?} and {:?} at {}",
                self.shape(),
                rhs.shape(),
                at(Location::caller())
            );
        }
        self.unsqueeze(1).mul(&rhs.unsqueeze(0))
    }
}
