//! [`Forward`]: one tensor in, one tensor out, so layers compose; forward
//! hooks; [`Sequential`] and [`Residual`].

use crate::module::{Module, Part};
use lamina_core::{Element, Tensor};
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A module applied to one tensor.
pub trait Forward<E: Element = f32>: Module<E> {
    /// The output for input `x`.
    fn forward(&self, x: &Tensor<E>) -> Tensor<E>;

    /// [`forward`](Self::forward) plus this module's forward hooks. Containers
    /// call their children this way; custom layers should too, so that hooks
    /// registered on their children fire.
    fn call(&self, x: &Tensor<E>) -> Tensor<E> {
        let y = self.forward(x);
        if HOOK_COUNT.load(Ordering::Relaxed) == 0 {
            return y;
        }
        run_hooks(module_key(self), x, y)
    }
}

/// A forward hook: sees a module's input and output, may replace the output.
type HookFn<E> = Arc<dyn Fn(&Tensor<E>, &Tensor<E>) -> Option<Tensor<E>> + Send + Sync>;

static HOOK_COUNT: AtomicUsize = AtomicUsize::new(0);
static NEXT_HOOK: AtomicUsize = AtomicUsize::new(0);
/// Hooks by module address; values are `(hook id, HookFn<E>)` boxed as `Any`.
static HOOKS: Mutex<Option<HashMap<usize, Vec<(usize, Box<dyn Any + Send + Sync>)>>>> = Mutex::new(None);

fn module_key<T: ?Sized>(m: &T) -> usize {
    m as *const T as *const () as usize
}

fn run_hooks<E: Element>(key: usize, x: &Tensor<E>, mut y: Tensor<E>) -> Tensor<E> {
    let hooks: Vec<HookFn<E>> = {
        let guard = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = guard.as_ref().and_then(|m| m.get(&key)) else { return y };
        list.iter().filter_map(|(_, h)| h.downcast_ref::<HookFn<E>>().cloned()).collect()
    };
    for h in hooks {
        if let Some(new) = h(x, &y) {
            y = new;
        }
    }
    y
}

/// Removes its forward hook when [`remove`](HookHandle::remove)d (or dropped).
#[must_use = "the hook is removed when the handle is dropped"]
pub struct HookHandle {
    key: usize,
    id: usize,
}

impl HookHandle {
    /// Removes the hook.
    pub fn remove(self) {}
}

impl Drop for HookHandle {
    fn drop(&mut self) {
        let mut guard = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = guard.as_mut().and_then(|m| m.get_mut(&self.key)) {
            let before = list.len();
            list.retain(|(id, _)| *id != self.id);
            HOOK_COUNT.fetch_sub(before - list.len(), Ordering::Relaxed);
        }
    }
}

/// Registers `hook` to run after every [`Forward::call`] of `module`, with its
/// input and output (return `Some` to replace the output), like PyTorch's
/// `register_forward_hook`. The module must not move while hooked (keep it in
/// place, e.g. in a `Box`, `Vec` or struct that is not moved), and must not be
/// zero-sized.
#[track_caller]
pub fn register_forward_hook<E: Element, M: Module<E> + ?Sized>(
    module: &M,
    hook: impl Fn(&Tensor<E>, &Tensor<E>) -> Option<Tensor<E>> + Send + Sync + 'static,
) -> HookHandle {
    assert!(
        std::mem::size_of_val(module) > 0,
        "register_forward_hook: {} is zero-sized and has no identity to hook",
        module.type_name()
    );
    let key = module_key(module);
    let id = NEXT_HOOK.fetch_add(1, Ordering::Relaxed);
    let f: HookFn<E> = Arc::new(hook);
    HOOKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_default()
        .push((id, Box::new(f)));
    HOOK_COUNT.fetch_add(1, Ordering::Relaxed);
    HookHandle { key, id }
}

/// Layers applied in order; children named `0`, `1`, ... as in PyTorch.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::{Forward, Sequential};
/// let id = Sequential::<f32>::new();
/// assert_eq!(id.forward(&Tensor::ones(&[2])).to_vec(), vec![1.0, 1.0]);
/// ```
pub struct Sequential<E: Element = f32> {
    layers: Vec<Box<dyn Forward<E>>>,
}

impl<E: Element> Default for Sequential<E> {
    fn default() -> Self {
        Sequential { layers: Vec::new() }
    }
}

impl<E: Element> Sequential<E> {
    /// An empty sequence (the identity).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer (builder style).
    pub fn append(mut self, layer: impl Forward<E> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a boxed layer.
    pub fn push(&mut self, layer: Box<dyn Forward<E>>) {
        self.layers.push(layer);
    }

    /// The layers.
    pub fn layers(&self) -> &[Box<dyn Forward<E>>] {
        &self.layers
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl<E: Element> Module<E> for Sequential<E> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        for (i, l) in self.layers.iter().enumerate() {
            f(&i.to_string(), Part::Module(l.as_ref()));
        }
    }
}

impl<E: Element> Forward<E> for Sequential<E> {
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let mut h = x.clone();
        for l in &self.layers {
            h = l.call(&h);
        }
        h
    }
}

impl<E: Element> Forward<E> for Box<dyn Forward<E>> {
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        (**self).forward(x)
    }
    fn call(&self, x: &Tensor<E>) -> Tensor<E> {
        (**self).call(x)
    }
}

/// `f(x) + x`, or `f(x) + projection(x)` when the shapes differ: the skip
/// connection of residual networks. Children are named `body` and `projection`.
pub struct Residual<E: Element = f32> {
    body: Box<dyn Forward<E>>,
    projection: Option<Box<dyn Forward<E>>>,
}

impl<E: Element> Residual<E> {
    /// `body(x) + x`.
    pub fn new(body: impl Forward<E> + 'static) -> Self {
        Residual { body: Box::new(body), projection: None }
    }

    /// `body(x) + projection(x)`.
    pub fn with_projection(body: impl Forward<E> + 'static, projection: impl Forward<E> + 'static) -> Self {
        Residual { body: Box::new(body), projection: Some(Box::new(projection)) }
    }
}

impl<E: Element> Module<E> for Residual<E> {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Part<'a, E>)) {
        f("body", Part::Module(self.body.as_ref()));
        if let Some(p) = &self.projection {
            f("projection", Part::Module(p.as_ref()));
        }
    }
}

impl<E: Element> Forward<E> for Residual<E> {
    fn forward(&self, x: &Tensor<E>) -> Tensor<E> {
        let skip = match &self.projection {
            Some(p) => p.call(x),
            None => x.clone(),
        };
        self.body.call(x) + skip
    }
}

display_module!(Sequential, Residual);
crate::visit_as_module!(Sequential, Residual);
