//! Convolutions: unfold/fold (im2col/col2im), conv1d/conv2d and their transposes.
