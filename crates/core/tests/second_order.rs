//! Gradients of gradients: a Hessian-vector product of a tanh MLP and a
//! gradient penalty, each against finite differences of first-order gradients.

use lamina_core::{grad, GradOptions, Tensor};

struct Mlp {
    x: Tensor<f64>,
    y: Tensor<f64>,
}

impl Mlp {
    fn new() -> Self {
        let x = Tensor::from_vec((0..12).map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0).collect(), &[4, 3]);
        let y = Tensor::from_vec(vec![0.5, -0.25, 1.0, 0.0], &[4, 1]);
        Mlp { x, y }
    }

    /// Parameters of a 3-5-1 tanh MLP, flattened into one vector for finite differences.
    fn params(theta: &[f64]) -> Vec<Tensor<f64>> {
        let (w1, rest) = theta.split_at(15);
        let (b1, rest) = rest.split_at(5);
        let (w2, b2) = rest.split_at(5);
        [(w1, vec![3, 5]), (b1, vec![5]), (w2, vec![5, 1]), (b2, vec![1])]
            .into_iter()
            .map(|(v, s)| Tensor::from_vec(v.to_vec(), &s).requires_grad_(true))
            .collect()
    }

    fn loss(&self, p: &[Tensor<f64>], x: &Tensor<f64>) -> Tensor<f64> {
        let h = (x.matmul(&p[0]) + &p[1]).tanh();
        let out = h.matmul(&p[2]) + &p[3];
        (out - &self.y).square().mean()
    }

    fn gradient(&self, theta: &[f64]) -> Vec<f64> {
        let p = Self::params(theta);
        let refs: Vec<&Tensor<f64>> = p.iter().collect();
        let g = grad(&[&self.loss(&p, &self.x)], &refs, None, GradOptions::default()).unwrap();
        g.into_iter().flat_map(|g| g.unwrap().to_vec()).collect()
    }

    /// ||d loss / d x||², the input-gradient penalty.
    fn penalty(&self, p: &[Tensor<f64>], create_graph: bool) -> Tensor<f64> {
        let x = self.x.detach().requires_grad_(true);
        let opts = GradOptions { create_graph, retain_graph: create_graph, allow_unused: false };
        let gx = grad(&[&self.loss(p, &x)], &[&x], None, opts).unwrap()[0].clone().unwrap();
        gx.square().sum()
    }
}

fn theta() -> Vec<f64> {
    (0..26).map(|i| ((i * 5 % 13) as f64 - 6.0) / 8.0).collect()
}

fn assert_close(analytic: &[f64], numeric: &[f64]) {
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        assert!((a - n).abs() <= 1e-6 + 1e-4 * n.abs(), "element {i}: analytic {a}, numeric {n}");
    }
}

#[test]
fn hessian_vector_product_matches_finite_differences_of_the_gradient() {
    let m = Mlp::new();
    let theta = theta();
    let v: Vec<f64> = (0..26).map(|i| ((i * 3 % 7) as f64 - 3.0) / 3.0).collect();
    let p = Mlp::params(&theta);
    let refs: Vec<&Tensor<f64>> = p.iter().collect();
    let g = grad(&[&m.loss(&p, &m.x)], &refs, None, GradOptions::create_graph()).unwrap();
    let vs = Mlp::params(&v);
    let gv = g.iter().zip(&vs).map(|(g, v)| (g.as_ref().unwrap() * &v.detach()).sum()).reduce(|a, b| a + b).unwrap();
    let hv: Vec<f64> = grad(&[&gv], &refs, None, GradOptions { allow_unused: true, ..Default::default() })
        .unwrap()
        .into_iter()
        .zip(&p)
        .flat_map(|(h, p)| h.unwrap_or_else(|| p.zeros_like()).to_vec())
        .collect();
    let eps = 1e-5;
    let shifted = |s: f64| m.gradient(&theta.iter().zip(&v).map(|(t, v)| t + s * v).collect::<Vec<_>>());
    let numeric: Vec<f64> = shifted(eps).iter().zip(shifted(-eps)).map(|(a, b)| (a - b) / (2.0 * eps)).collect();
    assert_close(&hv, &numeric);
}

#[test]
fn gradient_penalty_matches_finite_differences() {
    let m = Mlp::new();
    let theta = theta();
    let p = Mlp::params(&theta);
    let refs: Vec<&Tensor<f64>> = p.iter().collect();
    let penalty = m.penalty(&p, true);
    let analytic: Vec<f64> = grad(&[&penalty], &refs, None, GradOptions::default())
        .unwrap()
        .into_iter()
        .flat_map(|g| g.unwrap().to_vec())
        .collect();
    let eps = 1e-6;
    let numeric: Vec<f64> = (0..theta.len())
        .map(|i| {
            let mut t = theta.clone();
            t[i] += eps;
            let plus = m.penalty(&Mlp::params(&t), false).item();
            t[i] -= 2.0 * eps;
            let minus = m.penalty(&Mlp::params(&t), false).item();
            (plus - minus) / (2.0 * eps)
        })
        .collect();
    assert_close(&analytic, &numeric);
}
