//! Recurrent layers, as PyTorch's: the multi-layer, optionally bidirectional
//! sequence layers [`RNN`], [`LSTM`] and [`GRU`], and their one-step cells
//! [`RNNCell`], [`LSTMCell`], [`GRUCell`], with PyTorch's parameter names,
//! layouts, gate orders and default initialisation.
//!
//! Everything is built from core's differentiable ops, so gradients and
//! double gradients come from the tape. A layer projects the inputs of all
//! time steps with one matrix product per layer and direction before its
//! time loop; each step then costs one product with `weight_hh` and a few
//! element-wise ops on views of the gate block. An LSTM without a projection
//! or lengths runs its whole time loop as one op,
//! [`Tensor::lstm_sequence`](lamina_core::Tensor::lstm_sequence).
//!
//! Variable-length batches (PyTorch's `pack_padded_sequence` /
//! `pad_packed_sequence` round trip) go through `forward_with_lengths`:
//! steps past an element's length leave its state unchanged and output
//! zeros, so they neither affect `h_n` nor receive gradient.

use crate::norm::{fail, py_float};
use crate::{Module, Part, TrainingFlag};
use lamina_core::{Element, Mask, Tensor};
use std::fmt;
use std::panic::Location;
use std::str::FromStr;

/// The nonlinearity of an Elman [`RNN`] or [`RNNCell`]: PyTorch's
/// `nonlinearity="tanh"` (the default) or `"relu"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RnnNonlinearity {
    /// `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
    #[default]
    Tanh,
    /// `h' = relu(W_ih x + b_ih + W_hh h + b_hh)`.
    Relu,
}

impl FromStr for RnnNonlinearity {
    type Err = String;
    /// `"tanh"` or `"relu"`, PyTorch's spellings.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tanh" => Ok(RnnNonlinearity::Tanh),
            "relu" => Ok(RnnNonlinearity::Relu),
            other => Err(format!("unknown nonlinearity `{other}` (expected \"tanh\" or \"relu\")")),
        }
    }
}

impl fmt::Display for RnnNonlinearity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RnnNonlinearity::Tanh => "tanh",
            RnnNonlinearity::Relu => "relu",
        })
    }
}

/// The options of [`RNN`], [`LSTM`] and [`GRU`]: PyTorch's constructor
/// arguments, with its defaults ([`RecurrentConfig::new`]).
///
/// ```
/// use lamina_layers::{RecurrentConfig, LSTM};
/// let lstm = LSTM::<f32>::with_config(RecurrentConfig {
///     num_layers: 2,
///     bidirectional: true,
///     batch_first: true,
///     ..RecurrentConfig::new(8, 16)
/// });
/// assert_eq!(lstm.config().hidden_size, 16);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentConfig {
    /// Features of each input step (no default).
    pub input_size: usize,
    /// Features of the hidden state `h` (and LSTM's cell `c`) (no default).
    pub hidden_size: usize,
    /// Stacked layers, each reading the previous one's output (default 1).
    pub num_layers: usize,
    /// [`RNN`] only: tanh or relu (default tanh). Other layers reject relu.
    pub nonlinearity: RnnNonlinearity,
    /// Whether each layer has `bias_ih` and `bias_hh` (default true).
    pub bias: bool,
    /// Input and output as `[batch, seq, feature]` instead of
    /// `[seq, batch, feature]` (default false). States keep
    /// `[layers·directions, batch, hidden]` either way.
    pub batch_first: bool,
    /// Dropout probability on the outputs of every layer but the last, in
    /// training mode only (default 0).
    pub dropout: f64,
    /// A second, time-reversed pass per layer, its output concatenated on the
    /// last dim (default false).
    pub bidirectional: bool,
    /// [`LSTM`] only: if nonzero, `h` is projected to this size by
    /// `weight_hr_l{k}` (default 0: no projection). Must be below `hidden_size`.
    pub proj_size: usize,
}

impl RecurrentConfig {
    /// PyTorch's defaults: one layer, tanh, biases, sequence-first, no
    /// dropout, one direction, no projection.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RecurrentConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            nonlinearity: RnnNonlinearity::Tanh,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
            proj_size: 0,
        }
    }

    /// The number of directions: 2 if bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// The size of `h` and of each direction's output: `proj_size` if
    /// nonzero, else `hidden_size`.
    pub fn output_size(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }
}

/// Which recurrence: the gate count and the step rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rnn(RnnNonlinearity),
    Lstm,
    Gru,
}

impl Kind {
    /// Gate blocks stacked in `weight_ih`/`weight_hh`: 1, 4 (i, f, g, o), 3 (r, z, n).
    fn gates(self) -> usize {
        match self {
            Kind::Rnn(_) => 1,
            Kind::Lstm => 4,
            Kind::Gru => 3,
        }
    }

    /// The layer's PyTorch name.
    fn name(self) -> &'static str {
        match self {
            Kind::Rnn(_) => "RNN",
            Kind::Lstm => "LSTM",
            Kind::Gru => "GRU",
        }
    }
}

