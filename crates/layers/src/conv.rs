//! Convolution layers: Conv1d/Conv2d and their transposes, with PyTorch's
//! options (`padding` as numbers, `"same"` or `"valid"`; `padding_mode`).

use crate::{Forward, Module, Part};
use lamina_core::{
    Conv1dOptions, Conv2dOptions, ConvTranspose1dOptions, ConvTranspose2dOptions, Element, PadMode, Tensor,
};

/// How much a convolution pads each side of each spatial dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding<const D: usize> {
    /// The same amount on both sides of each dimension.
    Explicit([usize; D]),
    /// Enough for the output to keep the input's size (stride 1 only); an odd
    /// total puts the extra element at the end, as PyTorch does.
    Same,
    /// No padding.
    Valid,
}

/// What the padded border holds (PyTorch's `padding_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PaddingMode {
    /// Zeros (the default).
    #[default]
    Zeros,
    /// The mirror image, without repeating the edge.
    Reflect,
    /// The edge value repeated.
    Replicate,
    /// The other side of the input (wrap-around).
    Circular,
}

/// Options of a convolution over `D` spatial dimensions, with PyTorch's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvConfig<const D: usize> {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size per spatial dimension.
    pub kernel_size: [usize; D],
    /// Stride (default 1).
    pub stride: [usize; D],
    /// Padding (default 0).
    pub padding: Padding<D>,
    /// Spacing between kernel elements (default 1).
    pub dilation: [usize; D],
    /// Channel groups; `in_channels` and `out_channels` must divide by it (default 1).
    pub groups: usize,
    /// Whether there is a bias (default true).
    pub bias: bool,
    /// What the padding holds (default zeros).
    pub padding_mode: PaddingMode,
}

impl<const D: usize> ConvConfig<D> {
    /// PyTorch's defaults for everything but the channels and kernel.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: [usize; D]) -> Self {
        ConvConfig {
            in_channels,
            out_channels,
            kernel_size,
            stride: [1; D],
            padding: Padding::Explicit([0; D]),
            dilation: [1; D],
            groups: 1,
            bias: true,
            padding_mode: PaddingMode::Zeros,
        }
    }
}

/// A convolution's weight `[lead..., k...]` and optional bias, with
/// PyTorch's default initialisation; the channels must divide by `groups`.
#[track_caller]
fn parameters<E: Element, const D: usize>(
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    bias: bool,
    lead: [usize; 2],
    kernel_size: [usize; D],
) -> (Tensor<E>, Option<Tensor<E>>) {
    assert!(
        groups > 0 && in_channels.is_multiple_of(groups) && out_channels.is_multiple_of(groups),
        "convolution: in_channels {in_channels} and out_channels {out_channels} must divide by groups {groups}"
    );
    let shape: Vec<usize> = lead.into_iter().chain(kernel_size).collect();
    let weight = Tensor::zeros(&shape).requires_grad_(true);
    let bias = bias.then(|| Tensor::zeros(&[out_channels]).requires_grad_(true));
    lamina_init::default::conv(&weight, bias.as_ref()).expect("a conv weight has fans");
    (weight, bias)
}

/// A convolution over `D` spatial dimensions: [`Conv1d`] or [`Conv2d`].
/// `weight` is `[out_channels, in_channels / groups, k...]`, `bias` `[out_channels]`,
/// initialised as PyTorch does.
pub struct Conv<E: Element, const D: usize> {
    /// `[out_channels, in_channels / groups, k...]`.
    pub weight: Tensor<E>,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Tensor<E>>,
    config: ConvConfig<D>,
}

/// 1-d convolution: `[N, C_in, L]` to `[N, C_out, L_out]`.
pub type Conv1d<E = f32> = Conv<E, 1>;
/// 2-d convolution: `[N, C_in, H, W]` to `[N, C_out, H_out, W_out]`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Conv2d, ConvConfig, Forward, Padding};
/// let conv = Conv2d::<f32>::with_config(ConvConfig { padding: Padding::Same, ..ConvConfig::new(1, 4, [3, 3]) });
/// assert_eq!(conv.forward(&Tensor::ones(&[2, 1, 5, 5])).shape(), &[2, 4, 5, 5]);
/// ```
pub type Conv2d<E = f32> = Conv<E, 2>;

