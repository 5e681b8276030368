//! The recurrent layers and cells: one step worked out by hand for each cell,
//! whole sequences worked out by hand (both directions, batch-first,
//! variable lengths), PyTorch's parameter names and printing, default init,
//! shape errors, and gradient checks (first and second order) over generated
//! configurations, including that padded steps get no gradient and leave the
//! final state of the unpadded sequence.

use lamina_core::{gradcheck_outputs, gradgradcheck, no_grad, Generator, GradcheckOptions, Tensor};
use lamina_layers::{
    gradcheck_module, Forward, GRUCell, LSTMCell, Module, ModuleExt, Part, RNNCell, RecurrentConfig, RnnNonlinearity,
    GRU, LSTM, RNN,
};
use proptest::prelude::*;

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

fn assert_close(got: &Tensor<f64>, want: &[f64]) {
    let got = got.to_vec();
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "element {i}: got {g}, want {w} ({got:?})");
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Sets the parameters of `m` by name.
fn set(m: &impl ModuleExt<f64>, values: &[(&str, &[f64])]) {
    let sd = m.state_dict();
    for (name, v) in values {
        let p = sd.get(name).unwrap_or_else(|| panic!("no parameter {name}"));
        p.assign(&t(v, p.shape()));
    }
}

fn names(m: &impl ModuleExt<f64>) -> Vec<String> {
    m.state_dict().keys().map(str::to_owned).collect()
}

// ---------------------------------------------------------------- one step by hand

#[test]
fn rnn_cell_step_is_tanh_or_relu_of_both_projections_and_biases() {
    // H = 2, input 1: pre = [0.5·2 + 0.1 + 1·0.5 + 0.3, -1·2 + 0.2 + 2·(-0.25) - 0.4] = [1.9, -2.7].
    let values: &[(&str, &[f64])] = &[
        ("weight_ih", &[0.5, -1.0]),
        ("weight_hh", &[1.0, 0.0, 0.0, 2.0]),
        ("bias_ih", &[0.1, 0.2]),
        ("bias_hh", &[0.3, -0.4]),
    ];
    let (x, h) = (t(&[2.0], &[1, 1]), t(&[0.5, -0.25], &[1, 2]));
    let tanh = RNNCell::<f64>::new(1, 2, true, RnnNonlinearity::Tanh);
    set(&tanh, values);
    assert_close(&tanh.forward(&x, Some(&h)), &[1.9f64.tanh(), (-2.7f64).tanh()]);
    let relu = RNNCell::<f64>::new(1, 2, true, RnnNonlinearity::Relu);
    set(&relu, values);
    assert_close(&relu.forward(&x, Some(&h)), &[1.9, 0.0]);
    // Unbatched, and a zero initial state: pre = [0.5·2 + 0.4, -2 - 0.2].
    assert_close(&relu.forward(&t(&[2.0], &[1]), None), &[1.4, 0.0]);
}

#[test]
fn lstm_cell_step_follows_gate_order_i_f_g_o() {
    // x = 0.5, h = 1, c = 2; the four gate rows get pre-activations
    // i: 1·0.5 + 0.5 = 1, f: 2·0.5 + 1 - 0.5 = 1.5, g: 3·0.5 + 1 = 2.5, o: 4·0.5 - 1 = 1.
    let cell = LSTMCell::<f64>::new(1, 1, true);
    set(
        &cell,
        &[
            ("weight_ih", &[1.0, 2.0, 3.0, 4.0]),
            ("weight_hh", &[0.5, -0.5, 1.0, -1.0]),
            ("bias_ih", &[0.0, 1.0, 0.0, 0.0]),
            ("bias_hh", &[0.0; 4]),
        ],
    );
    let (h, c) = cell.forward(&t(&[0.5], &[1, 1]), Some((&t(&[1.0], &[1, 1]), &t(&[2.0], &[1, 1]))));
    let c_want = sigmoid(1.5) * 2.0 + sigmoid(1.0) * 2.5f64.tanh();
    assert_close(&c, &[c_want]);
    assert_close(&h, &[sigmoid(1.0) * c_want.tanh()]);
}

