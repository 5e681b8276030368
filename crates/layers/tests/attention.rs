//! Scaled dot-product attention and MultiheadAttention: values worked out by
//! hand, PyTorch's mask conventions, causality, parameter names, shape
//! errors, and gradient checks (with every kind of mask) over generated shapes.

use lamina_core::testing::tensor;
use lamina_core::{gradcheck, gradgradcheck, no_grad, Mask, Tensor};
use lamina_layers::{
    causal_mask, causal_mask_bool, gradcheck_module, parts, scaled_dot_product_attention, AttnMask, Forward, ModuleExt,
    MultiheadAttention, MultiheadAttentionConfig, MultiheadAttentionOptions, SdpaOptions,
};
use proptest::prelude::*;

use crate::common;
use common::{assert_close, panic_message, t};

const LN2: f64 = std::f64::consts::LN_2;

fn sdpa(q: &Tensor<f64>, k: &Tensor<f64>, v: &Tensor<f64>, opts: SdpaOptions<f64>) -> Tensor<f64> {
    scaled_dot_product_attention(q, k, v, &opts)
}

fn with_mask(mask: impl Into<AttnMask<f64>>) -> SdpaOptions<f64> {
    SdpaOptions { attn_mask: Some(mask.into()), ..Default::default() }
}

#[test]
fn sdpa_weights_values_by_the_softmax_of_scaled_scores() {
    // One query ln 2 (size 1, so the scale is 1) against keys 1 and 2: scores
    // ln 2 and 2 ln 2, probabilities 2/6 and 4/6, output 3·1/3 + 6·2/3 = 5.
    let y = sdpa(&t(&[LN2], &[1, 1]), &t(&[1.0, 2.0], &[2, 1]), &t(&[3.0, 6.0], &[2, 1]), SdpaOptions::default());
    assert_close(&y, &[5.0]);
    // Queries of size 4 are scaled by 1/2: q·k = 2 ln 2 becomes ln 2.
    let q = t(&[LN2, LN2, 0.0, 0.0], &[1, 4]);
    let k = t(&[1.0, 1.0, 0.0, 0.0, 2.0, 2.0, 0.0, 0.0], &[2, 4]);
    assert_close(&sdpa(&q, &k, &t(&[3.0, 6.0], &[2, 1]), SdpaOptions::default()), &[5.0]);
    // An explicit scale replaces 1/√E.
    let opts = SdpaOptions { scale: Some(0.0), ..Default::default() };
    assert_close(&sdpa(&q, &k, &t(&[3.0, 6.0], &[2, 1]), opts), &[4.5]);
}

#[test]
fn sdpa_bool_mask_true_means_takes_part_and_float_masks_add() {
    let (q, k, v) = (t(&[LN2], &[1, 1]), t(&[1.0, 2.0], &[2, 1]), t(&[3.0, 6.0], &[2, 1]));
    let keep_first = Mask::from_vec(vec![true, false], &[1, 2]);
    assert_close(&sdpa(&q, &k, &v, with_mask(keep_first)), &[3.0]);
    // Adding ln 2 to the first score makes the probabilities equal.
    assert_close(&sdpa(&q, &k, &v, with_mask(t(&[LN2, 0.0], &[1, 2]))), &[4.5]);
    assert_close(&sdpa(&q, &k, &v, with_mask(t(&[0.0, f64::NEG_INFINITY], &[1, 2]))), &[3.0]);
}

#[test]
fn sdpa_is_causal_is_the_top_left_lower_triangle() {
    // Query 0 sees key 0 only; query 1 sees both (scores ln 2, 2 ln 2); with
    // L = 2 < S = 3 the third key is never seen.
    let q = t(&[0.0, LN2], &[2, 1]);
    let k = t(&[1.0, 2.0, 5.0], &[3, 1]);
    let v = t(&[3.0, 6.0, 100.0], &[3, 1]);
    let y = sdpa(&q, &k, &v, SdpaOptions { is_causal: true, ..Default::default() });
    assert_close(&y, &[3.0, 5.0]);
    let keep = Mask::from_vec(vec![true, false, false, true, true, false], &[2, 3]);
    assert_close(&sdpa(&q, &k, &v, with_mask(keep)), &[3.0, 5.0]);
}

