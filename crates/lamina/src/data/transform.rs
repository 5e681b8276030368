//! Preparing data: train/test splits and normalisation.

use super::{BatchSampler, Dataset};
use lamina_core::{Element, Tensor};

impl<E: Element> Dataset<E> {
    /// Splits into `(train, test)` with `ceil(test_fraction * len)` test
    /// samples (scikit-learn's `train_test_split` rounding), after a shuffle
    /// seeded by `seed` (`None` keeps the order: the test set is the tail).
    ///
    /// Panics unless `0 < test_fraction < 1` and both parts are non-empty.
    ///
    /// ```
    /// use lamina::core::{IndexTensor, Tensor};
    /// use lamina::data::Dataset;
    /// let d = Dataset::new(Tensor::<f32>::arange(0.0, 10.0, 1.0), IndexTensor::arange(10));
    /// let (train, test) = d.train_test_split(0.25, None);
    /// assert_eq!((train.len(), test.len()), (7, 3));
    /// assert_eq!(test.labels.to_vec(), vec![7, 8, 9]);
    /// let (train, test) = d.train_test_split(0.25, Some(1));
    /// let mut all = [train.labels.to_vec(), test.labels.to_vec()].concat();
    /// all.sort();
    /// assert_eq!(all, (0..10).collect::<Vec<i64>>()); // a partition
    /// ```
    #[track_caller]
    pub fn train_test_split(&self, test_fraction: f64, seed: Option<u64>) -> (Dataset<E>, Dataset<E>) {
        let n = self.len();
        let n_test = (test_fraction * n as f64).ceil() as usize;
        let at = std::panic::Location::caller();
        assert!(
            test_fraction > 0.0 && test_fraction < 1.0 && n_test > 0 && n_test < n,
            "train_test_split: test_fraction {test_fraction} of {n} samples leaves an empty part at {}:{}",
            at.file(),
            at.line()
        );
        let sampler = BatchSampler::new(n, n);
        let order = match seed {
            Some(seed) => sampler.shuffle(seed).order(0),
            None => sampler.order(0),
        };
        let (train, test) = order.split_at(n - n_test);
        (self.select(train), self.select(test))
    }
}

/// `(x - mean) / std`, with `mean` and `std` broadcast against `x`
/// (torchvision's `Normalize`, or scikit-learn's `StandardScaler` when
/// [`fit`](Self::fit) on the training inputs).
///
/// ```
/// use lamina::core::Tensor;
/// use lamina::data::Normalize;
/// let x = Tensor::<f64>::from_vec(vec![1.0, 10.0, 3.0, 10.0], &[2, 2]);
/// let norm = Normalize::fit(&x);
/// // Column 0: mean 2, std 1. Column 1 is constant: std 0 is replaced by 1.
/// assert_eq!(norm.mean.to_vec(), vec![2.0, 10.0]);
/// assert_eq!(norm.std.to_vec(), vec![1.0, 1.0]);
/// assert_eq!(norm.apply(&x).to_vec(), vec![-1.0, 0.0, 1.0, 0.0]);
/// let scalar = Normalize::new(0.5, 0.25);
/// assert_eq!(scalar.apply(&Tensor::<f64>::ones(&[2])).to_vec(), vec![2.0, 2.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Normalize<E: Element = f32> {
    /// The mean subtracted.
    pub mean: Tensor<E>,
    /// The standard deviation divided by.
    pub std: Tensor<E>,
}

impl<E: Element> Normalize<E> {
    /// Normalises every element with the same `mean` and `std`.
    pub fn new(mean: f64, std: f64) -> Self {
        Normalize { mean: Tensor::scalar(E::of(mean)), std: Tensor::scalar(E::of(std)) }
    }

    /// Per-feature statistics of `x` (`[n, ...]`) over its first dimension:
    /// the mean and the population standard deviation (no Bessel correction,
    /// as `StandardScaler`), with a zero deviation replaced by 1.
    pub fn fit(x: &Tensor<E>) -> Self {
        Self::fit_dims(x, &[0])
    }

    /// One mean and standard deviation over all of `x` (e.g. all pixels of
    /// all images), with a zero deviation replaced by 1.
    pub fn fit_global(x: &Tensor<E>) -> Self {
        let dims: Vec<isize> = (0..x.ndim() as isize).collect();
        Self::fit_dims(x, &dims)
    }

    fn fit_dims(x: &Tensor<E>, dims: &[isize]) -> Self {
        let (mean, std) = lamina_core::no_grad(|| (x.mean_dims(dims, false), x.std_dims(dims, 0, false)));
        let std = Tensor::from_vec(
            std.to_vec().into_iter().map(|s| if s == E::of(0.0) { E::of(1.0) } else { s }).collect(),
            std.shape(),
        );
        Normalize { mean, std }
    }

    /// `(x - mean) / std`.
    pub fn apply(&self, x: &Tensor<E>) -> Tensor<E> {
        (x - &self.mean) / &self.std
    }
}