/// The parameters of one layer and direction of a recurrent layer, or of a
/// cell, in PyTorch's layouts. `G` is the number of gates (RNN 1, LSTM 4 in
/// order i, f, g, o, GRU 3 in order r, z, n), `H` the hidden size and `H_out`
/// the size of `h` (the projection size of an LSTM with `proj_size`, else `H`).
pub struct RecurrentWeights<E: Element = f32> {
    /// `[G·H, input]`, the input's gate weights stacked.
    pub weight_ih: Tensor<E>,
    /// `[G·H, H_out]`, the hidden state's gate weights stacked.
    pub weight_hh: Tensor<E>,
    /// `[G·H]`, if the layer has biases.
    pub bias_ih: Option<Tensor<E>>,
    /// `[G·H]`, if the layer has biases.
    pub bias_hh: Option<Tensor<E>>,
    /// `[proj_size, H]`, an LSTM's output projection, if `proj_size > 0`.
    pub weight_hr: Option<Tensor<E>>,
}

impl<E: Element> RecurrentWeights<E> {
    /// Zero parameters requiring grad (initialised by the owner, all at once
    /// in PyTorch's order).
    fn zeros(gates: usize, input: usize, hidden: usize, proj: usize, bias: bool) -> Self {
        let param = |shape: &[usize]| Tensor::zeros(shape).requires_grad_(true);
        let h_out = if proj > 0 { proj } else { hidden };
        RecurrentWeights {
            weight_ih: param(&[gates * hidden, input]),
            weight_hh: param(&[gates * hidden, h_out]),
            bias_ih: bias.then(|| param(&[gates * hidden])),
            bias_hh: bias.then(|| param(&[gates * hidden])),
            weight_hr: (proj > 0).then(|| param(&[proj, hidden])),
        }
    }

    /// The parameters in PyTorch's order, with their names before `suffix`.
    fn named(&self) -> impl Iterator<Item = (&'static str, &Tensor<E>)> {
        [
            ("weight_ih", Some(&self.weight_ih)),
            ("weight_hh", Some(&self.weight_hh)),
            ("bias_ih", self.bias_ih.as_ref()),
            ("bias_hh", self.bias_hh.as_ref()),
            ("weight_hr", self.weight_hr.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, t)| t.map(|t| (name, t)))
    }

