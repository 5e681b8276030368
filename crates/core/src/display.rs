//! Printing tensors the way PyTorch does: aligned values, four decimals,
//! large tensors summarised with `...`, shape always shown.

use crate::{Element, Tensor};
use std::fmt;

/// Above this many elements, only the first and last `EDGE` items of each
/// dimension are printed (PyTorch's threshold and edge items).
const THRESHOLD: usize = 1000;
const EDGE: usize = 3;

fn visible(size: usize, summarise: bool) -> Vec<Option<usize>> {
    if summarise && size > 2 * EDGE {
        (0..EDGE).map(Some).chain([None]).chain((size - EDGE..size).map(Some)).collect()
    } else {
        (0..size).map(Some).collect()
    }
}

fn render(
    out: &mut String,
    values: &[String],
    shape: &[usize],
    strides: &[usize],
    base: usize,
    indent: usize,
    summarise: bool,
) {
    if shape.is_empty() {
        out.push_str(&values[base]);
        return;
    }
    out.push('[');
    let items = visible(shape[0], summarise);
    for (k, item) in items.iter().enumerate() {
        if k > 0 {
            out.push(',');
            if shape.len() == 1 {
                out.push(' ');
            } else {
                out.push_str(&"\n".repeat(shape.len() - 1));
                out.push_str(&" ".repeat(indent + 1));
            }
        }
        match item {
            Some(i) => render(out, values, &shape[1..], &strides[1..], base + i * strides[0], indent + 1, summarise),
            None => out.push_str("..."),
        }
    }
    out.push(']');
}

impl<E: Element> fmt::Display for Tensor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = self.to_vec();
        let all_int = data.iter().all(|v| v.f64().fract() == 0.0 && v.f64().abs() < 1e8);
        let strings: Vec<String> =
            data.iter().map(|v| if all_int { format!("{:.0}.", v.f64()) } else { format!("{:.4}", v.f64()) }).collect();
        let width = strings.iter().map(String::len).max().unwrap_or(0);
        let padded: Vec<String> = strings.iter().map(|s| format!("{s:>width$}")).collect();
        let mut out = String::from("tensor(");
        let strides = crate::layout::contiguous_strides(self.shape());
        render(&mut out, &padded, self.shape(), &strides, 0, 7, self.numel() > THRESHOLD);
        write!(f, "{out}, shape={:?}", self.shape())?;
        if E::DTYPE != "float32" {
            write!(f, ", dtype={}", E::DTYPE)?;
        }
        match self.grad_fn_name() {
            Some(name) => write!(f, ", grad_fn=<{name}>")?,
            None if self.requires_grad() => write!(f, ", requires_grad=true")?,
            None => {}
        }
        write!(f, ")")
    }
}

impl<E: Element> fmt::Debug for Tensor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn prints_like_pytorch() {
        let t = Tensor::<f32>::from_vec(vec![1.5, -2.0, 3.25, 4.0], &[2, 2]);
        assert_eq!(t.to_string(), "tensor([[ 1.5000, -2.0000],\n        [ 3.2500,  4.0000]], shape=[2, 2])");
        let big = Tensor::<f64>::zeros(&[2000]);
        let s = big.to_string();
        assert!(s.starts_with("tensor([0., 0., 0., ..., 0., 0., 0.], shape=[2000]"), "{s}");
    }
}
