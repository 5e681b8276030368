//! Attention: [`scaled_dot_product_attention`] (PyTorch's
//! `F.scaled_dot_product_attention`) and [`MultiheadAttention`]
//! (`nn.MultiheadAttention`), with their masks and the causal-mask helpers.
//!
//! Heads are views: a projection `[T, B, E]` is viewed as `[T, B, H, D]` and
//! permuted to `[B, H, T, D]`, and core's batched, strided matmul multiplies
//! every head at once, so no head is looped over or copied. Everything is
//! built from core's differentiable ops, so gradients (and gradients of
//! gradients) come from the tape.

use crate::norm::{fail, param};
use crate::{Forward, Linear, Module, Part, TrainingFlag, Visit};
use lamina_core::{broadcast_shapes, Element, Mask, PadMode, Tensor};
use std::panic::Location;

/// An attention mask, boolean or additive, broadcast against the attention
/// scores `[..., L, S]` (one row per query, one column per key).
///
/// The meaning of a boolean mask follows PyTorch, which is not consistent:
/// for [`scaled_dot_product_attention`] `true` means *takes part*; for
/// [`MultiheadAttention`] and the transformer layers `true` means *masked
/// out*. A float mask is added to the scores before the softmax in both
/// cases: 0 keeps a position, `-inf` removes it, other values bias it.
///
/// ```
/// use lamina_core::{Mask, Tensor};
/// use lamina_layers::AttnMask;
/// let keep = AttnMask::<f32>::from(Mask::from_vec(vec![true, false], &[1, 2]));
/// let bias = AttnMask::from(Tensor::<f32>::from_vec(vec![0.0, f32::NEG_INFINITY], &[1, 2]));
/// assert_eq!(keep.shape(), bias.shape());
/// ```
#[derive(Clone, Debug)]
pub enum AttnMask<E: Element = f32> {
    /// A boolean mask (see the type's documentation for which value masks).
    Bool(Mask),
    /// Added to the scores: 0 to attend, `-inf` to mask out.
    Float(Tensor<E>),
}

impl<E: Element> From<Mask> for AttnMask<E> {
    fn from(m: Mask) -> Self {
        AttnMask::Bool(m)
    }
}

impl<E: Element> From<Tensor<E>> for AttnMask<E> {
    fn from(t: Tensor<E>) -> Self {
        AttnMask::Float(t)
    }
}

impl<E: Element> AttnMask<E> {
    /// The mask's shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            AttnMask::Bool(m) => m.shape(),
            AttnMask::Float(t) => t.shape(),
        }
    }

    /// The mask as scores to add: a float mask as it is; a boolean one as
    /// `-inf` where its value is `masked` and 0 elsewhere (PyTorch's
    /// `_canonical_mask`).
    fn additive(&self, masked: bool) -> Tensor<E> {
        match self {
            AttnMask::Float(t) => t.clone(),
            AttnMask::Bool(m) => {
                let out = if masked { m.clone() } else { m.logical_not() };
                Tensor::zeros(m.shape()).masked_fill(&out, E::neg_infinity())
            }
        }
    }
}

/// `true` where query `i` may see key `j`, i.e. `j <= i`: PyTorch's top-left
/// aligned `tril(ones(l, s))`.
fn causal_keep(l: usize, s: usize) -> Vec<bool> {
    (0..l).flat_map(|i| (0..s).map(move |j| j <= i)).collect()
}

/// `[l, s]` scores to add for causal attention: 0 where `j <= i`, `-inf` above.
fn causal_bias<E: Element>(l: usize, s: usize) -> Tensor<E> {
    let data = causal_keep(l, s).into_iter().map(|keep| if keep { E::zero() } else { E::neg_infinity() }).collect();
    Tensor::from_vec(data, &[l, s])
}

/// The float causal mask `[n, n]`: 0 on and below the diagonal, `-inf` above,
/// so position `i` attends to positions `0..=i` only. This is PyTorch's
/// `nn.Transformer.generate_square_subsequent_mask(n)`; pass it as an
/// `attn_mask`/`tgt_mask` of any attention here (it is additive, so it means
/// the same to [`scaled_dot_product_attention`] and [`MultiheadAttention`]).
///
/// ```
/// use lamina_layers::causal_mask;
/// let inf = f64::INFINITY;
/// assert_eq!(causal_mask::<f64>(3).to_vec(), vec![0.0, -inf, -inf, 0.0, 0.0, -inf, 0.0, 0.0, 0.0]);
/// ```
pub fn causal_mask<E: Element>(n: usize) -> Tensor<E> {
    causal_bias(n, n)
}