#[test]
fn gru_cell_step_keeps_the_hidden_n_bias_inside_the_reset_gate() {
    // x = 1, h = 0.5: r = σ(1 + 0.5·0.5) = σ(1.25), z = σ(-1 + 0.5) = σ(-0.5),
    // n = tanh(2 + 0.5 + r·(-1·0.5 + 0.25)), h' = (1 - z)·n + z·0.5.
    let cell = GRUCell::<f64>::new(1, 1, true);
    set(
        &cell,
        &[
            ("weight_ih", &[1.0, -1.0, 2.0]),
            ("weight_hh", &[0.5, 1.0, -1.0]),
            ("bias_ih", &[0.0, 0.0, 0.5]),
            ("bias_hh", &[0.0, 0.0, 0.25]),
        ],
    );
    let h = cell.forward(&t(&[1.0], &[1, 1]), Some(&t(&[0.5], &[1, 1])));
    let (r, z) = (sigmoid(1.25), sigmoid(-0.5));
    let n = (2.5 + r * -0.25f64).tanh();
    assert_close(&h, &[(1.0 - z) * n + z * 0.5]);
}

// ---------------------------------------------------------------- sequences by hand

/// A relu RNN with input 1, hidden 1, no bias, `W_ih = 1`, `W_hh = 0.5` in
/// every layer and direction: on [1, 2, -3] forward gives h = 1, 2.5, 0 and
/// backward (from the end) 0, 2, 2.
fn relu_rnn(bidirectional: bool, batch_first: bool) -> RNN<f64> {
    let rnn = RNN::with_config(RecurrentConfig {
        nonlinearity: RnnNonlinearity::Relu,
        bias: false,
        bidirectional,
        batch_first,
        ..RecurrentConfig::new(1, 1)
    });
    for (name, p) in rnn.named_parameters() {
        p.assign(&Tensor::full(p.shape(), if name.starts_with("weight_ih") { 1.0 } else { 0.5 }));
    }
    rnn
}

#[test]
fn rnn_layer_runs_forward_and_reverse_and_orders_outputs_as_pytorch() {
    let x = t(&[1.0, 2.0, -3.0], &[3, 1, 1]);
    let (y, h) = relu_rnn(false, false).forward(&x, None);
    assert_close(&y, &[1.0, 2.5, 0.0]);
    assert_close(&h, &[0.0]);
    // Output [seq, batch, 2]: forward then reverse on the last dim; h_n [l0, l0_reverse].
    let (y, h) = relu_rnn(true, false).forward(&x, None);
    assert_eq!(y.shape(), &[3, 1, 2]);
    assert_close(&y, &[1.0, 2.0, 2.5, 2.0, 0.0, 0.0]);
    assert_eq!(h.shape(), &[2, 1, 1]);
    assert_close(&h, &[0.0, 2.0]);
    // batch_first: the same values as [batch, seq, feature]; states keep their layout.
    let (y, h) = relu_rnn(true, true).forward(&x.reshape(&[1, 3, 1]), None);
    assert_eq!(y.shape(), &[1, 3, 2]);
    assert_close(&y, &[1.0, 2.0, 2.5, 2.0, 0.0, 0.0]);
    assert_eq!(h.shape(), &[2, 1, 1]);
    // Unbatched [seq, feature]: no batch dim anywhere.
    let (y, h) = relu_rnn(true, false).forward(&x.reshape(&[3, 1]), Some(&t(&[0.0, 0.0], &[2, 1])));
    assert_eq!((y.shape(), h.shape()), (&[3, 2][..], &[2, 1][..]));
    assert_close(&y, &[1.0, 2.0, 2.5, 2.0, 0.0, 0.0]);
}