#[test]
fn sdpa_fully_masked_rows_give_zero_output_and_zero_gradient() {
    let q = t(&[0.5, -1.0], &[2, 1]).requires_grad_(true);
    let k = t(&[1.0, 2.0], &[2, 1]).requires_grad_(true);
    let v = t(&[3.0, 6.0], &[2, 1]).requires_grad_(true);
    let mask = Mask::from_vec(vec![true, true, false, false], &[2, 2]);
    let y = sdpa(&q, &k, &v, with_mask(mask));
    assert_eq!(y.to_vec()[1], 0.0);
    y.sum().backward();
    assert_eq!(q.grad().unwrap().to_vec()[1], 0.0);
    assert!(k.grad().unwrap().to_vec().iter().chain(&v.grad().unwrap().to_vec()).all(|g| g.is_finite()));
}

#[test]
fn sdpa_broadcasts_batch_dims_and_repeats_heads_for_gqa() {
    let q = Tensor::<f64>::randn(&[2, 4, 3, 2]);
    let k = Tensor::<f64>::randn(&[2, 2, 5, 2]);
    let v = Tensor::<f64>::randn(&[2, 2, 5, 3]);
    let y = sdpa(&q, &k, &v, SdpaOptions { enable_gqa: true, ..Default::default() });
    assert_eq!(y.shape(), &[2, 4, 3, 3]);
    // Query heads 0 and 1 share key head 0; heads 2 and 3 key head 1.
    for head in 0..4 {
        let one = |x: &Tensor<f64>, h: usize| x.narrow(1, h, 1);
        let want = sdpa(&one(&q, head), &one(&k, head / 2), &one(&v, head / 2), SdpaOptions::default());
        assert_close(&y.narrow(1, head, 1), &want.to_vec());
    }
    // A single key/value set broadcasts over a batch of queries.
    let shared = sdpa(&q, &k.narrow(0, 0, 1).narrow(1, 0, 1), &v.narrow(0, 0, 1).narrow(1, 0, 1), Default::default());
    assert_eq!(shared.shape(), &[2, 4, 3, 3]);
}

#[test]
fn causal_masks_match_generate_square_subsequent_mask() {
    let inf = f64::INFINITY;
    assert_eq!(causal_mask::<f64>(2).to_vec(), vec![0.0, -inf, 0.0, 0.0]);
    assert_eq!(causal_mask_bool(3).to_vec(), vec![false, true, true, false, false, true, false, false, false]);
}

/// A one-head attention of width 1: q = ln2·x, k = x, v = x, out = 2·a + 0.5.
fn scalar_mha(config: MultiheadAttentionConfig) -> MultiheadAttention<f64> {
    let mha = MultiheadAttention::<f64>::with_config(1, 1, config);
    mha.in_proj_weight.as_ref().unwrap().assign(&t(&[LN2, 1.0, 1.0], &[3, 1]));
    mha.in_proj_bias.as_ref().unwrap().assign(&t(&[0.0; 3], &[3]));
    mha.out_proj.weight.assign(&t(&[2.0], &[1, 1]));
    mha.out_proj.bias.as_ref().unwrap().assign(&t(&[0.5], &[1]));
    mha
}

#[test]
fn mha_with_one_head_computes_projected_attention_by_hand() {
    // Tokens 1 and 2. Query 1: scores ln2·[1, 2], probabilities [1/3, 2/3],
    // attention 5/3. Query 2: scores ln2·[2, 4] = ln [4, 16], probabilities
    // [0.2, 0.8], attention 1.8. Then y = 2a + 0.5.
    let mha = scalar_mha(Default::default());
    let x = t(&[1.0, 2.0], &[2, 1, 1]);
    let (y, w) = mha.forward_qkv(&x, &x, &x, &MultiheadAttentionOptions::default());
    assert_close(&y, &[2.0 * 5.0 / 3.0 + 0.5, 2.0 * 1.8 + 0.5]);
    assert_close(&w.unwrap(), &[1.0 / 3.0, 2.0 / 3.0, 0.2, 0.8]);
    // Unbatched input gives the same values without the batch dim.
    let (y1, w1) = mha.forward_qkv(&x.reshape(&[2, 1]), &x.reshape(&[2, 1]), &x.reshape(&[2, 1]), &Default::default());
    assert_eq!((y1.shape(), w1.unwrap().shape()), (&[2, 1][..], &[2, 2][..]));
    assert_close(&y1, &y.to_vec());
}

