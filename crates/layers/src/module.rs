//! The [`Module`] trait: a layer names its parameters, buffers and child
//! modules once, in [`Module::visit`], and gets everything else from that:
//! PyTorch-style dotted names, `state_dict`, `train`/`eval`, freezing.

use crate::state::{StateDict, StateDictError};
use lamina_core::{Element, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};

/// One direct part of a module, as [`Module::visit`] reports it.
pub enum Part<'a, E: Element> {
    /// A learnable parameter (collected by optimizers, saved in state dicts).
    Param(&'a Tensor<E>),
    /// A buffer: saved state that is not learned (running statistics).
    Buffer(&'a Tensor<E>),
    /// A child module; its parts are named with this one's name as prefix.
    Module(&'a dyn Module<E>),
}

/// A layer or model: something with named parameters, buffers and children.
///
/// Implement it with the [`parts!`](crate::parts) macro, which names the
/// struct's fields that are parts; everything else is provided by
/// [`ModuleExt`].
pub trait Module<E: Element = f32>: Send + Sync {
    /// Calls `f` once per direct part, in registration order, with its name.
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>));

    /// Switches this module's own train/eval behaviour (children are reached
    /// by [`ModuleExt::train`]). Modules without such behaviour ignore it.
    fn set_training(&self, _training: bool) {}

    /// The type's name as shown when printing a model.
    fn type_name(&self) -> &'static str {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base)
    }

    /// The options shown inside the parentheses when printing (PyTorch's `extra_repr`).
    fn extra_repr(&self) -> String {
        String::new()
    }
}

/// A module's train/eval switch, for layers whose behaviour depends on it
/// (dropout, batch norm). Starts in training mode, as PyTorch modules do.
#[derive(Debug)]
pub struct TrainingFlag(AtomicBool);

impl Default for TrainingFlag {
    fn default() -> Self {
        TrainingFlag(AtomicBool::new(true))
    }
}

impl TrainingFlag {
    /// Whether the module is in training mode.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// Sets training mode.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }
}

/// Visits every part below `m`, depth first, with full dotted names.
fn walk<'a, E: Element>(prefix: &str, m: &'a dyn Module<E>, f: &mut dyn FnMut(&str, Part<'a, E>)) {
    m.visit(&mut |name, part| {
        let full = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") };
        match part {
            Part::Module(child) => {
                f(&full, Part::Module(child));
                walk(&full, child, f);
            }
            other => f(&full, other),
        }
    });
}

/// Everything a module gets from naming its parts. Implemented for every [`Module`].
pub trait ModuleExt<E: Element>: Module<E> {
    /// Parameters with PyTorch `state_dict` names (`features.0.weight`), in registration order.
    fn named_parameters(&self) -> Vec<(String, Tensor<E>)> {
        let mut out = Vec::new();
        walk("", self.as_dyn(), &mut |name, part| {
            if let Part::Param(t) = part {
                out.push((name.to_owned(), t.clone()));
            }
        });
        out
    }

    /// The parameters, in registration order.
    fn parameters(&self) -> Vec<Tensor<E>> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// Buffers with their dotted names.
    fn named_buffers(&self) -> Vec<(String, Tensor<E>)> {
        let mut out = Vec::new();
        walk("", self.as_dyn(), &mut |name, part| {
            if let Part::Buffer(t) = part {
                out.push((name.to_owned(), t.clone()));
            }
        });
        out
    }

    /// Every module below this one (not itself), with its dotted name.
    fn named_modules(&self) -> Vec<(String, &dyn Module<E>)> {
        let mut out = Vec::new();
        walk("", self.as_dyn(), &mut |name, part| {
            if let Part::Module(m) = part {
                out.push((name.to_owned(), m));
            }
        });
        out
    }

    /// Parameters and buffers by name, sharing storage with the module.
    fn state_dict(&self) -> StateDict<E> {
        let mut sd = StateDict::new();
        walk("", self.as_dyn(), &mut |name, part| match part {
            Part::Param(t) | Part::Buffer(t) => sd.insert(name, t.clone()),
            Part::Module(_) => {}
        });
        sd
    }

