//! Pooling layers: max, average, adaptive and global, in 1-d and 2-d, with
//! PyTorch's options (`stride` defaults to `kernel_size`).

use crate::{Forward, Module, Part};
use lamina_core::{AvgPool1dOptions, AvgPool2dOptions, Element, MaxPool1dOptions, MaxPool2dOptions, Tensor};
use std::marker::PhantomData;

/// Declares a pooling layer holding its options; `|o, x| expr` is its forward.
macro_rules! pool_layer {
    ($(#[$doc:meta])* $name:ident($opts:ty), |$o:ident, $x:ident| $body:expr) => {
        $(#[$doc])*
        pub struct $name<E: Element = f32> {
            /// The options, with PyTorch's names.
            pub options: $opts,
            _e: PhantomData<fn() -> E>,
        }

        impl<E: Element> $name<E> {
            /// The layer with these options.
            pub fn with_options(options: $opts) -> Self {
                $name { options, _e: PhantomData }
            }
        }

        impl<E: Element> Module<E> for $name<E> {
            fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Part<'a, E>)) {}
            fn extra_repr(&self) -> String {
                format!("{:?}", self.options)
            }
        }

        impl<E: Element> Forward<E> for $name<E> {
            #[track_caller]
            fn forward(&self, $x: &Tensor<E>) -> Tensor<E> {
                let $o = &self.options;
                $body
            }
        }
        crate::visit_as_module!($name);
        display_module!($name);
    };
}

pool_layer!(
    /// Maximum over each window of `[N, C, L]`.
    MaxPool1d(MaxPool1dOptions),
    |o, x| x.max_pool1d(o)
);
pool_layer!(
    /// Maximum over each window of `[N, C, H, W]`.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::{Forward, MaxPool2d};
    /// let pool = MaxPool2d::<f32>::new([2, 2]);
    /// assert_eq!(pool.forward(&Tensor::ones(&[1, 3, 6, 6])).shape(), &[1, 3, 3, 3]);
    /// ```
    MaxPool2d(MaxPool2dOptions),
    |o, x| x.max_pool2d(o)
);
pool_layer!(
    /// Mean over each window of `[N, C, L]`.
    AvgPool1d(AvgPool1dOptions),
    |o, x| x.avg_pool1d(o)
);
pool_layer!(
    /// Mean over each window of `[N, C, H, W]`.
    AvgPool2d(AvgPool2dOptions),
    |o, x| x.avg_pool2d(o)
);
pool_layer!(
    /// Mean over `output_size` adaptive windows of `[N, C, L]`.
    AdaptiveAvgPool1d(usize),
    |o, x| x.adaptive_avg_pool1d(*o)
);
pool_layer!(
    /// Mean over `output_size` adaptive windows of `[N, C, H, W]`.
    AdaptiveAvgPool2d([usize; 2]),
    |o, x| x.adaptive_avg_pool2d(*o)
);
pool_layer!(
    /// Maximum over `output_size` adaptive windows of `[N, C, L]`.
    AdaptiveMaxPool1d(usize),
    |o, x| x.adaptive_max_pool1d(*o)
);
pool_layer!(
    /// Maximum over `output_size` adaptive windows of `[N, C, H, W]`.
    AdaptiveMaxPool2d([usize; 2]),
    |o, x| x.adaptive_max_pool2d(*o)
);
pool_layer!(
    /// Mean over every spatial position: `[N, C, ...]` to `[N, C]`.
    GlobalAvgPool(()),
    |_o, x| x.flatten(2, -1).mean_dims(&[-1], false)
);
pool_layer!(
    /// Maximum over every spatial position: `[N, C, ...]` to `[N, C]`.
    GlobalMaxPool(()),
    |_o, x| x.flatten(2, -1).amax(&[-1], false)
);

impl<E: Element> MaxPool1d<E> {
    /// Window `kernel_size`, stride `kernel_size`, no padding.
    pub fn new(kernel_size: usize) -> Self {
        Self::with_options(MaxPool1dOptions::new(kernel_size))
    }
}

impl<E: Element> MaxPool2d<E> {
    /// Window `kernel_size`, stride `kernel_size`, no padding.
    pub fn new(kernel_size: [usize; 2]) -> Self {
        Self::with_options(MaxPool2dOptions::new(kernel_size))
    }
}

impl<E: Element> AvgPool1d<E> {
    /// Window `kernel_size`, stride `kernel_size`, no padding.
    pub fn new(kernel_size: usize) -> Self {
        Self::with_options(AvgPool1dOptions::new(kernel_size))
    }
}

impl<E: Element> AvgPool2d<E> {
    /// Window `kernel_size`, stride `kernel_size`, no padding.
    pub fn new(kernel_size: [usize; 2]) -> Self {
        Self::with_options(AvgPool2dOptions::new(kernel_size))
    }
}

impl<E: Element> Default for GlobalAvgPool<E> {
    fn default() -> Self {
        Self::with_options(())
    }
}

impl<E: Element> Default for GlobalMaxPool<E> {
    fn default() -> Self {
        Self::with_options(())
    }
}
