//! Transformer layers, stacks, the full model and positional encodings:
//! values worked out by hand, pre- and post-norm composition, causality,
//! key padding, PyTorch's parameter names, errors and gradient checks.

use lamina_core::testing::tensor;
use lamina_core::{gradcheck, Mask, Tensor};
use lamina_layers::{
    causal_mask, gradcheck_module, parts, AttnMask, DecoderOptions, EncoderOptions, Forward, LayerNorm,
    LearnedPositionalEmbedding, ModuleExt, MultiheadAttention, MultiheadAttentionOptions, SinusoidalPositionalEncoding,
    Transformer, TransformerActivation, TransformerConfig, TransformerDecoder, TransformerDecoderLayer,
    TransformerEncoder, TransformerEncoderLayer, TransformerLayerConfig, TransformerOptions,
};
use proptest::prelude::*;

use crate::common;
use common::{assert_close, panic_message, t};

/// Small layers without dropout.
fn small(norm_first: bool, activation: TransformerActivation, batch_first: bool) -> TransformerLayerConfig {
    TransformerLayerConfig {
        dim_feedforward: 6,
        dropout: 0.0,
        activation,
        norm_first,
        batch_first,
        ..Default::default()
    }
}

fn set(t: &Tensor<f64>, v: &[f64]) {
    t.assign(&Tensor::from_vec(v.to_vec(), t.shape()));
}

#[test]
fn pre_norm_encoder_layer_of_width_one_by_hand() {
    // With one feature a layer norm outputs its bias: norm1(x) = 0.5 for every
    // token, so self-attention averages equal values: v = 2·0.5 + 1 = 2,
    // out_proj 3·2 - 1 = 5, and x1 = x + 5. Then norm2(x1) = -1, the
    // feed-forward block is relu([1, -1]·(-1) + [0, 0]) = [0, 1], times
    // [4, 7] plus 0.25: 7.25. So y = x + 12.25.
    let config = TransformerLayerConfig { dim_feedforward: 2, ..small(true, TransformerActivation::Relu, false) };
    let layer = TransformerEncoderLayer::<f64>::with_config(1, 1, config);
    set(layer.self_attn.in_proj_weight.as_ref().unwrap(), &[0.3, -0.8, 2.0]);
    set(layer.self_attn.in_proj_bias.as_ref().unwrap(), &[0.1, 0.2, 1.0]);
    set(&layer.self_attn.out_proj.weight, &[3.0]);
    set(layer.self_attn.out_proj.bias.as_ref().unwrap(), &[-1.0]);
    set(layer.norm1.bias().unwrap(), &[0.5]);
    set(layer.norm2.bias().unwrap(), &[-1.0]);
    set(&layer.linear1.weight, &[1.0, -1.0]);
    set(layer.linear1.bias.as_ref().unwrap(), &[0.0, 0.0]);
    set(&layer.linear2.weight, &[4.0, 7.0]);
    set(layer.linear2.bias.as_ref().unwrap(), &[0.25]);
    let x = t(&[1.0, -2.0, 0.5], &[3, 1, 1]);
    assert_close(&layer.forward(&x), &[13.25, 10.25, 12.75]);
    // Post-norm ends in norm2, which outputs its bias.
    let post =
        TransformerEncoderLayer::<f64>::with_config(1, 1, TransformerLayerConfig { norm_first: false, ..config });
    set(post.norm2.bias().unwrap(), &[-1.0]);
    assert_close(&post.forward(&x), &[-1.0, -1.0, -1.0]);
}

/// The encoder layer written out from its public parts.
fn encoder_by_hand(layer: &TransformerEncoderLayer<f64>, x: &Tensor<f64>, opts: &EncoderOptions<f64>) -> Tensor<f64> {
    let mha_opts = MultiheadAttentionOptions {
        attn_mask: opts.src_mask.clone(),
        key_padding_mask: opts.src_key_padding_mask.clone(),
        need_weights: false,
        ..Default::default()
    };
    let sa = |x: &Tensor<f64>| layer.self_attn.forward_qkv(x, x, x, &mha_opts).0;
    let act = |h: Tensor<f64>| match layer.config().activation {
        TransformerActivation::Relu => h.relu(),
        TransformerActivation::Gelu => h.gelu(),
    };
    let ff = |x: &Tensor<f64>| layer.linear2.forward(&act(layer.linear1.forward(x)));
    if layer.config().norm_first {
        let x = x + &sa(&layer.norm1.forward(x));
        &x + &ff(&layer.norm2.forward(&x))
    } else {
        let x = layer.norm1.forward(&(x + &sa(x)));
        layer.norm2.forward(&(&x + &ff(&x)))
    }
}

