//! Our single-precision GEMM: a register tile of accumulators fed from
//! packed panels, in the BLIS loop order, written once over the vector
//! instructions of an [`Isa`] and run with AVX-512 where the CPU has it,
//! else with AVX2 and FMA. The functions that depend on the tile take its
//! shape as const parameters: `MR` rows (broadcasts of packed `a`), `NV`
//! vectors of `b` and `NR = NV` vectors' lanes of columns. Every output
//! element is summed in the same order, the blocks of `k` that
//! [`depth_of_blocks`] gives in turn, whatever
//! the tile or the rows and columns a call covers, so splitting a product
//! between threads never changes a bit of it.

use super::avx2::Ymm;
use super::avx512::Zmm;
use super::Start;
use std::cell::RefCell;

/// Greatest depth of a packed block: a 12-row tile of `a` 512 deep (24 KiB)
/// stays in a 32 KiB L1 while the panels of `b` stream past it. Measured on
/// a Zen 4 core against 256, with the sum split into even blocks (alternating
/// runs, best of 6, 1 thread): the matmul workload 61.6 -> 60.1 ms, mlp 4.46
/// -> 4.28, 128x784x512 94 -> 104 GFLOP/s, 32x1024x256 84 -> 93, the rest
/// within noise.
const KC: usize = 512;
/// Steps of the sum the kernel prefetches its panels ahead.
const PREFETCH: usize = 4;
/// Rows of `a` packed at a time (kept in L2).
const MC: usize = 192;
/// Columns of `b` packed at a time (kept in L3), rounded down to whole panels.
const NC: usize = 2048;
/// A row-major `b` multiplied by at most this many rows of `a`, or a row-major
/// `a` by at most this many columns of `b`, is read in place, not packed.
const DIRECT: usize = 128;

/// The vector instructions the kernel is written in, `LANES` values of `f32`
/// to a vector `V`. [`Isa::kernel`] and [`Isa::pack`] are compiled with
/// the instruction set's features and run the generic [`kernel`] and
/// [`pack`]; the operations they call are `#[inline]` with the same
/// features, so they compile into those entries as single instructions.
///
/// # Safety
/// Every method requires the CPU to have the instruction set's features.
pub(super) trait Isa {
    /// A vector of `LANES` values.
    type V: Copy;
    /// Values to a vector.
    const LANES: usize;
    /// Whether a tile of `a` stays in L1 while the panels of the packed `b`
    /// block (in L2) stream past it, rather than a panel of `b` staying while
    /// the tiles of the `a` block stream past: the better order depends on
    /// the caches of the cores that have the instruction set.
    const A_TILE_STAYS: bool;

    /// [`kernel`], compiled with the features.
    ///
    /// # Safety
    /// As for [`kernel`].
    unsafe fn kernel<const MR: usize, const NV: usize, const NR: usize, const PACKED_A: bool>(
        kc: usize,
        a: Operand,
        b: Operand,
        c: *mut f32,
        stride: usize,
        tile: Tile<'_>,
    );

    /// [`pack`], compiled with the features (so that its copies move whole
    /// vectors).
    ///
    /// # Safety
    /// As for [`pack`].
    unsafe fn pack<const W: usize>(lanes: usize, kc: usize, src: *const f32, strides: [usize; 2], out: &mut [f32]);

    /// All lanes zero.
    ///
    /// # Safety
    /// The CPU must have the features.
    unsafe fn zero() -> Self::V;
    /// All lanes `x`.
    ///
    /// # Safety
    /// The CPU must have the features.
    unsafe fn splat(x: f32) -> Self::V;
    /// `a b + c`, rounded once.
    ///
    /// # Safety
    /// The CPU must have the features.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    ///
    /// # Safety
    /// The CPU must have the features.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// The `LANES` values at `p`.
    ///
    /// # Safety
    /// The CPU must have the features, and the values must be readable.
    unsafe fn load(p: *const f32) -> Self::V;
    /// The first `n` values at `p` (all when `n >= LANES`), the rest zero.
    ///
    /// # Safety
    /// The CPU must have the features; only those `n` values are read.
    unsafe fn load_first(p: *const f32, n: usize) -> Self::V;
    /// Stores the first `n` lanes of `v` at `p` (all when `n >= LANES`).
    ///
    /// # Safety
    /// The CPU must have the features; only those `n` values are written.
    unsafe fn store_first(p: *mut f32, n: usize, v: Self::V);
    /// Lanes `i < n` loaded from `p + i stride`, the rest zero.
    ///
    /// # Safety
    /// The CPU must have the features; only those `n` values are read.
    unsafe fn gather_first(p: *const f32, stride: i32, n: usize) -> Self::V;
    /// Transposes a block of `[lanes, steps]` (at most `LANES` each): value
    /// `s` of lane `l` is read at `src + l * lane + s` and written at
    /// `dst + s * row + l`, for the first `width` lanes of each step (those
    /// past `lanes` written as zero); the first `spill` steps write all
    /// `LANES` lanes, running into what the caller writes next.
    ///
    /// # Safety
    /// The CPU must have the features; only those values are read and
    /// written.
    unsafe fn transpose_block(
        src: *const f32,
        lane: usize,
        block: [usize; 2],
        dst: *mut f32,
        row: usize,
        width: [usize; 2],
    );
}

