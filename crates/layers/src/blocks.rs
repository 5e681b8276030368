//! Residual and dense blocks as torchvision defines them (same parameter
//! names: `conv1.weight`, `bn1.running_mean`, `downsample.0.weight`,
//! `denselayer1.norm1.weight`), and a ResNet builder that stacks them.

use crate::{
    AdaptiveAvgPool2d, BatchNorm2d, Conv2d, ConvConfig, Flatten, Forward, Linear, MaxPool2d, Module, Padding, Part,
    Sequential,
};
use lamina_core::{Element, MaxPool2dOptions, Tensor};

/// A 3x3 convolution with padding 1 and no bias (torchvision's `conv3x3`).
pub fn conv3x3<E: Element>(in_planes: usize, out_planes: usize, stride: usize) -> Conv2d<E> {
    Conv2d::with_config(ConvConfig {
        stride: [stride; 2],
        padding: Padding::Explicit([1, 1]),
        bias: false,
        ..ConvConfig::new(in_planes, out_planes, [3, 3])
    })
}

/// A 1x1 convolution with no bias (torchvision's `conv1x1`).
pub fn conv1x1<E: Element>(in_planes: usize, out_planes: usize, stride: usize) -> Conv2d<E> {
    Conv2d::with_config(ConvConfig {
        stride: [stride; 2],
        bias: false,
        ..ConvConfig::new(in_planes, out_planes, [1, 1])
    })
}

/// The projection of the skip connection when the shape changes:
/// `Sequential(conv1x1(inplanes, out, stride), BatchNorm2d(out))`, or none.
fn downsample<E: Element>(inplanes: usize, out: usize, stride: usize) -> Option<Sequential<E>> {
    (stride != 1 || inplanes != out)
        .then(|| Sequential::new().append(conv1x1(inplanes, out, stride)).append(BatchNorm2d::new(out)))
}

fn skip<E: Element>(downsample: &Option<Sequential<E>>, x: &Tensor<E>) -> Tensor<E> {
    match downsample {
        Some(d) => d.call(x),
        None => x.clone(),
    }
}

/// ResNet's basic block: two 3x3 convolutions with batch norm, plus the
/// skip connection: `relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x))`.
pub struct BasicBlock<E: Element = f32> {
    conv1: Conv2d<E>,
    bn1: BatchNorm2d<E>,
    conv2: Conv2d<E>,
    bn2: BatchNorm2d<E>,
    downsample: Option<Sequential<E>>,
}

impl<E: Element> BasicBlock<E> {
    /// Output channels per input `planes` (1 for the basic block).
    pub const EXPANSION: usize = 1;

    /// A block from `inplanes` to `planes` channels; `stride` 2 halves the size.
    pub fn new(inplanes: usize, planes: usize, stride: usize) -> Self {
        BasicBlock {
            conv1: conv3x3(inplanes, planes, stride),
            bn1: BatchNorm2d::new(planes),
            conv2: conv3x3(planes, planes, 1),
            bn2: BatchNorm2d::new(planes),
            downsample: downsample(inplanes, planes * Self::EXPANSION, stride),
        }
    }
}

crate::parts!(BasicBlock<E> { conv1, bn1, conv2, bn2, downsample });
display_module!(BasicBlock);

impl<E: Element> Forward<E> for BasicBlock<E> {
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let out = self.bn1.call(&self.conv1.call(x)).relu();
        let out = self.bn2.call(&self.conv2.call(&out));
        (out + skip(&self.downsample, x)).relu()
    }
}

/// ResNet's bottleneck block: 1x1 down to `planes`, 3x3 (with the stride), 1x1
/// up to `4 * planes`, each with batch norm, plus the skip connection.
pub struct Bottleneck<E: Element = f32> {
    conv1: Conv2d<E>,
    bn1: BatchNorm2d<E>,
    conv2: Conv2d<E>,
    bn2: BatchNorm2d<E>,
    conv3: Conv2d<E>,
    bn3: BatchNorm2d<E>,
    downsample: Option<Sequential<E>>,
}

impl<E: Element> Bottleneck<E> {
    /// Output channels per input `planes` (4 for the bottleneck).
    pub const EXPANSION: usize = 4;

    /// A block from `inplanes` to `4 * planes` channels (groups 1, base width 64).
    pub fn new(inplanes: usize, planes: usize, stride: usize) -> Self {
        let out = planes * Self::EXPANSION;
        Bottleneck {
            conv1: conv1x1(inplanes, planes, 1),
            bn1: BatchNorm2d::new(planes),
            conv2: conv3x3(planes, planes, stride),
            bn2: BatchNorm2d::new(planes),
            conv3: conv1x1(planes, out, 1),
            bn3: BatchNorm2d::new(out),
            downsample: downsample(inplanes, out, stride),
        }
    }
}

crate::parts!(Bottleneck<E> { conv1, bn1, conv2, bn2, conv3, bn3, downsample });
display_module!(Bottleneck);

impl<E: Element> Forward<E> for Bottleneck<E> {
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let out = self.bn1.call(&self.conv1.call(x)).relu();
        let out = self.bn2.call(&self.conv2.call(&out)).relu();
        let out = self.bn3.call(&self.conv3.call(&out));
        (out + skip(&self.downsample, x)).relu()
    }
}

/// One layer of a dense block: batch norm, ReLU, a 1x1 bottleneck to
/// `bn_size * growth_rate` channels, batch norm, ReLU, a 3x3 convolution to
/// `growth_rate` new channels (torchvision's `_DenseLayer`, no dropout).
pub struct DenseLayer<E: Element = f32> {
    norm1: BatchNorm2d<E>,
    conv1: Conv2d<E>,
    norm2: BatchNorm2d<E>,
    conv2: Conv2d<E>,
}