#[test]
fn mha_bool_masks_true_means_masked_out() {
    let mha = scalar_mha(Default::default());
    let x = t(&[1.0, 2.0], &[2, 1, 1]);
    // Ignoring key 2 leaves every query the value 1: y = 2.5.
    let padding = MultiheadAttentionOptions {
        key_padding_mask: Some(Mask::from_vec(vec![false, true], &[1, 2]).into()),
        ..Default::default()
    };
    let (y, w) = mha.forward_qkv(&x, &x, &x, &padding);
    assert_close(&y, &[2.5, 2.5]);
    assert_close(&w.unwrap(), &[1.0, 0.0, 1.0, 0.0]);
    // The causal mask: query 1 sees key 1 only, query 2 both.
    for mask in [AttnMask::Bool(causal_mask_bool(2)), AttnMask::Float(causal_mask(2))] {
        let opts = MultiheadAttentionOptions { attn_mask: Some(mask), ..Default::default() };
        let (y, _) = mha.forward_qkv(&x, &x, &x, &opts);
        assert_close(&y, &[2.5, 2.0 * 1.8 + 0.5]);
    }
    let causal = MultiheadAttentionOptions { is_causal: true, need_weights: false, ..Default::default() };
    assert_close(&mha.forward_qkv(&x, &x, &x, &causal).0, &[2.5, 2.0 * 1.8 + 0.5]);
}

#[test]
fn mha_zero_attention_and_bias_kv_add_one_key_each() {
    // A zero key and value: query 1's scores [ln 2, 2 ln 2, 0] weigh
    // [2, 4, 1]/7, so the attention is (2 + 8)/7.
    let mha = scalar_mha(MultiheadAttentionConfig { add_zero_attn: true, ..Default::default() });
    let x = t(&[1.0, 2.0], &[2, 1, 1]);
    let (y, w) = mha.forward_qkv(&x.narrow(0, 0, 1), &x, &x, &Default::default());
    assert_close(&y, &[2.0 * 10.0 / 7.0 + 0.5]);
    assert_close(&w.unwrap(), &[2.0 / 7.0, 4.0 / 7.0, 1.0 / 7.0]);
    // bias_k = 0 and bias_v = 7: an extra key with score 0 and value 7.
    let mha = scalar_mha(MultiheadAttentionConfig { add_bias_kv: true, ..Default::default() });
    mha.bias_k.as_ref().unwrap().assign(&t(&[0.0], &[1, 1, 1]));
    mha.bias_v.as_ref().unwrap().assign(&t(&[7.0], &[1, 1, 1]));
    let (y, _) = mha.forward_qkv(&x.narrow(0, 0, 1), &x, &x, &Default::default());
    assert_close(&y, &[2.0 * (2.0 + 8.0 + 7.0) / 7.0 + 0.5]);
}

/// Copies every parameter of `from` into `to` (same names).
fn copy_params(from: &MultiheadAttention<f64>, to: &MultiheadAttention<f64>) {
    to.load_state_dict(&from.state_dict()).unwrap();
}

#[test]
fn mha_heads_are_independent_attentions_of_slices_of_the_projections() {
    let mha = MultiheadAttention::<f64>::new(4, 2);
    let (q, k) = (Tensor::<f64>::randn(&[3, 2, 4]), Tensor::<f64>::randn(&[5, 2, 4]));
    let opts = MultiheadAttentionOptions { average_attn_weights: false, ..Default::default() };
    let (y, w) = mha.forward_qkv(&q, &k, &k, &opts);
    let w = w.unwrap();
    assert_eq!(w.shape(), &[2, 2, 3, 5]);
    // Each head by hand: project, slice its two features, attend, concatenate.
    let wi = mha.in_proj_weight.as_ref().unwrap();
    let bi = mha.in_proj_bias.as_ref().unwrap();
    let proj = |x: &Tensor<f64>, i: usize| x.matmul(&wi.narrow(0, 4 * i, 4).t()) + bi.narrow(0, 4 * i, 4);
    let (pq, pk, pv) = (proj(&q, 0), proj(&k, 1), proj(&k, 2));
    let mut heads = Vec::new();
    for h in 0..2 {
        // [T, B, 2] -> [B, T, 2]
        let slice = |x: &Tensor<f64>| x.narrow(2, 2 * h, 2).transpose(0, 1);
        let probs = slice(&pq).matmul(&slice(&pk).transpose(1, 2)).mul_scalar(0.5f64.sqrt()).softmax(-1);
        assert_close(&w.narrow(1, h, 1).reshape(&[2, 3, 5]), &probs.to_vec());
        heads.push(probs.matmul(&slice(&pv)).transpose(0, 1));
    }
    let joined = Tensor::cat(&[&heads[0], &heads[1]], 2);
    assert_close(&y, &mha.out_proj.forward(&joined).to_vec());
}

