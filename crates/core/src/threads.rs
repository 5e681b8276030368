//! One setting for the number of threads every kernel uses.
//!
//! `LAMINA_NUM_THREADS` sets it at start-up, [`set_num_threads`] at run time.
//! Work is split into fixed-size chunks whatever the thread count, so results
//! are bit-for-bit the same on 1 thread or 16.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

static REQUESTED: AtomicUsize = AtomicUsize::new(0);
static POOL: RwLock<Option<(usize, Arc<Pool>)>> = RwLock::new(None);

/// Below this many elements a kernel runs on the calling thread.
pub(crate) const PAR_MIN: usize = 1 << 16;
/// Elements a parallel task of rows or blocks (softmax, layer norm, pooling
/// planes) covers at least: whole ones, so that claiming a task costs little
/// beside its work.
pub(crate) const ROW_TASK_MIN: usize = 1 << 12;
/// Elements per parallel chunk: fixed, so reductions combine in a fixed order.
pub(crate) const CHUNK: usize = 1 << 13;
/// How long an idle worker polls for the next job before it sleeps. A step
/// of training posts a job every few microseconds to milliseconds, and waking
/// a sleeping thread costs 150 to 300 µs on a virtual machine (measured: a
/// 1024x256x256 product on 2 threads, 1.07 ms back to back, 1.36 ms after
/// 1 ms idle, when the threads were rayon's).
const SPIN: Duration = Duration::from_millis(2);

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

thread_local! {
    /// Whether this thread is running a job's task (a worker always is):
    /// parallel work it starts runs on it alone, so jobs never nest.
    static IN_JOB: Cell<bool> = const { Cell::new(false) };
}

/// The tasks of a job, `0..n` of `f`; `f` is borrowed from the caller of
/// [`run_tasks`], which waits until no worker holds it before returning.
#[derive(Clone, Copy)]
struct Job {
    f: *const (dyn Fn(usize) + Sync + 'static),
    n: usize,
}

/// The state a pool's workers share with its callers.
struct Shared {
    /// The current job, until its caller has claimed its last task.
    job: Mutex<Option<Job>>,
    /// Bumped, under `job`'s lock, for each job: a worker joins each epoch's
    /// job at most once.
    epoch: AtomicU64,
    /// Set when the pool is dropped, which then wakes the sleeping workers.
    stop: AtomicBool,
    /// Where sleeping workers wait (with `job`'s lock) for a new epoch.
    wake: Condvar,
    /// The next unclaimed task of the current job.
    next: AtomicUsize,
    /// Workers that joined the current job and have not left it.
    active: AtomicUsize,
    /// The first panic of a task of the current job.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

// SAFETY: `Job::f` points to a `Sync` closure, which is called from any
// thread; `run_tasks` keeps it alive while any worker can reach it.
unsafe impl Send for Shared {}
// SAFETY: as above; everything else is atomics and locks.
unsafe impl Sync for Shared {}

/// lamina's own threads: the caller and the pool's workers run every job's
/// tasks.
/// Idle workers poll for [`SPIN`] before they sleep, so that the short jobs
/// of a training step start at once (rayon's workers slept between them).
struct Pool {
    shared: Arc<Shared>,
    /// Held by the caller whose job is running; others run theirs alone.
    submit: Mutex<()>,
}

impl Pool {
    fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            job: Mutex::new(None),
            epoch: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
            next: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            panic: Mutex::new(None),
        });
        for i in 1..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("lamina-{i}"))
                .spawn(move || work(&shared))
                .expect("lamina: cannot start threads");
        }
        Pool { shared, submit: Mutex::new(()) }
    }

    /// [`run_tasks`] on this pool's threads.
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        let Ok(_submit) = self.submit.try_lock() else { return (0..n).for_each(f) };
        let shared = &*self.shared;
        // SAFETY: only the lifetime is erased; the job is withdrawn and every
        // worker has left it before this function returns (or unwinds:
        // nothing below panics, task panics being caught).
        let f: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
        let job = Job { f, n };
        shared.next.store(0, Ordering::Relaxed);
        {
            let mut current = lock(&shared.job);
            *current = Some(job);
            shared.epoch.fetch_add(1, Ordering::Release);
        }
        shared.wake.notify_all();
        IN_JOB.with(|j| j.set(true));
        claim_tasks(shared, job);
        IN_JOB.with(|j| j.set(false));
        *lock(&shared.job) = None;
        while shared.active.load(Ordering::Acquire) != 0 {
            std::hint::spin_loop();
        }
        let panic = lock(&shared.panic).take();
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Taken so that no worker is between its check and its wait.
        drop(lock(&self.shared.job));
        self.shared.wake.notify_all();
    }
}