/// The boolean causal mask `[n, n]` in [`MultiheadAttention`]'s convention:
/// `true` (masked out) strictly above the diagonal. For
/// [`scaled_dot_product_attention`], whose `true` means "attend", use
/// `is_causal` or this mask's [`logical_not`](Mask::logical_not).
///
/// ```
/// use lamina_layers::causal_mask_bool;
/// assert_eq!(causal_mask_bool(2).to_vec(), vec![false, true, false, false]);
/// ```
pub fn causal_mask_bool(n: usize) -> Mask {
    Mask::from_vec(causal_keep(n, n).into_iter().map(|keep| !keep).collect(), &[n, n])
}

/// Options of [`scaled_dot_product_attention`], with PyTorch's defaults.
#[derive(Clone, Debug)]
pub struct SdpaOptions<E: Element = f32> {
    /// A mask broadcast to the scores `[..., L, S]`; a boolean one's `true`
    /// means *takes part*. Default `None`.
    pub attn_mask: Option<AttnMask<E>>,
    /// Dropout on the attention probabilities. It is always applied when
    /// positive, as in PyTorch's functional form (pass 0 in evaluation). Default `0.0`.
    pub dropout_p: f64,
    /// Query `i` sees keys `0..=i` only (top-left aligned when `L != S`);
    /// exclusive with `attn_mask`. Default `false`.
    pub is_causal: bool,
    /// The score scale; `None` is `1/√E` for queries of size `E`. Default `None`.
    pub scale: Option<f64>,
    /// Grouped-query attention: key/value heads (dim -3) are repeated to the
    /// number of query heads, each `Hq / Hk` times in a row. Default `false`.
    pub enable_gqa: bool,
}

impl<E: Element> Default for SdpaOptions<E> {
    fn default() -> Self {
        SdpaOptions { attn_mask: None, dropout_p: 0.0, is_causal: false, scale: None, enable_gqa: false }
    }
}

/// `softmax(q kᵀ · scale + mask) v`, PyTorch's
/// `F.scaled_dot_product_attention`: `q: [..., L, E]`, `k: [..., S, E]`,
/// `v: [..., S, Ev]` (batch dims broadcast) to `[..., L, Ev]`.
///
/// A query row whose every score is `-inf` (fully masked) gets zero
/// probabilities, hence a zero output and zero gradients, as PyTorch's math
/// backend (`_safe_softmax`) gives; [`MultiheadAttention`] with
/// `need_weights` gives NaN there, as PyTorch does.
///
/// ```
/// use lamina_core::{Mask, Tensor};
/// use lamina_layers::{scaled_dot_product_attention, SdpaOptions};
/// // One query, two keys with equal scores: the output averages the values.
/// let q = Tensor::<f64>::from_vec(vec![1.0, 0.0], &[1, 2]);
/// let k = Tensor::from_vec(vec![0.0, 1.0, 0.0, -1.0], &[2, 2]);
/// let v = Tensor::from_vec(vec![2.0, 4.0], &[2, 1]);
/// let y = scaled_dot_product_attention(&q, &k, &v, &SdpaOptions::default());
/// assert!((y.item() - 3.0).abs() < 1e-12);
/// // A boolean mask keeps (true) the first key only.
/// let opts = SdpaOptions { attn_mask: Some(Mask::from_vec(vec![true, false], &[1, 2]).into()), ..Default::default() };
/// assert!((scaled_dot_product_attention(&q, &k, &v, &opts).item() - 2.0).abs() < 1e-12);
/// ```
#[track_caller]
pub fn scaled_dot_product_attention<E: Element>(
    query: &Tensor<E>,
    key: &Tensor<E>,
    value: &Tensor<E>,
    opts: &SdpaOptions<E>,
) -> Tensor<E> {
    const OP: &str = "scaled_dot_product_attention";
    let at = Location::caller();
    let (q, k, v) = (query.shape(), key.shape(), value.shape());
    if q.len() < 2 || k.len() < 2 || v.len() < 2 || q[q.len() - 1] != k[k.len() - 1] || k[k.len() - 2] != v[v.len() - 2]
    {
        fail(
            OP,
            format!("query, key and value of shapes {q:?}, {k:?} and {v:?} do not fit [..., L, E], [..., S, E] and [..., S, Ev]"),
            at,
        );
    }
    let (key, value) = if opts.enable_gqa {
        let heads = |t: &[usize]| if t.len() >= 3 { t[t.len() - 3] } else { 0 };
        let (hq, hk, hv) = (heads(q), heads(k), heads(v));
        if hk == 0 || hv == 0 || hq % hk != 0 || hq % hv != 0 {
            fail(OP, format!("enable_gqa needs query heads (dim -3) divisible by key and value heads, got shapes {q:?}, {k:?} and {v:?}"), at);
        }
        (repeat_heads(key, hq / hk), repeat_heads(value, hq / hv))
    } else {
        (key.clone(), value.clone())
    };
    let (l, s) = (q[q.len() - 2], key.size(-2));
    let bias = match (&opts.attn_mask, opts.is_causal) {
        (Some(m), true) => fail(OP, format!("is_causal and an attn_mask (of shape {:?}) are exclusive", m.shape()), at),
        (Some(m), false) => Some(m.additive(false)),
        (None, true) => Some(causal_bias(l, s)),
        (None, false) => None,
    };
    let batch = broadcast_shapes(&q[..q.len() - 2], &key.shape()[..key.ndim() - 2]);
    let Some(mut scores) = batch.map(|b| b.to_vec()) else {
        fail(OP, format!("the batch dims of query and key (shapes {q:?} and {:?}) do not broadcast", key.shape()), at)
    };
    scores.extend([l, s]);
    if let Some(b) = &bias {
        if broadcast_shapes(b.shape(), &scores).as_deref() != Some(&scores[..]) {
            fail(
                OP,
                format!("attn_mask of shape {:?} does not broadcast to the scores' shape {scores:?}", b.shape()),
                at,
            );
        }
    }
    let scale = opts.scale.unwrap_or_else(|| 1.0 / (q[q.len() - 1] as f64).sqrt());
    attend(query, &key, &value, bias.as_ref(), scale, opts.dropout_p, true).0
}