#[test]
fn mha_batch_first_transposes_inputs_and_outputs_only() {
    let seq =
        MultiheadAttention::<f64>::with_config(4, 2, MultiheadAttentionConfig { kdim: Some(3), ..Default::default() });
    let config = MultiheadAttentionConfig { kdim: Some(3), batch_first: true, ..Default::default() };
    let bf = MultiheadAttention::<f64>::with_config(4, 2, config);
    copy_params(&seq, &bf);
    let (q, k, v) =
        (Tensor::<f64>::randn(&[3, 2, 4]), Tensor::<f64>::randn(&[5, 2, 3]), Tensor::<f64>::randn(&[5, 2, 4]));
    let (y, w) = seq.forward_qkv(&q, &k, &v, &Default::default());
    let tr = |x: &Tensor<f64>| x.transpose(0, 1);
    let (yb, wb) = bf.forward_qkv(&tr(&q), &tr(&k), &tr(&v), &Default::default());
    assert_close(&tr(&yb), &y.to_vec());
    assert_close(&wb.unwrap(), &w.unwrap().to_vec());
}

#[test]
fn mha_causal_mask_keeps_earlier_outputs_independent_of_later_tokens() {
    let mha = MultiheadAttention::<f64>::new(4, 2);
    let x = Tensor::<f64>::randn(&[4, 1, 4]);
    let opts = MultiheadAttentionOptions { attn_mask: Some(causal_mask(4).into()), ..Default::default() };
    let y = mha.forward_qkv(&x, &x, &x, &opts).0;
    let mut changed = x.to_vec();
    changed[12..].iter_mut().for_each(|v| *v += 3.0);
    let x2 = t(&changed, &[4, 1, 4]);
    let y2 = mha.forward_qkv(&x2, &x2, &x2, &opts).0;
    assert_close(&y2.narrow(0, 0, 3), &y.narrow(0, 0, 3).to_vec());
    assert!((y2.narrow(0, 3, 1) - y.narrow(0, 3, 1)).abs().sum().item() > 1e-6);
}

#[test]
fn mha_dropout_applies_in_training_only() {
    let mha =
        MultiheadAttention::<f64>::with_config(4, 1, MultiheadAttentionConfig { dropout: 0.5, ..Default::default() });
    let x = Tensor::<f64>::randn(&[6, 2, 4]);
    let weights = |mha: &MultiheadAttention<f64>| mha.forward_qkv(&x, &x, &x, &Default::default()).1.unwrap();
    // In training some probabilities are zeroed and the rest doubled, so rows no longer sum to 1.
    let w = weights(&mha);
    let sums = w.sum_dims(&[-1], false).to_vec();
    assert!(sums.iter().any(|s| (s - 1.0).abs() > 1e-9), "{sums:?}");
    mha.eval();
    assert!(weights(&mha).sum_dims(&[-1], false).to_vec().iter().all(|s| (s - 1.0).abs() < 1e-12));
}

#[test]
fn mha_parameter_names_follow_pytorch() {
    let names = |m: &MultiheadAttention<f64>| m.state_dict().keys().map(str::to_owned).collect::<Vec<_>>();
    let packed = MultiheadAttention::<f64>::new(8, 2);
    assert_eq!(names(&packed), ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]);
    assert_eq!(packed.in_proj_weight.as_ref().unwrap().shape(), &[24, 8]);
    let config = MultiheadAttentionConfig { kdim: Some(5), vdim: Some(3), add_bias_kv: true, ..Default::default() };
    let separate = MultiheadAttention::<f64>::with_config(8, 2, config);
    assert_eq!(
        names(&separate),
        [
            "q_proj_weight",
            "k_proj_weight",
            "v_proj_weight",
            "in_proj_bias",
            "bias_k",
            "bias_v",
            "out_proj.weight",
            "out_proj.bias"
        ]
    );
    assert_eq!(separate.k_proj_weight.as_ref().unwrap().shape(), &[8, 5]);
    let no_bias =
        MultiheadAttention::<f64>::with_config(8, 2, MultiheadAttentionConfig { bias: false, ..Default::default() });
    assert_eq!(names(&no_bias), ["in_proj_weight", "out_proj.weight"]);
    // PyTorch's init: zero biases, Xavier-uniform projections.
    assert!(packed.in_proj_bias.as_ref().unwrap().to_vec().iter().all(|&b| b == 0.0));
    let bound = (6.0f64 / (24.0 + 8.0)).sqrt();
    assert!(packed.in_proj_weight.as_ref().unwrap().to_vec().iter().all(|w| w.abs() <= bound));
}

