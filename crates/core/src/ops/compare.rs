//! Boolean masks: comparisons, `where` and `masked_fill`.

use crate::layout::Shape;
use std::sync::Arc;

/// A boolean tensor (contiguous, row-major): the result of comparisons and the
/// condition of [`where_`](crate::Tensor::where_) and masks of attention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    pub(crate) shape: Shape,
    pub(crate) data: Arc<Vec<bool>>,
}

impl Mask {
    /// A mask of `shape` from row-major values.
    #[track_caller]
    pub fn from_vec(data: Vec<bool>, shape: &[usize]) -> Self {
        let n: usize = shape.iter().product();
        if data.len() != n {
            panic!(
                "Mask::from_vec: {} values do not fill shape {:?} at {}",
                data.len(),
                shape,
                crate::tensor::at(std::panic::Location::caller())
            );
        }
        Mask { shape: shape.into(), data: Arc::new(data) }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, row-major.
    pub fn to_vec(&self) -> Vec<bool> {
        self.data.to_vec()
    }
}