    /// Reports each parameter as `name{suffix}` (`weight_ih_l0_reverse`).
    fn visit<'a>(&'a self, suffix: &str, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        for (name, t) in self.named() {
            f(&format!("{name}{suffix}"), Part::Param(t));
        }
    }

    /// The input size.
    fn input_size(&self) -> usize {
        self.weight_ih.shape()[1]
    }

    /// The hidden size `H`.
    fn hidden_size(&self, kind: Kind) -> usize {
        self.weight_ih.shape()[0] / kind.gates()
    }

    /// The gate pre-activations of the inputs `x: [N, input]`, for all rows
    /// in one product: `x W_ihᵀ + b_ih`, plus `b_hh` for RNN and LSTM (whose
    /// recurrent bias is not gated, so it folds in here, once).
    fn input_gates(&self, kind: Kind, x: &Tensor<E>) -> Tensor<E> {
        let bias = match (&self.bias_ih, &self.bias_hh) {
            (Some(bi), Some(bh)) if kind != Kind::Gru => Some(bi + bh),
            (bi, _) => bi.clone(),
        };
        x.linear(&self.weight_ih, bias.as_ref())
    }

    /// `weight_hhᵀ` and `weight_hrᵀ`: views for one step, contiguous copies
    /// for a sequence (made once, they make every step's product and its
    /// weight gradient run on contiguous memory).
    fn transposed(&self, contiguous: bool) -> Transposed<E> {
        let t = |w: &Tensor<E>| if contiguous { w.t().contiguous() } else { w.t() };
        Transposed { hh: t(&self.weight_hh), hr: self.weight_hr.as_ref().map(t) }
    }

    /// One time step from the input gates `gi: [B, G·H]` (from
    /// [`input_gates`](Self::input_gates)) and the state `h: [B, H_out]`
    /// (`c: [B, H]` for an LSTM): the new `h` and `c`.
    fn step(
        &self,
        kind: Kind,
        t: &Transposed<E>,
        gi: &Tensor<E>,
        h: &Tensor<E>,
        c: Option<&Tensor<E>>,
    ) -> (Tensor<E>, Option<Tensor<E>>) {
        let gh = h.matmul(&t.hh);
        let hs = self.hidden_size(kind);
        match kind {
            Kind::Rnn(nl) => {
                let pre = gi + gh;
                let h = match nl {
                    RnnNonlinearity::Tanh => pre.tanh(),
                    RnnNonlinearity::Relu => pre.relu(),
                };
                (h, None)
            }
            Kind::Lstm => {
                let (h, c) = (gi + gh).lstm_cell(c.expect("an LSTM step has a cell state"));
                let h = match &t.hr {
                    Some(w_hr) => h.matmul(w_hr),
                    None => h,
                };
                (h, Some(c))
            }
            Kind::Gru => {
                // n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): b_hn stays inside the reset gate.
                let gh = match &self.bias_hh {
                    Some(b) => gh + b,
                    None => gh,
                };
                let rz = (gi.narrow(1, 0, 2 * hs) + gh.narrow(1, 0, 2 * hs)).sigmoid();
                let (r, z) = (rz.narrow(1, 0, hs), rz.narrow(1, hs, hs));
                let n = (gi.narrow(1, 2 * hs, hs) + r * gh.narrow(1, 2 * hs, hs)).tanh();
                // (1 - z) * n + z * h
                let h = &n + z * (h - &n);
                (h, None)
            }
        }
    }

    /// One direction of one layer over `x: [T·B, input]` (time-major rows):
    /// its outputs `[T·B, H_out]` and final `h` (and `c`). `pad[t]` marks the
    /// batch elements whose sequence has ended by step `t` (`None`: none has):
    /// their state is carried through unchanged and their output is zero.
    fn run(
        &self,
        kind: Kind,
        x: &Tensor<E>,
        batch: usize,
        mut h: Tensor<E>,
        mut c: Option<Tensor<E>>,
        reverse: bool,
        pad: &[Option<Mask>],
    ) -> (Tensor<E>, Tensor<E>, Option<Tensor<E>>) {
        let steps = pad.len();
        if let (Kind::Lstm, None, Some(c)) = (kind, &self.weight_hr, &c) {
            if pad.iter().all(Option::is_none) {
                // The common case, one op for the whole sequence.
                let gi = self.input_gates(kind, x).reshape(&[steps, batch, 4 * self.hidden_size(kind)]);
                let (out, h, c) = gi.lstm_sequence(&self.weight_hh, &h, c, reverse);
                let rows = out.shape()[0] * out.shape()[1];
                return (out.reshape(&[rows, out.shape()[2]]), h, Some(c));
            }
        }
        let w = self.transposed(true);
        let gi = step_views(&self.input_gates(kind, x), steps, batch);
        let mut outs: Vec<Option<Tensor<E>>> = vec![None; steps];
        let order: Vec<usize> = if reverse { (0..steps).rev().collect() } else { (0..steps).collect() };
        for t in order {
            let (h_new, c_new) = self.step(kind, &w, &gi[t], &h, c.as_ref());
            match &pad[t] {
                None => {
                    outs[t] = Some(h_new.clone());
                    (h, c) = (h_new, c_new);
                }
                Some(ended) => {
                    outs[t] = Some(h_new.masked_fill(ended, E::zero()));
                    h = Tensor::where_(ended, &h, &h_new);
                    c = c.zip(c_new).map(|(c, c_new)| Tensor::where_(ended, &c, &c_new));
                }
            }
        }
        let outs: Vec<&Tensor<E>> = outs.iter().map(|o| o.as_ref().expect("every step ran")).collect();
        (Tensor::cat(&outs, 0), h, c)
    }
}

/// `weight_hhᵀ` and `weight_hrᵀ` as a step multiplies by them.
struct Transposed<E: Element> {
    hh: Tensor<E>,
    hr: Option<Tensor<E>>,
}

/// The `steps` consecutive blocks of `batch` rows of `x`, as views. Their
/// gradients are added in place into one buffer of `x`'s shape, so backward
/// stays linear in the number of steps.
fn step_views<E: Element>(x: &Tensor<E>, steps: usize, batch: usize) -> Vec<Tensor<E>> {
    debug_assert_eq!(x.shape()[0], steps * batch);
    if batch == 0 {
        return vec![x.clone(); steps];
    }
    x.split(batch, 0)
}

/// Fills every parameter with PyTorch's default, U(±1/√hidden_size), in order.
fn init<'a, E: Element>(weights: impl IntoIterator<Item = &'a RecurrentWeights<E>>, hidden: usize) {
    let params: Vec<&Tensor<E>> = weights.into_iter().flat_map(|w| w.named().map(|(_, t)| t)).collect();
    lamina_init::default::rnn(&params, hidden).expect("uniform init accepts any shape");
}

/// The shared body of [`RNN`], [`LSTM`] and [`GRU`].
struct Recurrent<E: Element> {
    kind: Kind,
    config: RecurrentConfig,
    /// Layer-major, direction-minor.
    weights: Vec<RecurrentWeights<E>>,
    training: TrainingFlag,
}

/// A layer's outputs: `output`, `h_n`, and `c_n` for an LSTM.
type Outputs<E> = (Tensor<E>, Tensor<E>, Option<Tensor<E>>);