#[test]
fn lengths_stop_the_forward_pass_and_start_the_reverse_pass_at_the_last_real_step() {
    // Batch of two: [1, 2, -3] of length 2 and [1, 2, -3] of length 3.
    let x = t(&[1.0, 1.0, 2.0, 2.0, -3.0, -3.0], &[3, 2, 1]);
    let (y, h) = relu_rnn(true, false).forward_with_lengths(&x, None, &[2, 3]);
    // Element 0: forward 1, 2.5, (pad 0); reverse from step 1: relu(2) = 2, relu(1 + 1) = 2, (pad 0).
    // Element 1: the full sequence.
    assert_close(&y, &[1.0, 2.0, 1.0, 2.0, 2.5, 2.0, 2.5, 2.0, 0.0, 0.0, 0.0, 0.0]);
    // h_n [direction, batch, 1]: forward 2.5 (step 1) and 0; reverse 2 and 2.
    assert_close(&h, &[2.5, 0.0, 2.0, 2.0]);
    // Lengths equal to the sequence length change nothing.
    let (y_full, h_full) = relu_rnn(true, false).forward(&x, None);
    let (y_same, h_same) = relu_rnn(true, false).forward_with_lengths(&x, None, &[3, 3]);
    assert_eq!((y_full.to_vec(), h_full.to_vec()), (y_same.to_vec(), h_same.to_vec()));
}

#[test]
fn lstm_projection_sizes_states_and_the_next_layers_input() {
    let lstm = LSTM::<f64>::with_config(RecurrentConfig {
        num_layers: 2,
        bidirectional: true,
        proj_size: 2,
        ..RecurrentConfig::new(3, 4)
    });
    let shapes: Vec<(String, Vec<usize>)> =
        lstm.named_parameters().into_iter().map(|(n, p)| (n, p.shape().to_vec())).collect();
    let want = |n: &str, s: &[usize]| (n.to_owned(), s.to_vec());
    assert_eq!(
        shapes[..5],
        [
            want("weight_ih_l0", &[16, 3]),
            want("weight_hh_l0", &[16, 2]),
            want("bias_ih_l0", &[16]),
            want("bias_hh_l0", &[16]),
            want("weight_hr_l0", &[2, 4]),
        ]
    );
    assert_eq!(shapes[10], want("weight_ih_l1", &[16, 4]));
    let (y, (h, c)) = lstm.forward(&Tensor::randn(&[5, 3, 3]), None);
    assert_eq!((y.shape(), h.shape(), c.shape()), (&[5, 3, 4][..], &[4, 3, 2][..], &[4, 3, 4][..]));
}

#[test]
fn dropout_acts_between_layers_in_training_only() {
    let rnn = RNN::<f64>::with_config(RecurrentConfig { num_layers: 2, dropout: 0.9, ..RecurrentConfig::new(2, 8) });
    let x = Tensor::randn(&[4, 3, 2]);
    rnn.eval();
    let (a, _) = rnn.forward(&x, None);
    let (b, _) = rnn.forward(&x, None);
    assert_eq!(a.to_vec(), b.to_vec());
    rnn.train();
    // With p = 0.9 over 96 first-layer outputs, some are dropped and the output changes.
    let (c, _) = rnn.forward(&x, None);
    assert_ne!(a.to_vec(), c.to_vec());
}

// ---------------------------------------------------------------- names, printing, init