    /// Copies every entry of `sd` into the matching parameter or buffer.
    /// Strict, as PyTorch's default: any missing, unexpected or
    /// shape-mismatched key is an error listing them all, and nothing is copied.
    fn load_state_dict(&self, sd: &StateDict<E>) -> Result<(), StateDictError> {
        let mine = self.state_dict();
        let err = StateDictError::compare(&mine, sd);
        if !err.is_empty() {
            return Err(err);
        }
        for (name, t) in mine.iter() {
            t.assign(sd.get(name).expect("checked"));
        }
        Ok(())
    }

    /// Training mode for this module and every module below it.
    fn train(&self) {
        self.set_mode(true);
    }

    /// Evaluation mode for this module and every module below it.
    fn eval(&self) {
        self.set_mode(false);
    }

    /// Sets training mode (`true`) or evaluation mode (`false`) everywhere below.
    fn set_mode(&self, training: bool) {
        self.set_training(training);
        for (_, m) in self.named_modules() {
            m.set_training(training);
        }
    }

    /// Clears the gradient of every parameter.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// The number of learnable values.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(Tensor::numel).sum()
    }

    /// Stops (or restarts, with `false`) gradient collection for every parameter below.
    fn freeze(&self, frozen: bool) {
        for p in self.parameters() {
            p.set_requires_grad(!frozen);
        }
    }

    /// This module as a trait object.
    fn as_dyn(&self) -> &dyn Module<E>;
}

impl<E: Element, M: Module<E>> ModuleExt<E> for M {
    fn as_dyn(&self) -> &dyn Module<E> {
        self
    }
}

impl<E: Element> ModuleExt<E> for dyn Module<E> + '_ {
    fn as_dyn(&self) -> &dyn Module<E> {
        self
    }
}

/// PyTorch-style printing of a module tree: type, options, children indented,
/// parameter counts.
pub fn render<E: Element>(m: &dyn Module<E>) -> String {
    fn go<E: Element>(m: &dyn Module<E>, indent: usize, out: &mut String) {
        let mut children = Vec::new();
        m.visit(&mut |name, part| {
            if let Part::Module(c) = part {
                children.push((name.to_owned(), c));
            }
        });
        out.push_str(m.type_name());
        out.push('(');
        out.push_str(&m.extra_repr());
        if !children.is_empty() {
            out.push('\n');
            for (name, c) in children {
                out.push_str(&" ".repeat(indent + 2));
                out.push_str(&format!("({name}): "));
                go(c, indent + 2, out);
                out.push('\n');
            }
            out.push_str(&" ".repeat(indent));
        }
        out.push(')');
    }
    let mut out = String::new();
    go(m, 0, &mut out);
    out.push_str(&format!("\n[{} parameters]", m.num_parameters()));
    out
}

/// How a field takes part in a module, dispatched on its type by [`parts!`](crate::parts):
/// tensors are parameters, [`Buffer`]s buffers, modules children (a `Vec` of
/// modules is a child whose items are named `0`, `1`, ...), and an `Option`
/// what it holds.
pub trait Visit<E: Element> {
    /// Reports this field under `name`.
    fn visit_as<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Part<'a, E>));
}

impl<E: Element> Visit<E> for Tensor<E> {
    fn visit_as<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        f(name, Part::Param(self));
    }
}

/// A tensor saved with a module but not learned (running statistics).
#[derive(Clone, Debug)]
pub struct Buffer<E: Element>(pub Tensor<E>);

impl<E: Element> Visit<E> for Buffer<E> {
    fn visit_as<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        f(name, Part::Buffer(&self.0));
    }
}