impl<E: Element> Recurrent<E> {
    fn new(kind: Kind, config: RecurrentConfig, at: &Location<'_>) -> Self {
        let name = kind.name();
        let c = &config;
        if c.hidden_size == 0 || c.num_layers == 0 {
            let what = format!("hidden_size ({}) and num_layers ({}) must be positive", c.hidden_size, c.num_layers);
            fail(name, what, at);
        }
        if !(0.0..=1.0).contains(&c.dropout) {
            fail(name, format!("dropout must be in [0, 1], got {}", c.dropout), at);
        }
        if c.proj_size > 0 && kind != Kind::Lstm {
            fail(name, format!("proj_size ({}) is only supported for LSTM", c.proj_size), at);
        }
        if c.proj_size >= c.hidden_size && c.proj_size > 0 {
            fail(name, format!("proj_size ({}) must be smaller than hidden_size ({})", c.proj_size, c.hidden_size), at);
        }
        if c.nonlinearity != RnnNonlinearity::Tanh && !matches!(kind, Kind::Rnn(_)) {
            fail(name, format!("nonlinearity {} is only an option of RNN", c.nonlinearity), at);
        }
        let dirs = c.num_directions();
        let weights: Vec<RecurrentWeights<E>> = (0..c.num_layers * dirs)
            .map(|i| {
                let input = if i < dirs { c.input_size } else { c.output_size() * dirs };
                RecurrentWeights::zeros(kind.gates(), input, c.hidden_size, c.proj_size, c.bias)
            })
            .collect();
        init(&weights, c.hidden_size);
        Recurrent { kind, config, weights, training: TrainingFlag::default() }
    }

    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        let dirs = self.config.num_directions();
        for (i, w) in self.weights.iter().enumerate() {
            let reverse = if i % dirs == 1 { "_reverse" } else { "" };
            w.visit(&format!("_l{}{reverse}", i / dirs), f);
        }
    }

    /// PyTorch's `RNNBase.extra_repr`.
    fn extra_repr(&self) -> String {
        let c = &self.config;
        let mut s = format!("{}, {}", c.input_size, c.hidden_size);
        if c.proj_size != 0 {
            s += &format!(", proj_size={}", c.proj_size);
        }
        if c.num_layers != 1 {
            s += &format!(", num_layers={}", c.num_layers);
        }
        if !c.bias {
            s += ", bias=False";
        }
        if c.batch_first {
            s += ", batch_first=True";
        }
        if c.dropout != 0.0 {
            s += &format!(", dropout={}", py_float(c.dropout));
        }
        if c.bidirectional {
            s += ", bidirectional=True";
        }
        s
    }

    fn weights(&self, layer: usize, reverse: bool) -> &RecurrentWeights<E> {
        let dirs = self.config.num_directions();
        assert!(
            layer < self.config.num_layers && (!reverse || dirs == 2),
            "{}: no layer {layer}{} (num_layers {}, bidirectional {})",
            self.kind.name(),
            if reverse { " reverse" } else { "" },
            self.config.num_layers,
            self.config.bidirectional
        );
        &self.weights[layer * dirs + usize::from(reverse)]
    }

    /// Checks a state argument against `[layers·dirs, (B,) size]`.
    fn check_state(&self, what: &str, s: Option<&Tensor<E>>, want: &[usize], at: &Location<'_>) {
        if let Some(s) = s {
            if s.shape() != want {
                let what = format!("expected {what} of shape {want:?}, got {:?}", s.shape());
                fail(self.kind.name(), what, at);
            }
        }
    }

    /// The whole layer: `x` in the caller's layout, optional initial states,
    /// optional per-element lengths.
    fn forward(
        &self,
        x: &Tensor<E>,
        h0: Option<&Tensor<E>>,
        c0: Option<&Tensor<E>>,
        lengths: Option<&[usize]>,
        at: &Location<'_>,
    ) -> Outputs<E> {
        let (name, c) = (self.kind.name(), &self.config);
        let batched = x.ndim() == 3;
        if !(x.ndim() == 2 || batched) || x.shape()[x.ndim() - 1] != c.input_size || x.shape()[0] == 0 {
            let layout = if c.batch_first { "[batch, seq, input_size]" } else { "[seq, batch, input_size]" };
            let what = format!(
                "expected input of shape {layout} or [seq, input_size] with input_size {} and seq > 0, got {:?}",
                c.input_size,
                x.shape()
            );
            fail(name, what, at);
        }
        // Time-major [T, B, input].
        let x = match (batched, c.batch_first) {
            (false, _) => x.unsqueeze(1),
            (true, true) => x.transpose(0, 1),
            (true, false) => x.clone(),
        };
        let (steps_in, batch) = (x.shape()[0], x.shape()[1]);
        let (dirs, h_out, hidden) = (c.num_directions(), c.output_size(), c.hidden_size);
        let states = c.num_layers * dirs;
        let state_shape = |size: usize| if batched { vec![states, batch, size] } else { vec![states, size] };
        self.check_state("h0", h0, &state_shape(h_out), at);
        self.check_state("c0", c0, &state_shape(hidden), at);
        if let Some(lengths) = lengths {
            if lengths.len() != batch || lengths.iter().any(|&n| n == 0 || n > steps_in) {
                let what = format!(
                    "lengths {lengths:?} must hold one length in 1..={steps_in} per batch element (batch {batch})"
                );
                fail(name, what, at);
            }
        }
        // Steps past the longest sequence are all padding: not run at all.
        let steps = lengths.map_or(steps_in, |l| l.iter().copied().max().unwrap_or(steps_in));
        let pad: Vec<Option<Mask>> = (0..steps)
            .map(|t| {
                let l = lengths.filter(|l| l.iter().any(|&n| t >= n))?;
                Some(Mask::from_vec(l.iter().map(|&n| t >= n).collect(), &[batch, 1]))
            })
            .collect();
        let initial = |s: Option<&Tensor<E>>, size| match s {
            Some(s) => s.reshape(&[states * batch, size]),
            None => Tensor::zeros(&[states * batch, size]),
        };
        let (h0, c0) = (initial(h0, h_out), (self.kind == Kind::Lstm).then(|| initial(c0, hidden)));
        let mut input = x.narrow(0, 0, steps).reshape(&[steps * batch, c.input_size]);
        let (mut h_n, mut c_n) = (Vec::with_capacity(states), Vec::with_capacity(states));
        for layer in 0..c.num_layers {
            let mut outs = Vec::with_capacity(dirs);
            for d in 0..dirs {
                let i = layer * dirs + d;
                let state = |s: &Tensor<E>| s.narrow(0, i * batch, batch);
                let (out, h, cell) =
                    self.weights[i].run(self.kind, &input, batch, state(&h0), c0.as_ref().map(state), d == 1, &pad);
                outs.push(out);
                h_n.push(h);
                c_n.extend(cell);
            }
            input = if dirs == 2 { Tensor::cat(&[&outs[0], &outs[1]], 1) } else { outs.remove(0) };
            if layer + 1 < c.num_layers && c.dropout > 0.0 && self.training.get() {
                input = input.dropout(c.dropout, true);
            }
        }
        let mut output = input.reshape(&[steps, batch, dirs * h_out]);
        if steps < steps_in {
            output = Tensor::cat(&[&output, &Tensor::zeros(&[steps_in - steps, batch, dirs * h_out])], 0);
        }
        let stacked = |s: Vec<Tensor<E>>, size| {
            let refs: Vec<&Tensor<E>> = s.iter().collect();
            Tensor::cat(&refs, 0).reshape(&state_shape(size))
        };
        let (h_n, c_n) = (stacked(h_n, h_out), (!c_n.is_empty()).then(|| stacked(c_n, hidden)));
        let output = match (batched, c.batch_first) {
            (false, _) => output.squeeze(1),
            (true, true) => output.transpose(0, 1),
            (true, false) => output,
        };
        (output, h_n, c_n)
    }
}

