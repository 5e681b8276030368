//! Convolutions: unfold/fold (im2col/col2im), conv1d/conv2d through
//! im2col + GEMM, and conv_transpose1d/2d as their adjoints. 1-d ops run as
//! 2-d ops of height 1.
//!
//! Four recorded primitives close under differentiation, so derivatives of
//! every order are again among them (`g` is the incoming gradient):
//! - `conv(x, w)`: d/dx = `conv_transpose(g, w)`, d/dw = `weight_grad(x, g)`
//! - `conv_transpose(x, w)`: d/dx = `conv(g, w)`, d/dw = `weight_grad(g, x)`
//! - `weight_grad(u, y)`: d/du = `conv_transpose(y, g)`, d/dy = `conv(u, g)`
//! - `unfold(x)` and `fold(c)`: each is the other's adjoint.
//!
//! The patch matrix of each sample lives in a per-thread scratch buffer that
//! is reused from call to call, so steady-state training allocates only the
//! outputs.

use super::nn::{for_each_block, with_contiguous};
use crate::gemm::gemm;
use crate::profile::{scope, Family};
use crate::simd::vectorized;
use crate::tensor::at;
use crate::threads::map_tasks;
use crate::{Element, Tensor};
use smallvec::{smallvec, SmallVec};
use std::any::Any;
use std::cell::RefCell;
use std::panic::Location;

/// Multiply-adds above which a convolution splits its samples across threads.
const PAR_WORK: usize = 1 << 18;
/// Scratch buffers up to this many elements are kept for the next call.
const SCRATCH_KEEP: usize = 1 << 24;
/// A weight gradient sums its samples in this many fixed partial sums, so
/// the result does not depend on the thread count.
const WEIGHT_GRAD_BLOCKS: usize = 8;

thread_local! {
    static SCRATCH: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a scratch slice of `len` elements (contents unspecified),
/// reusing this thread's buffer of the same element type.
fn with_scratch<E: Element, R>(len: usize, f: impl FnOnce(&mut [E]) -> R) -> R {
    let mut buf: Vec<E> = SCRATCH
        .with(|s| {
            let mut s = s.borrow_mut();
            let i = s.iter().position(|b| b.is::<Vec<E>>())?;
            s.swap_remove(i).downcast::<Vec<E>>().ok().map(|b| *b)
        })
        .unwrap_or_default();
    if buf.len() < len {
        buf.resize(len, E::zero());
    }
    let r = f(&mut buf[..len]);
    if buf.len() <= SCRATCH_KEEP {
        SCRATCH.with(|s| s.borrow_mut().push(Box::new(buf)));
    }
    r
}

/// The geometry of a 2-d sliding window: a convolution maps `big` spatial
/// positions (its input, a transposed convolution's output) to `small` ones.
/// Output `o` of axis `a` reads inputs `o * stride + t * dilation - pad` for
/// the kernel taps `t`; positions outside `0..big` read zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geom {
    big: [usize; 2],
    small: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    /// Leading padding (any trailing padding only shows in `small`).
    pad: [usize; 2],
    dilation: [usize; 2],
}

impl Geom {
    /// Kernel taps per channel.
    #[inline]
    fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// Output positions per channel (the columns of the patch matrix).
    #[inline]
    fn cols(&self) -> usize {
        self.small[0] * self.small[1]
    }

    /// Input positions per channel.
    #[inline]
    fn plane(&self) -> usize {
        self.big[0] * self.big[1]
    }

    /// The outputs `lo..hi` of axis `a` whose tap `t` reads inside the input.
    #[inline]
    fn valid(&self, a: usize, t: usize) -> (usize, usize) {
        let off = (t * self.dilation[a]) as isize - self.pad[a] as isize;
        let s = self.stride[a];
        let lo = if off >= 0 { 0 } else { (-off) as usize }.div_ceil(s);
        let room = self.big[a] as isize - off;
        let hi = if room > 0 { (room as usize).div_ceil(s).min(self.small[a]) } else { 0 };
        (lo.min(hi), hi)
    }

    /// The input position of output `o`, tap `t` on axis `a` (inside `valid`).
    #[inline]
    fn pos(&self, a: usize, o: usize, t: usize) -> usize {
        o * self.stride[a] + t * self.dilation[a] - self.pad[a]
    }
}