/// The two entries of an [`Isa`] implementation, compiled with the
/// instruction set's `features` (a `target_feature` list).
macro_rules! entries {
    ($features:literal) => {
        #[target_feature(enable = $features)]
        unsafe fn kernel<const MR: usize, const NV: usize, const NR: usize, const PACKED_A: bool>(
            kc: usize,
            a: tiled::Operand,
            b: tiled::Operand,
            c: *mut f32,
            stride: usize,
            tile: tiled::Tile<'_>,
        ) {
            // SAFETY: forwarded, with the features this is compiled for.
            unsafe { tiled::kernel::<Self, MR, NV, NR, PACKED_A>(kc, a, b, c, stride, tile) }
        }

        #[target_feature(enable = $features)]
        unsafe fn pack<const W: usize>(lanes: usize, kc: usize, src: *const f32, strides: [usize; 2], out: &mut [f32]) {
            // SAFETY: forwarded, with the features this is compiled for.
            unsafe { tiled::pack::<Self, W>(lanes, kc, src, strides, out) }
        }
    };
}
pub(super) use entries;

/// The instruction set this CPU runs the kernel with, if any.
#[derive(Clone, Copy)]
enum Level {
    Avx512,
    Avx2,
}

/// The widest instruction set this CPU has for the kernel (checked once, in
/// [`crate::simd`]).
fn level() -> Option<Level> {
    if crate::simd::has_avx512() {
        Some(Level::Avx512)
    } else if crate::simd::has_avx2() {
        Some(Level::Avx2)
    } else {
        None
    }
}

/// Whether this CPU runs the kernel.
pub(crate) fn available() -> bool {
    level().is_some()
}

thread_local! {
    /// Packing buffers for `a` and `b`, reused between calls on a thread.
    static PACKED: RefCell<(Lines, Lines)> = const { RefCell::new((Lines::new(), Lines::new())) };
}

/// Values stored from the start of a cache line: the kernel loads packed
/// panels a vector at a time, and a 64-byte load that straddles two lines
/// costs two (measured on a Sapphire Rapids core, against the allocator's
/// 16-byte alignment: the workloads' products up to 13% faster, the rest
/// within 2%). The buffer comes from the pool of large buffers and goes back
/// to it, so an operand packed at every step (an RNN's recurrent weight,
/// forward and backward) faults no fresh pages in.
struct Lines {
    values: Vec<f32>,
    /// Where the first cache line of `values` starts.
    start: usize,
}

impl Lines {
    const fn new() -> Lines {
        Lines { values: Vec::new(), start: 0 }
    }

    /// The first `n` values (old values, or zeros, for the caller to
    /// overwrite), the buffer replaced by a larger one if it is too small.
    fn first(&mut self, n: usize) -> &mut [f32] {
        if self.values.len() < self.start + n {
            // The old buffer goes back to the pool before a larger one is taken.
            *self = Lines::new();
            // Room to start on a line wherever the buffer lies.
            let values = crate::buffers::reused::<f32>(n + LINE - 1);
            let start = (values.as_ptr() as usize).wrapping_neg() % (LINE * size_of::<f32>()) / size_of::<f32>();
            *self = Lines { values, start };
        }
        &mut self.values[self.start..self.start + n]
    }

    /// The address of the first value.
    fn as_ptr(&self) -> *const f32 {
        self.values.as_ptr().wrapping_add(self.start)
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        crate::buffers::recycle(std::mem::take(&mut self.values));
    }
}

/// `f32` values on a cache line.
const LINE: usize = 16;

impl Start<'_, f32> {
    /// For the rows of `c` at row stride `stride`, where the values added
    /// to them begin, `(first, step)`: row `r`'s at `first + r step`. A
    /// [`Start::Rows`] is added as each tile is first stored, so that no
    /// second pass over `c` adds it.
    fn added(self, c: *const f32, stride: usize) -> Option<(*const f32, usize)> {
        match self {
            Start::Zero => None,
            Start::Old => Some((c, stride)),
            Start::Rows(first) => Some((first.as_ptr(), 0)),
        }
    }
}