/// Repeats each head of `t: [..., H, S, D]` `times` times in a row
/// (`repeat_interleave(times, -3)`).
fn repeat_heads<E: Element>(t: &Tensor<E>, times: usize) -> Tensor<E> {
    if times == 1 {
        return t.clone();
    }
    let n = t.ndim();
    let mut expanded = t.shape().to_vec();
    expanded.insert(n - 2, times);
    let mut merged = t.shape().to_vec();
    merged[n - 3] *= times;
    t.unsqueeze(-3).expand(&expanded).reshape(&merged)
}

/// `softmax(q kᵀ · scale + bias) v`, then dropout on the probabilities:
/// returns the output and the probabilities. With `zero_masked_rows`, rows
/// whose scores are all `-inf` get zero probabilities instead of NaN.
fn attend<E: Element>(
    q: &Tensor<E>,
    k: &Tensor<E>,
    v: &Tensor<E>,
    bias: Option<&Tensor<E>>,
    scale: f64,
    dropout_p: f64,
    zero_masked_rows: bool,
) -> (Tensor<E>, Tensor<E>) {
    let mut scores = q.mul_scalar(E::of(scale)).matmul(&k.transpose(-2, -1));
    if let Some(b) = bias {
        scores = scores + b;
    }
    let probs = if zero_masked_rows && bias.is_some() { safe_softmax(&scores) } else { scores.softmax(-1) };
    let probs = if dropout_p > 0.0 { probs.dropout(dropout_p, true) } else { probs };
    (probs.matmul(v), probs)
}

/// Softmax over the last dim, with rows that are all `-inf` set to 0 (and
/// given zero gradient) rather than NaN: PyTorch's `_safe_softmax`.
fn safe_softmax<E: Element>(scores: &Tensor<E>) -> Tensor<E> {
    let s = scores.size(-1).max(1);
    let masked = scores.eq_scalar(E::neg_infinity()).to_vec();
    let rows: Vec<bool> = masked.chunks(s).map(|r| r.iter().all(|&m| m)).collect();
    if !rows.contains(&true) {
        return scores.softmax(-1);
    }
    let mut shape = scores.shape().to_vec();
    *shape.last_mut().expect("scores are at least 2-d") = 1;
    let rows = Mask::from_vec(rows, &shape);
    // Filling the dead rows first keeps NaN out of the softmax and its gradient.
    let probs = scores.masked_fill(&rows, E::zero()).softmax(-1);
    Tensor::where_(&rows, &Tensor::scalar(E::zero()), &probs)
}