vectorized! {
    /// Writes the patch matrix `[nc * taps, cols]` of `nc` channels of one sample
    /// into `dst`; channel `c` at `(y, x)` is `src[base + c*sc + y*sy + x*sx]`
    /// for `strides = [sc, sy, sx]`.
    fn im2col<E: Element>(src: &[E], base: usize, strides: [usize; 3], nc: usize, g: &Geom, dst: &mut [E]) {
        let [sc, sy, sx] = strides;
        let (l, ow) = (g.cols(), g.small[1]);
        if l == 0 {
            return;
        }
        // With unit strides and dilations, and input rows as long as the output's
        // (a "same" padding), a tap's patch row is its channel's plane shifted by
        // the tap's offset: one run to copy, where a row at a time is many short
        // copies and fills (on a Zen 4 core those calls were 11% of the cnn
        // workload).
        let same = g.stride == [1, 1] && g.dilation == [1, 1] && sx == 1 && sy == ow;
        let mut rows = dst.chunks_exact_mut(l);
        for c in 0..nc {
            for i in 0..g.kernel[0] {
                let (ylo, yhi) = g.valid(0, i);
                for j in 0..g.kernel[1] {
                    let (xlo, xhi) = g.valid(1, j);
                    let row = rows.next().expect("dst holds nc * taps rows");
                    if same && ylo < yhi && xlo < xhi {
                        let (first, last) = (ylo * ow + xlo, (yhi - 1) * ow + xhi);
                        let start = base + c * sc + g.pos(0, ylo, i) * sy + g.pos(1, xlo, j);
                        row[..first].fill(E::zero());
                        row[last..].fill(E::zero());
                        row[first..last].copy_from_slice(&src[start..start + last - first]);
                        // The run's values past either end of a row are the
                        // neighbouring row's: those positions read padding.
                        for x in (0..xlo).chain(xhi..ow) {
                            for oy in ylo..yhi {
                                row[oy * ow + x] = E::zero();
                            }
                        }
                        continue;
                    }
                    for (oy, r) in row.chunks_exact_mut(ow).enumerate() {
                        if oy < ylo || oy >= yhi || xlo == xhi {
                            r.fill(E::zero());
                            continue;
                        }
                        r[..xlo].fill(E::zero());
                        r[xhi..].fill(E::zero());
                        let start = base + c * sc + g.pos(0, oy, i) * sy + g.pos(1, xlo, j) * sx;
                        let step = g.stride[1] * sx;
                        let r = &mut r[xlo..xhi];
                        if step == 1 {
                            r.copy_from_slice(&src[start..start + r.len()]);
                        } else {
                            for (k, v) in r.iter_mut().enumerate() {
                                *v = src[start + k * step];
                            }
                        }
                    }
                }
            }
        }
    }
}

vectorized! {
    /// Adds the patch matrix `src` (`[nc * taps, cols]`) back into the contiguous
    /// planes `dst` (`[nc, big0, big1]`): the adjoint of [`im2col`].
    fn col2im<E: Element>(src: &[E], nc: usize, g: &Geom, dst: &mut [E]) {
        let (l, ow, w, plane) = (g.cols(), g.small[1], g.big[1], g.plane());
        if l == 0 {
            return;
        }
        let mut rows = src.chunks_exact(l);
        for c in 0..nc {
            let dst = &mut dst[c * plane..(c + 1) * plane];
            for i in 0..g.kernel[0] {
                let (ylo, yhi) = g.valid(0, i);
                for j in 0..g.kernel[1] {
                    let (xlo, xhi) = g.valid(1, j);
                    let row = rows.next().expect("src holds nc * taps rows");
                    if xlo == xhi {
                        continue;
                    }
                    for oy in ylo..yhi {
                        let start = g.pos(0, oy, i) * w + g.pos(1, xlo, j);
                        let (src, dst) = (&row[oy * ow + xlo..oy * ow + xhi], &mut dst[start..]);
                        // Contiguous outputs as a loop over slices, which vectorises.
                        match g.stride[1] {
                            1 => dst.iter_mut().zip(src).for_each(|(d, &v)| *d = *d + v),
                            s => dst.iter_mut().step_by(s).zip(src).for_each(|(d, &v)| *d = *d + v),
                        }
                    }
                }
            }
        }
    }
}

/// The strides `[n, c, y, x]` and offset of a 4-d tensor.
fn strides4<E: Element>(t: &Tensor<E>) -> ([usize; 4], usize) {
    let s = t.strides();
    ([s[0], s[1], s[2], s[3]], t.layout().offset())
}

/// `conv(x, w) + b` for `x: [N, C, big]`, `w: [O, C / groups, kernel]` (unrecorded).
fn conv_raw<E: Element>(x: &Tensor<E>, w: &Tensor<E>, b: Option<&Tensor<E>>, g: &Geom, groups: usize) -> Tensor<E> {
    let _profile = scope(Family::Conv);
    let (n, o, cg) = (x.shape()[0], w.shape()[0], w.shape()[1]);
    let (og, l) = (o / groups, g.cols());
    let k = cg * g.taps();
    let (wv, bv) = (w.to_vec(), b.map(|b| b.to_vec()));
    // Every element is written: by the GEMM, or by the bias fill it adds to.
    let mut out = crate::buffers::reused(n * o * l);
    let ([sn, sc, sy, sx], offset) = strides4(x);
    // A 1x1 kernel reading every position in order needs no patch matrix
    // when the (y, x) positions of a channel sit at one stride.
    let direct = g.taps() == 1 && g.stride == [1, 1] && g.pad == [0, 0] && g.big == g.small;
    let merged = match g.small {
        _ if !direct => None,
        [_, 1] => Some(sy),
        [1, _] => Some(sx),
        [_, ow] if sy == ow * sx => Some(sx),
        _ => None,
    };
    x.with_data(|xd, _| {
        for_each_block(&mut out, o * l, n * o * l * k >= PAR_WORK, |ni, out_n| {
            for gi in 0..groups {
                let dst = &mut out_n[gi * og * l..(gi + 1) * og * l];
                let beta = match &bv {
                    Some(bv) => {
                        dst.chunks_mut(l).enumerate().for_each(|(r, row)| row.fill(bv[gi * og + r]));
                        E::one()
                    }
                    None => E::zero(),
                };
                let base = offset + ni * sn + gi * cg * sc;
                let wg = &wv[gi * og * k..];
                match merged {
                    Some(sl) => gemm([og, cg, l], wg, [k, 1], &xd[base..], [sc, sl], beta, dst, l),
                    None => with_scratch(k * l, |cols| {
                        im2col(xd, base, [sc, sy, sx], cg, g, cols);
                        gemm([og, k, l], wg, [k, 1], cols, [l, 1], beta, dst, l);
                    }),
                }
            }
        });
    });
    Tensor::from_vec(out, &[n, o, g.small[0], g.small[1]])
}