/// Declares a recurrent layer type around [`Recurrent`]: constructors,
/// accessors, `Module`, printing.
macro_rules! recurrent_layer {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[allow(clippy::upper_case_acronyms)]
        pub struct $name<E: Element = f32>(Recurrent<E>);

        impl<E: Element> $name<E> {
            /// A one-layer, one-direction layer with PyTorch's defaults.
            #[track_caller]
            pub fn new(input_size: usize, hidden_size: usize) -> Self {
                Self::with_config(RecurrentConfig::new(input_size, hidden_size))
            }

            /// A layer with the given options, initialised as PyTorch does:
            /// every parameter U(±1/√hidden_size). Panics on inconsistent options.
            #[track_caller]
            pub fn with_config(config: RecurrentConfig) -> Self {
                let kind: fn(&RecurrentConfig) -> Kind = $kind;
                $name(Recurrent::new(kind(&config), config, Location::caller()))
            }

            /// The layer's options.
            pub fn config(&self) -> &RecurrentConfig {
                &self.0.config
            }

            /// The parameters of layer `layer` (from 0), of its reverse
            /// direction if `reverse`. Panics if there is no such layer.
            pub fn weights(&self, layer: usize, reverse: bool) -> &RecurrentWeights<E> {
                self.0.weights(layer, reverse)
            }
        }

        impl<E: Element> Module<E> for $name<E> {
            fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
                self.0.visit(f)
            }
            fn set_training(&self, on: bool) {
                self.0.training.set(on);
            }
            fn extra_repr(&self) -> String {
                self.0.extra_repr()
            }
        }
        crate::visit_as_module!($name);
        display_module!($name);
    };
}

