//! Convolution layers: hand-computed borders for every padding mode and for
//! `Same` with an even kernel, transposed convolution values, and gradient
//! checks over generated strides, paddings, dilations, groups and modes.

use lamina_core::{Generator, Tensor};
use lamina_layers::{
    gradcheck_module, Conv1d, Conv2d, ConvConfig, ConvTranspose1d, ConvTranspose2d, ConvTransposeConfig, Forward,
    ModuleExt, Padding, PaddingMode,
};
use proptest::prelude::*;

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

/// Conv1d(1, 1, k) with weight `w`, no bias, padding `padding` and `mode`, on `x`.
fn conv1d(w: &[f64], padding: Padding<1>, mode: PaddingMode, x: &[f64]) -> Vec<f64> {
    let conv = Conv1d::<f64>::with_config(ConvConfig {
        padding,
        padding_mode: mode,
        bias: false,
        ..ConvConfig::new(1, 1, [w.len()])
    });
    conv.weight.assign(&t(w, &[1, 1, w.len()]));
    conv.forward(&t(x, &[1, 1, x.len()])).to_vec()
}

#[test]
fn each_padding_mode_fills_the_border_as_pytorch() {
    // out[i] = p[i] + 10 p[i+1] + 100 p[i+2] over the padded input p.
    let w = [1.0, 10.0, 100.0];
    let x = [1.0, 2.0, 3.0, 4.0];
    let one = Padding::Explicit([1]);
    // Zeros: 0 [1 2 3 4] 0.
    assert_eq!(conv1d(&w, one, PaddingMode::Zeros, &x), vec![210.0, 321.0, 432.0, 43.0]);
    // Reflect: 2 [1 2 3 4] 3.
    assert_eq!(conv1d(&w, one, PaddingMode::Reflect, &x), vec![212.0, 321.0, 432.0, 343.0]);
    // Replicate: 1 [1 2 3 4] 4.
    assert_eq!(conv1d(&w, one, PaddingMode::Replicate, &x), vec![211.0, 321.0, 432.0, 443.0]);
    // Circular: 4 [1 2 3 4] 1.
    assert_eq!(conv1d(&w, one, PaddingMode::Circular, &x), vec![214.0, 321.0, 432.0, 143.0]);
}

#[test]
fn same_padding_puts_the_odd_extra_at_the_end_and_valid_pads_nothing() {
    // Kernel 2: one padding element in all, after the input: [1 2 3 4] 0.
    assert_eq!(
        conv1d(&[1.0, 10.0], Padding::Same, PaddingMode::Zeros, &[1.0, 2.0, 3.0, 4.0]),
        vec![21.0, 32.0, 43.0, 4.0]
    );
    // Reflect: [1 2 3 4] 3.
    assert_eq!(
        conv1d(&[1.0, 10.0], Padding::Same, PaddingMode::Reflect, &[1.0, 2.0, 3.0, 4.0]),
        vec![21.0, 32.0, 43.0, 34.0]
    );
    assert_eq!(
        conv1d(&[1.0, 10.0], Padding::Valid, PaddingMode::Reflect, &[1.0, 2.0, 3.0, 4.0]),
        vec![21.0, 32.0, 43.0]
    );
}

#[test]
fn conv2d_reflect_border_in_both_dimensions() {
    // A 1x1 output per position of a 3x3 kernel that picks the top-left tap:
    // out[i][j] = p[i][j], the padded input itself (cropped to the output size).
    let conv = Conv2d::<f64>::with_config(ConvConfig {
        padding: Padding::Explicit([1, 1]),
        padding_mode: PaddingMode::Reflect,
        bias: false,
        ..ConvConfig::new(1, 1, [3, 3])
    });
    let mut w = vec![0.0; 9];
    w[0] = 1.0;
    conv.weight.assign(&t(&w, &[1, 1, 3, 3]));
    // x = [[1 2] [3 4]] padded by reflection: [[4 3 4 3] [2 1 2 1] [4 3 4 3] [2 1 2 1]].
    let y = conv.forward(&t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]));
    assert_eq!(y.to_vec(), vec![4.0, 3.0, 2.0, 1.0]);
}

#[test]
fn conv_transpose_scatters_each_input_through_the_kernel() {
    let ct = ConvTranspose1d::<f64>::with_config(ConvTransposeConfig {
        stride: [2],
        bias: false,
        ..ConvTransposeConfig::new(1, 1, [3])
    });
    ct.weight.assign(&t(&[1.0, 10.0, 100.0], &[1, 1, 3]));
    // 1·[1 10 100] at 0 plus 2·[1 10 100] at 2: [1, 10, 102, 20, 200].
    assert_eq!(ct.forward(&t(&[1.0, 2.0], &[1, 1, 2])).to_vec(), vec![1.0, 10.0, 102.0, 20.0, 200.0]);
    // padding 1 crops one from each end, output_padding 1 adds one at the end.
    let cropped = ConvTranspose1d::<f64>::with_config(ConvTransposeConfig {
        stride: [2],
        padding: [1],
        output_padding: [1],
        bias: false,
        ..ConvTransposeConfig::new(1, 1, [3])
    });
    cropped.weight.assign(&ct.weight);
    assert_eq!(cropped.forward(&t(&[1.0, 2.0], &[1, 1, 2])).to_vec(), vec![10.0, 102.0, 20.0, 200.0]);
}