/// Options of [`MultiheadAttention`], with PyTorch's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MultiheadAttentionConfig {
    /// Dropout on the attention probabilities, in training. Default `0.0`.
    pub dropout: f64,
    /// Whether the input and output projections have biases. Default `true`.
    pub bias: bool,
    /// Whether learned `bias_k`/`bias_v` `[1, 1, E]` are appended to the keys
    /// and values as one more position. Default `false`.
    pub add_bias_kv: bool,
    /// Whether a zero key and value are appended as one more position. Default `false`.
    pub add_zero_attn: bool,
    /// Size of the key features; `None` is `embed_dim`. Default `None`.
    pub kdim: Option<usize>,
    /// Size of the value features; `None` is `embed_dim`. Default `None`.
    pub vdim: Option<usize>,
    /// Inputs and outputs are `[batch, seq, feature]` (else `[seq, batch, feature]`). Default `false`.
    pub batch_first: bool,
}

impl Default for MultiheadAttentionConfig {
    fn default() -> Self {
        MultiheadAttentionConfig {
            dropout: 0.0,
            bias: true,
            add_bias_kv: false,
            add_zero_attn: false,
            kdim: None,
            vdim: None,
            batch_first: false,
        }
    }
}

/// Forward options of [`MultiheadAttention::forward_qkv`], with PyTorch's defaults.
#[derive(Clone, Debug)]
pub struct MultiheadAttentionOptions<E: Element = f32> {
    /// `[B, S]` (`[S]` unbatched): keys to ignore; a boolean one's `true`
    /// means *ignore*, a float one is added to the scores. Default `None`.
    pub key_padding_mask: Option<AttnMask<E>>,
    /// Whether to return the attention weights. Default `true`.
    pub need_weights: bool,
    /// `[L, S]`, or `[B·num_heads, L, S]` for one mask per batch element and
    /// head; a boolean one's `true` means *masked out*. Default `None`.
    pub attn_mask: Option<AttnMask<E>>,
    /// Return the weights averaged over heads `[B, L, S]` rather than
    /// per head `[B, num_heads, L, S]`. Default `true`.
    pub average_attn_weights: bool,
    /// A hint that `attn_mask` is the causal mask. PyTorch requires the mask
    /// then; without one, lamina applies the causal mask itself. Default `false`.
    pub is_causal: bool,
}

impl<E: Element> Default for MultiheadAttentionOptions<E> {
    fn default() -> Self {
        MultiheadAttentionOptions {
            key_padding_mask: None,
            need_weights: true,
            attn_mask: None,
            average_attn_weights: true,
            is_causal: false,
        }
    }
}

/// Multi-head attention, PyTorch's `nn.MultiheadAttention`: queries, keys
/// and values are projected, split into `num_heads` heads of size
/// `embed_dim / num_heads`, attended per head
/// (`softmax(q kᵀ/√d + masks) v`), joined and projected by `out_proj`.
///
/// Parameters, with PyTorch's names: `in_proj_weight` `[3E, E]` (or
/// `q_proj_weight` `[E, E]`, `k_proj_weight` `[E, kdim]`, `v_proj_weight`
/// `[E, vdim]` when `kdim`/`vdim` differ from `E`), `in_proj_bias` `[3E]`,
/// `bias_k`/`bias_v` `[1, 1, E]` with `add_bias_kv`, and `out_proj.weight`,
/// `out_proj.bias`. Initialised as PyTorch does: Xavier-uniform input
/// projections, zero biases, `out_proj` as a Linear, Xavier-normal `bias_k`/`bias_v`.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{MultiheadAttention, MultiheadAttentionOptions};
/// let mha = MultiheadAttention::<f32>::new(8, 2);
/// let x = Tensor::randn(&[5, 3, 8]); // [seq, batch, embed]
/// let (y, w) = mha.forward_qkv(&x, &x, &x, &MultiheadAttentionOptions::default());
/// assert_eq!(y.shape(), &[5, 3, 8]);
/// assert_eq!(w.unwrap().shape(), &[3, 5, 5]); // averaged over heads
/// ```
pub struct MultiheadAttention<E: Element = f32> {
    /// `[3E, E]`: the query, key and value projections stacked (when `kdim = vdim = E`).
    pub in_proj_weight: Option<Tensor<E>>,
    /// `[E, E]`, when the projections are separate.
    pub q_proj_weight: Option<Tensor<E>>,
    /// `[E, kdim]`, when the projections are separate.
    pub k_proj_weight: Option<Tensor<E>>,
    /// `[E, vdim]`, when the projections are separate.
    pub v_proj_weight: Option<Tensor<E>>,
    /// `[3E]`: the query, key and value projection biases, with `bias`.
    pub in_proj_bias: Option<Tensor<E>>,
    /// `[1, 1, E]`, with `add_bias_kv`.
    pub bias_k: Option<Tensor<E>>,
    /// `[1, 1, E]`, with `add_bias_kv`.
    pub bias_v: Option<Tensor<E>>,
    /// The output projection `E -> E`.
    pub out_proj: Linear<E>,
    embed_dim: usize,
    num_heads: usize,
    config: MultiheadAttentionConfig,
    training: TrainingFlag,
}

