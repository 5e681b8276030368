//! The seedable random generator behind every random op and initialiser.
//!
//! xoshiro256++ seeded through SplitMix64: a few lines, fast, and its whole
//! state is four words that a checkpoint can store, so a resumed run draws
//! exactly the numbers it would have drawn without stopping. Owning it (rather
//! than relying on a crate's `StdRng`) keeps streams identical across versions.

use std::sync::Mutex;

/// A deterministic random generator. `Generator::new(seed)` gives the same
/// stream on every platform and every lamina version.
///
/// ```
/// use lamina_core::Generator;
/// let (mut a, mut b) = (Generator::new(7), Generator::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generator {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Generator {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        Generator { s: [splitmix64(&mut x), splitmix64(&mut x), splitmix64(&mut x), splitmix64(&mut x)] }
    }

    /// The full state, for checkpoints.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// A generator resumed from a saved [`state`](Self::state).
    pub fn from_state(s: [u64; 4]) -> Self {
        Generator { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller; one draw per call, so streams stay simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1]: log is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform integer in `0..n` (n > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Generator::below: n must be positive");
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }
}

static DEFAULT: Mutex<Option<Generator>> = Mutex::new(None);

/// Reseeds the default generator: one call makes a whole program reproducible.
pub fn manual_seed(seed: u64) {
    *DEFAULT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Generator::new(seed));
}

/// Runs `f` with the default generator (seeded with 0 unless [`manual_seed`] was called).
pub fn with_default_generator<R>(f: impl FnOnce(&mut Generator) -> R) -> R {
    let mut g = DEFAULT.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(|| Generator::new(0)))
}

/// The default generator's state, for checkpoints.
pub fn default_generator_state() -> [u64; 4] {
    with_default_generator(|g| g.state())
}

/// Restores the default generator from a saved state.
pub fn set_default_generator_state(state: [u64; 4]) {
    *DEFAULT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Generator::from_state(state));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_and_normal_have_the_right_moments() {
        let mut g = Generator::new(1);
        let n = 100_000;
        let u: Vec<f64> = (0..n).map(|_| g.uniform()).collect();
        let mean = u.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let z: Vec<f64> = (0..n).map(|_| g.normal()).collect();
        let m = z.iter().sum::<f64>() / n as f64;
        let v = z.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.02 && (v - 1.0).abs() < 0.02, "{m} {v}");
    }

    #[test]
    fn state_round_trips() {
        let mut g = Generator::new(3);
        g.next_u64();
        let mut h = Generator::from_state(g.state());
        assert_eq!(g.next_u64(), h.next_u64());
    }
}