/// `c = start + a b` for an `m x k` matrix `a` and a `k x n` matrix `b` given
/// by (row, column) strides, into `c` with row stride `rsc`.
/// The tile is 12 x 32 with AVX-512 (24 accumulators of 16 lanes) and 6 x 16
/// with AVX2 (12 of 8).
///
/// With AVX-512, a transposed `b` (a layer's weight) times few rows of `a`
/// (a batch) is computed as `cᵀ = bᵀ aᵀ`, so that the weight is read in
/// place, row by row, rather than gathered into packed panels. With AVX2 that
/// measured slower (a Zen 3 core, median of 7: 128x784x512 46 GFLOP/s
/// transposed, 64 not), so it is not done.
///
/// # Safety
/// [`available`] must be true; the strides must address valid `m x k`,
/// `k x n` and `m x n` matrices inside their allocations, `c` must alias
/// neither input, and [`Start::Rows`] must hold `n` values.
pub(crate) unsafe fn sgemm(
    [m, k, n]: [usize; 3],
    a: *const f32,
    [rsa, csa]: [usize; 2],
    b: *const f32,
    [rsb, csb]: [usize; 2],
    start: Start<'_, f32>,
    c: *mut f32,
    rsc: usize,
) {
    let level = level();
    let transpose = matches!(level, Some(Level::Avx512)) && rsb == 1 && csb != 1 && m <= DIRECT && n >= 2 * m;
    let (shape, a, ab, rhs, out) = if transpose {
        ([n, k, m], b, [csb, rsb], Rhs::Strided(a, [csa, rsa]), Output { c, stride: rsc, transposed: true })
    } else {
        ([m, k, n], a, [rsa, csa], Rhs::Strided(b, [rsb, csb]), Output { c, stride: rsc, transposed: false })
    };
    // SAFETY: forwarded; the transposed product addresses the same values.
    unsafe {
        match level {
            Some(Level::Avx512) => blocked::<Zmm, 12, 2, 32>(shape, a, ab, rhs, start, out),
            Some(Level::Avx2) => blocked::<Ymm, 6, 2, 16>(shape, a, ab, rhs, start, out),
            None => unreachable!("sgemm: the caller checks `available`"),
        }
    }
}

/// A right operand `b: [k, n]` packed once, for products with many left
/// operands of few rows (an RNN's recurrent weight, multiplied by a batch at
/// every step), into the panels of a tile suited to few rows: 8 x 32 with
/// AVX-512, which 12-row tiles would pad, and the 6 x 16 tile with AVX2.
/// Each panel spans all of `k`, zero-padded to whole panels.
///
/// 32 columns (16 accumulators), not 48 (24): an LSTM's gates (1024
/// columns) and hidden state (256) are whole 32-column panels, where 48 pads
/// them by 3 and 12% (measured on a Zen 4 core, an LSTM recurrence of 32
/// steps, batch 32, hidden 256, median of 10 runs: forward 7.53 -> 7.26 ms,
/// backward 14.64 -> 13.89).
pub(crate) struct Packed {
    panels: Lines,
    k: usize,
    n: usize,
}

/// Columns of a [`Packed`] operand's panels with AVX-512 (its 8 x 32 tile's).
const PACKED_NR_ZMM: usize = 32;
/// Columns of a [`Packed`] operand's panels with AVX2 (its 6 x 16 tile's).
const PACKED_NR_YMM: usize = 16;

impl Packed {
    /// Packs the `k x n` matrix at `b` with (row, column) strides `bb`.
    ///
    /// # Safety
    /// [`available`] must be true, and the strides must address a valid
    /// `k x n` matrix inside `b`'s allocation.
    pub(crate) unsafe fn new(k: usize, n: usize, b: *const f32, bb: [usize; 2]) -> Packed {
        let mut panels = Lines::new();
        // SAFETY: each panel's columns and all `k` rows are inside `b`, and
        // `panels` holds `NR k` values per panel.
        unsafe {
            match level() {
                Some(Level::Avx512) => {
                    Zmm::pack::<PACKED_NR_ZMM>(n, k, b, bb, panels.first(n.next_multiple_of(PACKED_NR_ZMM) * k))
                }
                Some(Level::Avx2) => {
                    Ymm::pack::<PACKED_NR_YMM>(n, k, b, bb, panels.first(n.next_multiple_of(PACKED_NR_YMM) * k))
                }
                None => unreachable!("Packed::new: the caller checks `available`"),
            }
        }
        Packed { panels, k, n }
    }
}