/// Implements `forward` and `forward_with_lengths` for a layer whose state is
/// `h` alone (RNN, GRU).
macro_rules! hidden_state_forward {
    ($name:ident) => {
        impl<E: Element> $name<E> {
            /// Runs the layer over a sequence: `x` is `[seq, batch, input_size]`
            /// (`[batch, seq, input_size]` with `batch_first`), or unbatched
            /// `[seq, input_size]`; `h0` is `[num_layers·num_directions, batch,
            /// hidden_size]` (`[.., hidden_size]` without the batch dim for
            /// unbatched input), zeros if `None`.
            ///
            /// Returns `(output, h_n)`: `output` `[seq, batch,
            /// num_directions·hidden_size]` (batch first with `batch_first`),
            /// the last layer's `h` at every step, the reverse direction's
            /// concatenated after the forward one's; `h_n` the final `h` of
            /// every layer and direction, in the order `l0, l0_reverse, l1, ...`.
            #[track_caller]
            pub fn forward(&self, x: &Tensor<E>, h0: Option<&Tensor<E>>) -> (Tensor<E>, Tensor<E>) {
                let (y, h, _) = self.0.forward(x, h0, None, None, Location::caller());
                (y, h)
            }

            /// [`forward`](Self::forward) on a padded batch of sequences of
            /// different lengths (PyTorch's `pack_padded_sequence`, run, then
            /// `pad_packed_sequence` back to the input's length): element `b`
            /// uses only its first `lengths[b]` steps (`1..=seq`, any order).
            /// Its `h_n` is its state after step `lengths[b] - 1` (the reverse
            /// direction starts there), its output is zero at later steps, and
            /// the padding gets no gradient.
            #[track_caller]
            pub fn forward_with_lengths(
                &self,
                x: &Tensor<E>,
                h0: Option<&Tensor<E>>,
                lengths: &[usize],
            ) -> (Tensor<E>, Tensor<E>) {
                let (y, h, _) = self.0.forward(x, h0, None, Some(lengths), Location::caller());
                (y, h)
            }
        }
    };
}

recurrent_layer!(
    /// An Elman RNN, PyTorch's `nn.RNN`: for each layer and step
    /// `h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)` (or relu), the
    /// layer's input `x_t` being the previous layer's output. Options in
    /// [`RecurrentConfig`]; parameters `weight_ih_l{k}`, `weight_hh_l{k}`,
    /// `bias_ih_l{k}`, `bias_hh_l{k}` (and `..._reverse`), see
    /// [`RecurrentWeights`].
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::{RecurrentConfig, RNN};
    /// let rnn = RNN::<f32>::with_config(RecurrentConfig { num_layers: 2, ..RecurrentConfig::new(3, 5) });
    /// let x = Tensor::randn(&[7, 4, 3]); // [seq, batch, input_size]
    /// let (output, h_n) = rnn.forward(&x, None);
    /// assert_eq!(output.shape(), &[7, 4, 5]);
    /// assert_eq!(h_n.shape(), &[2, 4, 5]);
    /// ```
    RNN,
    |c| Kind::Rnn(c.nonlinearity)
);
hidden_state_forward!(RNN);

recurrent_layer!(
    /// A gated recurrent unit, PyTorch's `nn.GRU`. Per step, with the gate
    /// blocks stacked r, z, n in `weight_ih_l{k}`/`weight_hh_l{k}`:
    /// `r = σ(W_ir x + b_ir + W_hr h + b_hr)`, `z = σ(W_iz x + b_iz + W_hz h + b_hz)`,
    /// `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1 - z) ⊙ n + z ⊙ h`.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::{RecurrentConfig, GRU};
    /// let gru = GRU::<f32>::with_config(RecurrentConfig { bidirectional: true, ..RecurrentConfig::new(3, 5) });
    /// let x = Tensor::randn(&[7, 4, 3]);
    /// // Sequences of lengths 7, 2, 5, 1, padded to 7 steps.
    /// let (output, h_n) = gru.forward_with_lengths(&x, None, &[7, 2, 5, 1]);
    /// assert_eq!(output.shape(), &[7, 4, 10]);
    /// assert_eq!(h_n.shape(), &[2, 4, 5]);
    /// ```
    GRU,
    |_| Kind::Gru
);
hidden_state_forward!(GRU);

recurrent_layer!(
    /// Long short-term memory, PyTorch's `nn.LSTM`. Per step, with the gate
    /// blocks stacked i, f, g, o in `weight_ih_l{k}`/`weight_hh_l{k}`:
    /// `i = σ(..)`, `f = σ(..)`, `g = tanh(..)`, `o = σ(..)` (each
    /// `W_i· x + b_i· + W_h· h + b_h·`), `c' = f ⊙ c + i ⊙ g`,
    /// `h' = o ⊙ tanh(c')`, then `h' = W_hr h'` with `proj_size`.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::{RecurrentConfig, LSTM};
    /// let lstm = LSTM::<f32>::with_config(RecurrentConfig {
    ///     batch_first: true,
    ///     proj_size: 2,
    ///     ..RecurrentConfig::new(3, 5)
    /// });
    /// let x = Tensor::randn(&[4, 7, 3]); // [batch, seq, input_size]
    /// let (output, (h_n, c_n)) = lstm.forward(&x, None);
    /// assert_eq!(output.shape(), &[4, 7, 2]);
    /// assert_eq!((h_n.shape(), c_n.shape()), (&[1, 4, 2][..], &[1, 4, 5][..]));
    /// ```
    LSTM,
    |_| Kind::Lstm
);

