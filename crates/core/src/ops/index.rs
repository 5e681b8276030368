//! Integer index tensors and the ops that take them: `index_select`, `gather`,
//! `scatter_add`.

use crate::layout::Shape;
use std::sync::Arc;

/// An integer tensor (contiguous, row-major) of indices: class targets, token
/// ids, the indices `max` returns, the index of `gather`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexTensor {
    pub(crate) shape: Shape,
    pub(crate) data: Arc<Vec<i64>>,
}

impl IndexTensor {
    /// An index tensor of `shape` from row-major values.
    #[track_caller]
    pub fn from_vec(data: Vec<i64>, shape: &[usize]) -> Self {
        let n: usize = shape.iter().product();
        if data.len() != n {
            panic!(
                "IndexTensor::from_vec: {} values do not fill shape {:?} at {}",
                data.len(),
                shape,
                crate::tensor::at(std::panic::Location::caller())
            );
        }
        IndexTensor { shape: shape.into(), data: Arc::new(data) }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, row-major.
    pub fn to_vec(&self) -> Vec<i64> {
        self.data.to_vec()
    }
}