/// `conv_transpose(x, w) + b` for `x: [N, O, small]`, `w: [O, C / groups, kernel]`:
/// `[N, C, big]` (unrecorded).
fn conv_transpose_raw<E: Element>(
    x: &Tensor<E>,
    w: &Tensor<E>,
    b: Option<&Tensor<E>>,
    g: &Geom,
    groups: usize,
) -> Tensor<E> {
    let _profile = scope(Family::Conv);
    let (n, o, cg) = (x.shape()[0], x.shape()[1], w.shape()[1]);
    let (og, c, l, plane) = (o / groups, cg * groups, g.cols(), g.plane());
    let k = cg * g.taps();
    let (wv, bv) = (w.to_vec(), b.map(|b| b.to_vec()));
    let mut out = crate::buffers::zeroed(n * c * plane);
    with_contiguous(x, |xd| {
        for_each_block(&mut out, c * plane, n * og * k * l >= PAR_WORK, |ni, out_n| {
            if let Some(bv) = &bv {
                out_n.chunks_mut(plane).zip(bv).for_each(|(p, &v)| p.fill(v));
            }
            for gi in 0..groups {
                with_scratch(k * l, |cols| {
                    let xg = &xd[(ni * o + gi * og) * l..];
                    gemm([k, og, l], &wv[gi * og * k..], [1, k], xg, [l, 1], E::zero(), cols, l);
                    col2im(cols, cg, g, &mut out_n[gi * cg * plane..(gi + 1) * cg * plane]);
                });
            }
        });
    });
    Tensor::from_vec(out, &[n, c, g.big[0], g.big[1]])
}

/// The gradient of `<conv(u, w), y>` with respect to `w`, for `u: [N, C, big]`
/// and `y: [N, O, small]`: `[O, C / groups, kernel]` (unrecorded).
fn weight_grad_raw<E: Element>(u: &Tensor<E>, y: &Tensor<E>, g: &Geom, groups: usize) -> Tensor<E> {
    let _profile = scope(Family::Conv);
    let (n, c, o) = (u.shape()[0], u.shape()[1], y.shape()[1]);
    let (cg, og, l) = (c / groups, o / groups, g.cols());
    let k = cg * g.taps();
    let blocks = n.min(WEIGHT_GRAD_BLOCKS);
    let ([sn, sc, sy, sx], offset) = strides4(u);
    let partials = with_contiguous(y, |yd| {
        u.with_data(|ud, _| {
            map_tasks(blocks, n * o * k * l >= PAR_WORK, |bi| {
                let mut gw = vec![E::zero(); o * k];
                for ni in bi * n / blocks..(bi + 1) * n / blocks {
                    for gi in 0..groups {
                        with_scratch(k * l, |cols| {
                            im2col(ud, offset + ni * sn + gi * cg * sc, [sc, sy, sx], cg, g, cols);
                            let yg = &yd[(ni * o + gi * og) * l..];
                            gemm([og, l, k], yg, [l, 1], cols, [1, l], E::one(), &mut gw[gi * og * k..], k);
                        });
                    }
                }
                gw
            })
        })
    });
    let mut gw = crate::buffers::zeroed(o * k);
    for p in partials {
        gw.iter_mut().zip(p).for_each(|(a, b)| *a = *a + b);
    }
    Tensor::from_vec(gw, &[o, cg, g.kernel[0], g.kernel[1]])
}

/// The patch matrices `[N, C * taps, cols]` of `x: [N, C, big]` (unrecorded).
fn unfold_raw<E: Element>(x: &Tensor<E>, g: &Geom) -> Tensor<E> {
    let _profile = scope(Family::Conv);
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let rows = c * g.taps();
    let mut out = crate::buffers::reused(n * rows * g.cols());
    let ([sn, sc, sy, sx], offset) = strides4(x);
    x.with_data(|xd, _| {
        for_each_block(&mut out, rows * g.cols(), n * rows * g.cols() >= PAR_WORK, |ni, out_n| {
            im2col(xd, offset + ni * sn, [sc, sy, sx], c, g, out_n)
        });
    });
    Tensor::from_vec(out, &[n, rows, g.cols()])
}