/// `c = a b (+ c when accumulate)` for an `m x k` matrix `a` and a packed
/// `b`, into `c` with row stride `rsc`. Every element is summed as [`sgemm`]
/// sums it.
///
/// # Safety
/// [`available`] must be true; `a`'s strides must address a valid `m x k`
/// matrix, `c` must hold `m` rows of `b`'s columns, and alias neither.
pub(crate) unsafe fn sgemm_packed(
    m: usize,
    a: *const f32,
    ab: [usize; 2],
    b: &Packed,
    accumulate: bool,
    c: *mut f32,
    rsc: usize,
) {
    let rhs = Rhs::Packed(b.panels.as_ptr(), b.k);
    let out = Output { c, stride: rsc, transposed: false };
    let start = if accumulate { Start::Old } else { Start::Zero };
    // SAFETY: forwarded; `b` was packed for the same level's tile.
    unsafe {
        match level() {
            Some(Level::Avx512) => blocked::<Zmm, 8, 2, PACKED_NR_ZMM>([m, b.k, b.n], a, ab, rhs, start, out),
            Some(Level::Avx2) => blocked::<Ymm, 6, 2, PACKED_NR_YMM>([m, b.k, b.n], a, ab, rhs, start, out),
            None => unreachable!("sgemm_packed: the caller checks `available`"),
        }
    }
}

/// Where [`blocked`] reads `b`: a strided matrix, packed block by block as the
/// product goes, or panels packed once (pointer and the `k` they span) for
/// the same tile.
#[derive(Clone, Copy)]
enum Rhs {
    Strided(*const f32, [usize; 2]),
    Packed(*const f32, usize),
}

/// Where a product lands: row-major `c` with row stride `stride`, or, when
/// `transposed`, its transpose (column stride `stride`).
#[derive(Clone, Copy)]
struct Output {
    c: *mut f32,
    stride: usize,
    transposed: bool,
}

impl Output {
    /// The address of element `(i, j)`.
    ///
    /// # Safety
    /// The element must be inside `c`.
    unsafe fn at(self, i: usize, j: usize) -> *mut f32 {
        let offset = if self.transposed { i + j * self.stride } else { i * self.stride + j };
        unsafe { self.c.add(offset) }
    }

    /// The column of `c` that element `(i, j)` of the product lands in.
    fn column(self, i: usize, j: usize) -> usize {
        if self.transposed {
            i
        } else {
            j
        }
    }
}