impl<E: Element, const D: usize> Conv<E, D> {
    /// A convolution with PyTorch's default options.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: [usize; D]) -> Self {
        Self::with_config(ConvConfig::new(in_channels, out_channels, kernel_size))
    }

    /// A convolution with these options.
    #[track_caller]
    pub fn with_config(config: ConvConfig<D>) -> Self {
        let c = &config;
        let (weight, bias) = parameters(
            c.in_channels,
            c.out_channels,
            c.groups,
            c.bias,
            [c.out_channels, c.in_channels / c.groups.max(1)],
            c.kernel_size,
        );
        Conv { weight, bias, config }
    }

    /// The options.
    pub fn config(&self) -> &ConvConfig<D> {
        &self.config
    }

    /// Padding before and after each spatial dimension.
    fn pads(&self) -> [[usize; 2]; D] {
        let c = &self.config;
        std::array::from_fn(|d| match c.padding {
            Padding::Explicit(p) => [p[d], p[d]],
            Padding::Valid => [0, 0],
            Padding::Same => {
                let total = c.dilation[d] * (c.kernel_size[d] - 1);
                [total / 2, total - total / 2]
            }
        })
    }
}

impl<E: Element, const D: usize> Forward<E> for Conv<E, D> {
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let c = &self.config;
        let pads = self.pads();
        let symmetric = pads.iter().all(|p| p[0] == p[1]);
        // Zero padding the convolution does itself when symmetric; anything
        // else is padded explicitly first.
        let (x, inner) = if c.padding_mode == PaddingMode::Zeros && symmetric {
            (x.clone(), pads.map(|p| p[0]))
        } else {
            let mode = match c.padding_mode {
                PaddingMode::Zeros => PadMode::Constant(0.0),
                PaddingMode::Reflect => PadMode::Reflect,
                PaddingMode::Replicate => PadMode::Replicate,
                PaddingMode::Circular => PadMode::Circular,
            };
            // F.pad order: last dimension first.
            let flat: Vec<usize> = pads.iter().rev().flat_map(|p| [p[0], p[1]]).collect();
            (x.pad(&flat, mode), [0; D])
        };
        let b = self.bias.as_ref();
        match D {
            1 => x.conv1d(
                &self.weight,
                b,
                &Conv1dOptions { stride: c.stride[0], padding: inner[0], dilation: c.dilation[0], groups: c.groups },
            ),
            _ => x.conv2d(
                &self.weight,
                b,
                &Conv2dOptions {
                    stride: [c.stride[0], c.stride[D - 1]],
                    padding: [inner[0], inner[D - 1]],
                    dilation: [c.dilation[0], c.dilation[D - 1]],
                    groups: c.groups,
                },
            ),
        }
    }
}

/// Options of a transposed convolution, with PyTorch's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvTransposeConfig<const D: usize> {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size per spatial dimension.
    pub kernel_size: [usize; D],
    /// Stride (default 1).
    pub stride: [usize; D],
    /// Padding removed from each side of the output (default 0).
    pub padding: [usize; D],
    /// Extra size added to one side of the output (default 0).
    pub output_padding: [usize; D],
    /// Channel groups (default 1).
    pub groups: usize,
    /// Whether there is a bias (default true).
    pub bias: bool,
    /// Spacing between kernel elements (default 1).
    pub dilation: [usize; D],
}

impl<const D: usize> ConvTransposeConfig<D> {
    /// PyTorch's defaults for everything but the channels and kernel.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: [usize; D]) -> Self {
        ConvTransposeConfig {
            in_channels,
            out_channels,
            kernel_size,
            stride: [1; D],
            padding: [0; D],
            output_padding: [0; D],
            groups: 1,
            bias: true,
            dilation: [1; D],
        }
    }
}