/// Sums patch matrices `[N, C * taps, cols]` back into `[N, C, big]` (unrecorded).
fn fold_raw<E: Element>(cols: &Tensor<E>, g: &Geom) -> Tensor<E> {
    let _profile = scope(Family::Conv);
    let (n, rows) = (cols.shape()[0], cols.shape()[1]);
    let c = rows / g.taps();
    let mut out = crate::buffers::zeroed(n * c * g.plane());
    with_contiguous(cols, |cd| {
        for_each_block(&mut out, c * g.plane(), n * rows * g.cols() >= PAR_WORK, |ni, out_n| {
            col2im(&cd[ni * rows * g.cols()..(ni + 1) * rows * g.cols()], c, g, out_n)
        });
    });
    Tensor::from_vec(out, &[n, c, g.big[0], g.big[1]])
}

/// A convolution's bias gradient from its output's `[N, C, H, W]` gradient:
/// each plane summed where it lies, then the samples. Summed over `[0, 2, 3]`
/// at once, the reduction first copied the gradient into channel-major order
/// (on a Zen 4 core, 3% of the cnn workload on one thread, 8% on two).
fn bias_grad<E: Element>(g: &Tensor<E>) -> Tensor<E> {
    g.sum_dims(&[2, 3], false).sum_dims(&[0], false)
}

impl<E: Element> Tensor<E> {
    /// Recorded `conv(self, w) + b` on checked 4-d operands.
    #[track_caller]
    fn conv_prim(&self, w: &Tensor<E>, b: Option<&Tensor<E>>, g: Geom, groups: usize) -> Tensor<E> {
        let (x, wt) = (self.clone(), w.clone());
        let mut inputs: SmallVec<[&Tensor<E>; 3]> = smallvec![self, w];
        inputs.extend(b);
        conv_raw(self, w, b, &g, groups).record("conv2d", &inputs, move |c, gr| {
            smallvec![
                c.needs(0).then(|| gr.conv_transpose_prim(&wt, None, g, groups)),
                c.needs(1).then(|| x.conv_weight_grad(gr, g, groups)),
                c.needs(2).then(|| bias_grad(gr)),
            ]
        })
    }

    /// Recorded `conv_transpose(self, w) + b` on checked 4-d operands.
    #[track_caller]
    fn conv_transpose_prim(&self, w: &Tensor<E>, b: Option<&Tensor<E>>, g: Geom, groups: usize) -> Tensor<E> {
        let (x, wt) = (self.clone(), w.clone());
        let mut inputs: SmallVec<[&Tensor<E>; 3]> = smallvec![self, w];
        inputs.extend(b);
        conv_transpose_raw(self, w, b, &g, groups).record("conv_transpose2d", &inputs, move |c, gr| {
            smallvec![
                c.needs(0).then(|| gr.conv_prim(&wt, None, g, groups)),
                c.needs(1).then(|| gr.conv_weight_grad(&x, g, groups)),
                c.needs(2).then(|| bias_grad(gr)),
            ]
        })
    }

    /// Recorded weight gradient of a convolution with input `self` and upstream `y`.
    #[track_caller]
    fn conv_weight_grad(&self, y: &Tensor<E>, g: Geom, groups: usize) -> Tensor<E> {
        let (u, yy) = (self.clone(), y.clone());
        weight_grad_raw(self, y, &g, groups).record("conv2d_weight_grad", &[self, y], move |c, gw| {
            smallvec![
                c.needs(0).then(|| yy.conv_transpose_prim(gw, None, g, groups)),
                c.needs(1).then(|| u.conv_prim(gw, None, g, groups)),
            ]
        })
    }

    /// Recorded im2col of a checked 4-d tensor.
    #[track_caller]
    fn unfold_prim(&self, g: Geom) -> Tensor<E> {
        unfold_raw(self, &g).record("unfold", &[self], move |_, gr| smallvec![Some(gr.fold_prim(g))])
    }

    /// Recorded col2im of checked patch matrices.
    #[track_caller]
    fn fold_prim(&self, g: Geom) -> Tensor<E> {
        fold_raw(self, &g).record("fold", &[self], move |_, gr| smallvec![Some(gr.unfold_prim(g))])
    }
}

/// Options of [`Tensor::conv1d`], with PyTorch's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1dOptions {
    /// Step between windows (default 1).
    pub stride: usize,
    /// Zeros added at both ends (default 0).
    pub padding: usize,
    /// Spacing between kernel taps (default 1).
    pub dilation: usize,
    /// Independent channel groups (default 1).
    pub groups: usize,
}

impl Default for Conv1dOptions {
    fn default() -> Self {
        Conv1dOptions { stride: 1, padding: 0, dilation: 1, groups: 1 }
    }
}

/// Options of [`Tensor::conv2d`], with PyTorch's names and defaults; pairs are `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Step between windows (default `[1, 1]`).
    pub stride: [usize; 2],
    /// Zeros added on both sides of each dim (default `[0, 0]`).
    pub padding: [usize; 2],
    /// Spacing between kernel taps (default `[1, 1]`).
    pub dilation: [usize; 2],
    /// Independent channel groups (default 1).
    pub groups: usize,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 }
    }
}