/// [`sgemm`] into `out`, blocked and packed, with the tile `MR x NR` of `I`.
///
/// # Safety
/// As for [`sgemm`], the CPU having `I`'s features.
unsafe fn blocked<I: Isa, const MR: usize, const NV: usize, const NR: usize>(
    [m, k, n]: [usize; 3],
    a: *const f32,
    [rsa, csa]: [usize; 2],
    rhs: Rhs,
    start: Start<'_, f32>,
    out: Output,
) {
    debug_assert_eq!(NR, NV * I::LANES);
    PACKED.with(|buffers| {
        let (lines_a, lines_b) = &mut *buffers.borrow_mut();
        // Operands that few tiles share are read in place: packing them would
        // cost as much as the products that reuse them. So is the batch that
        // multiplies a prepacked weight (measured: 80 to 92 GFLOP/s for
        // 32x1024x256). So is a transposed `a` (each step's rows
        // contiguous: the `gᵀ x` of a weight gradient) times at most eight
        // panels of `b`, a step's rows loaded as one line (measured on a Zen
        // 4 core, 1 thread: 1024x1024x64 85-90 -> 111-113 GFLOP/s, then,
        // up to 256 columns rather than 64, 1024x1024x256 106 -> 111 and
        // 1024x992x256 107 -> 109; up to 1024, 1024^3 fell from 108 to 106).
        let direct_a = (csa == 1 && (n <= DIRECT || matches!(rhs, Rhs::Packed(..)))) || (rsa == 1 && n <= 2 * DIRECT);
        // So is a row-major `b` of many columns times few rows, but for its
        // last partial panel, which is packed (measured, Sapphire Rapids, 1
        // thread: 32x256x1024 113 -> 152 GFLOP/s, 64x288x196 123 -> 134).
        // With more rows, each panel read in place serves more tiles than
        // packing it costs, and a power-of-two row stride maps a panel onto
        // few cache sets (1024^3: 174 -> 143; a weight gradient split into
        // 128-row halves on 2 threads made the transformer step 2.5% slower);
        // a narrow `b` (an attention head's) is cheap to pack.
        let direct_b = m <= DIRECT / 2 && n > DIRECT && matches!(rhs, Rhs::Strided(_, [_, 1]));
        let depth = depth_of_blocks(k);
        // In place, `a`'s last rows are still packed (two panels at most).
        let packed_a = lines_a.first(if direct_a { 2 * MR } else { m.min(MC).next_multiple_of(MR) } * depth);
        // Whole panels a block, so that a prepacked `b`'s panels line up.
        let nc_max = NC / NR * NR;
        let packed_b = match rhs {
            Rhs::Strided(..) => lines_b.first(n.min(nc_max).next_multiple_of(NR) * depth),
            Rhs::Packed(..) => &mut [],
        };
        for jc in (0..n).step_by(nc_max) {
            let nc = nc_max.min(n - jc);
            for pc in (0..k).step_by(depth) {
                let kc = depth.min(k - pc);
                // SAFETY (all the calls below): every block lies inside the
                // caller's matrices, the buffers were sized for the largest
                // block above, and the CPU has `I`'s features.
                let whole_cols = if direct_b { nc / NR * NR } else { nc };
                let mut b_tail = None;
                let b_block = match rhs {
                    Rhs::Strided(b, [rsb, _]) if direct_b => {
                        if whole_cols < nc {
                            unsafe {
                                I::pack::<NR>(
                                    nc - whole_cols,
                                    kc,
                                    b.add(pc * rsb + jc + whole_cols),
                                    [rsb, 1],
                                    packed_b,
                                )
                            };
                            b_tail = Some(Operand { ptr: packed_b.as_ptr(), step: NR, lane: 1, index: kc });
                        }
                        Operand { ptr: unsafe { b.add(pc * rsb + jc) }, step: rsb, lane: 1, index: 1 }
                    }
                    Rhs::Strided(b, [rsb, csb]) => {
                        unsafe { I::pack::<NR>(nc, kc, b.add(pc * rsb + jc * csb), [rsb, csb], packed_b) };
                        Operand { ptr: packed_b.as_ptr(), step: NR, lane: 1, index: kc }
                    }
                    Rhs::Packed(panels, k) => {
                        Operand { ptr: unsafe { panels.add(jc * k + pc * NR) }, step: NR, lane: 1, index: k }
                    }
                };
                let b_panel = |jr: usize| match b_tail {
                    Some(tail) if jr >= whole_cols => tail,
                    _ => unsafe { b_block.at(jr) },
                };
                let start = if pc > 0 { Start::Old } else { start };
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    let a_block = if direct_a {
                        Operand { ptr: unsafe { a.add(ic * rsa + pc * csa) }, step: csa, lane: rsa, index: rsa }
                    } else {
                        unsafe { I::pack::<MR>(mc, kc, a.add(ic * rsa + pc * csa), [csa, rsa], packed_a) };
                        Operand { ptr: packed_a.as_ptr(), step: MR, lane: 1, index: kc }
                    };
                    // Rows read in place past the whole tiles are packed
                    // once for every panel of `b` (padded with zeros), a
                    // panel for each of their (at most two) tiles.
                    let tails = if direct_a {
                        let (first, second) = packed_a.split_at_mut(MR * kc);
                        let pack_tail = |(ir, rows): (usize, usize), panel: &mut [f32]| {
                            (rows > 0).then(|| {
                                unsafe { I::pack::<MR>(rows, kc, a_block.at(ir).ptr, [csa, rsa], panel) };
                                (ir, rows, Operand { ptr: panel.as_ptr(), step: MR, lane: 1, index: kc })
                            })
                        };
                        let [t0, t1] = tail_tiles::<MR>(mc);
                        [pack_tail(t0, first), pack_tail(t1, &mut second[..MR * kc])]
                    } else {
                        [None, None]
                    };
                    let whole = tails[0].map_or(mc, |(ir, ..)| ir);
                    let tile = |ir: usize, rows, jr: usize| {
                        let start = match start {
                            Start::Rows(v) => Start::Rows(&v[out.column(ic + ir, jc + jr)..]),
                            start => start,
                        };
                        Tile { rows, cols: NR.min(nc - jr), start, transposed: out.transposed }
                    };
                    let whole_tile = |ir: usize, jr: usize| {
                        let (a_tile, b_panel) = (unsafe { a_block.at(ir) }, b_panel(jr));
                        let (c_tile, tile) = (unsafe { out.at(ic + ir, jc + jr) }, tile(ir, MR.min(whole - ir), jr));
                        unsafe {
                            if direct_a {
                                I::kernel::<MR, NV, NR, false>(kc, a_tile, b_panel, c_tile, out.stride, tile)
                            } else {
                                packed_tile::<I, MR, NV, NR>(kc, a_tile, b_panel, c_tile, out.stride, tile)
                            }
                        }
                    };
                    let tail_tiles = |jr: usize| {
                        for &(ir, rows, a_panel) in tails.iter().flatten() {
                            let (b_panel, c_tile) = (b_panel(jr), unsafe { out.at(ic + ir, jc + jr) });
                            unsafe {
                                packed_tile::<I, MR, NV, NR>(
                                    kc,
                                    a_panel,
                                    b_panel,
                                    c_tile,
                                    out.stride,
                                    tile(ir, rows, jr),
                                )
                            }
                        }
                    };
                    if I::A_TILE_STAYS {
                        for ir in (0..whole).step_by(MR) {
                            (0..nc).step_by(NR).for_each(|jr| whole_tile(ir, jr));
                        }
                        (0..nc).step_by(NR).for_each(tail_tiles);
                    } else {
                        for jr in (0..nc).step_by(NR) {
                            (0..whole).step_by(MR).for_each(|ir| whole_tile(ir, jr));
                            tail_tiles(jr);
                        }
                    }
                }
            }
        }
    })
}