impl<E: Element> LSTM<E> {
    /// Runs the layer over a sequence: `x` as for [`RNN::forward`]; `state`
    /// the initial `(h0, c0)`, `h0` `[num_layers·num_directions, batch,
    /// H_out]` (`H_out` = `proj_size` if nonzero, else `hidden_size`) and `c0`
    /// `[.., hidden_size]` (no batch dim for unbatched input), zeros if `None`.
    ///
    /// Returns `(output, (h_n, c_n))`: `output` `[seq, batch,
    /// num_directions·H_out]` (batch first with `batch_first`), `h_n` and
    /// `c_n` the final states of every layer and direction (`l0,
    /// l0_reverse, l1, ...`).
    #[track_caller]
    pub fn forward(
        &self,
        x: &Tensor<E>,
        state: Option<(&Tensor<E>, &Tensor<E>)>,
    ) -> (Tensor<E>, (Tensor<E>, Tensor<E>)) {
        let (y, h, c) = self.0.forward(x, state.map(|s| s.0), state.map(|s| s.1), None, Location::caller());
        (y, (h, c.expect("an LSTM has a cell state")))
    }

    /// [`forward`](Self::forward) on a padded batch of sequences of different
    /// lengths, as [`RNN::forward_with_lengths`]: element `b` uses only its
    /// first `lengths[b]` steps; `h_n`/`c_n` are its states after step
    /// `lengths[b] - 1`, its later outputs zero, its padding gets no gradient.
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::LSTM;
    /// let lstm = LSTM::<f64>::new(2, 3);
    /// let x = Tensor::randn(&[4, 2, 2]);
    /// let (y, (h, _)) = lstm.forward_with_lengths(&x, None, &[4, 2]);
    /// // The second sequence ends after step 1: its h_n is its output there.
    /// assert_eq!(h.narrow(1, 1, 1).to_vec(), y.narrow(0, 1, 1).narrow(1, 1, 1).to_vec());
    /// assert!(y.narrow(0, 2, 2).narrow(1, 1, 1).to_vec().iter().all(|&v| v == 0.0));
    /// ```
    #[track_caller]
    pub fn forward_with_lengths(
        &self,
        x: &Tensor<E>,
        state: Option<(&Tensor<E>, &Tensor<E>)>,
        lengths: &[usize],
    ) -> (Tensor<E>, (Tensor<E>, Tensor<E>)) {
        let (y, h, c) = self.0.forward(x, state.map(|s| s.0), state.map(|s| s.1), Some(lengths), Location::caller());
        (y, (h, c.expect("an LSTM has a cell state")))
    }
}

/// The shared body of the cells: one step of a [`Kind`] on `[batch, input]`
/// or unbatched `[input]`.
struct Cell<E: Element> {
    kind: Kind,
    weights: RecurrentWeights<E>,
}

impl<E: Element> Cell<E> {
    fn new(kind: Kind, input_size: usize, hidden_size: usize, bias: bool) -> Self {
        let weights = RecurrentWeights::zeros(kind.gates(), input_size, hidden_size, 0, bias);
        init([&weights], hidden_size);
        Cell { kind, weights }
    }

    fn name(&self) -> String {
        format!("{}Cell", self.kind.name())
    }

    fn step(
        &self,
        x: &Tensor<E>,
        h: Option<&Tensor<E>>,
        c: Option<&Tensor<E>>,
        at: &Location<'_>,
    ) -> (Tensor<E>, Option<Tensor<E>>) {
        let (input, hidden) = (self.weights.input_size(), self.weights.hidden_size(self.kind));
        let batched = x.ndim() == 2;
        if !(x.ndim() == 1 || batched) || x.shape()[x.ndim() - 1] != input {
            let what = format!("expected input of shape [batch, {input}] or [{input}], got {:?}", x.shape());
            fail(&self.name(), what, at);
        }
        let want: Vec<usize> = if batched { vec![x.shape()[0], hidden] } else { vec![hidden] };
        for (what, s) in [("hx", h), ("cx", c)] {
            if let Some(s) = s.filter(|s| s.shape() != want) {
                fail(&self.name(), format!("expected {what} of shape {want:?}, got {:?}", s.shape()), at);
            }
        }
        let batch_of = |t: &Tensor<E>| if batched { t.clone() } else { t.unsqueeze(0) };
        let batch = if batched { x.shape()[0] } else { 1 };
        let state = |s: Option<&Tensor<E>>| s.map_or_else(|| Tensor::zeros(&[batch, hidden]), batch_of);
        let x = batch_of(x);
        let gi = self.weights.input_gates(self.kind, &x);
        let c = (self.kind == Kind::Lstm).then(|| state(c));
        let (h, c) = self.weights.step(self.kind, &self.weights.transposed(false), &gi, &state(h), c.as_ref());
        let unbatch = |t: Tensor<E>| if batched { t } else { t.squeeze(0) };
        (unbatch(h), c.map(unbatch))
    }

    /// PyTorch's `RNNCellBase.extra_repr`.
    fn extra_repr(&self) -> String {
        let w = &self.weights;
        let mut s = format!("{}, {}", w.input_size(), w.hidden_size(self.kind));
        if w.bias_ih.is_none() {
            s += ", bias=False";
        }
        if self.kind == Kind::Rnn(RnnNonlinearity::Relu) {
            s += ", nonlinearity=relu";
        }
        s
    }
}