#[test]
fn parameter_names_follow_pytorch() {
    let lstm = LSTM::<f64>::with_config(RecurrentConfig {
        num_layers: 2,
        bidirectional: true,
        proj_size: 1,
        ..RecurrentConfig::new(3, 2)
    });
    let mut want = Vec::new();
    for l in 0..2 {
        for d in ["", "_reverse"] {
            for p in ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"] {
                want.push(format!("{p}_l{l}{d}"));
            }
        }
    }
    assert_eq!(names(&lstm), want);
    let gru = GRU::<f64>::with_config(RecurrentConfig { bias: false, ..RecurrentConfig::new(3, 2) });
    assert_eq!(names(&gru), ["weight_ih_l0", "weight_hh_l0"]);
    assert_eq!(
        names(&RNNCell::<f64>::new(3, 2, true, RnnNonlinearity::Relu)),
        ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    );
    assert_eq!(names(&LSTMCell::<f64>::new(3, 2, false)), ["weight_ih", "weight_hh"]);
    // As a child module, names are prefixed.
    struct Model {
        rnn: GRU<f64>,
    }
    impl Module<f64> for Model {
        fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, f64>)) {
            f("rnn", Part::Module(&self.rnn));
        }
    }
    assert_eq!(names(&Model { rnn: GRU::new(2, 2) })[0], "rnn.weight_ih_l0");
}

#[test]
fn printing_matches_pytorch_extra_repr() {
    let lstm = LSTM::<f64>::with_config(RecurrentConfig {
        num_layers: 2,
        batch_first: true,
        dropout: 0.5,
        bidirectional: true,
        proj_size: 1,
        bias: false,
        ..RecurrentConfig::new(3, 2)
    });
    assert_eq!(
        lstm.extra_repr(),
        "3, 2, proj_size=1, num_layers=2, bias=False, batch_first=True, dropout=0.5, bidirectional=True"
    );
    // 6·3 + 6·2 weights and two biases of 6.
    assert_eq!(GRU::<f64>::new(3, 2).to_string(), "GRU(3, 2)\n[42 parameters]");
    assert_eq!(RNNCell::<f64>::new(3, 2, true, RnnNonlinearity::Relu).extra_repr(), "3, 2, nonlinearity=relu");
}

#[test]
fn default_init_is_uniform_within_one_over_sqrt_hidden() {
    let lstm = LSTM::<f64>::with_config(RecurrentConfig { bidirectional: true, ..RecurrentConfig::new(8, 16) });
    let values: Vec<f64> = lstm.parameters().iter().flat_map(|p| p.to_vec()).collect();
    assert!(values.iter().all(|v| v.abs() <= 0.25), "bound 1/√16");
    // U(-0.25, 0.25) has mean 0 and std 0.25/√3 ≈ 0.144; over 3.5k samples both are tight.
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(mean.abs() < 0.015 && (std - 0.25 / 3f64.sqrt()).abs() < 0.01, "mean {mean}, std {std}");
    assert!(GRUCell::<f64>::new(4, 4, true).parameters().iter().all(|p| p.to_vec().iter().all(|v| v.abs() <= 0.5)));
}

// ---------------------------------------------------------------- errors

/// The panic message of `f`.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let err = std::panic::catch_unwind(f).expect_err("should panic");
    err.downcast_ref::<String>().cloned().unwrap_or_else(|| err.downcast_ref::<&str>().unwrap_or(&"").to_string())
}

#[test]
fn wrong_input_size_names_the_layer_the_shapes_and_the_caller() {
    let msg = panic_message(|| {
        LSTM::<f64>::new(3, 4).forward(&Tensor::zeros(&[5, 2, 7]), None);
    });
    assert!(msg.contains("LSTM") && msg.contains("[5, 2, 7]") && msg.contains("input_size 3"), "{msg}");
    assert!(msg.contains("tests/rnn.rs"), "{msg}");
    let msg = panic_message(|| {
        GRUCell::<f64>::new(3, 4, true).forward(&Tensor::zeros(&[2, 5]), None);
    });
    assert!(msg.contains("GRUCell") && msg.contains("[2, 5]") && msg.contains("tests/rnn.rs"), "{msg}");
}