impl<E: Element> DenseLayer<E> {
    /// A layer reading `num_input_features` channels.
    pub fn new(num_input_features: usize, growth_rate: usize, bn_size: usize) -> Self {
        let inner = bn_size * growth_rate;
        DenseLayer {
            norm1: BatchNorm2d::new(num_input_features),
            conv1: conv1x1(num_input_features, inner, 1),
            norm2: BatchNorm2d::new(inner),
            conv2: conv3x3(inner, growth_rate, 1),
        }
    }
}

crate::parts!(DenseLayer<E> { norm1, conv1, norm2, conv2 });
display_module!(DenseLayer);

impl<E: Element> Forward<E> for DenseLayer<E> {
    /// The new features of the concatenated input `[N, C_in, H, W]`: `[N, growth_rate, H, W]`.
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let bottleneck = self.conv1.call(&self.norm1.call(x).relu());
        self.conv2.call(&self.norm2.call(&bottleneck).relu())
    }
}

/// A dense block: each layer sees the concatenation of the input and every
/// earlier layer's output; the block returns all of them concatenated.
/// Layers are named `denselayer1`, `denselayer2`, ... as in torchvision.
pub struct DenseBlock<E: Element = f32> {
    layers: Vec<DenseLayer<E>>,
}

impl<E: Element> DenseBlock<E> {
    /// `num_layers` layers over `num_input_features` input channels; the
    /// output has `num_input_features + num_layers * growth_rate` channels.
    pub fn new(num_layers: usize, num_input_features: usize, bn_size: usize, growth_rate: usize) -> Self {
        let layers = (0..num_layers)
            .map(|i| DenseLayer::new(num_input_features + i * growth_rate, growth_rate, bn_size))
            .collect();
        DenseBlock { layers }
    }
}

impl<E: Element> Module<E> for DenseBlock<E> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        for (i, l) in self.layers.iter().enumerate() {
            f(&format!("denselayer{}", i + 1), Part::Module(l));
        }
    }
}
crate::visit_as_module!(DenseBlock);
display_module!(DenseBlock);

impl<E: Element> Forward<E> for DenseBlock<E> {
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let mut features = vec![x.clone()];
        for l in &self.layers {
            let input = Tensor::cat(&features.iter().collect::<Vec<_>>(), 1);
            features.push(l.call(&input));
        }
        Tensor::cat(&features.iter().collect::<Vec<_>>(), 1)
    }
}

/// Which block a [`resnet`] stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResidualBlock {
    /// [`BasicBlock`] (ResNet-18/34).
    Basic,
    /// [`Bottleneck`] (ResNet-50 and deeper).
    Bottleneck,
}

/// Options of [`resnet`].
#[derive(Clone, Debug)]
pub struct ResNetConfig {
    /// The block type.
    pub block: ResidualBlock,
    /// Blocks per stage (ResNet-18: `[2, 2, 2, 2]`); stage `i` has `width * 2^i` planes.
    pub layers: Vec<usize>,
    /// Planes of the first stage (64 in torchvision).
    pub width: usize,
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Outputs of the final linear layer.
    pub num_classes: usize,
    /// torchvision's ImageNet stem (7x7 stride-2 convolution and a max pool);
    /// `false` uses one 3x3 stride-1 convolution, for small images.
    pub imagenet_stem: bool,
}

/// A ResNet as a [`Sequential`]: stem, stages of residual blocks (each stage
/// after the first halves the resolution), global average pooling, linear.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{resnet, Forward, ResNetConfig, ResidualBlock};
/// let net = resnet::<f32>(&ResNetConfig {
///     block: ResidualBlock::Basic, layers: vec![1, 1], width: 4, in_channels: 1, num_classes: 10, imagenet_stem: false,
/// });
/// assert_eq!(net.forward(&Tensor::ones(&[2, 1, 8, 8])).shape(), &[2, 10]);
/// ```
pub fn resnet<E: Element>(c: &ResNetConfig) -> Sequential<E> {
    let mut net = Sequential::new();
    if c.imagenet_stem {
        net = net
            .append(Conv2d::with_config(ConvConfig {
                stride: [2, 2],
                padding: Padding::Explicit([3, 3]),
                bias: false,
                ..ConvConfig::new(c.in_channels, c.width, [7, 7])
            }))
            .append(BatchNorm2d::new(c.width))
            .append(crate::ReLU::new())
            .append(MaxPool2d::with_options(MaxPool2dOptions {
                stride: Some([2, 2]),
                padding: [1, 1],
                ..MaxPool2dOptions::new([3, 3])
            }));
    } else {
        net =
            net.append(conv3x3(c.in_channels, c.width, 1)).append(BatchNorm2d::new(c.width)).append(crate::ReLU::new());
    }
    let expansion = match c.block {
        ResidualBlock::Basic => BasicBlock::<E>::EXPANSION,
        ResidualBlock::Bottleneck => Bottleneck::<E>::EXPANSION,
    };
    let mut inplanes = c.width;
    for (stage, &blocks) in c.layers.iter().enumerate() {
        let planes = c.width << stage;
        let mut seq = Sequential::new();
        for b in 0..blocks {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            seq.push(match c.block {
                ResidualBlock::Basic => Box::new(BasicBlock::new(inplanes, planes, stride)),
                ResidualBlock::Bottleneck => Box::new(Bottleneck::new(inplanes, planes, stride)),
            });
            inplanes = planes * expansion;
        }
        net.push(Box::new(seq));
    }
    net.append(AdaptiveAvgPool2d::with_options([1, 1])).append(Flatten::default()).append(Linear::new(
        inplanes,
        c.num_classes,
        true,
    ))
}