fn assert_names(msg: &str, parts: &[&str]) {
    common::assert_names_in("tests/attention.rs", msg, parts);
}

#[test]
fn errors_name_the_op_the_shapes_and_the_caller() {
    let msg = panic_message(|| drop(MultiheadAttention::<f64>::new(10, 3)));
    assert_names(&msg, &["MultiheadAttention", "embed_dim 10", "num_heads 3"]);
    let mha = MultiheadAttention::<f64>::new(4, 2);
    let (q, k) = (Tensor::<f64>::zeros(&[3, 2, 4]), Tensor::<f64>::zeros(&[5, 2, 4]));
    let bad_mask = MultiheadAttentionOptions { attn_mask: Some(causal_mask(3).into()), ..Default::default() };
    let msg = panic_message(|| drop(mha.forward_qkv(&q, &k, &k, &bad_mask)));
    assert_names(&msg, &["MultiheadAttention", "attn_mask", "[3, 3]", "[3, 5]", "[4, 3, 5]"]);
    let bad_padding =
        MultiheadAttentionOptions { key_padding_mask: Some(Mask::full(&[2, 3], false).into()), ..Default::default() };
    let msg = panic_message(|| drop(mha.forward_qkv(&q, &k, &k, &bad_padding)));
    assert_names(&msg, &["MultiheadAttention", "key_padding_mask", "[2, 3]", "[2, 5]"]);
    let msg = panic_message(|| drop(mha.forward_qkv(&q, &Tensor::zeros(&[5, 2, 3]), &k, &Default::default())));
    assert_names(&msg, &["MultiheadAttention", "[5, 2, 3]", "kdim 4"]);
    let (q, k) = (Tensor::<f64>::zeros(&[2, 3, 4]), Tensor::<f64>::zeros(&[2, 5, 4]));
    let msg = panic_message(|| drop(sdpa(&q, &k, &k, with_mask(Mask::full(&[4, 5], true)))));
    assert_names(&msg, &["scaled_dot_product_attention", "attn_mask", "[4, 5]", "[2, 3, 5]"]);
    let both = SdpaOptions { is_causal: true, ..with_mask(Mask::full(&[3, 5], true)) };
    let msg = panic_message(|| drop(sdpa(&q, &k, &k, both)));
    assert_names(&msg, &["scaled_dot_product_attention", "is_causal", "[3, 5]"]);
    let msg = panic_message(|| drop(sdpa(&q, &Tensor::zeros(&[2, 5, 3]), &k, SdpaOptions::default())));
    assert_names(&msg, &["scaled_dot_product_attention", "[2, 3, 4]", "[2, 5, 3]"]);
}

/// Self-attention as a one-input module, for [`gradcheck_module`]: the
/// output, followed by the weights when they are returned.
struct SelfAttention {
    mha: MultiheadAttention<f64>,
    opts: MultiheadAttentionOptions<f64>,
}
parts!(SelfAttention: f64 { mha });

/// `y` and, if present, `w`, flattened and joined: every output is checked.
fn joined(y: Tensor<f64>, w: Option<Tensor<f64>>) -> Tensor<f64> {
    match w {
        Some(w) => Tensor::cat(&[&y.flatten(0, -1), &w.flatten(0, -1)], 0),
        None => y,
    }
}

impl Forward<f64> for SelfAttention {
    fn forward(&self, x: &Tensor<f64>) -> Tensor<f64> {
        let (y, w) = self.mha.forward_qkv(x, x, x, &self.opts);
        joined(y, w)
    }
}

/// A `[rows, cols]` mask, true at least in column 0 of every row.
fn keep_mask(rows: usize, cols: usize) -> impl Strategy<Value = Mask> {
    proptest::collection::vec(any::<bool>(), rows * cols).prop_map(move |mut v| {
        (0..rows).for_each(|r| v[r * cols] = true);
        Mask::from_vec(v, &[rows, cols])
    })
}