/// A lock that a panicking holder leaves usable: everything it guards is
/// consistent between statements.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A worker: waits for each job, runs tasks of it until none are left.
fn work(shared: &Shared) {
    IN_JOB.with(|j| j.set(true));
    let mut seen = 0;
    loop {
        let since = Instant::now();
        let mut polls = 0u32;
        // Polled without `spin_loop` (`pause`): KVM deschedules a vCPU that
        // pauses in a loop, which costs the wake-up this loop is to avoid.
        while shared.epoch.load(Ordering::Acquire) == seen && !shared.stop.load(Ordering::Relaxed) {
            polls = polls.wrapping_add(1);
            if polls.is_multiple_of(256) && since.elapsed() > SPIN {
                let mut guard = lock(&shared.job);
                while shared.epoch.load(Ordering::Acquire) == seen && !shared.stop.load(Ordering::Relaxed) {
                    guard = shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
        let job = {
            let current = lock(&shared.job);
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            seen = shared.epoch.load(Ordering::Acquire);
            if current.is_some() {
                shared.active.fetch_add(1, Ordering::Relaxed);
            }
            *current
        };
        if let Some(job) = job {
            claim_tasks(shared, job);
            shared.active.fetch_sub(1, Ordering::Release);
        }
    }
}

/// Runs unclaimed tasks of `job` until none are left; the first panic is kept
/// for the caller, and the tasks not yet claimed are skipped.
fn claim_tasks(shared: &Shared, job: Job) {
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= job.n {
            return;
        }
        // SAFETY: the job's caller keeps `f` alive until this worker has
        // left the job (`active`), and until its own tasks are done.
        let f = unsafe { &*job.f };
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(i))) {
            lock(&shared.panic).get_or_insert(p);
            shared.next.store(job.n, Ordering::Relaxed);
        }
    }
}

fn pool() -> Arc<Pool> {
    let n = num_threads();
    if let Some((have, p)) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if *have == n {
            return p.clone();
        }
    }
    let mut slot = POOL.write().unwrap_or_else(|e| e.into_inner());
    match slot.as_ref() {
        Some((have, p)) if *have == n => p.clone(),
        _ => {
            let p = Arc::new(Pool::new(n));
            *slot = Some((n, p.clone()));
            p
        }
    }
}

/// Runs `f(i)` for every `i < n`, on the calling thread and lamina's workers
/// when there are several threads, else in order on the calling thread (as
/// it does inside another job's task, or while another thread's job runs).
/// Every task runs exactly once, whichever thread claims it, so results do
/// not depend on the thread count. A panic in a task is raised again here,
/// once every task has stopped.
pub(crate) fn run_tasks(n: usize, f: impl Fn(usize) + Sync) {
    if n < 2 || num_threads() == 1 || IN_JOB.with(Cell::get) {
        return (0..n).for_each(f);
    }
    pool().run(n, &f)
}

/// Calls `f(i, chunk)` on the consecutive `size`-element chunks of `out`
/// (the last may be shorter), as the tasks of one job.
pub(crate) fn for_each_chunk<T: Send>(out: &mut [T], size: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    /// `out`'s elements, shared by the tasks: each takes a chunk of its own.
    struct Base<T>(*mut T);
    // SAFETY: the tasks write disjoint chunks of a `Send` slice.
    unsafe impl<T: Send> Sync for Base<T> {}
    let (len, size) = (out.len(), size.max(1));
    let base = Base(out.as_mut_ptr());
    let base = &base;
    run_tasks(len.div_ceil(size), |i| {
        let start = i * size;
        // SAFETY: task `i` runs once, and chunk `i` is inside `out` and
        // overlaps no other chunk; `out` is borrowed for the whole job.
        let chunk = unsafe { std::slice::from_raw_parts_mut(base.0.add(start), size.min(len - start)) };
        f(i, chunk)
    });
}