impl<E: Element> MultiheadAttention<E> {
    /// `num_heads` heads over features of size `embed_dim`, with PyTorch's defaults.
    /// Panics unless `num_heads` divides `embed_dim`.
    #[track_caller]
    pub fn new(embed_dim: usize, num_heads: usize) -> Self {
        Self::with_config(embed_dim, num_heads, MultiheadAttentionConfig::default())
    }

    /// `num_heads` heads over features of size `embed_dim`, with `config`.
    /// Panics unless `num_heads` divides `embed_dim`.
    #[track_caller]
    pub fn with_config(embed_dim: usize, num_heads: usize, config: MultiheadAttentionConfig) -> Self {
        if num_heads == 0 || !embed_dim.is_multiple_of(num_heads) {
            fail(
                "MultiheadAttention",
                format!("embed_dim {embed_dim} must be divisible by num_heads {num_heads}"),
                Location::caller(),
            );
        }
        let e = embed_dim;
        let (kdim, vdim) = (config.kdim.unwrap_or(e), config.vdim.unwrap_or(e));
        let packed = kdim == e && vdim == e;
        let separate = |d: usize| (!packed).then(|| param(&[e, d]));
        let in_proj_weight = packed.then(|| param(&[3 * e, e]));
        let (q_proj_weight, k_proj_weight, v_proj_weight) = (separate(e), separate(kdim), separate(vdim));
        let in_proj_bias = config.bias.then(|| param(&[3 * e]));
        let out_proj = Linear::new(e, e, config.bias);
        let bias_kv = || config.add_bias_kv.then(|| param(&[1, 1, e]));
        let (bias_k, bias_v) = (bias_kv(), bias_kv());
        let in_proj: Vec<&Tensor<E>> =
            [&in_proj_weight, &q_proj_weight, &k_proj_weight, &v_proj_weight].into_iter().flatten().collect();
        lamina_init::default::multihead_attention(
            &in_proj,
            in_proj_bias.as_ref(),
            &out_proj.weight,
            out_proj.bias.as_ref(),
        )
        .expect("2-d projections have fans");
        if let (Some(k), Some(v)) = (&bias_k, &bias_v) {
            lamina_init::default::attention_bias_kv(k, v).expect("[1, 1, E] has fans");
        }
        MultiheadAttention {
            in_proj_weight,
            q_proj_weight,
            k_proj_weight,
            v_proj_weight,
            in_proj_bias,
            bias_k,
            bias_v,
            out_proj,
            embed_dim,
            num_heads,
            config,
            training: TrainingFlag::default(),
        }
    }

    /// The model width `E`.
    pub fn embed_dim(&self) -> usize {
        self.embed_dim
    }

    /// The number of heads.
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// The width of one head, `embed_dim / num_heads`.
    pub fn head_dim(&self) -> usize {
        self.embed_dim / self.num_heads
    }

    /// The options.
    pub fn config(&self) -> MultiheadAttentionConfig {
        self.config
    }

