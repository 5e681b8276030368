//! Where a step's time goes, by op family: the data behind `lamina-bench
//! --profile`. Off by default, when each kernel pays one relaxed atomic load.
//!
//! Time is exclusive: a GEMM inside a convolution counts as [`Family::Gemm`],
//! the rest of the convolution as [`Family::Conv`]. Only the thread that
//! enters a scope records it (a parallel kernel counts as its caller's wall
//! time), and each thread keeps its own totals.
//!
//! ```
//! use lamina_core::{profile, Tensor};
//! profile::set_enabled(true);
//! let a = Tensor::<f32>::ones(&[64, 64]);
//! let _ = a.matmul(&a).exp();
//! let p = profile::take();
//! profile::set_enabled(false);
//! assert!(p.time(profile::Family::Gemm) > std::time::Duration::ZERO);
//! ```

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A family of work a training step spends time on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Matrix products (matmul, the GEMMs inside convolutions).
    Gemm,
    /// Convolution and pooling work outside GEMM: im2col, col2im, windows.
    Conv,
    /// Element-wise maps and broadcast binary ops.
    Elementwise,
    /// Reductions, softmax and other along-a-dimension kernels.
    Reduction,
    /// Optimizer updates.
    Optimizer,
    /// Recording nodes, running the backward engine, freeing the graph.
    Tape,
}

impl Family {
    /// Every family, in report order.
    pub const ALL: [Family; 6] =
        [Family::Gemm, Family::Conv, Family::Elementwise, Family::Reduction, Family::Optimizer, Family::Tape];

    /// A short lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Family::Gemm => "gemm",
            Family::Conv => "conv",
            Family::Elementwise => "elementwise",
            Family::Reduction => "reduction",
            Family::Optimizer => "optimizer",
            Family::Tape => "tape",
        }
    }
}

/// Time accumulated per family since the last [`take`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    totals: [Duration; 6],
}

impl Profile {
    /// The time spent in `family`.
    pub fn time(&self, family: Family) -> Duration {
        self.totals[family as usize]
    }

    /// The time spent in all families together.
    pub fn total(&self) -> Duration {
        self.totals.iter().sum()
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct State {
    profile: Profile,
    /// Open scopes, innermost last, each with the instant its exclusive time
    /// last started counting.
    open: Vec<(Family, Instant)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Turns profiling on or off for every thread.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether profiling is on.
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// This thread's totals since the last call, which resets them.
pub fn take() -> Profile {
    STATE.with(|s| std::mem::take(&mut s.borrow_mut().profile))
}

/// Counts the time until it is dropped towards its family (see [`scope`]).
#[must_use = "the time is counted until the scope is dropped"]
pub struct Scope {
    active: bool,
}

/// Starts counting time towards `family`, pausing the enclosing scope, until
/// the returned guard is dropped. Costs one atomic load when profiling is off.
#[inline]
pub fn scope(family: Family) -> Scope {
    if !is_enabled() {
        return Scope { active: false };
    }
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let now = Instant::now();
        if let Some(&(outer, since)) = s.open.last() {
            s.profile.totals[outer as usize] += now - since;
        }
        s.open.push((family, now));
    });
    Scope { active: true }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if !self.active {
            return;
        }
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            let now = Instant::now();
            if let Some((family, since)) = s.open.pop() {
                s.profile.totals[family as usize] += now - since;
            }
            if let Some(outer) = s.open.last_mut() {
                outer.1 = now;
            }
        });
    }
}