/// Declares a cell type around [`Cell`]: accessors, `Module`, printing.
macro_rules! recurrent_cell {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[allow(clippy::upper_case_acronyms)]
        pub struct $name<E: Element = f32>(Cell<E>);

        impl<E: Element> $name<E> {
            /// The cell's parameters: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
            pub fn weights(&self) -> &RecurrentWeights<E> {
                &self.0.weights
            }

            /// Features of the input.
            pub fn input_size(&self) -> usize {
                self.0.weights.input_size()
            }

            /// Features of the hidden state.
            pub fn hidden_size(&self) -> usize {
                self.0.weights.hidden_size(self.0.kind)
            }
        }

        impl<E: Element> Module<E> for $name<E> {
            fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
                self.0.weights.visit("", f)
            }
            fn extra_repr(&self) -> String {
                self.0.extra_repr()
            }
        }
        crate::visit_as_module!($name);
        display_module!($name);
    };
}

recurrent_cell!(
    /// One step of an Elman RNN, PyTorch's `nn.RNNCell`:
    /// `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)` (or relu).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::{RnnNonlinearity, RNNCell};
    /// let cell = RNNCell::<f32>::new(3, 4, true, RnnNonlinearity::Tanh);
    /// let mut h = Tensor::zeros(&[2, 4]);
    /// for _ in 0..5 {
    ///     h = cell.forward(&Tensor::randn(&[2, 3]), Some(&h));
    /// }
    /// assert_eq!(h.shape(), &[2, 4]);
    /// ```
    RNNCell
);

impl<E: Element> RNNCell<E> {
    /// A cell from `input_size` to `hidden_size`, initialised U(±1/√hidden_size).
    pub fn new(input_size: usize, hidden_size: usize, bias: bool, nonlinearity: RnnNonlinearity) -> Self {
        RNNCell(Cell::new(Kind::Rnn(nonlinearity), input_size, hidden_size, bias))
    }

    /// `x: [batch, input_size]` (or `[input_size]`) and `h: [batch,
    /// hidden_size]` (or `[hidden_size]`; zeros if `None`) to the next `h`.
    #[track_caller]
    pub fn forward(&self, x: &Tensor<E>, h: Option<&Tensor<E>>) -> Tensor<E> {
        self.0.step(x, h, None, Location::caller()).0
    }
}

recurrent_cell!(
    /// One LSTM step, PyTorch's `nn.LSTMCell` (gate order i, f, g, o, see
    /// [`LSTM`]).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::LSTMCell;
    /// let cell = LSTMCell::<f32>::new(3, 4, true);
    /// let (h, c) = cell.forward(&Tensor::randn(&[2, 3]), None);
    /// let (h, c) = cell.forward(&Tensor::randn(&[2, 3]), Some((&h, &c)));
    /// assert_eq!((h.shape(), c.shape()), (&[2, 4][..], &[2, 4][..]));
    /// ```
    LSTMCell
);

impl<E: Element> LSTMCell<E> {
    /// A cell from `input_size` to `hidden_size`, initialised U(±1/√hidden_size).
    pub fn new(input_size: usize, hidden_size: usize, bias: bool) -> Self {
        LSTMCell(Cell::new(Kind::Lstm, input_size, hidden_size, bias))
    }

    /// `x: [batch, input_size]` (or `[input_size]`) and the state `(h, c)`,
    /// each `[batch, hidden_size]` (or `[hidden_size]`; zeros if `None`), to
    /// the next `(h, c)`.
    #[track_caller]
    pub fn forward(&self, x: &Tensor<E>, state: Option<(&Tensor<E>, &Tensor<E>)>) -> (Tensor<E>, Tensor<E>) {
        let (h, c) = self.0.step(x, state.map(|s| s.0), state.map(|s| s.1), Location::caller());
        (h, c.expect("an LSTM cell has a cell state"))
    }
}

recurrent_cell!(
    /// One GRU step, PyTorch's `nn.GRUCell` (gate order r, z, n, see [`GRU`]).
    ///
    /// ```
    /// use lamina_core::Tensor;
    /// use lamina_layers::GRUCell;
    /// let cell = GRUCell::<f32>::new(3, 4, true);
    /// let h = cell.forward(&Tensor::randn(&[3]), None); // unbatched
    /// assert_eq!(h.shape(), &[4]);
    /// ```
    GRUCell
);

impl<E: Element> GRUCell<E> {
    /// A cell from `input_size` to `hidden_size`, initialised U(±1/√hidden_size).
    pub fn new(input_size: usize, hidden_size: usize, bias: bool) -> Self {
        GRUCell(Cell::new(Kind::Gru, input_size, hidden_size, bias))
    }

    /// `x: [batch, input_size]` (or `[input_size]`) and `h: [batch,
    /// hidden_size]` (or `[hidden_size]`; zeros if `None`) to the next `h`.
    #[track_caller]
    pub fn forward(&self, x: &Tensor<E>, h: Option<&Tensor<E>>) -> Tensor<E> {
        self.0.step(x, h, None, Location::caller()).0
    }
}