    /// The query, key and value projection weights and biases (views of the
    /// packed ones where packed).
    fn projections(&self) -> [(Tensor<E>, Option<Tensor<E>>); 3] {
        let e = self.embed_dim;
        let bias = |i: usize| self.in_proj_bias.as_ref().map(|b| b.narrow(0, i * e, e));
        let weight = |i: usize, separate: &Option<Tensor<E>>| match (&self.in_proj_weight, separate) {
            (Some(w), _) => w.narrow(0, i * e, e),
            (None, Some(w)) => w.clone(),
            (None, None) => unreachable!("MultiheadAttention has packed or separate projections"),
        };
        [
            (weight(0, &self.q_proj_weight), bias(0)),
            (weight(1, &self.k_proj_weight), bias(1)),
            (weight(2, &self.v_proj_weight), bias(2)),
        ]
    }

    /// Attention of `query` over `key`/`value`: returns the output and, with
    /// `need_weights`, the attention weights (after dropout, as PyTorch).
    ///
    /// Shapes (`batch_first` swaps the first two dims of the 3-d ones):
    /// `query: [L, B, E]`, `key: [S, B, kdim]`, `value: [S, B, vdim]` to
    /// output `[L, B, E]` and weights `[B, L, S]` (or `[B, num_heads, L, S]`
    /// without `average_attn_weights`); unbatched `[L, E]`, `[S, kdim]`,
    /// `[S, vdim]` to `[L, E]` and `[L, S]` (`[num_heads, L, S]`). `S` grows by
    /// one with `add_bias_kv` and one with `add_zero_attn`.
    #[track_caller]
    pub fn forward_qkv(
        &self,
        query: &Tensor<E>,
        key: &Tensor<E>,
        value: &Tensor<E>,
        opts: &MultiheadAttentionOptions<E>,
    ) -> (Tensor<E>, Option<Tensor<E>>) {
        self.forward_at(query, key, value, opts, Location::caller())
    }

    /// [`forward_qkv`](Self::forward_qkv), naming `at` as the caller in errors.
    pub(crate) fn forward_at(
        &self,
        query: &Tensor<E>,
        key: &Tensor<E>,
        value: &Tensor<E>,
        opts: &MultiheadAttentionOptions<E>,
        at: &Location<'_>,
    ) -> (Tensor<E>, Option<Tensor<E>>) {
        let (e, h, d) = (self.embed_dim, self.num_heads, self.head_dim());
        let (kdim, vdim) = (self.config.kdim.unwrap_or(e), self.config.vdim.unwrap_or(e));
        let batched = query.ndim() == 3;
        let shapes = || format!("shapes {:?}, {:?} and {:?}", query.shape(), key.shape(), value.shape());
        if !(2..=3).contains(&query.ndim()) || key.ndim() != query.ndim() || value.ndim() != query.ndim() {
            fail(
                "MultiheadAttention",
                format!("query, key and value must be all 2-d or all 3-d, got {}", shapes()),
                at,
            );
        }
        if query.size(-1) != e || key.size(-1) != kdim || value.size(-1) != vdim {
            fail(
                "MultiheadAttention",
                format!(
                    "query, key and value of {} do not end in embed_dim {e}, kdim {kdim} and vdim {vdim}",
                    shapes()
                ),
                at,
            );
        }
        // Work in the caller's layout: [B, T, F] (batch first) or [T, B, F].
        let batch_first = batched && self.config.batch_first;
        let (bd, td) = if batch_first { (0, 1) } else { (1, 0) };
        let lift = |x: &Tensor<E>| if batched { x.clone() } else { x.unsqueeze(1) };
        let (query, key, value) = (lift(query), lift(key), lift(value));
        let (l, b, s) = (query.shape()[td], query.shape()[bd], key.shape()[td]);
        if key.shape()[..2] != value.shape()[..2] || key.shape()[bd] != b {
            fail(
                "MultiheadAttention",
                format!("key and value need the batch size of query and one length, got {}", shapes()),
                at,
            );
        }
        let [(wq, bq), (wk, bk), (wv, bv)] = self.projections();
        let project = |x: &Tensor<E>, w: &Tensor<E>, bias: Option<Tensor<E>>| x.linear(w, bias.as_ref());
        let q = project(&query, &wq, bq);
        let mut k = project(&key, &wk, bk);
        let mut v = project(&value, &wv, bv);
        if let (Some(bias_k), Some(bias_v)) = (&self.bias_k, &self.bias_v) {
            let mut one = [b, b, e];
            one[td] = 1;
            k = Tensor::cat(&[&k, &bias_k.expand(&one)], td as isize);
            v = Tensor::cat(&[&v, &bias_v.expand(&one)], td as isize);
        }
        // [.., .., E] -> [B, H, T, D], a view.
        let to_heads: [isize; 4] = if batch_first { [0, 2, 1, 3] } else { [1, 2, 0, 3] };
        let heads = |x: &Tensor<E>| x.unflatten(-1, &[h, d]).permute(&to_heads);
        let (q, mut k, mut v) = (heads(&q), heads(&k), heads(&v));
        if self.config.add_zero_attn {
            let zeros = Tensor::zeros(&[b, h, 1, d]);
            k = Tensor::cat(&[&k, &zeros], 2);
            v = Tensor::cat(&[&v, &zeros], 2);
        }
        let bias = self.mask_bias(opts, [b, l, s], k.size(2) - s, batched, at);
        let p = if self.training.get() { self.config.dropout } else { 0.0 };
        let scale = 1.0 / (d as f64).sqrt();
        let (out, probs) = attend(&q, &k, &v, bias.as_ref(), scale, p, !opts.need_weights);
        let from_heads: [isize; 4] = if batch_first { [0, 2, 1, 3] } else { [2, 0, 1, 3] };
        let y = self.out_proj.call(&out.permute(&from_heads).flatten(2, 3));
        let y = if batched { y } else { y.squeeze(1) };
        let weights = opts.need_weights.then(|| {
            let w = if opts.average_attn_weights { probs.mean_dims(&[1], false) } else { probs };
            if batched {
                w
            } else {
                w.squeeze(0)
            }
        });
        (y, weights)
    }

