//! Residual and dense blocks: torchvision's state-dict names, output shapes
//! (blocks and the resnet builder), and gradient checks over input and every
//! parameter in evaluation and training mode.

use lamina_core::{Generator, Tensor};
use lamina_layers::{
    gradcheck_module, resnet, BasicBlock, Bottleneck, DenseBlock, Forward, ModuleExt, ResNetConfig, ResidualBlock,
};
use proptest::prelude::*;

fn names(m: &impl ModuleExt<f64>) -> Vec<String> {
    m.state_dict().keys().map(str::to_owned).collect()
}

fn bn(prefix: &str) -> Vec<String> {
    ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
        .iter()
        .map(|s| format!("{prefix}.{s}"))
        .collect()
}

fn concat(parts: &[Vec<String>]) -> Vec<String> {
    parts.concat()
}

fn one(name: &str) -> Vec<String> {
    vec![name.to_owned()]
}

#[test]
fn basic_block_has_torchvisions_names() {
    let plain = BasicBlock::<f64>::new(4, 4, 1);
    let want = concat(&[one("conv1.weight"), bn("bn1"), one("conv2.weight"), bn("bn2")]);
    assert_eq!(names(&plain), want);
    // A stride or a channel change adds the projection `downsample` = (conv1x1, bn).
    let down = BasicBlock::<f64>::new(4, 8, 2);
    let want = concat(&[want, one("downsample.0.weight"), bn("downsample.1")]);
    assert_eq!(names(&down), want);
    assert!(names(&down).contains(&"downsample.1.num_batches_tracked".to_owned()));
    assert_eq!(down.state_dict().get("conv1.weight").unwrap().shape(), &[8, 4, 3, 3]);
    assert_eq!(down.state_dict().get("downsample.0.weight").unwrap().shape(), &[8, 4, 1, 1]);
}

#[test]
fn bottleneck_has_torchvisions_names_and_expands_by_four() {
    let b = Bottleneck::<f64>::new(4, 2, 1);
    let want = concat(&[
        one("conv1.weight"),
        bn("bn1"),
        one("conv2.weight"),
        bn("bn2"),
        one("conv3.weight"),
        bn("bn3"),
        one("downsample.0.weight"),
        bn("downsample.1"),
    ]);
    assert_eq!(names(&b), want);
    let sd = b.state_dict();
    assert_eq!(sd.get("conv1.weight").unwrap().shape(), &[2, 4, 1, 1]);
    assert_eq!(sd.get("conv3.weight").unwrap().shape(), &[8, 2, 1, 1]);
    b.eval();
    assert_eq!(b.forward(&Tensor::ones(&[1, 4, 4, 4])).shape(), &[1, 8, 4, 4]);
    // 4 * planes channels in already and stride 1: no projection.
    assert!(!names(&Bottleneck::<f64>::new(8, 2, 1)).iter().any(|n| n.starts_with("downsample")));
}

#[test]
fn dense_block_names_its_layers_from_one_and_grows_the_channels() {
    let block = DenseBlock::<f64>::new(2, 3, 2, 4);
    let n = names(&block);
    let layer = |i: usize| {
        let p = format!("denselayer{i}");
        concat(&[
            bn(&format!("{p}.norm1")),
            one(&format!("{p}.conv1.weight")),
            bn(&format!("{p}.norm2")),
            one(&format!("{p}.conv2.weight")),
        ])
    };
    assert_eq!(n, concat(&[layer(1), layer(2)]));
    assert!(n.contains(&"denselayer2.norm1.weight".to_owned()));
    let sd = block.state_dict();
    // Layer 2 reads the input and layer 1's output: 3 + 4 channels.
    assert_eq!(sd.get("denselayer2.norm1.weight").unwrap().shape(), &[7]);
    assert_eq!(sd.get("denselayer2.conv1.weight").unwrap().shape(), &[8, 7, 1, 1]);
    assert_eq!(sd.get("denselayer2.conv2.weight").unwrap().shape(), &[4, 8, 3, 3]);
    let y = block.forward(&Tensor::ones(&[2, 3, 5, 5]));
    assert_eq!(y.shape(), &[2, 3 + 2 * 4, 5, 5]);
    // The input passes through unchanged as the first channels.
    assert_eq!(y.slice(1, 0, 3, 1).to_vec(), vec![1.0; 2 * 3 * 25]);
}

#[test]
fn resnet_builder_stacks_stages_and_ends_in_the_classifier() {
    let net = resnet::<f64>(&ResNetConfig {
        block: ResidualBlock::Basic,
        layers: vec![2, 1],
        width: 4,
        in_channels: 3,
        num_classes: 5,
        imagenet_stem: true,
    });
    assert_eq!(net.forward(&Tensor::ones(&[2, 3, 16, 16])).shape(), &[2, 5]);
    let n = names(&net);
    assert_eq!(&n[..2], &["0.weight".to_owned(), "1.weight".to_owned()]);
    // Stage 2 (module 5) halves the size with a projection in its first block.
    assert!(n.contains(&"5.0.downsample.0.weight".to_owned()), "{n:?}");
    assert!(!n.iter().any(|s| s.starts_with("4.0.downsample")), "{n:?}");
    assert_eq!(n.last().unwrap(), "8.bias");
    let deep = resnet::<f64>(&ResNetConfig {
        block: ResidualBlock::Bottleneck,
        layers: vec![1, 1],
        width: 2,
        in_channels: 1,
        num_classes: 3,
        imagenet_stem: false,
    });
    deep.eval();
    assert_eq!(deep.forward(&Tensor::ones(&[1, 1, 6, 6])).shape(), &[1, 3]);
    // The classifier reads 4 * (2 * width) features.
    assert_eq!(deep.state_dict().get("7.weight").unwrap().shape(), &[3, 16]);
}

/// Random parameters and running statistics (variances in [0.5, 1.5)), so
/// that evaluation mode's normalisation is not the identity.
fn randomise(m: &impl ModuleExt<f64>, seed: u64) {
    let mut g = Generator::new(seed);
    for (name, p) in m.state_dict().iter() {
        if name.ends_with("num_batches_tracked") {
            continue;
        }
        let u = Tensor::<f64>::rand_with(p.shape(), &mut g);
        if name.ends_with("running_var") || name.ends_with("bn1.weight") || name.ends_with("norm1.weight") {
            p.assign(&(u + 0.5));
        } else {
            p.assign(&(u - 0.5));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn blocks_gradcheck_in_both_modes(
        kind in 0..3usize, inplanes in 1..=2usize, planes in 1..=2usize, stride in 1..=2usize,
        size in 2..=3usize, training: bool, seed: u64,
    ) {
        let block: Box<dyn Forward<f64>> = match kind {
            0 => Box::new(BasicBlock::new(inplanes, planes, stride)),
            1 => Box::new(Bottleneck::new(inplanes, planes, stride)),
            _ => Box::new(DenseBlock::new(2, inplanes, 2, planes)),
        };
        randomise(&block, seed);
        block.set_mode(training);
        // Two samples, so that batch statistics in training mode see several values per channel.
        let x = Tensor::<f64>::randn_with(&[2, inplanes, size, size], &mut Generator::new(seed ^ 1));
        let r = gradcheck_module(&block, &x);
        prop_assert!(r.is_ok(), "kind {kind}, training {training}: {}", r.unwrap_err());
    }
}