#[test]
fn wrong_states_and_lengths_name_the_expected_shape() {
    let gru = GRU::<f64>::with_config(RecurrentConfig { num_layers: 2, ..RecurrentConfig::new(3, 4) });
    let x = Tensor::zeros(&[5, 2, 3]);
    let msg = panic_message(|| {
        gru.forward(&x, Some(&Tensor::zeros(&[1, 2, 4])));
    });
    assert!(msg.contains("GRU") && msg.contains("h0") && msg.contains("[2, 2, 4]"), "{msg}");
    assert!(msg.contains("[1, 2, 4]") && msg.contains("tests/rnn.rs"), "{msg}");
    let lstm = LSTM::<f64>::new(3, 4);
    let msg = panic_message(|| {
        lstm.forward(&x, Some((&Tensor::zeros(&[1, 2, 4]), &Tensor::zeros(&[1, 2, 5]))));
    });
    assert!(msg.contains("c0") && msg.contains("[1, 2, 5]") && msg.contains("tests/rnn.rs"), "{msg}");
    let msg = panic_message(|| {
        gru.forward_with_lengths(&x, None, &[6, 1]);
    });
    assert!(msg.contains("GRU") && msg.contains("lengths [6, 1]") && msg.contains("tests/rnn.rs"), "{msg}");
}

#[test]
fn inconsistent_options_are_rejected_at_construction() {
    let msg = panic_message(|| {
        GRU::<f64>::with_config(RecurrentConfig { proj_size: 1, ..RecurrentConfig::new(3, 4) });
    });
    assert!(msg.contains("GRU") && msg.contains("proj_size") && msg.contains("tests/rnn.rs"), "{msg}");
    let msg = panic_message(|| {
        LSTM::<f64>::with_config(RecurrentConfig { proj_size: 4, ..RecurrentConfig::new(3, 4) });
    });
    assert!(msg.contains("smaller than hidden_size"), "{msg}");
    assert_eq!(
        "gelu".parse::<RnnNonlinearity>().unwrap_err(),
        "unknown nonlinearity `gelu` (expected \"tanh\" or \"relu\")"
    );
}

// ---------------------------------------------------------------- gradient checks

/// `[output, h_n]` of an RNN or GRU.
macro_rules! hidden_state_outputs {
    ($m:expr, $x:expr, $states:expr, $lengths:expr) => {{
        let (y, h) = match $lengths {
            Some(l) => $m.forward_with_lengths($x, $states.first(), l),
            None => $m.forward($x, $states.first()),
        };
        vec![y, h]
    }};
}

/// One of the three layers.
enum Layer {
    Rnn(RNN<f64>),
    Lstm(LSTM<f64>),
    Gru(GRU<f64>),
}

impl Layer {
    fn config(&self) -> &RecurrentConfig {
        match self {
            Layer::Rnn(m) => m.config(),
            Layer::Lstm(m) => m.config(),
            Layer::Gru(m) => m.config(),
        }
    }

    /// Every output (`output`, `h_n`, and `c_n` for an LSTM) from `x` and
    /// the initial states `h0` (and `c0`), optionally with lengths.
    fn run(&self, x: &Tensor<f64>, states: &[Tensor<f64>], lengths: Option<&[usize]>) -> Vec<Tensor<f64>> {
        match self {
            Layer::Lstm(m) => {
                let state = states.first().zip(states.get(1));
                let (y, (h, c)) = match lengths {
                    Some(l) => m.forward_with_lengths(x, state, l),
                    None => m.forward(x, state),
                };
                vec![y, h, c]
            }
            Layer::Rnn(m) => hidden_state_outputs!(m, x, states, lengths),
            Layer::Gru(m) => hidden_state_outputs!(m, x, states, lengths),
        }
    }
}

/// A generated recurrent layer with its input, initial states and lengths.
struct Setup {
    layer: Layer,
    x: Tensor<f64>,
    states: Vec<Tensor<f64>>,
    lengths: Option<Vec<usize>>,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.layer {
            Layer::Rnn(_) => "RNN",
            Layer::Lstm(_) => "LSTM",
            Layer::Gru(_) => "GRU",
        };
        write!(
            f,
            "{kind} {:?} x {:?} states {} lengths {:?}",
            self.layer.config(),
            self.x.shape(),
            self.states.len(),
            self.lengths
        )
    }
}