#[test]
fn encoder_layer_is_attention_then_feed_forward_with_residuals_and_norms() {
    let x = Tensor::<f64>::randn(&[5, 2, 4]);
    let opts = EncoderOptions {
        src_key_padding_mask: Some(Mask::from_vec((0..10).map(|i| i == 9).collect(), &[2, 5]).into()),
        ..Default::default()
    };
    for norm_first in [false, true] {
        for act in [TransformerActivation::Relu, TransformerActivation::Gelu] {
            let layer = TransformerEncoderLayer::<f64>::with_config(4, 2, small(norm_first, act, false));
            assert_close(&layer.forward_with(&x, &opts), &encoder_by_hand(&layer, &x, &opts).to_vec());
        }
    }
}

#[test]
fn decoder_layer_is_self_attention_cross_attention_and_feed_forward() {
    let (tgt, memory) = (Tensor::<f64>::randn(&[2, 3, 4]), Tensor::<f64>::randn(&[2, 5, 4]));
    for norm_first in [false, true] {
        let layer =
            TransformerDecoderLayer::<f64>::with_config(4, 2, small(norm_first, TransformerActivation::Relu, true));
        let opts = DecoderOptions { tgt_mask: Some(causal_mask(3).into()), ..Default::default() };
        let y = layer.forward_with(&tgt, &memory, &opts);
        let attn = |m: &MultiheadAttention<f64>, x: &Tensor<f64>, kv: &Tensor<f64>, mask: Option<AttnMask<f64>>| {
            let o = MultiheadAttentionOptions { attn_mask: mask, need_weights: false, ..Default::default() };
            m.forward_qkv(x, kv, kv, &o).0
        };
        let ff = |x: &Tensor<f64>| layer.linear2.forward(&layer.linear1.forward(x).relu());
        let want = if norm_first {
            let n1 = layer.norm1.forward(&tgt);
            let x = &tgt + &attn(&layer.self_attn, &n1, &n1, Some(causal_mask(3).into()));
            let x = &x + &attn(&layer.multihead_attn, &layer.norm2.forward(&x), &memory, None);
            &x + &ff(&layer.norm3.forward(&x))
        } else {
            let x = layer.norm1.forward(&(&tgt + &attn(&layer.self_attn, &tgt, &tgt, Some(causal_mask(3).into()))));
            let x = layer.norm2.forward(&(&x + &attn(&layer.multihead_attn, &x, &memory, None)));
            layer.norm3.forward(&(&x + &ff(&x)))
        };
        assert_close(&y, &want.to_vec());
    }
}

#[test]
fn causal_decoding_keeps_earlier_outputs_independent_of_later_tokens() {
    let layer = TransformerDecoderLayer::<f64>::with_config(4, 2, small(false, TransformerActivation::Gelu, false));
    let memory = Tensor::<f64>::randn(&[3, 1, 4]);
    let tgt = Tensor::<f64>::randn(&[4, 1, 4]);
    let mut later = tgt.to_vec();
    later[8..].iter_mut().for_each(|v| *v *= -2.0);
    let later = t(&later, &[4, 1, 4]);
    for opts in [
        DecoderOptions { tgt_mask: Some(causal_mask(4).into()), ..Default::default() },
        DecoderOptions { tgt_is_causal: true, ..Default::default() },
    ] {
        let (a, b) = (layer.forward_with(&tgt, &memory, &opts), layer.forward_with(&later, &memory, &opts));
        assert_close(&b.narrow(0, 0, 2), &a.narrow(0, 0, 2).to_vec());
        assert!((b.narrow(0, 2, 2) - a.narrow(0, 2, 2)).abs().sum().item() > 1e-6);
    }
    // The encoder likewise, with is_causal.
    let enc = TransformerEncoderLayer::<f64>::with_config(4, 2, small(true, TransformerActivation::Relu, false));
    let opts = EncoderOptions { is_causal: true, ..Default::default() };
    let (a, b) = (enc.forward_with(&tgt, &opts), enc.forward_with(&later, &opts));
    assert_close(&b.narrow(0, 0, 2), &a.narrow(0, 0, 2).to_vec());
}