/// Query `[2, L, E]`, transposed key `[2, E, S]`, value `[2, S, Ev]` and a
/// mask `[L, S]` that keeps some key of every query.
fn sdpa_inputs() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>, Tensor<f64>, Mask)> {
    (1usize..4, 1usize..4, 1usize..4, 1usize..3).prop_flat_map(|(l, s, e, ev)| {
        (
            tensor(vec![2, l, e], -1.5, 1.5),
            tensor(vec![2, e, s], -1.5, 1.5),
            tensor(vec![2, s, ev], -1.5, 1.5),
            keep_mask(l, s),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn sdpa_gradients_with_every_mask_kind((q, kt, v, keep) in sdpa_inputs(), kind in 0usize..4) {
        let (l, s) = (keep.shape()[0], keep.shape()[1]);
        let opts = match kind {
            0 => SdpaOptions::default(),
            1 => with_mask(keep),
            2 => {
                let additive = Tensor::full(&[l, s], 0.3).masked_fill(&keep.logical_not(), f64::NEG_INFINITY);
                with_mask(additive)
            }
            _ => SdpaOptions { is_causal: true, scale: Some(0.7), ..Default::default() },
        };
        // The key arrives transposed: a non-contiguous view.
        let f = |x: &[Tensor<f64>]| scaled_dot_product_attention(&x[0], &x[1].transpose(1, 2), &x[2], &opts);
        gradcheck(f, &[q.clone(), kt.clone(), v.clone()]).unwrap();
        if kind == 1 {
            gradgradcheck(f, &[q, kt, v]).unwrap();
        }
    }

    #[test]
    fn mha_input_gradients_with_masks_kdim_and_extra_keys(
        // [L, B, E] (or [B, L, E]) with L = B = 2, and keys [S, B, kdim] with S = 2.
        x in tensor(vec![2, 2, 4], -1.0, 1.0),
        kv in tensor(vec![2, 2, 3], -1.0, 1.0),
        keep in keep_mask(2, 2),
        (batch_first, add_zero_attn, add_bias_kv, need_weights) in (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
    ) {
        let config =
            MultiheadAttentionConfig { kdim: Some(3), vdim: Some(3), batch_first, add_zero_attn, add_bias_kv, ..Default::default() };
        let mha = MultiheadAttention::<f64>::with_config(4, 2, config);
        let opts = MultiheadAttentionOptions {
            key_padding_mask: Some(keep.logical_not().into()),
            need_weights,
            average_attn_weights: false,
            ..Default::default()
        };
        // The value is a strided view of its own tensor.
        let f = |x: &[Tensor<f64>]| {
            let (y, w) = mha.forward_qkv(&x[0], &x[1], &x[2].slice(2, 0, 6, 2), &opts);
            joined(y, w)
        };
        gradcheck(f, &[x, kv.clone(), Tensor::cat(&[&kv, &kv], 2)]).unwrap();
    }

    #[test]
    fn mha_parameter_gradients_with_causal_and_additive_masks(
        x in tensor(vec![3, 2, 4], -1.0, 1.0),
        causal in any::<bool>(),
        need_weights in any::<bool>(),
    ) {
        let config = MultiheadAttentionConfig { add_bias_kv: true, ..Default::default() };
        let mha = MultiheadAttention::<f64>::with_config(4, 2, config);
        let attn_mask: AttnMask<f64> =
            if causal { causal_mask_bool(3).into() } else { Tensor::<f64>::linspace(-1.0, 1.0, 9).reshape(&[3, 3]).into() };
        let opts = MultiheadAttentionOptions { attn_mask: Some(attn_mask), need_weights, ..Default::default() };
        gradcheck_module(&SelfAttention { mha, opts }, &x).unwrap();
    }
}

#[test]
fn mha_gradients_through_a_3d_per_head_mask() {
    let mha = MultiheadAttention::<f64>::new(4, 2);
    // One [3, 3] mask per (batch, head); column 0 is never masked.
    let mask = Mask::from_vec((0..4 * 3 * 3).map(|i| i % 3 != 0 && i % 4 == 1).collect(), &[4, 3, 3]);
    let opts = MultiheadAttentionOptions { attn_mask: Some(mask.into()), ..Default::default() };
    let x = no_grad(|| Tensor::<f64>::randn(&[3, 2, 4]));
    gradcheck_module(&SelfAttention { mha, opts }, &x).unwrap();
}