/// Options of [`Tensor::conv_transpose1d`], with PyTorch's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose1dOptions {
    /// Stride of the convolution this transposes (default 1).
    pub stride: usize,
    /// Padding of the convolution this transposes: removed from both ends of the output (default 0).
    pub padding: usize,
    /// Extra size added to one end of the output, below `stride` or `dilation` (default 0).
    pub output_padding: usize,
    /// Independent channel groups (default 1).
    pub groups: usize,
    /// Spacing between kernel taps (default 1).
    pub dilation: usize,
}

impl Default for ConvTranspose1dOptions {
    fn default() -> Self {
        ConvTranspose1dOptions { stride: 1, padding: 0, output_padding: 0, groups: 1, dilation: 1 }
    }
}

/// Options of [`Tensor::conv_transpose2d`], with PyTorch's names and defaults; pairs are `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2dOptions {
    /// Stride of the convolution this transposes (default `[1, 1]`).
    pub stride: [usize; 2],
    /// Padding of the convolution this transposes: removed from both sides of the output (default `[0, 0]`).
    pub padding: [usize; 2],
    /// Extra size added to the bottom/right of the output, below `stride` or `dilation` (default `[0, 0]`).
    pub output_padding: [usize; 2],
    /// Independent channel groups (default 1).
    pub groups: usize,
    /// Spacing between kernel taps (default `[1, 1]`).
    pub dilation: [usize; 2],
}

impl Default for ConvTranspose2dOptions {
    fn default() -> Self {
        ConvTranspose2dOptions { stride: [1, 1], padding: [0, 0], output_padding: [0, 0], groups: 1, dilation: [1, 1] }
    }
}

/// Options of [`Tensor::unfold1d`] and [`Tensor::fold1d`] (the 1-d `nn.Unfold`/`nn.Fold`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fold1dOptions {
    /// Window length.
    pub kernel_size: usize,
    /// Spacing between window taps (default 1).
    pub dilation: usize,
    /// Zeros added at both ends (default 0).
    pub padding: usize,
    /// Step between windows (default 1).
    pub stride: usize,
}

impl Fold1dOptions {
    /// Windows of `kernel_size` with the other options at their defaults.
    pub fn new(kernel_size: usize) -> Self {
        Fold1dOptions { kernel_size, dilation: 1, padding: 0, stride: 1 }
    }
}

/// Options of [`Tensor::unfold2d`] and [`Tensor::fold2d`] (`F.unfold`/`F.fold`); pairs are `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fold2dOptions {
    /// Window size.
    pub kernel_size: [usize; 2],
    /// Spacing between window taps (default `[1, 1]`).
    pub dilation: [usize; 2],
    /// Zeros added on both sides of each dim (default `[0, 0]`).
    pub padding: [usize; 2],
    /// Step between windows (default `[1, 1]`).
    pub stride: [usize; 2],
}

impl Fold2dOptions {
    /// Windows of `kernel_size` with the other options at their defaults.
    pub fn new(kernel_size: [usize; 2]) -> Self {
        Fold2dOptions { kernel_size, dilation: [1, 1], padding: [0, 0], stride: [1, 1] }
    }
}

/// A sliding-window op's hyper-parameters lifted to two spatial dims.
#[derive(Clone, Copy, Debug)]
struct Spec {
    stride: [usize; 2],
    pad_lo: [usize; 2],
    pad_hi: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
    output_padding: [usize; 2],
}

impl Spec {
    fn two(stride: [usize; 2], pad_lo: [usize; 2], pad_hi: [usize; 2], dilation: [usize; 2], groups: usize) -> Spec {
        Spec { stride, pad_lo, pad_hi, dilation, groups, output_padding: [0, 0] }
    }

    /// A 1-d op as a 2-d op of height 1.
    fn one(stride: usize, pad_lo: usize, pad_hi: usize, dilation: usize, groups: usize) -> Spec {
        Spec::two([1, stride], [0, pad_lo], [0, pad_hi], [1, dilation], groups)
    }

    fn positive(&self) -> bool {
        self.groups > 0 && self.stride.iter().chain(&self.dilation).all(|&v| v > 0)
    }

    /// The geometry of a convolution of `kernel` over `big`, if the padded
    /// input holds at least one window.
    fn conv_geom(&self, big: [usize; 2], kernel: [usize; 2]) -> Option<Geom> {
        let mut small = [0; 2];
        for a in 0..2 {
            let span = self.dilation[a] * (kernel[a].max(1) - 1) + 1;
            let padded = big[a] + self.pad_lo[a] + self.pad_hi[a];
            if kernel[a] == 0 || padded < span {
                return None;
            }
            small[a] = (padded - span) / self.stride[a] + 1;
        }
        Some(Geom { big, small, kernel, stride: self.stride, pad: self.pad_lo, dilation: self.dilation })
    }

    /// The geometry of a transposed convolution of `kernel` over `small`, if its output is not empty.
    fn transpose_geom(&self, small: [usize; 2], kernel: [usize; 2]) -> Option<Geom> {
        let mut big = [0; 2];
        for a in 0..2 {
            let full = (small[a] as isize - 1) * self.stride[a] as isize
                + (self.dilation[a] * kernel[a].max(1).saturating_sub(1)) as isize
                + self.output_padding[a] as isize
                + 1
                - (self.pad_lo[a] + self.pad_hi[a]) as isize;
            if kernel[a] == 0 || small[a] == 0 || full < 1 {
                return None;
            }
            big[a] = full as usize;
        }
        Some(Geom { big, small, kernel, stride: self.stride, pad: self.pad_lo, dilation: self.dilation })
    }
}

