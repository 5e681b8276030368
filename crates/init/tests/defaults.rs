//! PyTorch's default initialisation of each layer type: the distribution of
//! every parameter, and the bias strategies.

use crate::common;

use common::*;
use lamina_core::Tensor;
use lamina_init::{default, BiasInit, InitError, Scheme, RELU_BIAS};

fn zeros(shape: &[usize]) -> Tensor<f64> {
    Tensor::zeros(shape)
}

/// Asserts `v` is U(-bound, bound): in range, with its moments.
#[track_caller]
fn assert_uniform(what: &str, t: &Tensor<f64>, bound: f64) {
    let v = t.to_vec();
    assert_within(what, &v, -bound, bound);
    assert_moments(what, &v, 0.0, bound / 3f64.sqrt(), UNIFORM_KURTOSIS);
}

#[test]
fn linear_is_u_of_one_over_sqrt_fan_in() {
    let (w, b) = (zeros(&[256, 512]), zeros(&[256]));
    default::linear(&w, Some(&b)).unwrap();
    let bound = 1.0 / 512f64.sqrt();
    assert_uniform("Linear.weight", &w, bound);
    assert_uniform("Linear.bias", &b, bound);
    // Without a bias only the weight is drawn.
    let w = zeros(&[3, 4]);
    default::linear(&w, None).unwrap();
    assert_within("Linear.weight", &w.to_vec(), -0.5, 0.5);
}

#[test]
fn conv_uses_in_channels_per_group_times_kernel() {
    // Conv2d(16, 32, 3): fan_in 16·9 = 144, bound 1/12.
    let (w, b) = (zeros(&[32, 16, 3, 3]), zeros(&[32]));
    default::conv(&w, Some(&b)).unwrap();
    assert_uniform("Conv2d.weight", &w, 1.0 / 12.0);
    assert_within("Conv2d.bias", &b.to_vec(), -1.0 / 12.0, 1.0 / 12.0);
    // ConvTranspose2d(8 -> 16, k 2, groups 2): weight [8, 8, 2, 2], fan_in 8·4.
    let (w, b) = (zeros(&[8, 8, 2, 2]), zeros(&[16]));
    default::conv(&w, Some(&b)).unwrap();
    let bound = 1.0 / 32f64.sqrt();
    assert_within("ConvTranspose2d.weight", &w.to_vec(), -bound, bound);
    assert_within("ConvTranspose2d.bias", &b.to_vec(), -bound, bound);
}

#[test]
fn bilinear_uses_the_first_input_size() {
    let (w, b) = (zeros(&[20, 25, 30]), zeros(&[20]));
    default::bilinear(&w, Some(&b)).unwrap();
    assert_uniform("Bilinear.weight", &w, 0.2);
    assert_within("Bilinear.bias", &b.to_vec(), -0.2, 0.2);
    assert!(matches!(default::bilinear(&zeros(&[4]), None), Err(InitError::Shape { .. })));
}

#[test]
fn recurrent_layers_are_u_of_one_over_sqrt_hidden() {
    // LSTM(64, 128): gates stacked, 4·128 rows; every tensor U(±1/√128).
    let params = [zeros(&[512, 64]), zeros(&[512, 128]), zeros(&[512]), zeros(&[512])];
    default::rnn(&params.iter().collect::<Vec<_>>(), 128).unwrap();
    let bound = 1.0 / 128f64.sqrt();
    for (name, p) in ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"].iter().zip(&params) {
        assert_uniform(name, p, bound);
    }
    // hidden_size 0: PyTorch's bound is 0.
    let p = Tensor::<f64>::ones(&[0, 3]);
    default::rnn(&[&p], 0).unwrap();
}

#[test]
fn embedding_is_standard_normal_with_a_zero_padding_row() {
    let w = zeros(&[1000, 64]);
    default::embedding(&w, None).unwrap();
    assert_moments("Embedding.weight", &w.to_vec(), 0.0, 1.0, NORMAL_KURTOSIS);
    for (idx, row) in [(3isize, 3usize), (-1, 9), (0, 0)] {
        let w = zeros(&[10, 4]);
        default::embedding(&w, Some(idx)).unwrap();
        let v = w.to_vec();
        for r in 0..10 {
            let zero = v[r * 4..r * 4 + 4].iter().all(|x| *x == 0.0);
            assert_eq!(zero, r == row, "padding_idx {idx}: row {r}");
        }
    }
    let err = default::embedding(&zeros(&[10, 4]), Some(10)).unwrap_err();
    assert!(err.to_string().contains("padding_idx 10 out of range for 10"), "{err}");
    assert!(default::embedding(&zeros(&[10, 4]), Some(-11)).is_err());
    assert!(matches!(default::embedding(&zeros(&[10]), None), Err(InitError::Shape { .. })));
}

