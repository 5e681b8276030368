//! softmax, log_softmax and the fused cross-entropy core.