/// Panics with a convolution error naming the op, both shapes and the caller.
#[track_caller]
fn conv_error(op: &str, what: &str, x: &[usize], w: &[usize]) -> ! {
    panic!("{op}: {what} (shapes {x:?} and {w:?}) at {}", at(Location::caller()))
}

/// The 4-d view `[N, C, H, W]` of a batched or unbatched input with `spatial` dims.
fn lift<E: Element>(x: &Tensor<E>, spatial: usize) -> Tensor<E> {
    let x = if x.ndim() == spatial + 1 { x.unsqueeze(0) } else { x.clone() };
    if spatial == 1 {
        x.unsqueeze(2)
    } else {
        x
    }
}

/// Undoes [`lift`] on a 4-d result.
fn lower<E: Element>(out: Tensor<E>, spatial: usize, batched: bool) -> Tensor<E> {
    let out = if spatial == 1 { out.squeeze(2) } else { out };
    if batched {
        out
    } else {
        out.squeeze(0)
    }
}

/// The spatial sizes of a lifted 4-d tensor.
fn hw<E: Element>(t: &Tensor<E>) -> [usize; 2] {
    [t.shape()[2], t.shape()[3]]
}

impl<E: Element> Tensor<E> {
    #[track_caller]
    fn conv_checked(
        &self,
        op: &str,
        w: &Tensor<E>,
        b: Option<&Tensor<E>>,
        sp: Spec,
        spatial: usize,
        transposed: bool,
    ) -> Tensor<E> {
        let (xs, ws) = (self.shape(), w.shape());
        // A macro, not a closure: the panic must report the caller's line.
        macro_rules! err {
            ($($t:tt)*) => { conv_error(op, &format!($($t)*), xs, ws) };
        }
        if (self.ndim() != spatial + 1 && self.ndim() != spatial + 2) || w.ndim() != spatial + 2 {
            err!("expected a {}-d or {}-d input and a {}-d weight", spatial + 1, spatial + 2, spatial + 2);
        }
        if !sp.positive() {
            err!("stride, dilation and groups must be positive");
        }
        let batched = self.ndim() == spatial + 2;
        let c = xs[usize::from(batched)];
        let groups = sp.groups;
        let out_channels = if transposed { ws[1] * groups } else { ws[0] };
        if ws[0] % groups != 0 {
            err!("weight dim 0 ({}) is not divisible by groups {groups}", ws[0]);
        }
        let want_c = if transposed { ws[0] } else { ws[1] * groups };
        if c != want_c {
            err!("expected an input with {want_c} channels for groups {groups}, got {c}");
        }
        if let Some(b) = b {
            if b.shape() != [out_channels] {
                err!("bias of shape {:?} should be [{out_channels}]", b.shape());
            }
        }
        if transposed {
            for a in 0..2 {
                if sp.output_padding[a] >= sp.stride[a] && sp.output_padding[a] >= sp.dilation[a] {
                    err!("output padding must be smaller than either stride or dilation");
                }
            }
        }
        let (x4, w4) = (lift(self, spatial), if spatial == 1 { w.unsqueeze(2) } else { w.clone() });
        let kernel = hw(&w4);
        let out = if transposed {
            let Some(g) = sp.transpose_geom(hw(&x4), kernel) else {
                err!("the output would be empty (input too small for the padding)")
            };
            x4.conv_transpose_prim(&w4, b, g, groups)
        } else {
            let Some(g) = sp.conv_geom(hw(&x4), kernel) else {
                err!("the padded input is smaller than the dilated kernel")
            };
            x4.conv_prim(&w4, b, g, groups)
        };
        lower(out, spatial, batched)
    }

