//! The LSTM cell update as one op. Written from primitives it is ten small
//! recorded ops a time step, most on strided slices of the gates; fused, it
//! is one pass forward and one backward, as PyTorch fuses it on GPUs.

use crate::math::{sigmoid, tanh};
use crate::ops::nn::with_contiguous;
use crate::profile::{scope, Family};
use crate::tape::is_grad_enabled;
use crate::tensor::at;
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::panic::Location;

impl<E: Element> Tensor<E> {
    /// One LSTM cell update from the pre-activation gates `self: [B, 4H]`
    /// (input, forget, cell and output gates, PyTorch's order) and the cell
    /// state `c: [B, H]`: returns `(h', c')` with `c' = σ(f) c + σ(i) tanh(g)`
    /// and `h' = σ(o) tanh(c')`. Both are views of one `[B, 2H]` result.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let gates = Tensor::<f64>::zeros(&[1, 4]);
    /// let (h, c) = gates.lstm_cell(&Tensor::ones(&[1, 1]));
    /// assert_eq!(c.to_vec(), vec![0.5]); // σ(0) · 1 + σ(0) · tanh(0)
    /// assert_eq!(h.to_vec(), vec![0.5 * 0.5f64.tanh()]);
    /// ```
    #[track_caller]
    pub fn lstm_cell(&self, c: &Tensor<E>) -> (Tensor<E>, Tensor<E>) {
        let (b, hs) = match (self.shape(), c.shape()) {
            (&[b, g], &[bc, hs]) if b == bc && g == 4 * hs => (b, hs),
            _ => panic!(
                "lstm_cell: gates {:?} and cell state {:?} do not match (want [B, 4H] and [B, H]) at {}",
                self.shape(),
                c.shape(),
                at(Location::caller())
            ),
        };
        let _profile = scope(Family::Elementwise);
        // The activated gates and tanh(c'), kept for the backward pass.
        let mut act = crate::buffers::reused(b * 4 * hs);
        let mut tanh_c = crate::buffers::reused(b * hs);
        let mut out = crate::buffers::reused(b * 2 * hs);
        with_contiguous(self, |gates| {
            with_contiguous(c, |c| {
                for r in 0..b {
                    let pre = quarters(&gates[r * 4 * hs..(r + 1) * 4 * hs], hs);
                    let [ai, af, ag, ao] = quarters_mut(&mut act[r * 4 * hs..(r + 1) * 4 * hs], hs);
                    let (h_out, c_out) = out[r * 2 * hs..(r + 1) * 2 * hs].split_at_mut(hs);
                    let (c, t_out) = (&c[r * hs..(r + 1) * hs], &mut tanh_c[r * hs..(r + 1) * hs]);
                    for j in 0..hs {
                        let (i, f) = (sigmoid(pre[0][j]), sigmoid(pre[1][j]));
                        let (g, o) = (tanh(pre[2][j]), sigmoid(pre[3][j]));
                        let c_new = f * c[j] + i * g;
                        let t = tanh(c_new);
                        (ai[j], af[j], ag[j], ao[j]) = (i, f, g, o);
                        (t_out[j], c_out[j], h_out[j]) = (t, c_new, o * t);
                    }
                }
            })
        });
        // Kept as tensors, so that their buffers return to the pool with them.
        let (act, tanh_c) = (Tensor::from_vec(act, &[b, 4 * hs]), Tensor::from_vec(tanh_c, &[b, hs]));
        let (gates, c_prev) = (self.clone(), c.clone());
        let out = Tensor::from_vec(out, &[b, 2 * hs]).record("lstm_cell", &[self, c], move |ctx, g| {
            if is_grad_enabled() {
                // Recorded for a higher derivative: the same rule, from
                // differentiable ops.
                let (dg, dc) = lstm_cell_grads_composed(&gates, &c_prev, g, hs);
                return smallvec![ctx.needs(0).then_some(dg), ctx.needs(1).then_some(dc)];
            }
            let _profile = scope(Family::Elementwise);
            let mut dgates = crate::buffers::reused(b * 4 * hs);
            let mut dc = crate::buffers::reused(b * hs);
            // Both were made whole and contiguous above, so their storage is their data.
            let (act, tanh_c) = (act.inner.storage.read(), tanh_c.inner.storage.read());
            with_contiguous(g, |g| {
                with_contiguous(&c_prev, |c| {
                    for r in 0..b {
                        let [i, f, gg, o] = quarters(&act[r * 4 * hs..(r + 1) * 4 * hs], hs);
                        let [di, df, dg, d_o] = quarters_mut(&mut dgates[r * 4 * hs..(r + 1) * 4 * hs], hs);
                        let (dh, dc_new) = g[r * 2 * hs..(r + 1) * 2 * hs].split_at(hs);
                        let (t, c) = (&tanh_c[r * hs..(r + 1) * hs], &c[r * hs..(r + 1) * hs]);
                        let dc = &mut dc[r * hs..(r + 1) * hs];
                        for j in 0..hs {
                            let dct = dc_new[j] + dh[j] * o[j] * (E::one() - t[j] * t[j]);
                            di[j] = dct * gg[j] * i[j] * (E::one() - i[j]);
                            df[j] = dct * c[j] * f[j] * (E::one() - f[j]);
                            dg[j] = dct * i[j] * (E::one() - gg[j] * gg[j]);
                            d_o[j] = dh[j] * t[j] * o[j] * (E::one() - o[j]);
                            dc[j] = dct * f[j];
                        }
                    }
                })
            });
            smallvec![
                ctx.needs(0).then(|| Tensor::from_vec(dgates, &[b, 4 * hs])),
                ctx.needs(1).then(|| Tensor::from_vec(dc, &[b, hs])),
            ]
        });
        (out.narrow(1, 0, hs), out.narrow(1, hs, hs))
    }
}