/// The depth of the blocks a sum over `k` is split into: as even as blocks
/// of at most [`KC`] allow, so that no thin last block (784 = 3 x 256 + 16)
/// makes a pass over `c` for a few steps. It depends on `k` alone, so every
/// call sums in the same order.
fn depth_of_blocks(k: usize) -> usize {
    k.div_ceil(k.div_ceil(KC).max(1)).max(1)
}

/// The tiles of a block of `mc` rows of `a` read in place that are packed, as
/// `(first row, rows)` (no rows: no tile): the rows past its whole tiles.
/// Fewer than half a tile of them join the last whole tile, and the two are
/// split evenly, so that no tile has too few rows to keep the kernel busy
/// (32 rows with AVX2 are tiles of 6, 6, 6, 6, 4 and 4, not 6, 6, 6, 6, 6
/// and 2, whose four accumulators wait on each other: on a Zen 3 core, an
/// LSTM recurrence over a batch of 32, forward 8.67 -> 8.36 ms).
fn tail_tiles<const MR: usize>(mc: usize) -> [(usize, usize); 2] {
    let (whole, rest) = (mc / MR * MR, mc % MR);
    if rest > 0 && 2 * rest < MR && whole > 0 {
        let (start, first) = (whole - MR, (MR + rest).div_ceil(2));
        [(start, first), (start + first, MR + rest - first)]
    } else {
        [(whole, rest), (mc, 0)]
    }
}

/// The kernel for a tile of packed `a`, with as few accumulator rows as
/// cover the tile's: a partial tile, where the rows of a product run out,
/// costs little more than its rows' work (a 4-row tile of the 6-row AVX2
/// kernel runs 8 accumulators, not 12 with a third of them zero).
///
/// # Safety
/// As for [`kernel`] with `PACKED_A`.
#[inline(always)]
unsafe fn packed_tile<I: Isa, const MR: usize, const NV: usize, const NR: usize>(
    kc: usize,
    a: Operand,
    b: Operand,
    c: *mut f32,
    stride: usize,
    tile: Tile<'_>,
) {
    // SAFETY: each kernel reads no more rows of the panel than its `MR`
    // holds (zero padding included) and stores only the tile's rows.
    unsafe {
        match tile.rows {
            1 => I::kernel::<1, NV, NR, true>(kc, a, b, c, stride, tile),
            2 => I::kernel::<2, NV, NR, true>(kc, a, b, c, stride, tile),
            3 => I::kernel::<3, NV, NR, true>(kc, a, b, c, stride, tile),
            4 => I::kernel::<4, NV, NR, true>(kc, a, b, c, stride, tile),
            5 | 6 if MR > 6 => I::kernel::<6, NV, NR, true>(kc, a, b, c, stride, tile),
            7 | 8 if MR > 8 => I::kernel::<8, NV, NR, true>(kc, a, b, c, stride, tile),
            _ => I::kernel::<MR, NV, NR, true>(kc, a, b, c, stride, tile),
        }
    }
}

/// Where a kernel reads one operand, packed or in place: lane `r` (a row of
/// `a`, a column of `b`) at step `p` of the sum is `ptr[p * step + r * lane]`,
/// and the panel starting at lane `i` of the block begins `i * index` values in.
#[derive(Clone, Copy)]
pub(super) struct Operand {
    ptr: *const f32,
    step: usize,
    lane: usize,
    index: usize,
}

impl Operand {
    /// The panel starting at lane `i` of the block.
    ///
    /// # Safety
    /// `i` must be inside the block.
    unsafe fn at(self, i: usize) -> Operand {
        Operand { ptr: unsafe { self.ptr.add(i * self.index) }, ..self }
    }
}

/// Packs `kc` steps of `lanes` lanes (`src[p * step + l * lane]`) into
/// panels of `W` lanes, each stored step by step (`W` values a step),
/// zero-padded to `W` lanes: a block of `a` as panels of rows (`[csa, rsa]`),
/// a block of `b` as panels of columns (`[rsb, csb]`).
///
/// # Safety
/// The CPU must have `I`'s features (this runs inlined into [`Isa::pack`]);
/// the strides must address every lane and step inside `src`'s allocation.
#[inline(always)]
pub(super) unsafe fn pack<I: Isa, const W: usize>(
    lanes: usize,
    kc: usize,
    src: *const f32,
    [step, lane]: [usize; 2],
    out: &mut [f32],
) {
    // Contiguous lanes (a row-major `b`, a transposed `a`) fill all the
    // whole panels a step at a time, reading the source in order rather
    // than one panel's strip of every step after another's.
    let whole = if lane == 1 { lanes / W } else { 0 };
    for p in (0..kc).filter(|_| whole > 0) {
        // SAFETY: lanes `0..whole W` of step `p` are inside the block.
        let values = unsafe { std::slice::from_raw_parts(src.add(p * step), whole * W) };
        for (panel, values) in values.chunks_exact(W).enumerate() {
            out[(panel * kc + p) * W..][..W].copy_from_slice(values);
        }
    }
    for panel in whole..lanes.div_ceil(W) {
        let l0 = panel * W;
        let dst = &mut out[panel * W * kc..(panel + 1) * W * kc];
        // SAFETY: lanes `l0..l0 + W` (those inside the block), steps `0..kc`.
        unsafe { pack_panel::<I, W>(kc, W.min(lanes - l0), src.add(l0 * lane), [step, lane], dst) };
    }
}