    /// 1-d convolution (`F.conv1d`, a cross-correlation): input `[N, C, L]`
    /// (or `[C, L]`), weight `[O, C / groups, k]`, bias `[O]`; output
    /// `[N, O, (L + 2p - d(k-1) - 1) / s + 1]`.
    ///
    /// ```
    /// use lamina_core::{Conv1dOptions, Tensor};
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 4]);
    /// let w = Tensor::<f64>::from_vec(vec![1.0, -1.0], &[1, 1, 2]);
    /// let y = x.conv1d(&w, None, &Conv1dOptions { padding: 1, ..Default::default() });
    /// assert_eq!(y.to_vec(), vec![-1.0, -1.0, -1.0, -1.0, 4.0]);
    /// ```
    #[track_caller]
    pub fn conv1d(&self, weight: &Tensor<E>, bias: Option<&Tensor<E>>, opts: &Conv1dOptions) -> Tensor<E> {
        let sp = Spec::one(opts.stride, opts.padding, opts.padding, opts.dilation, opts.groups);
        self.conv_checked("conv1d", weight, bias, sp, 1, false)
    }

    /// 2-d convolution (`F.conv2d`, a cross-correlation): input `[N, C, H, W]`
    /// (or `[C, H, W]`), weight `[O, C / groups, kh, kw]`, bias `[O]`; output
    /// `[N, O, H', W']` with `H' = (H + 2p - d(kh-1) - 1) / s + 1`. Computed as
    /// im2col + GEMM per sample and group. d/dx is [`conv_transpose2d`](Self::conv_transpose2d)
    /// of the gradient, d/dw correlates the input with the gradient.
    ///
    /// ```
    /// use lamina_core::{Conv2dOptions, Tensor};
    /// let x = Tensor::<f64>::arange(0.0, 9.0, 1.0).reshape(&[1, 1, 3, 3]);
    /// let w = Tensor::<f64>::ones(&[1, 1, 2, 2]);
    /// let y = x.conv2d(&w, None, &Conv2dOptions::default());
    /// assert_eq!(y.to_vec(), vec![8.0, 12.0, 20.0, 24.0]);
    /// ```
    #[track_caller]
    pub fn conv2d(&self, weight: &Tensor<E>, bias: Option<&Tensor<E>>, opts: &Conv2dOptions) -> Tensor<E> {
        let sp = Spec::two(opts.stride, opts.padding, opts.padding, opts.dilation, opts.groups);
        self.conv_checked("conv2d", weight, bias, sp, 2, false)
    }

    /// [`conv1d`](Self::conv1d) with `padding="same"` (stride 1): the output
    /// has the input's length; an odd total padding puts the extra zero at the
    /// end, as PyTorch does.
    #[track_caller]
    pub fn conv1d_same(
        &self,
        weight: &Tensor<E>,
        bias: Option<&Tensor<E>>,
        dilation: usize,
        groups: usize,
    ) -> Tensor<E> {
        let total = dilation * weight.shape().last().map_or(0, |&k| k.saturating_sub(1));
        let sp = Spec::one(1, total / 2, total - total / 2, dilation, groups);
        self.conv_checked("conv1d", weight, bias, sp, 1, false)
    }

    /// [`conv2d`](Self::conv2d) with `padding="same"` (stride 1): the output
    /// has the input's height and width; an odd total padding puts the extra
    /// zero at the bottom/right, as PyTorch does.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// let x = Tensor::<f64>::ones(&[1, 1, 3, 3]);
    /// let w = Tensor::<f64>::ones(&[1, 1, 2, 2]);
    /// let y = x.conv2d_same(&w, None, [1, 1], 1);
    /// assert_eq!(y.to_vec(), vec![4.0, 4.0, 2.0, 4.0, 4.0, 2.0, 2.0, 2.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn conv2d_same(
        &self,
        weight: &Tensor<E>,
        bias: Option<&Tensor<E>>,
        dilation: [usize; 2],
        groups: usize,
    ) -> Tensor<E> {
        let k = |d: usize| weight.shape().get(d).map_or(0, |&k| k.saturating_sub(1));
        let total = [dilation[0] * k(2), dilation[1] * k(3)];
        let lo = [total[0] / 2, total[1] / 2];
        let sp = Spec::two([1, 1], lo, [total[0] - lo[0], total[1] - lo[1]], dilation, groups);
        self.conv_checked("conv2d", weight, bias, sp, 2, false)
    }

    /// 1-d transposed convolution (`F.conv_transpose1d`), the adjoint of
    /// [`conv1d`](Self::conv1d): input `[N, C_in, L]` (or `[C_in, L]`), weight
    /// `[C_in, C_out / groups, k]`, bias `[C_out]`; output length
    /// `(L - 1) s - 2p + d(k-1) + output_padding + 1`.
    #[track_caller]
    pub fn conv_transpose1d(
        &self,
        weight: &Tensor<E>,
        bias: Option<&Tensor<E>>,
        opts: &ConvTranspose1dOptions,
    ) -> Tensor<E> {
        let mut sp = Spec::one(opts.stride, opts.padding, opts.padding, opts.dilation, opts.groups);
        sp.output_padding = [0, opts.output_padding];
        self.conv_checked("conv_transpose1d", weight, bias, sp, 1, true)
    }

    /// 2-d transposed convolution (`F.conv_transpose2d`), the adjoint of
    /// [`conv2d`](Self::conv2d) in its input: input `[N, C_in, H, W]` (or
    /// `[C_in, H, W]`), weight `[C_in, C_out / groups, kh, kw]`, bias `[C_out]`;
    /// output height `(H - 1) s - 2p + d(kh-1) + output_padding + 1`.
    /// Computed as a GEMM per sample and group followed by col2im.
    ///
    /// ```
    /// use lamina_core::{ConvTranspose2dOptions, Tensor};
    /// // A single 1 stamps the kernel at stride 2.
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 0.0], &[1, 1, 1, 2]);
    /// let w = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
    /// let opts = ConvTranspose2dOptions { stride: [2, 2], ..Default::default() };
    /// let y = x.conv_transpose2d(&w, None, &opts);
    /// assert_eq!(y.shape(), &[1, 1, 2, 4]);
    /// assert_eq!(y.to_vec(), vec![1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor<E>,
        bias: Option<&Tensor<E>>,
        opts: &ConvTranspose2dOptions,
    ) -> Tensor<E> {
        let mut sp = Spec::two(opts.stride, opts.padding, opts.padding, opts.dilation, opts.groups);
        sp.output_padding = opts.output_padding;
        self.conv_checked("conv_transpose2d", weight, bias, sp, 2, true)
    }

    #[track_caller]
    fn unfold_checked(&self, op: &str, kernel: [usize; 2], sp: Spec, spatial: usize) -> Tensor<E> {
        let k: Vec<usize> = kernel[2 - spatial..].to_vec();
        if (self.ndim() != spatial + 1 && self.ndim() != spatial + 2) || !sp.positive() {
            conv_error(
                op,
                &format!("expected a {}-d or {}-d input and positive stride and dilation", spatial + 1, spatial + 2),
                self.shape(),
                &k,
            );
        }
        let batched = self.ndim() == spatial + 2;
        let x4 = lift(self, spatial);
        let Some(g) = sp.conv_geom(hw(&x4), kernel) else {
            conv_error(op, "the padded input is smaller than the dilated kernel", self.shape(), &k)
        };
        let out = x4.unfold_prim(g);
        if batched {
            out
        } else {
            out.squeeze(0)
        }
    }

    #[track_caller]
    fn fold_checked(&self, op: &str, big: [usize; 2], kernel: [usize; 2], sp: Spec) -> Tensor<E> {
        let k: Vec<usize> = kernel.to_vec();
        if (self.ndim() != 2 && self.ndim() != 3) || !sp.positive() {
            conv_error(op, "expected a 2-d or 3-d input and positive stride and dilation", self.shape(), &k);
        }
        let batched = self.ndim() == 3;
        let x3 = if batched { self.clone() } else { self.unsqueeze(0) };
        let (rows, l) = (x3.shape()[1], x3.shape()[2]);
        let g = sp.conv_geom(big, kernel);
        let Some(g) = g.filter(|g| g.taps() > 0 && rows % g.taps() == 0 && g.cols() == l) else {
            conv_error(
                op,
                &format!(
                    "the input needs C * {} rows and one column per sliding block of output size {big:?}",
                    kernel[0] * kernel[1]
                ),
                self.shape(),
                &k,
            )
        };
        let out = x3.fold_prim(g);
        if batched {
            out
        } else {
            out.squeeze(0)
        }
    }

    /// Sliding patches (`F.unfold`, im2col): input `[N, C, H, W]` (or
    /// `[C, H, W]`) to `[N, C * kh * kw, L]`, where row `(c, i, j)` holds tap
    /// `(i, j)` of channel `c` for each of the `L` windows in row-major order.
    /// The adjoint is [`fold2d`](Self::fold2d).
    ///
    /// ```
    /// use lamina_core::{Fold2dOptions, Tensor};
    /// let x = Tensor::<f64>::arange(0.0, 6.0, 1.0).reshape(&[1, 1, 2, 3]);
    /// let cols = x.unfold2d(&Fold2dOptions::new([2, 2]));
    /// assert_eq!(cols.shape(), &[1, 4, 2]);
    /// assert_eq!(cols.to_vec(), vec![0.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0, 5.0]);
    /// ```
    #[track_caller]
    pub fn unfold2d(&self, opts: &Fold2dOptions) -> Tensor<E> {
        let sp = Spec::two(opts.stride, opts.padding, opts.padding, opts.dilation, 1);
        self.unfold_checked("unfold", opts.kernel_size, sp, 2)
    }

    /// Sums sliding patches back into an image (`F.fold`, col2im): input
    /// `[N, C * kh * kw, L]` (or unbatched) to `[N, C, output_size]`,
    /// overlapping taps adding up. The adjoint of [`unfold2d`](Self::unfold2d).
    #[track_caller]
    pub fn fold2d(&self, output_size: [usize; 2], opts: &Fold2dOptions) -> Tensor<E> {
        let sp = Spec::two(opts.stride, opts.padding, opts.padding, opts.dilation, 1);
        self.fold_checked("fold", output_size, opts.kernel_size, sp)
    }

    /// 1-d sliding patches: input `[N, C, L]` (or `[C, L]`) to
    /// `[N, C * k, L']`, the layout of [`unfold2d`](Self::unfold2d) with height 1.
    #[track_caller]
    pub fn unfold1d(&self, opts: &Fold1dOptions) -> Tensor<E> {
        let sp = Spec::one(opts.stride, opts.padding, opts.padding, opts.dilation, 1);
        self.unfold_checked("unfold1d", [1, opts.kernel_size], sp, 1)
    }

    /// Sums 1-d sliding patches `[N, C * k, L']` (or unbatched) back into
    /// `[N, C, output_size]`: the adjoint of [`unfold1d`](Self::unfold1d).
    #[track_caller]
    pub fn fold1d(&self, output_size: usize, opts: &Fold1dOptions) -> Tensor<E> {
        let sp = Spec::one(opts.stride, opts.padding, opts.padding, opts.dilation, 1);
        let out = self.fold_checked("fold1d", [1, output_size], [1, opts.kernel_size], sp);
        out.squeeze(-2)
    }
}