/// Fills `out` by calling `f(start_index, chunk)` on fixed-size chunks, in
/// parallel when `out` is large.
pub(crate) fn fill_chunks<T: Send>(out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
    if out.len() < PAR_MIN || num_threads() == 1 {
        f(0, out);
    } else {
        for_each_chunk(out, CHUNK, |i, c| f(i * CHUNK, c));
    }
}

/// Maps each of `n_tasks` independent tasks (parallel when `parallel`), in order.
pub(crate) fn map_tasks<R: Send>(n_tasks: usize, parallel: bool, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    if !parallel || n_tasks < 2 || num_threads() == 1 {
        return (0..n_tasks).map(f).collect();
    }
    let mut out: Vec<Option<R>> = (0..n_tasks).map(|_| None).collect();
    for_each_chunk(&mut out, 1, |i, slot| slot[0] = Some(f(i)));
    out.into_iter().map(|r| r.expect("every task ran")).collect()
}

/// Runs `f` on each of `tasks`, on lamina's threads when there are several
/// tasks and several threads (see [`set_num_threads`]), else in order on the
/// calling thread. Each task runs exactly once; a panic in one is raised
/// again here. For independent work whose result must not depend on the
/// thread count, as an optimizer's update of each parameter.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let total = AtomicUsize::new(0);
/// lamina_core::for_each_task((1..=4).collect(), |i: usize| {
///     total.fetch_add(i, Ordering::Relaxed);
/// });
/// assert_eq!(total.into_inner(), 10);
/// ```
pub fn for_each_task<T: Send>(tasks: Vec<T>, f: impl Fn(T) + Sync) {
    if tasks.len() < 2 || num_threads() == 1 {
        return tasks.into_iter().for_each(f);
    }
    let mut slots: Vec<Option<T>> = tasks.into_iter().map(Some).collect();
    for_each_chunk(&mut slots, 1, |_, slot| f(slot[0].take().expect("each task runs once")));
}

/// Splits `rows` independent rows into one contiguous range per thread, of
/// at least `min` rows each (fewer ranges when there are few rows).
pub(crate) fn row_parts(rows: usize, min: usize) -> Vec<std::ops::Range<usize>> {
    let parts = num_threads().min(rows / min.max(1)).max(1);
    let size = rows.div_ceil(parts).max(1);
    (0..rows).step_by(size).map(|r| r..rows.min(r + size)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` with tasks counted: returns how often each of `n` ran.
    fn counted(pool: &Pool, n: usize, f: impl Fn(usize) + Sync) -> Vec<usize> {
        let runs: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
        pool.run(n, &|i| {
            runs[i].fetch_add(1, Ordering::Relaxed);
            f(i)
        });
        runs.into_iter().map(AtomicUsize::into_inner).collect()
    }

    #[test]
    fn every_task_runs_once_in_every_job_even_after_the_workers_sleep() {
        let pool = Pool::new(3);
        for n in [2, 3, 7, 1000] {
            assert_eq!(counted(&pool, n, |_| {}), vec![1; n], "{n} tasks");
        }
        std::thread::sleep(SPIN * 2);
        assert_eq!(counted(&pool, 50, |_| std::thread::sleep(Duration::from_micros(100))), vec![1; 50]);
    }

    #[test]
    fn a_task_that_panics_is_raised_to_the_caller_and_the_pool_still_works() {
        let pool = Pool::new(2);
        let caught = catch_unwind(AssertUnwindSafe(|| pool.run(64, &|i| assert!(i != 40, "task {i} failed"))));
        let message = caught.expect_err("the panic reaches the caller");
        assert_eq!(message.downcast_ref::<String>().map(String::as_str), Some("task 40 failed"));
        assert_eq!(counted(&pool, 9, |_| {}), vec![1; 9]);
    }

    #[test]
    fn nested_jobs_and_concurrent_callers_run_every_task() {
        let pool = Pool::new(2);
        // A task's own parallel work runs on its thread.
        let inner = counted(&pool, 4, |_| assert_eq!(counted(&pool, 5, |_| {}), vec![1; 5]));
        assert_eq!(inner, vec![1; 4]);
        // Callers on other threads run alone while a job is posted.
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..20 {
                        assert_eq!(counted(&pool, 33, |_| {}), vec![1; 33]);
                    }
                });
            }
        });
    }
}