impl Module<f64> for Setup {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, f64>)) {
        match &self.layer {
            Layer::Rnn(m) => m.visit(f),
            Layer::Lstm(m) => m.visit(f),
            Layer::Gru(m) => m.visit(f),
        }
    }
}

/// Every output flattened into one vector, for [`gradcheck_module`].
impl Forward<f64> for Setup {
    fn forward(&self, x: &Tensor<f64>) -> Tensor<f64> {
        let outs = self.layer.run(x, &self.states, self.lengths.as_deref());
        let flat: Vec<Tensor<f64>> = outs.iter().map(|o| o.reshape(&[o.numel()])).collect();
        Tensor::cat(&flat.iter().collect::<Vec<_>>(), 0)
    }
}

prop_compose! {
    /// Tiny layers of every kind and option: 1-2 layers, either direction
    /// count, batch-first or not, with or without bias, LSTM projections,
    /// initial states and lengths.
    fn setup()(
        kind in 0..4usize,
        num_layers in 1..=2usize,
        bidirectional in any::<bool>(),
        batch_first in any::<bool>(),
        bias in any::<bool>(),
        project in any::<bool>(),
        input in 1..=2usize,
        hidden in 2..=3usize,
        (seq, lengths) in (1..=3usize).prop_flat_map(|s| (Just(s), proptest::collection::vec(1..=s, 1..=2))),
        use_lengths in any::<bool>(),
        with_states in any::<bool>(),
        seed in any::<u64>(),
    ) -> Setup {
        let config = RecurrentConfig {
            num_layers,
            nonlinearity: if kind == 1 { RnnNonlinearity::Relu } else { RnnNonlinearity::Tanh },
            bias,
            batch_first,
            bidirectional,
            proj_size: if kind == 2 && project { 1 } else { 0 },
            ..RecurrentConfig::new(input, hidden)
        };
        let layer = match kind {
            0 | 1 => Layer::Rnn(RNN::with_config(config.clone())),
            2 => Layer::Lstm(LSTM::with_config(config.clone())),
            _ => Layer::Gru(GRU::with_config(config.clone())),
        };
        let mut gen = Generator::new(seed);
        let batch = lengths.len();
        let x_shape = if batch_first { [batch, seq, input] } else { [seq, batch, input] };
        let x = Tensor::randn_with(&x_shape, &mut gen);
        let states_n = config.num_layers * config.num_directions();
        let mut states = Vec::new();
        if with_states {
            states.push(Tensor::randn_with(&[states_n, batch, config.output_size()], &mut gen).mul_scalar(0.5));
            if kind == 2 {
                states.push(Tensor::randn_with(&[states_n, batch, hidden], &mut gen).mul_scalar(0.5));
            }
        }
        // Parameters larger than the default init, so the gates leave their linear range.
        let m = Setup { layer, x, states, lengths: use_lengths.then_some(lengths) };
        for p in m.parameters() {
            p.assign(&Tensor::randn_with(p.shape(), &mut gen).mul_scalar(0.6));
        }
        m
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// d(every output)/d(input, every parameter) and d/d(initial states).
    #[test]
    fn gradients_match_finite_differences(s in setup()) {
        if let Err(e) = gradcheck_module(&s, &s.x) {
            return Err(TestCaseError::fail(format!("{s:?}: {e}")));
        }
        if !s.states.is_empty() {
            let mut inputs = vec![s.x.clone()];
            inputs.extend(s.states.iter().cloned());
            let f = |xs: &[Tensor<f64>]| s.layer.run(&xs[0], &xs[1..], s.lengths.as_deref());
            if let Err(e) = gradcheck_outputs(f, &inputs, GradcheckOptions::default()) {
                return Err(TestCaseError::fail(format!("{s:?}: {e:?}")));
            }
        }
    }

    /// Second derivatives through the whole recurrence, with respect to the
    /// input and the initial states (a transposed, non-contiguous input).
    #[test]
    fn second_derivatives_match_finite_differences(s in setup()) {
        let config = s.layer.config().clone();
        let x_t = s.x.transpose(0, -1).contiguous();
        let mut inputs = vec![x_t];
        inputs.extend(s.states.iter().cloned());
        let f = |xs: &[Tensor<f64>]| {
            let outs = s.layer.run(&xs[0].transpose(0, -1), &xs[1..], s.lengths.as_deref());
            let flat: Vec<Tensor<f64>> = outs.iter().map(|o| o.reshape(&[o.numel()])).collect();
            Tensor::cat(&flat.iter().collect::<Vec<_>>(), 0)
        };
        if let Err(e) = gradgradcheck(f, &inputs) {
            return Err(TestCaseError::fail(format!("{s:?} ({config:?}): {e:?}")));
        }
    }

    /// Each element of a padded batch gets the outputs and final states of its
    /// unpadded sequence run alone; padded outputs are zero and padded inputs
    /// get exactly zero gradient.
    #[test]
    fn padded_steps_change_nothing_and_get_no_gradient(mut s in setup()) {
        let lengths = s.lengths.get_or_insert_with(|| vec![1; if s.layer.config().batch_first { s.x.shape()[0] } else { s.x.shape()[1] }]).clone();
        let config = s.layer.config().clone();
        let (t_dim, b_dim) = if config.batch_first { (1, 0) } else { (0, 1) };
        let x = s.x.detach().requires_grad_(true);
        let outs = s.layer.run(&x, &s.states, Some(&lengths));
        let weights: Vec<Tensor<f64>> = outs.iter().map(|o| Tensor::randn_with(o.shape(), &mut Generator::new(7))).collect();
        let objective = outs.iter().zip(&weights).map(|(o, w)| (o * w).sum()).reduce(|a, b| a + b).unwrap();
        objective.backward();
        let gx = x.grad().expect("x gets a gradient");
        let seq = x.shape()[t_dim];
        for (b, &len) in lengths.iter().enumerate() {
            let alone_x = x.detach().narrow(b_dim as isize, b, 1).narrow(t_dim as isize, 0, len);
            let alone_states: Vec<Tensor<f64>> = s.states.iter().map(|h| h.narrow(1, b, 1)).collect();
            let alone = no_grad(|| s.layer.run(&alone_x, &alone_states, None));
            let y_b = outs[0].narrow(b_dim as isize, b, 1);
            prop_assert_eq!(y_b.narrow(t_dim as isize, 0, len).to_vec().len(), alone[0].numel());
            for (got, want) in y_b.narrow(t_dim as isize, 0, len).to_vec().iter().zip(alone[0].to_vec()) {
                prop_assert!((got - want).abs() < 1e-12, "{:?}: output {} vs {}", s, got, want);
            }
            for (k, state) in outs.iter().enumerate().skip(1) {
                for (got, want) in state.narrow(1, b, 1).to_vec().iter().zip(alone[k].to_vec()) {
                    prop_assert!((got - want).abs() < 1e-12, "{:?}: state {} is {} vs {}", s, k, got, want);
                }
            }
            if len < seq {
                let pad = |t: &Tensor<f64>| t.narrow(b_dim as isize, b, 1).narrow(t_dim as isize, len, seq - len).to_vec();
                prop_assert!(pad(&outs[0]).iter().all(|&v| v == 0.0), "{:?}: padded output not zero", s);
                prop_assert!(pad(&gx).iter().all(|&v| v == 0.0), "{:?}: padded input got gradient", s);
            }
        }
    }
}
