//! One setting for the number of threads every kernel uses.
//!
//! `LAMINA_NUM_THREADS` sets it at start-up, [`set_num_threads`] at run time.
//! Work is split into fixed-size chunks whatever the thread count, so results
//! are bit-for-bit the same on 1 thread or 16.

use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

static REQUESTED: AtomicUsize = AtomicUsize::new(0);
static POOL: RwLock<Option<(usize, Arc<rayon::ThreadPool>)>> = RwLock::new(None);

/// Below this many elements a kernel runs on the calling thread.
pub(crate) const PAR_MIN: usize = 1 << 16;
/// Elements per parallel chunk: fixed, so reductions combine in a fixed order.
pub(crate) const CHUNK: usize = 1 << 13;

/// Sets the number of threads every kernel (element-wise, reductions, GEMM) uses.
pub fn set_num_threads(n: usize) {
    REQUESTED.store(n.max(1), Ordering::Relaxed);
}

/// The thread count in force: [`set_num_threads`], else `LAMINA_NUM_THREADS`,
/// else the number of cores.
pub fn num_threads() -> usize {
    match REQUESTED.load(Ordering::Relaxed) {
        0 => {
            let n = std::env::var("LAMINA_NUM_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            REQUESTED.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

fn pool() -> Arc<rayon::ThreadPool> {
    let n = num_threads();
    if let Some((have, p)) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if *have == n {
            return p.clone();
        }
    }
    let p = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("lamina: cannot start threads"));
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some((n, p.clone()));
    p
}

/// Runs `f` inside lamina's pool when there is parallel work to do.
pub(crate) fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if num_threads() == 1 {
        f()
    } else {
        pool().install(f)
    }
}

/// Fills `out` by calling `f(start_index, chunk)` on fixed-size chunks, in
/// parallel when `out` is large.
pub(crate) fn fill_chunks<T: Send>(out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
    if out.len() < PAR_MIN || num_threads() == 1 {
        f(0, out);
    } else {
        install(|| out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, c)| f(i * CHUNK, c)));
    }
}

/// Maps each of `n_tasks` independent tasks (parallel when `parallel`), in order.
pub(crate) fn map_tasks<R: Send>(n_tasks: usize, parallel: bool, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if !parallel || n_tasks < 2 || num_threads() == 1 {
        (0..n_tasks).map(f).collect()
    } else {
        install(|| (0..n_tasks).into_par_iter().map(f).collect())
    }
}

/// Runs `f` on each of `tasks`, in parallel when there are several and
/// several threads.
pub(crate) fn for_each_task<T: Send>(tasks: Vec<T>, f: impl Fn(T) + Sync + Send) {
    if tasks.len() < 2 || num_threads() == 1 {
        tasks.into_iter().for_each(f);
    } else {
        install(|| tasks.into_par_iter().for_each(f));
    }
}

/// Splits `rows` independent rows into one contiguous range per thread, of
/// at least `min` rows each (fewer ranges when there are few rows).
pub(crate) fn row_parts(rows: usize, min: usize) -> Vec<std::ops::Range<usize>> {
    let parts = num_threads().min(rows / min.max(1)).max(1);
    let size = rows.div_ceil(parts).max(1);
    (0..rows).step_by(size).map(|r| r..rows.min(r + size)).collect()
}