/// Packs `kc` steps of `lanes` values (`src[p * step + l * lane]`) into `dst`,
/// `W` values a step, the lanes past `lanes` zero. Contiguous lanes are
/// copied; strided ones are transposed in registers or gathered, a vector at
/// a time; broadcast ones (lane stride 0) are filled.
///
/// # Safety
/// The CPU must have `I`'s features (this runs inlined into
/// [`Isa::pack`]); every addressed value is inside `src`'s allocation,
/// and `dst` holds `W kc` values.
#[inline(always)]
unsafe fn pack_panel<I: Isa, const W: usize>(
    kc: usize,
    lanes: usize,
    src: *const f32,
    [step, lane]: [usize; 2],
    dst: &mut [f32],
) {
    let dst = &mut dst[..W * kc];
    if lanes < W {
        dst.fill(0.0);
    }
    if lane == 1 {
        for (p, d) in dst.chunks_exact_mut(W).enumerate() {
            // SAFETY: step `p`, lanes `0..lanes` are inside the block.
            d[..lanes].copy_from_slice(unsafe { std::slice::from_raw_parts(src.add(p * step), lanes) });
        }
    } else if step == 1 {
        // Each lane runs along the sum (a row-major `a`, a transposed `b`):
        // square blocks loaded lane by lane and transposed in registers.
        for l0 in (0..lanes).step_by(I::LANES) {
            for p0 in (0..kc).step_by(I::LANES) {
                let block = [I::LANES.min(lanes - l0), I::LANES.min(kc - p0)];
                // A panel narrower than a vector (a's rows) is stored a whole
                // vector a step, running into the next step's lanes, which
                // that step then overwrites; all but its last step: masked
                // stores, a step each, made this packing slow.
                let spill = if W - l0 < I::LANES { (kc - 1 - p0).min(block[1]) } else { 0 };
                // SAFETY: the block's lanes and steps are inside the source,
                // and lanes `l0..min(l0 + LANES, W)` of its steps inside
                // `dst`, as are the whole vectors of the steps before the
                // panel's last.
                unsafe {
                    I::transpose_block(
                        src.add(l0 * lane + p0),
                        lane,
                        block,
                        dst.as_mut_ptr().add(p0 * W + l0),
                        W,
                        [W - l0, spill],
                    )
                };
            }
        }
    } else if lane == 0 {
        // A broadcast operand (the expanded gradient of a sum): every lane of
        // a step is the same value.
        for (p, d) in dst.chunks_exact_mut(W).enumerate() {
            // SAFETY: step `p` is inside the block.
            d[..lanes].fill(unsafe { *src.add(p * step) });
        }
    } else if let Some(lane) = lane.checked_mul(W).filter(|&span| span <= i32::MAX as usize).map(|_| lane as i32) {
        for (p, d) in dst.chunks_exact_mut(W).enumerate() {
            for l0 in (0..lanes).step_by(I::LANES) {
                // SAFETY: lanes `l0..lanes` of step `p` are inside the block,
                // and `d` has room for them.
                unsafe {
                    let v = I::gather_first(src.add(p * step + l0 * lane as usize), lane, lanes - l0);
                    I::store_first(d.as_mut_ptr().add(l0), lanes - l0, v);
                }
            }
        }
    } else {
        for (p, d) in dst.chunks_exact_mut(W).enumerate() {
            for (l, d) in d[..lanes].iter_mut().enumerate() {
                // SAFETY: step `p`, lane `l` is inside the block.
                *d = unsafe { *src.add(p * step + l * lane) };
            }
        }
    }
}

/// The part of a register tile that lands in `c`, and how.
#[derive(Clone, Copy)]
pub(super) struct Tile<'a> {
    rows: usize,
    cols: usize,
    /// What the tile is added to; [`Start::Rows`] begins at the value of
    /// the tile's first column of `c`.
    start: Start<'a, f32>,
    /// `c` holds the tile's transpose.
    transposed: bool,
}

