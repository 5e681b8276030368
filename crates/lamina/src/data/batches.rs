//! Mini-batches: a seeded, shuffling batch sampler and an iterator of
//! tensor batches over a [`Dataset`].

use super::Dataset;
use lamina_core::{Element, Generator, IndexTensor, Tensor};

/// Which sample indices make up each mini-batch of an epoch.
///
/// Without [`shuffle`](Self::shuffle) the order is `0..len`; with it, each
/// epoch is a fresh permutation drawn from a [`Generator`] seeded by the seed
/// and the epoch number, so the same seed and epoch always give the same
/// order, and every index appears exactly once per epoch (in the last,
/// possibly smaller, batch unless [`drop_last`](Self::drop_last)).
///
/// ```
/// use lamina::data::BatchSampler;
/// let s = BatchSampler::new(5, 2);
/// assert_eq!(s.epoch(0).collect::<Vec<_>>(), vec![vec![0, 1], vec![2, 3], vec![4]]);
/// let s = BatchSampler::new(5, 2).shuffle(42).drop_last(true);
/// assert_eq!(s.num_batches(), 2);
/// assert_eq!(s.order(3), BatchSampler::new(5, 2).shuffle(42).order(3)); // reproducible
/// ```
#[derive(Clone, Debug)]
pub struct BatchSampler {
    len: usize,
    batch_size: usize,
    seed: Option<u64>,
    drop_last: bool,
}

impl BatchSampler {
    /// Batches of `batch_size` over `len` samples, in order. Panics if
    /// `batch_size` is 0.
    #[track_caller]
    pub fn new(len: usize, batch_size: usize) -> Self {
        let at = std::panic::Location::caller();
        assert!(batch_size > 0, "BatchSampler::new: batch_size must be positive at {}:{}", at.file(), at.line());
        BatchSampler { len, batch_size, seed: None, drop_last: false }
    }

    /// Shuffle every epoch, reproducibly from `seed`.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Whether to leave out the last batch when it is smaller than `batch_size`
    /// (PyTorch's `drop_last`). Default `false`.
    pub fn drop_last(mut self, on: bool) -> Self {
        self.drop_last = on;
        self
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The number of batches in an epoch.
    pub fn num_batches(&self) -> usize {
        if self.drop_last {
            self.len / self.batch_size
        } else {
            self.len.div_ceil(self.batch_size)
        }
    }

    /// The order of the samples in `epoch`: `0..len`, or a permutation of it
    /// when shuffling.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len).collect();
        if let Some(seed) = self.seed {
            // One stream per (seed, epoch); Generator::new mixes the seed through SplitMix64.
            let mut g = Generator::new(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
            for i in (1..order.len()).rev() {
                let j = g.below(i as u64 + 1) as usize;
                order.swap(i, j);
            }
        }
        order
    }

    /// The batches of `epoch`, each a list of sample indices.
    pub fn epoch(&self, epoch: u64) -> impl Iterator<Item = Vec<usize>> {
        let order = self.order(epoch);
        let (size, batches) = (self.batch_size, self.num_batches());
        (0..batches).map(move |b| order[b * size..((b + 1) * size).min(order.len())].to_vec())
    }
}

/// One mini-batch of a [`Dataset`].
#[derive(Clone, Debug)]
pub struct Batch<E: Element = f32> {
    /// The samples, `[batch, ...]`.
    pub inputs: Tensor<E>,
    /// Their labels, `[batch]`.
    pub labels: IndexTensor,
    /// Their indices in the data set.
    pub indices: Vec<usize>,
}

/// Mini-batches over a [`Dataset`]; made by [`Dataset::loader`].
///
/// ```
/// use lamina::core::{IndexTensor, Tensor};
/// use lamina::data::Dataset;
/// let data = Dataset::new(Tensor::<f32>::zeros(&[10, 3]), IndexTensor::from_vec(vec![1; 10], &[10]));
/// let loader = data.loader(4).shuffle(0);
/// assert_eq!(loader.num_batches(), 3);
/// let sizes: Vec<usize> = loader.epoch(0).map(|b| b.inputs.shape()[0]).collect();
/// assert_eq!(sizes, vec![4, 4, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct Loader<'a, E: Element = f32> {
    data: &'a Dataset<E>,
    sampler: BatchSampler,
}

impl<E: Element> Dataset<E> {
    /// Mini-batches of `batch_size` over this data set, in order unless
    /// [`Loader::shuffle`] is set.
    #[track_caller]
    pub fn loader(&self, batch_size: usize) -> Loader<'_, E> {
        Loader { data: self, sampler: BatchSampler::new(self.len(), batch_size) }
    }
}

impl<'a, E: Element> Loader<'a, E> {
    /// Shuffle every epoch, reproducibly from `seed` (see [`BatchSampler::shuffle`]).
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.sampler = self.sampler.shuffle(seed);
        self
    }

    /// Leave out a last, smaller batch (see [`BatchSampler::drop_last`]).
    pub fn drop_last(mut self, on: bool) -> Self {
        self.sampler = self.sampler.drop_last(on);
        self
    }

    /// The number of batches in an epoch.
    pub fn num_batches(&self) -> usize {
        self.sampler.num_batches()
    }

    /// The sampler deciding the batches.
    pub fn sampler(&self) -> &BatchSampler {
        &self.sampler
    }

    /// The batches of `epoch` (epochs are numbered by the caller, from 0).
    pub fn epoch(&self, epoch: u64) -> Batches<'a, E> {
        Batches { data: self.data, batches: Box::new(self.sampler.epoch(epoch)) }
    }
}

/// The batches of one epoch; made by [`Loader::epoch`].
pub struct Batches<'a, E: Element = f32> {
    data: &'a Dataset<E>,
    batches: Box<dyn Iterator<Item = Vec<usize>> + 'a>,
}

impl<E: Element> Iterator for Batches<'_, E> {
    type Item = Batch<E>;

    fn next(&mut self) -> Option<Batch<E>> {
        let indices = self.batches.next()?;
        let Dataset { inputs, labels } = self.data.select(&indices);
        Some(Batch { inputs, labels, indices })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.batches.size_hint()
    }
}
