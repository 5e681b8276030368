//! The LSTM cell update as one op, and a whole LSTM recurrence as one op.
//! Written from primitives a cell is ten small recorded ops a time step, most
//! on strided slices of the gates; fused, it is one pass forward and one
//! backward, as PyTorch fuses it on GPUs. The sequence op goes further: no
//! node per step, and the recurrent weight's gradient in one product.

use crate::gemm::PackedRhs;
use crate::math::{sigmoid, tanh};
use crate::ops::nn::with_contiguous;
use crate::profile::{scope, Family};
use crate::simd::vectorized;
use crate::tape::{is_grad_enabled, no_grad};
use crate::tensor::at;
use crate::threads::{for_each_task, row_parts};
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::ops::Range;
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
        let mut act = with_contiguous(self, |gates| crate::buffers::copied(gates));
        let mut tanh_c = crate::buffers::reused(b * hs);
        let mut out = crate::buffers::reused(b * 2 * hs);
        with_contiguous(c, |c| {
            for r in 0..b {
                let (h_out, c_out) = out[r * 2 * hs..(r + 1) * 2 * hs].split_at_mut(hs);
                let rows = r * hs..(r + 1) * hs;
                cell_rows(
                    hs,
                    &mut act[r * 4 * hs..(r + 1) * 4 * hs],
                    None,
                    &c[rows.clone()],
                    c_out,
                    &mut tanh_c[rows],
                    h_out,
                );
            }
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
                        let (dh, dc_new) = g[r * 2 * hs..(r + 1) * 2 * hs].split_at(hs);
                        let (gates, rows) = (r * 4 * hs..(r + 1) * 4 * hs, r * hs..(r + 1) * hs);
                        let (act, dgates) = (&act[gates.clone()], &mut dgates[gates]);
                        let (t, c) = (&tanh_c[rows.clone()], &c[rows.clone()]);
                        cell_rows_backward(hs, act, t, c, dh, None, dc_new, dgates, &mut dc[rows]);
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

    /// An LSTM layer's recurrence over a whole sequence, as one op. From the
    /// input gates `self: [T, B, 4H]` (`x W_ihᵀ + b_ih + b_hh` at every step),
    /// the recurrent weight `w_hh: [4H, H]` (PyTorch's `weight_hh_l0`) and the
    /// initial state `h0, c0: [B, H]`, step `t` computes `(h_t, c_t) =
    /// lstm_cell(gi_t + h_{t-1} w_hhᵀ, c_{t-1})`; with `reverse` the steps run
    /// from last to first. Returns the outputs `[T, B, H]` (`h_t` at `t`) and
    /// the final `h` and `c`.
    ///
    /// The values are those of the loop of [`matmul`](Self::matmul) and
    /// [`lstm_cell`](Self::lstm_cell) it replaces, but nothing is recorded per
    /// step: the weight is prepared once for every step's product, the
    /// backward runs the recurrence back in one pass, and the weight's
    /// gradient is one product over all steps.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let gi = Tensor::<f64>::zeros(&[3, 1, 4]); // 3 steps, batch 1, hidden 1
    /// let w = Tensor::zeros(&[4, 1]);
    /// let (out, h, c) = gi.lstm_sequence(&w, &Tensor::zeros(&[1, 1]), &Tensor::ones(&[1, 1]), false);
    /// assert_eq!(out.shape(), &[3, 1, 1]);
    /// assert_eq!(c.to_vec(), vec![0.125]); // halved by σ(0) at every step
    /// assert_eq!(h.to_vec(), out.narrow(0, 2, 1).to_vec());
    /// ```
    #[track_caller]
    pub fn lstm_sequence(
        &self,
        w_hh: &Tensor<E>,
        h0: &Tensor<E>,
        c0: &Tensor<E>,
        reverse: bool,
    ) -> (Tensor<E>, Tensor<E>, Tensor<E>) {
        let (steps, b, hs) = match (self.shape(), w_hh.shape(), h0.shape(), c0.shape()) {
            (&[t, b, g], &[g2, h], &[bh, h2], &[bc, h3])
                if g == 4 * h && g2 == g && [bh, bc] == [b; 2] && [h2, h3] == [h; 2] =>
            {
                (t, b, h)
            }
            _ => panic!(
                "lstm_sequence: input gates {:?}, recurrent weight {:?} and states {:?}, {:?} do not match \
                 (want [T, B, 4H], [4H, H], [B, H] and [B, H]) at {}",
                self.shape(),
                w_hh.shape(),
                h0.shape(),
                c0.shape(),
                at(Location::caller())
            ),
        };
        if steps == 0 {
            return (Tensor::zeros(&[0, b, hs]), h0.clone(), c0.clone());
        }
        let _profile = scope(Family::Elementwise);
        let (g4, block) = (4 * hs, b * hs);
        let order = StepOrder { steps, reverse };
        // The weight's values, as every step's product reads them.
        let w = no_grad(|| w_hh.contiguous());
        // Per step: the activated gates, c_t and tanh(c_t), kept for the
        // backward pass; the outputs h_t, then the final c, in one result.
        let mut act = crate::buffers::reused(steps * b * g4);
        let mut cells = crate::buffers::reused(steps * block);
        let mut tanh_c = crate::buffers::reused(steps * block);
        let mut out = crate::buffers::reused((steps + 1) * block);
        let parts = row_parts(b, PART_ROWS);
        with_contiguous(self, |gi| {
            w.with_data(|w, _| {
                // w_hhᵀ, packed once for every step.
                let rhs = PackedRhs::new(hs, g4, w, [1, hs]);
                let (h0, c0) = (h0.to_vec(), c0.to_vec());
                let tasks = zip_parts([
                    rows_by_part(&mut act, &parts, g4),
                    rows_by_part(&mut cells, &parts, hs),
                    rows_by_part(&mut tanh_c, &parts, hs),
                    rows_by_part(&mut out, &parts, hs),
                ]);
                for_each_task(
                    tasks.into_iter().zip(&parts).collect(),
                    |([mut act, mut cells, mut tanh_c, mut out], rows)| {
                        let states = rows.start * hs..rows.end * hs;
                        let (mut h, mut c) = (h0[states.clone()].to_vec(), c0[states].to_vec());
                        for t in order.forward() {
                            // gi_t + h w_hhᵀ, summed as the loop of ops sums it.
                            rhs.product(rows.len(), &h, [hs, 1], E::zero(), act[t], g4);
                            let gi = step_rows(gi, t, b, rows.clone(), g4);
                            cell_rows(hs, act[t], Some(gi), &c, cells[t], tanh_c[t], out[t]);
                            h.copy_from_slice(out[t]);
                            c.copy_from_slice(cells[t]);
                        }
                        out[steps].copy_from_slice(&c);
                    },
                );
            })
        });
        let saved = SavedSequence {
            act: Tensor::from_vec(act, &[steps, b, g4]),
            cells: Tensor::from_vec(cells, &[steps, b, hs]),
            tanh_c: Tensor::from_vec(tanh_c, &[steps, b, hs]),
        };
        let inputs = [self.clone(), w_hh.clone(), h0.clone(), c0.clone()];
        let y = Tensor::from_vec(out, &[steps + 1, b, hs]);
        // The outputs, saved detached: the node must not hold its own output.
        let outputs = y.detach();
        let y = y.record("lstm_sequence", &[self, w_hh, h0, c0], move |ctx, g| {
            let [gi, w_hh, h0, c0] = &inputs;
            let (dgi, dw, dh0, dc0) = if is_grad_enabled() {
                // Recorded for a higher derivative: the same rule, from
                // differentiable ops.
                lstm_sequence_grads_composed(gi, w_hh, h0, c0, g, order)
            } else {
                saved.backward(&outputs, &w, h0, c0, g, order)
            };
            smallvec![
                ctx.needs(0).then_some(dgi),
                ctx.needs(1).then_some(dw),
                ctx.needs(2).then_some(dh0),
                ctx.needs(3).then_some(dc0),
            ]
        });
        let last = order.forward().last().expect("at least one step");
        (y.narrow(0, 0, steps), y.narrow(0, last, 1).squeeze(0), y.narrow(0, steps, 1).squeeze(0))
    }
}

/// The order in which a sequence's steps run.
#[derive(Clone, Copy)]
struct StepOrder {
    steps: usize,
    reverse: bool,
}

impl StepOrder {
    /// The steps in the order the recurrence runs them.
    fn forward(self) -> impl DoubleEndedIterator<Item = usize> {
        let StepOrder { steps, reverse } = self;
        (0..steps).map(move |i| if reverse { steps - 1 - i } else { i })
    }

    /// The step before `t` in the recurrence (`None` for the first).
    fn previous(self, t: usize) -> Option<usize> {
        match self.reverse {
            false => t.checked_sub(1),
            true => Some(t + 1).filter(|&p| p < self.steps),
        }
    }
}

/// What [`Tensor::lstm_sequence`] keeps for its backward pass, per step: the
/// activated gates, the cell state and its tanh.
struct SavedSequence<E: Element> {
    act: Tensor<E>,
    cells: Tensor<E>,
    tanh_c: Tensor<E>,
}

impl<E: Element> SavedSequence<E> {
    /// The gradients of the input gates, the recurrent weight and the
    /// initial states, given the gradient `g: [T + 1, B, H]` of the outputs
    /// and final cell state, from the forward pass's `outputs` (same shape).
    fn backward(
        &self,
        outputs: &Tensor<E>,
        w: &Tensor<E>,
        h0: &Tensor<E>,
        c0: &Tensor<E>,
        g: &Tensor<E>,
        order: StepOrder,
    ) -> (Tensor<E>, Tensor<E>, Tensor<E>, Tensor<E>) {
        let _profile = scope(Family::Elementwise);
        let [steps, b, g4] = self.act.shape()[..] else { unreachable!("the gates are [T, B, 4H]") };
        let hs = g4 / 4;
        let (block, gate_block) = (b * hs, b * g4);
        let mut dgates = crate::buffers::reused(steps * gate_block);
        // Made whole and contiguous in the forward pass: storage is data.
        let (act, cells, tanh_c) =
            (self.act.inner.storage.read(), self.cells.inner.storage.read(), self.tanh_c.inner.storage.read());
        let (c0, parts) = (c0.to_vec(), row_parts(b, PART_ROWS));
        let (mut dh0, mut dc0) = (vec![E::zero(); block], vec![E::zero(); block]);
        with_contiguous(g, |g| {
            w.with_data(|w, _| {
                // d h_{t-1} = d gates_t w_hh at every step.
                let rhs = PackedRhs::new(g4, hs, w, [hs, 1]);
                let tasks = zip_parts([rows_by_part(&mut dgates, &parts, g4)]);
                let states = zip_parts([split_rows(&mut dh0, &parts, hs), split_rows(&mut dc0, &parts, hs)]);
                let tasks: Vec<_> = tasks.into_iter().zip(states).zip(&parts).collect();
                for_each_task(tasks, |(([mut dgates], [dh_rec, dc]), rows)| {
                    let at = |buf, t, width| step_rows(buf, t, b, rows.clone(), width);
                    let mut dc_new = at(g, steps, hs).to_vec();
                    dh_rec.fill(E::zero());
                    for t in order.forward().rev() {
                        let c_prev = match order.previous(t) {
                            Some(p) => at(&cells, p, hs),
                            None => &c0[rows.start * hs..rows.end * hs],
                        };
                        let (act, tanh_c, dgates) = (at(&act, t, g4), at(&tanh_c, t, hs), &mut *dgates[t]);
                        cell_rows_backward(hs, act, tanh_c, c_prev, at(g, t, hs), Some(dh_rec), &dc_new, dgates, dc);
                        rhs.product(rows.len(), dgates, [g4, 1], E::zero(), dh_rec, hs);
                        dc_new.copy_from_slice(dc);
                    }
                });
            })
        });
        let dgates = Tensor::from_vec(dgates, &[steps, b, g4]);
        // d w_hh = Σ_t d gates_tᵀ h_{t-1}: the gradients of the steps that
        // have a predecessor, against those predecessors' outputs, in one
        // product, plus the initial state's step.
        let first = order.forward().next().expect("at least one step");
        let flat = |t: &Tensor<E>, from: usize, len: usize| t.narrow(0, from, len).reshape(&[len * b, t.shape()[2]]);
        let (h_from, g_from) = if order.reverse { (1, 0) } else { (0, 1) };
        let mut dw = flat(&dgates, first, 1).t().matmul(h0);
        if steps > 1 {
            dw = flat(&dgates, g_from, steps - 1).t().matmul(&flat(outputs, h_from, steps - 1)) + dw;
        }
        let shape = [b, hs];
        (dgates, dw, Tensor::from_vec(dh0, &shape), Tensor::from_vec(dc0, &shape))
    }
}

/// The gradients of [`Tensor::lstm_sequence`] from differentiable ops: the
/// forward recomputed step by step, then the steps' backward in reverse.
fn lstm_sequence_grads_composed<E: Element>(
    gi: &Tensor<E>,
    w: &Tensor<E>,
    h0: &Tensor<E>,
    c0: &Tensor<E>,
    g: &Tensor<E>,
    order: StepOrder,
) -> (Tensor<E>, Tensor<E>, Tensor<E>, Tensor<E>) {
    let hs = w.shape()[1];
    let step = |t: &Tensor<E>, i: usize| t.narrow(0, i, 1).squeeze(0);
    // Each step's pre-activations and the state it started from.
    let mut saved: Vec<Option<(Tensor<E>, Tensor<E>, Tensor<E>)>> = vec![None; order.steps];
    let (mut h, mut c) = (h0.clone(), c0.clone());
    for t in order.forward() {
        let pre = step(gi, t) + h.matmul(&w.t());
        let (h_new, c_new) = pre.lstm_cell(&c);
        saved[t] = Some((pre, h, c));
        (h, c) = (h_new, c_new);
    }
    let mut dgi: Vec<Option<Tensor<E>>> = vec![None; order.steps];
    let (mut dh_rec, mut dc) = (h0.zeros_like(), step(g, order.steps));
    let mut dw = w.zeros_like();
    for t in order.forward().rev() {
        let (pre, h_prev, c_prev) = saved[t].take().expect("every step ran");
        let dh = step(g, t) + &dh_rec;
        let (dpre, dc_prev) = lstm_cell_grads_composed(&pre, &c_prev, &Tensor::cat(&[&dh, &dc], 1), hs);
        dw = dw + dpre.t().matmul(&h_prev);
        dh_rec = dpre.matmul(w);
        dc = dc_prev;
        dgi[t] = Some(dpre);
    }
    let dgi: Vec<&Tensor<E>> = dgi.iter().map(|d| d.as_ref().expect("every step ran")).collect();
    (Tensor::stack(&dgi, 0), dw, dh_rec, dc)
}

vectorized! {
    /// The LSTM cell on rows of `hs` units: `gates` holds the rows'
    /// pre-activations `[rows, 4 hs]` on entry (to which `input`, of the same
    /// shape, is added first where given: a sequence's input gates) and their
    /// activated gates (σ(i), σ(f), tanh(g), σ(o)) on exit; writes `c' = σ(f)
    /// c + σ(i) tanh(g)`, `tanh(c')` and `h' = σ(o) tanh(c')`, each `[rows,
    /// hs]`.
    ///
    /// The gates are activated a row at a time in loops of their own, then
    /// combined: one loop doing it all is too long for the CPU to overlap
    /// one element's chain of exponentials with the next (measured on a Zen 3
    /// core, `lstm_cell` of 32 x 256 units: 8.7 -> 7.5 ns a unit). The values
    /// are the same either way.
    fn cell_rows<E: Element>(
        hs: usize,
        gates: &mut [E],
        input: Option<&[E]>,
        c: &[E],
        c_new: &mut [E],
        tanh_c: &mut [E],
        h: &mut [E],
    ) {
        for (r, gates) in gates.chunks_exact_mut(4 * hs).enumerate() {
            let row = r * hs..(r + 1) * hs;
            let (c, c_new, tanh_c, h) = (&c[row.clone()], &mut c_new[row.clone()], &mut tanh_c[row.clone()], &mut h[row]);
            if let Some(input) = input {
                let input = &input[r * 4 * hs..(r + 1) * 4 * hs];
                gates.iter_mut().zip(input).for_each(|(a, &x)| *a = x + *a);
            }
            let [i, f, g, o] = quarters_mut(gates, hs);
            for gate in [&mut *i, &mut *f, &mut *o] {
                gate.iter_mut().for_each(|v| *v = sigmoid(*v));
            }
            g.iter_mut().for_each(|v| *v = tanh(*v));
            for j in 0..hs {
                let c_j = f[j] * c[j] + i[j] * g[j];
                let t = tanh(c_j);
                (tanh_c[j], c_new[j], h[j]) = (t, c_j, o[j] * t);
            }
        }
    }
}

vectorized! {
    /// The backward of [`cell_rows`]: from the rows' activated gates,
    /// `tanh(c')`, the old cell state `c` and the gradients of `h'` (`dh`,
    /// plus `dh_rec` where given: a sequence's gradient that comes back
    /// through the recurrence) and `c'`, the gradients of the
    /// pre-activations and of `c`.
    fn cell_rows_backward<E: Element>(
        hs: usize,
        act: &[E],
        tanh_c: &[E],
        c: &[E],
        dh: &[E],
        dh_rec: Option<&[E]>,
        dc_new: &[E],
        dgates: &mut [E],
        dc: &mut [E],
    ) {
        let one = E::one();
        for (r, (act, dgates)) in act.chunks_exact(4 * hs).zip(dgates.chunks_exact_mut(4 * hs)).enumerate() {
            let row = r * hs..(r + 1) * hs;
            let (tanh_c, c, dh, dc_new) = (&tanh_c[row.clone()], &c[row.clone()], &dh[row.clone()], &dc_new[row.clone()]);
            let dh_rec = dh_rec.map(|d| &d[row.clone()]);
            let dc = &mut dc[row];
            let [i, f, gg, o] = quarters(act, hs);
            let [di, df, dg, d_o] = quarters_mut(dgates, hs);
            for j in 0..hs {
                let dh = match dh_rec {
                    Some(rec) => dh[j] + rec[j],
                    None => dh[j],
                };
                let t = tanh_c[j];
                let dct = dc_new[j] + dh * o[j] * (one - t * t);
                di[j] = dct * gg[j] * i[j] * (one - i[j]);
                df[j] = dct * c[j] * f[j] * (one - f[j]);
                dg[j] = dct * i[j] * (one - gg[j] * gg[j]);
                d_o[j] = dh * t * o[j] * (one - o[j]);
                dc[j] = dct * f[j];
            }
        }
    }
}

/// Batch rows below which a sequence is not split between threads.
const PART_ROWS: usize = 8;

/// The rows `parts` of every step of a `[steps, rows, width]` buffer, as
/// slices: `result[part][step]`.
fn rows_by_part<'a, E>(buf: &'a mut [E], parts: &[Range<usize>], width: usize) -> Vec<Vec<&'a mut [E]>> {
    let rows = parts.last().map_or(0, |p| p.end);
    let mut by_part: Vec<Vec<&mut [E]>> = parts.iter().map(|_| Vec::new()).collect();
    for step in buf.chunks_exact_mut(rows * width) {
        for (part, slice) in by_part.iter_mut().zip(split_rows(step, parts, width)) {
            part.push(slice);
        }
    }
    by_part
}

/// The rows `parts` of a `[rows, width]` buffer, as slices.
fn split_rows<'a, E>(mut buf: &'a mut [E], parts: &[Range<usize>], width: usize) -> Vec<&'a mut [E]> {
    parts
        .iter()
        .map(|p| {
            let (mine, rest) = std::mem::take(&mut buf).split_at_mut(p.len() * width);
            buf = rest;
            mine
        })
        .collect()
}

/// The rows `rows` of step `step` of a `[steps, batch, width]` buffer.
fn step_rows<E>(buf: &[E], step: usize, batch: usize, rows: Range<usize>, width: usize) -> &[E] {
    let start = (step * batch + rows.start) * width;
    &buf[start..start + rows.len() * width]
}

/// Regroups per-buffer lists of parts into per-part arrays of buffers.
fn zip_parts<T, const N: usize>(buffers: [Vec<T>; N]) -> Vec<[T; N]> {
    let mut iters = buffers.map(Vec::into_iter);
    let parts = iters.first().map_or(0, |i| i.len());
    (0..parts).map(|_| iters.each_mut().map(|i| i.next().expect("as many parts in every buffer"))).collect()
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