/// Implements [`Visit`] for module types (as children). [`parts!`](crate::parts)
/// does this for user layers; `visit_as_module!(Linear, Conv2d)` for built-ins.
#[doc(hidden)]
#[macro_export]
macro_rules! visit_as_module {
    ($($t:ident),* $(,)?) => {$(
        impl<E: $crate::__Element> $crate::Visit<E> for $t<E> {
            fn visit_as<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, $crate::Part<'a, E>)) {
                f(name, $crate::Part::Module(self));
            }
        }
    )*};
}

impl<E: Element, M: Module<E>> Visit<E> for Vec<M> {
    fn visit_as<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        f(name, Part::Module(self));
    }
}

impl<E: Element, M: Module<E> + ?Sized> Visit<E> for Box<M> {
    fn visit_as<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        f(name, Part::Module(self));
    }
}

impl<E: Element, T: Visit<E>> Visit<E> for Option<T> {
    fn visit_as<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        if let Some(t) = self {
            t.visit_as(name, f);
        }
    }
}

impl<E: Element, M: Module<E> + ?Sized> Module<E> for Box<M> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        (**self).visit(f)
    }
    fn set_training(&self, training: bool) {
        (**self).set_training(training)
    }
    fn type_name(&self) -> &'static str {
        (**self).type_name()
    }
    fn extra_repr(&self) -> String {
        (**self).extra_repr()
    }
}

/// A list of modules whose items are named `0`, `1`, ... (PyTorch's `ModuleList`).
impl<E: Element, M: Module<E>> Module<E> for Vec<M> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        for (i, m) in self.iter().enumerate() {
            f(&i.to_string(), Part::Module(m));
        }
    }
    fn type_name(&self) -> &'static str {
        "ModuleList"
    }
}

/// Implements [`Module`] for a struct by naming its parts: one line.
///
/// `parts!(Name<E> { a, b })` for a struct generic over the element type `E`,
/// `parts!(Name: f64 { a, b })` for one with a fixed element type; an optional
/// `, extra_repr = |m: &Name<E>| ...` gives the options shown when printing. Each named
/// field is a tensor (a parameter), a [`Buffer`], a module, or an `Option` of
/// one; fields not named (options, sizes) are not parts.
///
/// ```
/// use lamina_core::{Element, Tensor};
/// use lamina_layers::{parts, Forward, ModuleExt};
///
/// /// A gated linear unit: (x W + b) * sigmoid(x V + c).
/// struct Glu<E: Element = f32> {
///     w: Tensor<E>,
///     v: Tensor<E>,
/// }
/// parts!(Glu<E> { w, v });
///
/// impl<E: Element> Forward<E> for Glu<E> {
///     fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
///         x.matmul(&self.w) * x.matmul(&self.v).tanh()
///     }
/// }
///
/// let glu = Glu::<f64> { w: Tensor::ones(&[3, 2]).requires_grad_(true), v: Tensor::ones(&[3, 2]).requires_grad_(true) };
/// let names: Vec<String> = glu.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["w", "v"]);
/// assert_eq!(glu.forward(&Tensor::zeros(&[4, 3])).shape(), &[4, 2]);
/// ```
#[macro_export]
macro_rules! parts {
    ($name:ident < $e:ident > { $($field:ident),* $(,)? } $(, extra_repr = $repr:expr)?) => {
        impl<$e: $crate::__Element> $crate::Module<$e> for $name<$e> {
            fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, $crate::Part<'a, $e>)) {
                $( $crate::Visit::<$e>::visit_as(&self.$field, stringify!($field), f); )*
            }
            $(fn extra_repr(&self) -> String {
                ($repr)(self)
            })?
        }
        $crate::visit_as_module!($name);
    };
    ($name:ident : $e:ty { $($field:ident),* $(,)? }) => {
        impl $crate::Module<$e> for $name {
            fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, $crate::Part<'a, $e>)) {
                $( $crate::Visit::<$e>::visit_as(&self.$field, stringify!($field), f); )*
            }
        }
        impl $crate::Visit<$e> for $name {
            fn visit_as<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, $crate::Part<'a, $e>)) {
                f(name, $crate::Part::Module(self));
            }
        }
    };
}