#[test]
fn norms_start_as_pure_normalisers() {
    let (w, b, mean, var) = (zeros(&[6]), Tensor::<f64>::ones(&[6]), Tensor::<f64>::ones(&[6]), zeros(&[6]));
    default::norm(Some(&w), Some(&b));
    assert_eq!((w.to_vec(), b.to_vec()), (vec![1.0; 6], vec![0.0; 6]));
    default::running_stats(&mean, &var);
    assert_eq!((mean.to_vec(), var.to_vec()), (vec![0.0; 6], vec![1.0; 6]));
    // RMSNorm: a weight only.
    let w = zeros(&[3]);
    default::norm(Some(&w), None);
    assert_eq!(w.to_vec(), [1.0; 3]);
    let w = zeros(&[4]);
    default::prelu(&w, default::PRELU_INIT);
    assert_eq!(w.to_vec(), [0.25; 4]);
}

#[test]
fn multihead_attention_is_xavier_in_and_linear_out() {
    // embed_dim 64: in_proj [192, 64] Xavier over fans 64 + 192.
    let (in_w, in_b, out_w, out_b) = (zeros(&[192, 64]), Tensor::ones(&[192]), zeros(&[64, 64]), Tensor::ones(&[64]));
    default::multihead_attention(&[&in_w], Some(&in_b), &out_w, Some(&out_b)).unwrap();
    assert_uniform("in_proj_weight", &in_w, (6.0f64 / 256.0).sqrt());
    assert_uniform("out_proj.weight", &out_w, 0.125);
    assert_eq!(in_b.to_vec(), vec![0.0; 192]);
    assert_eq!(out_b.to_vec(), vec![0.0; 64]);
    // kdim/vdim differ: q [64, 64], k [64, 32], v [64, 16] each Xavier on its own fans.
    let (q, k, v) = (zeros(&[64, 64]), zeros(&[64, 32]), zeros(&[64, 16]));
    default::multihead_attention(&[&q, &k, &v], None, &zeros(&[64, 64]), None).unwrap();
    for (name, t, fans) in [("q", &q, 128.0), ("k", &k, 96.0), ("v", &v, 80.0)] {
        assert_within(name, &t.to_vec(), -(6.0f64 / fans).sqrt(), (6.0f64 / fans).sqrt());
    }
    // add_bias_kv: [1, 1, E] Xavier normal, fans E and E: std √(2/2E) = 1/8.
    let (bk, bv) = (zeros(&[1, 1, 64]), zeros(&[1, 1, 64]));
    default::attention_bias_kv(&bk, &bv).unwrap();
    let both: Vec<f64> = bk.to_vec().into_iter().chain(bv.to_vec()).collect();
    assert_moments("bias_k, bias_v", &both, 0.0, 0.125, NORMAL_KURTOSIS);
}

#[test]
fn transformer_redraws_only_matrices() {
    let (w, b) = (zeros(&[300, 100]), Tensor::<f64>::full(&[300], 0.5));
    default::transformer(&[&w, &b]).unwrap();
    assert_uniform("Transformer matrix", &w, (6.0f64 / 400.0).sqrt());
    assert_eq!(b.to_vec(), vec![0.5; 300], "vectors keep their values");
}

#[test]
fn bias_strategies_map_to_schemes() {
    assert_eq!(BiasInit::Zeros.scheme(&[3]).unwrap(), Scheme::Constant(0.0));
    assert_eq!(BiasInit::Constant(RELU_BIAS).scheme(&[3]).unwrap(), Scheme::Constant(0.01));
    assert_eq!(BiasInit::default(), BiasInit::FanInUniform);
    // Conv [8, 2, 5, 5]: fan_in 50.
    let bound = 1.0 / 50f64.sqrt();
    assert_eq!(BiasInit::FanInUniform.scheme(&[8, 2, 5, 5]).unwrap(), Scheme::Uniform { a: -bound, b: bound });
    assert_eq!(lamina_init::fan_in_bound(&[8, 0]).unwrap(), 0.0, "an empty fan gives bound 0, as PyTorch");
    assert!(matches!(BiasInit::FanInUniform.scheme(&[8]), Err(InitError::Shape { .. })));
    let b = zeros(&[4]);
    BiasInit::Constant(RELU_BIAS).scheme(&[4, 4]).unwrap().apply(&b).unwrap();
    assert_eq!(b.to_vec(), [0.01; 4]);
}

#[test]
fn layer_defaults_reject_weights_without_fans() {
    let err = default::linear(&zeros(&[5]), None).unwrap_err();
    assert_eq!(err.to_string(), "kaiming_uniform_: needs a tensor with at least 2 dims (shape [5])");
    // The bias's bound needs the weight's fans too.
    assert!(default::conv(&zeros(&[5]), Some(&zeros(&[5]))).is_err());
    assert!(default::multihead_attention(&[&zeros(&[6])], None, &zeros(&[2, 2]), None).is_err());
}