/// One `MR x NR` tile: `kc` steps of `MR` values of `a` (broadcast) times
/// `NR` of `b`, stored into the tile's rows and columns of `c`. `PACKED_A`
/// fixes `a`'s lane stride at 1.
///
/// # Safety
/// The CPU must have `I`'s features (this runs inlined into
/// [`Isa::kernel`]); `a` addresses `kc` steps of `MR` rows (zero padding
/// included), `b` of `NR` columns (zero padding included), `c` holds the
/// tile's rows and columns, and a [`Start::Rows`] the values of its
/// columns.
#[inline(always)]
pub(super) unsafe fn kernel<I: Isa, const MR: usize, const NV: usize, const NR: usize, const PACKED_A: bool>(
    kc: usize,
    a: Operand,
    b: Operand,
    c: *mut f32,
    stride: usize,
    tile: Tile<'_>,
) {
    let a_lane = if PACKED_A { 1 } else { a.lane };
    let (mut ap, mut bp) = (a.ptr, b.ptr);
    // SAFETY (the whole tile): the loads stay inside the panels the caller
    // vouched for, the stores inside the tile's rows and columns of `c`.
    unsafe {
        let mut acc = [[I::zero(); NV]; MR];
        macro_rules! step {
            () => {
                let mut bv = [I::zero(); NV];
                for (v, bv) in bv.iter_mut().enumerate() {
                    *bv = I::load(bp.add(v * I::LANES));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let ar = I::splat(*ap.add(r * a_lane));
                    for (acc, &bv) in acc.iter_mut().zip(&bv) {
                        *acc = I::fmadd(ar, bv, *acc);
                    }
                }
                ap = ap.add(a.step);
                bp = bp.add(b.step);
            };
        }
        if !tile.transposed {
            for r in 0..tile.rows {
                prefetch(c.add(r * stride));
            }
        }
        for _ in 0..kc / 4 {
            // The panels' values a few steps ahead (measured: 4 steps gains 2
            // to 7% on 1024^3 products). Prefetching never faults, and the
            // wrapping arithmetic keeps addresses past a panel's end defined.
            for line in (0..NR).step_by(16) {
                prefetch(bp.wrapping_add(PREFETCH * b.step + line));
            }
            prefetch(ap.wrapping_add(PREFETCH * a.step));
            step!();
            step!();
            step!();
            step!();
        }
        for _ in 0..kc % 4 {
            step!();
        }
        if tile.transposed {
            store_transposed::<I, MR, NV, NR>(&acc, c, stride, tile);
            return;
        }
        // Decided once, so that the stores below stay one loop the compiler
        // unrolls (with a branch a store, the accumulators spilled).
        let added = tile.start.added(c, stride);
        for (r, acc) in acc.iter().enumerate().take(tile.rows) {
            let row = c.add(r * stride);
            for (v, &sum) in acc.iter().enumerate() {
                let (at, cols) = (row.add(v * I::LANES), tile.cols.saturating_sub(v * I::LANES));
                let sum = match added {
                    Some((first, step)) => I::add(sum, I::load_first(first.add(r * step + v * I::LANES), cols)),
                    None => sum,
                };
                I::store_first(at, cols, sum);
            }
        }
    }
}

/// Fetches the cache line of `p` into L1.
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint that never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
}

/// Stores a tile's transpose: column `j` of the tile becomes the row of `c`
/// at `c + j * stride`, gathered from the tile spilled to the stack.
///
/// # Safety
/// The CPU must have `I`'s features; `c` holds the transposed tile's rows and
/// columns, and a [`Start::Rows`] the values of the tile's rows.
#[inline(always)]
unsafe fn store_transposed<I: Isa, const MR: usize, const NV: usize, const NR: usize>(
    acc: &[[I::V; NV]; MR],
    c: *mut f32,
    stride: usize,
    tile: Tile<'_>,
) {
    let mut spilled = [[0f32; NR]; MR];
    for (row, acc) in spilled.iter_mut().zip(acc) {
        for (v, &sum) in acc.iter().enumerate() {
            // SAFETY: each row of `spilled` holds the tile row's `NR` values.
            unsafe { I::store_first(row.as_mut_ptr().add(v * I::LANES), I::LANES, sum) };
        }
    }
    // Row `j` of `c` holds column `j` of the tile.
    let added = tile.start.added(c, stride);
    for j in 0..tile.cols {
        // SAFETY: the gather reads rows `0..tile.rows` (at most `MR`, at most
        // `LANES`) of column `j` of `spilled`; row `j` of `c` has the tile's
        // rows.
        unsafe {
            let mut v = I::gather_first(spilled.as_ptr().cast::<f32>().add(j), NR as i32, tile.rows);
            let dst = c.add(j * stride);
            if let Some((first, step)) = added {
                v = I::add(v, I::load_first(first.add(j * step), tile.rows));
            }
            I::store_first(dst, tile.rows, v);
        }
    }
}