#[test]
fn padded_keys_do_not_affect_other_positions() {
    let layer = TransformerEncoderLayer::<f64>::with_config(4, 2, small(false, TransformerActivation::Relu, true));
    let x = Tensor::<f64>::randn(&[1, 4, 4]);
    let mut padded = x.to_vec();
    padded[12..].iter_mut().for_each(|v| *v = 9.0);
    let padded = t(&padded, &[1, 4, 4]);
    let opts = EncoderOptions {
        src_key_padding_mask: Some(Mask::from_vec(vec![false, false, false, true], &[1, 4]).into()),
        ..Default::default()
    };
    let (a, b) = (layer.forward_with(&x, &opts), layer.forward_with(&padded, &opts));
    assert_close(&b.narrow(1, 0, 3), &a.narrow(1, 0, 3).to_vec());
}

#[test]
fn parameter_names_follow_pytorch() {
    let names = |m: &dyn lamina_layers::Module<f64>| m.state_dict().keys().map(str::to_owned).collect::<Vec<_>>();
    let attn = ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"];
    let tail = ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"];
    let enc = TransformerEncoderLayer::<f64>::with_config(4, 2, small(false, TransformerActivation::Relu, false));
    let mut want: Vec<String> = attn.iter().map(|n| format!("self_attn.{n}")).collect();
    want.extend(tail.iter().map(|n| n.to_string()));
    want.extend(["norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"].map(String::from));
    assert_eq!(names(&enc), want);
    let dec = TransformerDecoderLayer::<f64>::with_config(4, 2, small(false, TransformerActivation::Relu, false));
    let mut want: Vec<String> = attn.iter().map(|n| format!("self_attn.{n}")).collect();
    want.extend(attn.iter().map(|n| format!("multihead_attn.{n}")));
    want.extend(tail.iter().map(|n| n.to_string()));
    want.extend(["norm1", "norm2", "norm3"].iter().flat_map(|n| [format!("{n}.weight"), format!("{n}.bias")]));
    assert_eq!(names(&dec), want);
    let no_bias = TransformerEncoderLayer::<f64>::with_config(
        4,
        2,
        TransformerLayerConfig { bias: false, ..small(false, TransformerActivation::Relu, false) },
    );
    assert_eq!(
        names(&no_bias),
        [
            "self_attn.in_proj_weight",
            "self_attn.out_proj.weight",
            "linear1.weight",
            "linear2.weight",
            "norm1.weight",
            "norm2.weight"
        ]
    );
    let stack = TransformerEncoder::new(enc, 2, Some(LayerNorm::new(&[4])));
    let stack_names = names(&stack);
    assert_eq!(stack_names[0], "layers.0.self_attn.in_proj_weight");
    assert!(stack_names.contains(&"layers.1.norm2.bias".to_owned()));
    assert_eq!(&stack_names[stack_names.len() - 2..], ["norm.weight", "norm.bias"]);
}

#[test]
fn stacks_start_from_copies_and_apply_their_layers_in_order() {
    let layer = TransformerDecoderLayer::<f64>::with_config(4, 2, small(true, TransformerActivation::Relu, false));
    let dec = TransformerDecoder::new(layer, 3, Some(LayerNorm::new(&[4])));
    let sd = dec.state_dict();
    let w = |i: usize| sd.get(&format!("layers.{i}.linear1.weight")).unwrap().to_vec();
    assert_eq!(w(0), w(2));
    // Copies do not share storage: changing one leaves the others.
    dec.layers[1].linear1.weight.assign(&Tensor::zeros(&[6, 4]));
    assert_eq!(w(0), w(2));
    let (tgt, memory) = (Tensor::<f64>::randn(&[3, 2, 4]), Tensor::<f64>::randn(&[5, 2, 4]));
    let opts = DecoderOptions { tgt_mask: Some(causal_mask(3).into()), ..Default::default() };
    let mut want = tgt.clone();
    for l in &dec.layers {
        want = l.forward_with(&want, &memory, &opts);
    }
    let want = dec.norm.as_ref().unwrap().forward(&want);
    assert_close(&dec.forward_with(&tgt, &memory, &opts), &want.to_vec());
}