/// The four gate blocks of a row of `4 hs` values.
fn quarters<E>(row: &[E], hs: usize) -> [&[E]; 4] {
    let (a, rest) = row.split_at(hs);
    let (b, rest) = rest.split_at(hs);
    let (c, d) = rest.split_at(hs);
    [a, b, c, &d[..hs]]
}

/// [`quarters`], mutable.
fn quarters_mut<E>(row: &mut [E], hs: usize) -> [&mut [E]; 4] {
    let (a, rest) = row.split_at_mut(hs);
    let (b, rest) = rest.split_at_mut(hs);
    let (c, d) = rest.split_at_mut(hs);
    [a, b, c, &mut d[..hs]]
}

/// The gradients of [`Tensor::lstm_cell`] for the gates and the cell state,
/// given `g = [dh', dc']`, from differentiable ops.
fn lstm_cell_grads_composed<E: Element>(
    gates: &Tensor<E>,
    c: &Tensor<E>,
    g: &Tensor<E>,
    hs: usize,
) -> (Tensor<E>, Tensor<E>) {
    let s = gates.sigmoid();
    let (i, f, o) = (s.narrow(1, 0, hs), s.narrow(1, hs, hs), s.narrow(1, 3 * hs, hs));
    let gg = gates.narrow(1, 2 * hs, hs).tanh();
    let t = (&f * c + &i * &gg).tanh();
    let (dh, dc_new) = (g.narrow(1, 0, hs), g.narrow(1, hs, hs));
    let one_minus_sq = |x: &Tensor<E>| (x * x).rsub_scalar(E::one());
    let dct = dc_new + &dh * &o * one_minus_sq(&t);
    let slope = |x: &Tensor<E>| x * x.rsub_scalar(E::one());
    let di = &dct * &gg * slope(&i);
    let df = &dct * c * slope(&f);
    let dg = &dct * &i * one_minus_sq(&gg);
    let d_o = dh * t * slope(&o);
    (Tensor::cat(&[&di, &df, &dg, &d_o], 1), dct * f)
}