/// A transposed convolution over `D` spatial dimensions (the adjoint of
/// [`Conv`] in its input): `weight` is `[in_channels, out_channels / groups, k...]`.
pub struct ConvTranspose<E: Element, const D: usize> {
    /// `[in_channels, out_channels / groups, k...]`.
    pub weight: Tensor<E>,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Tensor<E>>,
    config: ConvTransposeConfig<D>,
}

/// 1-d transposed convolution.
pub type ConvTranspose1d<E = f32> = ConvTranspose<E, 1>;
/// 2-d transposed convolution.
pub type ConvTranspose2d<E = f32> = ConvTranspose<E, 2>;

impl<E: Element, const D: usize> ConvTranspose<E, D> {
    /// A transposed convolution with PyTorch's default options.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: [usize; D]) -> Self {
        Self::with_config(ConvTransposeConfig::new(in_channels, out_channels, kernel_size))
    }

    /// A transposed convolution with these options.
    #[track_caller]
    pub fn with_config(config: ConvTransposeConfig<D>) -> Self {
        let c = &config;
        let (weight, bias) = parameters(
            c.in_channels,
            c.out_channels,
            c.groups,
            c.bias,
            [c.in_channels, c.out_channels / c.groups.max(1)],
            c.kernel_size,
        );
        ConvTranspose { weight, bias, config }
    }
}

impl<E: Element, const D: usize> Forward<E> for ConvTranspose<E, D> {
    #[track_caller]
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let c = &self.config;
        let b = self.bias.as_ref();
        match D {
            1 => x.conv_transpose1d(
                &self.weight,
                b,
                &ConvTranspose1dOptions {
                    stride: c.stride[0],
                    padding: c.padding[0],
                    output_padding: c.output_padding[0],
                    groups: c.groups,
                    dilation: c.dilation[0],
                },
            ),
            _ => x.conv_transpose2d(
                &self.weight,
                b,
                &ConvTranspose2dOptions {
                    stride: [c.stride[0], c.stride[D - 1]],
                    padding: [c.padding[0], c.padding[D - 1]],
                    output_padding: [c.output_padding[0], c.output_padding[D - 1]],
                    groups: c.groups,
                    dilation: [c.dilation[0], c.dilation[D - 1]],
                },
            ),
        }
    }
}

/// The module plumbing both convolution types share: parts `weight` and
/// `bias`, a name by dimension, options printed like PyTorch, `Visit`, `Display`.
macro_rules! conv_module {
    ($t:ident, $name1:literal, $name2:literal, |$c:ident| $repr:expr) => {
        impl<E: Element, const D: usize> Module<E> for $t<E, D> {
            fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
                f("weight", Part::Param(&self.weight));
                if let Some(b) = &self.bias {
                    f("bias", Part::Param(b));
                }
            }
            fn type_name(&self) -> &'static str {
                if D == 1 {
                    $name1
                } else {
                    $name2
                }
            }
            fn extra_repr(&self) -> String {
                let $c = &self.config;
                $repr
            }
        }

        impl<E: Element, const D: usize> crate::Visit<E> for $t<E, D> {
            fn visit_as<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Part<'a, E>)) {
                f(name, Part::Module(self));
            }
        }

        impl<E: Element, const D: usize> std::fmt::Display for $t<E, D> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&crate::render::<E>(self))
            }
        }
    };
}

conv_module!(Conv, "Conv1d", "Conv2d", |c| format!(
    "{}, {}, kernel_size={:?}, stride={:?}, padding={:?}, dilation={:?}, groups={}, bias={}, padding_mode={:?}",
    c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation, c.groups, c.bias, c.padding_mode
));
conv_module!(ConvTranspose, "ConvTranspose1d", "ConvTranspose2d", |c| format!(
    "{}, {}, kernel_size={:?}, stride={:?}, padding={:?}, output_padding={:?}, groups={}, bias={}, dilation={:?}",
    c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.output_padding, c.groups, c.bias, c.dilation
));