#[test]
fn parameters_have_pytorchs_shapes_and_names() {
    let c = Conv2d::<f64>::with_config(ConvConfig { groups: 2, ..ConvConfig::new(4, 6, [3, 2]) });
    let names: Vec<(String, Vec<usize>)> =
        c.named_parameters().into_iter().map(|(n, p)| (n, p.shape().to_vec())).collect();
    assert_eq!(names, vec![("weight".to_owned(), vec![6, 2, 3, 2]), ("bias".to_owned(), vec![6])]);
    let ct = ConvTranspose2d::<f64>::with_config(ConvTransposeConfig {
        groups: 2,
        ..ConvTransposeConfig::new(4, 6, [3, 2])
    });
    assert_eq!(ct.weight.shape(), &[4, 3, 3, 2]);
    assert!(c.to_string().starts_with("Conv2d(4, 6, kernel_size=[3, 2], stride=[1, 1]"), "{c}");
}

/// The padding before and after one dimension, and whether the mode accepts it.
fn pads_fit(padding: Padding<1>, dilation: usize, kernel: usize, size: usize, mode: PaddingMode) -> bool {
    let (before, after) = match padding {
        Padding::Explicit([p]) => (p, p),
        Padding::Valid => (0, 0),
        Padding::Same => {
            let total = dilation * (kernel - 1);
            (total / 2, total - total / 2)
        }
    };
    let fits = match mode {
        PaddingMode::Reflect => before < size && after < size,
        PaddingMode::Circular => before <= size && after <= size,
        _ => true,
    };
    fits && size + before + after > dilation * (kernel - 1)
}

fn padding_mode(i: usize) -> PaddingMode {
    [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular][i]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn conv_gradchecks_over_its_options(
        two_d: bool, n in 1..=2usize, groups in 1..=2usize, cin in 1..=2usize, cout in 1..=2usize,
        size in [1..=4usize, 1..=4usize], kernel in [1..=3usize, 1..=3usize], stride in [1..=2usize, 1..=2usize],
        dilation in [1..=2usize, 1..=2usize], pad in [0..=2usize, 0..=2usize], padding_kind in 0..3usize,
        mode in 0..4usize, bias: bool, seed: u64,
    ) {
        let mode = padding_mode(mode);
        let d = if two_d { 2 } else { 1 };
        // PyTorch allows `Same` only with stride 1.
        let stride = if padding_kind == 1 { [1, 1] } else { stride };
        let padding_of = |i: usize| match padding_kind {
            0 => Padding::Explicit([pad[i]]),
            1 => Padding::Same,
            _ => Padding::Valid,
        };
        prop_assume!((0..d).all(|i| pads_fit(padding_of(i), dilation[i], kernel[i], size[i], mode)));
        let (cin, cout) = (cin * groups, cout * groups);
        let padding2 = match padding_kind { 0 => Padding::Explicit(pad), 1 => Padding::Same, _ => Padding::Valid };
        let mut g = Generator::new(seed);
        let r = if two_d {
            let conv = Conv2d::<f64>::with_config(ConvConfig {
                stride, padding: padding2, dilation, groups, bias, padding_mode: mode, ..ConvConfig::new(cin, cout, kernel)
            });
            gradcheck_module(&conv, &Tensor::randn_with(&[n, cin, size[0], size[1]], &mut g))
        } else {
            let conv = Conv1d::<f64>::with_config(ConvConfig {
                stride: [stride[0]], padding: padding_of(0), dilation: [dilation[0]], groups, bias, padding_mode: mode,
                ..ConvConfig::new(cin, cout, [kernel[0]])
            });
            gradcheck_module(&conv, &Tensor::randn_with(&[n, cin, size[0]], &mut g))
        };
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn conv_transpose_gradchecks_over_its_options(
        two_d: bool, n in 1..=2usize, groups in 1..=2usize, cin in 1..=2usize, cout in 1..=2usize,
        size in [1..=3usize, 1..=3usize], kernel in [1..=3usize, 1..=3usize], stride in [1..=2usize, 1..=2usize],
        dilation in [1..=2usize, 1..=2usize], padding in [0..=1usize, 0..=1usize], output_padding in [0..=1usize, 0..=1usize],
        bias: bool, seed: u64,
    ) {
        let d = if two_d { 2 } else { 1 };
        // output_padding must be smaller than the stride or the dilation, and the output non-empty.
        prop_assume!((0..d).all(|i| output_padding[i] < stride[i].max(dilation[i])
            && (size[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + output_padding[i] + 1 > 2 * padding[i]));
        let (cin, cout) = (cin * groups, cout * groups);
        let mut g = Generator::new(seed);
        let r = if two_d {
            let ct = ConvTranspose2d::<f64>::with_config(ConvTransposeConfig {
                stride, padding, output_padding, groups, bias, dilation, ..ConvTransposeConfig::new(cin, cout, kernel)
            });
            gradcheck_module(&ct, &Tensor::randn_with(&[n, cin, size[0], size[1]], &mut g))
        } else {
            let ct = ConvTranspose1d::<f64>::with_config(ConvTransposeConfig {
                stride: [stride[0]], padding: [padding[0]], output_padding: [output_padding[0]], groups, bias,
                dilation: [dilation[0]], ..ConvTransposeConfig::new(cin, cout, [kernel[0]])
            });
            gradcheck_module(&ct, &Tensor::randn_with(&[n, cin, size[0]], &mut g))
        };
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
