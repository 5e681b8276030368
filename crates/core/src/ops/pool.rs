//! Pooling: max, average and adaptive pooling in 1-d and 2-d.