#[test]
fn transformer_encodes_the_source_as_the_decoders_memory() {
    let layer = small(false, TransformerActivation::Relu, true);
    let config = TransformerConfig { d_model: 4, nhead: 2, num_encoder_layers: 2, num_decoder_layers: 1, layer };
    let model = Transformer::<f64>::new(config);
    let names: Vec<String> = model.state_dict().keys().map(str::to_owned).collect();
    assert_eq!(names[0], "encoder.layers.0.self_attn.in_proj_weight");
    for n in [
        "encoder.layers.1.linear2.bias",
        "encoder.norm.weight",
        "decoder.layers.0.multihead_attn.in_proj_bias",
        "decoder.norm.bias",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    // Every matrix is redrawn Xavier uniform: within its bound, no longer shared by copies.
    let sd = model.state_dict();
    let l1 = |i: usize| sd.get(&format!("encoder.layers.{i}.linear1.weight")).unwrap().to_vec();
    assert_ne!(l1(0), l1(1));
    assert!(l1(0).iter().all(|w| w.abs() <= (6.0f64 / 10.0).sqrt()));
    let (src, tgt) = (Tensor::<f64>::randn(&[2, 5, 4]), Tensor::<f64>::randn(&[2, 3, 4]));
    let opts = TransformerOptions {
        encoder: EncoderOptions {
            src_key_padding_mask: Some(Mask::from_vec((0..10).map(|i| i == 4).collect(), &[2, 5]).into()),
            ..Default::default()
        },
        decoder: DecoderOptions { tgt_is_causal: true, ..Default::default() },
    };
    let memory = model.encoder.forward_with(&src, &opts.encoder);
    let want = model.decoder.forward_with(&tgt, &memory, &opts.decoder);
    assert_close(&model.forward_with(&src, &tgt, &opts), &want.to_vec());
    assert_eq!(Transformer::<f64>::generate_square_subsequent_mask(3).to_vec(), causal_mask::<f64>(3).to_vec());
}

#[test]
fn dropout_follows_train_and_eval() {
    let config = TransformerLayerConfig { dropout: 0.5, ..small(false, TransformerActivation::Relu, false) };
    let layer = TransformerEncoderLayer::<f64>::with_config(4, 2, config);
    let x = Tensor::<f64>::randn(&[4, 2, 4]);
    assert_ne!(layer.forward(&x).to_vec(), layer.forward(&x).to_vec());
    layer.eval();
    assert_eq!(layer.forward(&x).to_vec(), layer.forward(&x).to_vec());
}

#[test]
fn sinusoidal_encoding_follows_attention_is_all_you_need() {
    // d = 4: frequencies 1 and 10000^(-2/4) = 1/100.
    let table = SinusoidalPositionalEncoding::<f64>::table(3, 4);
    let row = |p: f64| [p.sin(), p.cos(), (p / 100.0).sin(), (p / 100.0).cos()];
    let want: Vec<f64> = [0.0, 1.0, 2.0].iter().flat_map(|&p| row(p)).collect();
    assert_close(&table, &want);
    // Added along the sequence dim: [T, B, d] or [B, T, d].
    let x = Tensor::<f64>::randn(&[3, 2, 4]);
    let seq = SinusoidalPositionalEncoding::<f64>::new(4, false).forward(&x);
    assert_close(&(seq - &x).narrow(1, 1, 1), &want);
    let bf = SinusoidalPositionalEncoding::<f64>::new(4, true).forward(&x.transpose(0, 1));
    assert_close(&(bf - x.transpose(0, 1)).narrow(0, 1, 1), &want);
    // Odd widths end with a sine.
    let odd = SinusoidalPositionalEncoding::<f64>::table(2, 3).to_vec();
    assert_close(&t(&odd[3..], &[3]), &[1f64.sin(), 1f64.cos(), (1f64 / 10000f64.powf(2.0 / 3.0)).sin()]);
}

#[test]
fn learned_positional_embedding_adds_its_rows() {
    let pe = LearnedPositionalEmbedding::<f64>::new(5, 2, true);
    set(&pe.weight, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let y = pe.forward(&Tensor::ones(&[2, 3, 2]));
    assert_close(&y, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(pe.named_parameters().len(), 1);
    let x = Tensor::<f64>::ones(&[3, 2]).requires_grad_(true);
    pe.forward(&x).sum().backward();
    assert_eq!(pe.weight.grad().unwrap().to_vec(), vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
}

fn assert_names(msg: &str, parts: &[&str]) {
    common::assert_names_in("tests/transformer.rs", msg, parts);
}

#[test]
fn errors_name_the_layer_the_shapes_and_the_caller() {
    let msg = panic_message(|| drop(TransformerEncoderLayer::<f64>::new(6, 4)));
    assert_names(&msg, &["MultiheadAttention", "embed_dim 6", "num_heads 4"]);
    let layer = TransformerEncoderLayer::<f64>::with_config(4, 2, small(false, TransformerActivation::Relu, false));
    let opts = EncoderOptions { src_mask: Some(causal_mask(2).into()), ..Default::default() };
    let msg = panic_message(|| drop(layer.forward_with(&Tensor::zeros(&[3, 1, 4]), &opts)));
    assert_names(&msg, &["MultiheadAttention", "attn_mask", "[2, 2]", "[3, 3]"]);
    let config = TransformerConfig {
        d_model: 4,
        nhead: 2,
        num_encoder_layers: 1,
        num_decoder_layers: 1,
        layer: small(false, TransformerActivation::Relu, false),
    };
    let model = Transformer::<f64>::new(config);
    let msg = panic_message(|| {
        drop(model.forward_with(&Tensor::zeros(&[3, 2, 4]), &Tensor::zeros(&[3, 1, 4]), &Default::default()))
    });
    assert_names(&msg, &["Transformer", "[3, 2, 4]", "[3, 1, 4]"]);
    let pe = LearnedPositionalEmbedding::<f64>::new(2, 4, false);
    let msg = panic_message(|| drop(pe.forward(&Tensor::zeros(&[3, 1, 4]))));
    assert_names(&msg, &["LearnedPositionalEmbedding", "[3, 1, 4]", "max_len 2"]);
    let msg =
        panic_message(|| drop(SinusoidalPositionalEncoding::<f64>::new(4, false).forward(&Tensor::zeros(&[3, 1, 5]))));
    assert_names(&msg, &["SinusoidalPositionalEncoding", "[3, 1, 5]"]);
}

/// An encoder layer under fixed masks, as a one-input module.
struct Encoding {
    layer: TransformerEncoderLayer<f64>,
    opts: EncoderOptions<f64>,
}
parts!(Encoding: f64 { layer });

impl Forward<f64> for Encoding {
    fn forward(&self, x: &Tensor<f64>) -> Tensor<f64> {
        self.layer.forward_with(x, &self.opts)
    }
}

/// A decoder layer on a fixed memory, as a one-input module.
struct Decoding {
    layer: TransformerDecoderLayer<f64>,
    memory: Tensor<f64>,
    opts: DecoderOptions<f64>,
}
parts!(Decoding: f64 { layer });

impl Forward<f64> for Decoding {
    fn forward(&self, x: &Tensor<f64>) -> Tensor<f64> {
        self.layer.forward_with(x, &self.memory, &self.opts)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn encoder_layer_gradients(
        x in tensor(vec![3, 2, 4], -1.0, 1.0),
        (norm_first, gelu, causal) in (any::<bool>(), any::<bool>(), any::<bool>()),
    ) {
        let act = if gelu { TransformerActivation::Gelu } else { TransformerActivation::Relu };
        let layer = TransformerEncoderLayer::<f64>::with_config(4, 2, small(norm_first, act, false));
        let opts = EncoderOptions {
            src_key_padding_mask: Some(Mask::from_vec(vec![false, false, true, false, false, false], &[2, 3]).into()),
            is_causal: causal,
            ..Default::default()
        };
        gradcheck_module(&Encoding { layer, opts }, &x).unwrap();
    }

    #[test]
    fn decoder_layer_gradients(
        tgt in tensor(vec![2, 3, 4], -1.0, 1.0),
        memory in tensor(vec![2, 2, 4], -1.0, 1.0),
        norm_first in any::<bool>(),
    ) {
        let layer = TransformerDecoderLayer::<f64>::with_config(4, 2, small(norm_first, TransformerActivation::Gelu, true));
        let opts = DecoderOptions {
            tgt_mask: Some(causal_mask(3).into()),
            memory_key_padding_mask: Some(Mask::from_vec(vec![false, true, false, false], &[2, 2]).into()),
            ..Default::default()
        };
        // The memory's gradient, through a transposed (non-contiguous) view.
        let f = |x: &[Tensor<f64>]| layer.forward_with(&x[0], &x[1].transpose(0, 1), &opts);
        gradcheck(f, &[tgt.clone(), memory.transpose(0, 1).contiguous()]).unwrap();
        gradcheck_module(&Decoding { layer, memory, opts }, &tgt).unwrap();
    }
}