    /// The masks of `opts` as one additive bias broadcasting to the scores
    /// `[B, H, L, S + extra]` (`extra` positions appended by `add_bias_kv`
    /// and `add_zero_attn`, which every query may see), or `None`.
    fn mask_bias(
        &self,
        opts: &MultiheadAttentionOptions<E>,
        [b, l, s]: [usize; 3],
        extra: usize,
        batched: bool,
        at: &Location<'_>,
    ) -> Option<Tensor<E>> {
        let h = self.num_heads;
        let pad = |t: Tensor<E>| if extra > 0 { t.pad(&[0, extra], PadMode::Constant(0.0)) } else { t };
        let attn = match (&opts.attn_mask, opts.is_causal) {
            (Some(m), _) => {
                let t = match m.shape() {
                    [ml, ms] if (*ml, *ms) == (l, s) => m.additive(true),
                    [mb, ml, ms] if (*mb, *ml, *ms) == (b * h, l, s) => m.additive(true).reshape(&[b, h, l, s]),
                    other => fail(
                        "MultiheadAttention",
                        format!(
                            "attn_mask of shape {other:?} should be [{l}, {s}] or [{}, {l}, {s}] (batch * heads, L, S)",
                            b * h
                        ),
                        at,
                    ),
                };
                Some(pad(t))
            }
            (None, true) => Some(pad(causal_bias(l, s))),
            (None, false) => None,
        };
        let padding = opts.key_padding_mask.as_ref().map(|m| {
            let want: &[usize] = if batched { &[b, s] } else { &[s] };
            if m.shape() != want {
                fail("MultiheadAttention", format!("key_padding_mask of shape {:?} should be {want:?}", m.shape()), at);
            }
            pad(m.additive(true).reshape(&[b, s])).reshape(&[b, 1, 1, s + extra])
        });
        match (attn, padding) {
            (Some(a), Some(p)) => Some(a + p),
            (a, p) => a.or(p),
        }
    }
}

impl<E: Element> Module<E> for MultiheadAttention<E> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        self.in_proj_weight.visit_as("in_proj_weight", f);
        self.q_proj_weight.visit_as("q_proj_weight", f);
        self.k_proj_weight.visit_as("k_proj_weight", f);
        self.v_proj_weight.visit_as("v_proj_weight", f);
        self.in_proj_bias.visit_as("in_proj_bias", f);
        self.bias_k.visit_as("bias_k", f);
        self.bias_v.visit_as("bias_v", f);
        self.out_proj.visit_as("out_proj", f);
    }
    fn set_training(&self, on: bool) {
        self.training.set(on);
    }
}

display_module!(MultiheadAttention);
crate::visit_as_module!(MultiheadAttention);
