//! Boolean masks: comparisons, logical ops, `where` and `masked_fill`.
//!
//! Comparisons are not differentiable (they return a [`Mask`], not a tensor);
//! [`Tensor::where_`] and [`Tensor::masked_fill`] route gradients through the
//! mask's chosen elements.

use crate::layout::{broadcast_shapes, walk, Layout, Shape};
use crate::tensor::at;
use crate::threads::fill_chunks;
use crate::{Element, Tensor};
use smallvec::smallvec;
use std::ops::{BitAnd, BitOr, Not};
use std::panic::Location;
use std::sync::Arc;

/// A boolean tensor (contiguous, row-major): the result of comparisons and the
/// condition of [`where_`](crate::Tensor::where_) and masks of attention.
///
/// ```
/// use lamina_core::Tensor;
/// let x = Tensor::<f64>::from_vec(vec![-1.0, 0.5, 2.0], &[3]);
/// let m = x.gt_scalar(0.0);
/// assert_eq!(m.to_vec(), vec![false, true, true]);
/// assert_eq!(m.count(), 2);
/// assert_eq!(x.masked_fill(&m, 0.0).to_vec(), vec![-1.0, 0.0, 0.0]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    pub(crate) shape: Shape,
    pub(crate) data: Arc<Vec<bool>>,
}

/// Fills a row-major buffer over `shape` with `f` of the storage offsets of
/// each position under `layouts` (each must broadcast to `shape`): the N-ary
/// broadcasting loop of masks, `where` and `masked_fill`. Contiguous operands
/// take a plain indexed loop; others walk their strides. Parallel in fixed
/// chunks when large.
pub(crate) fn fill_broadcast<T: Clone + Default + Send, const N: usize>(
    shape: &[usize],
    layouts: [&Layout; N],
    f: impl Fn([usize; N]) -> T + Sync,
) -> Vec<T> {
    let n: usize = shape.iter().product();
    let ls: [Layout; N] = layouts.map(|l| l.broadcast_to(shape).expect("fill_broadcast: shapes checked by the caller"));
    let offsets: [usize; N] = std::array::from_fn(|k| ls[k].offset());
    let mut out = vec![T::default(); n];
    if ls.iter().all(Layout::is_contiguous) {
        fill_chunks(&mut out, |s, c| {
            for (i, o) in c.iter_mut().enumerate() {
                *o = f(offsets.map(|b| b + s + i));
            }
        });
    } else {
        let strides: [&[usize]; N] = std::array::from_fn(|k| ls[k].strides());
        fill_chunks(&mut out, |s, c| {
            let mut it = c.iter_mut();
            walk(shape, strides, offsets, s..s + it.len(), |p| *it.next().expect("chunk length") = f(p));
        });
    }
    out
}

/// The broadcast of `shapes`, or a panic naming `op` and every shape.
#[track_caller]
fn broadcast_all(op: &str, shapes: &[&[usize]]) -> Shape {
    let mut out: Shape = Shape::new();
    for s in shapes {
        match broadcast_shapes(&out, s) {
            Some(b) => out = b,
            None => {
                let list: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
                panic!(
                    "{op}: shapes {} cannot be broadcast together at {}",
                    list.join(" and "),
                    at(Location::caller())
                );
            }
        }
    }
    out
}

impl Mask {
    /// A mask of `shape` from row-major values.
    #[track_caller]
    pub fn from_vec(data: Vec<bool>, shape: &[usize]) -> Self {
        let n: usize = shape.iter().product();
        if data.len() != n {
            panic!(
                "Mask::from_vec: {} values do not fill shape {:?} at {}",
                data.len(),
                shape,
                crate::tensor::at(std::panic::Location::caller())
            );
        }
        Mask { shape: shape.into(), data: Arc::new(data) }
    }

    /// A mask of `shape` with every element `value`.
    pub fn full(shape: &[usize], value: bool) -> Self {
        Mask { shape: shape.into(), data: Arc::new(vec![value; shape.iter().product()]) }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The values, row-major.
    pub fn to_vec(&self) -> Vec<bool> {
        self.data.to_vec()
    }

    fn layout(&self) -> Layout {
        Layout::contiguous(&self.shape)
    }

    /// `f(a, b)` element-wise over the broadcast of two masks.
    #[track_caller]
    fn combine(&self, op: &str, other: &Mask, f: impl Fn(bool, bool) -> bool + Sync) -> Mask {
        let shape = broadcast_all(op, &[&self.shape, &other.shape]);
        let (a, b) = (&self.data, &other.data);
        let data = fill_broadcast(&shape, [&self.layout(), &other.layout()], |[i, j]| f(a[i], b[j]));
        Mask { shape, data: Arc::new(data) }
    }

    /// Element-wise AND, broadcasting.
    #[track_caller]
    pub fn logical_and(&self, other: &Mask) -> Mask {
        self.combine("logical_and", other, |a, b| a && b)
    }

    /// Element-wise OR, broadcasting.
    #[track_caller]
    pub fn logical_or(&self, other: &Mask) -> Mask {
        self.combine("logical_or", other, |a, b| a || b)
    }

    /// Element-wise XOR, broadcasting.
    #[track_caller]
    pub fn logical_xor(&self, other: &Mask) -> Mask {
        self.combine("logical_xor", other, |a, b| a != b)
    }

    /// Element-wise NOT.
    pub fn logical_not(&self) -> Mask {
        Mask { shape: self.shape.clone(), data: Arc::new(self.data.iter().map(|&v| !v).collect()) }
    }

    /// Whether any element is true (false for an empty mask).
    pub fn any(&self) -> bool {
        self.data.iter().any(|&v| v)
    }

    /// Whether every element is true (true for an empty mask).
    pub fn all(&self) -> bool {
        self.data.iter().all(|&v| v)
    }

    /// The number of true elements.
    pub fn count(&self) -> usize {
        self.data.iter().filter(|&&v| v).count()
    }

    /// A tensor of 1 where true and 0 where false (not recorded).
    pub fn to_tensor<E: Element>(&self) -> Tensor<E> {
        Tensor::from_vec(self.data.iter().map(|&v| if v { E::one() } else { E::zero() }).collect(), &self.shape)
    }
}

impl Not for &Mask {
    type Output = Mask;
    fn not(self) -> Mask {
        self.logical_not()
    }
}

impl BitAnd for &Mask {
    type Output = Mask;
    #[track_caller]
    fn bitand(self, rhs: &Mask) -> Mask {
        self.logical_and(rhs)
    }
}

impl BitOr for &Mask {
    type Output = Mask;
    #[track_caller]
    fn bitor(self, rhs: &Mask) -> Mask {
        self.logical_or(rhs)
    }
}

impl<E: Element> Tensor<E> {
    /// `f(a, b)` over the broadcast of two tensors, as a mask.
    #[track_caller]
    fn compare_mask(&self, op: &str, rhs: &Tensor<E>, f: impl Fn(E, E) -> bool + Sync) -> Mask {
        let shape = broadcast_all(op, &[self.shape(), rhs.shape()]);
        let data =
            self.with_data(|da, la| rhs.with_data(|db, lb| fill_broadcast(&shape, [la, lb], |[i, j]| f(da[i], db[j]))));
        Mask { shape, data: Arc::new(data) }
    }

    /// `f(a)` for every element, as a mask of this tensor's shape.
    pub(crate) fn mask_where(&self, f: impl Fn(E) -> bool + Sync) -> Mask {
        let data = self.with_data(|d, l| fill_broadcast(l.shape(), [l], |[i]| f(d[i])));
        Mask { shape: self.shape().into(), data: Arc::new(data) }
    }

    /// `a` where `cond` is true, else `b`, all three broadcast together, like
    /// `torch.where(cond, a, b)`. The gradient goes to the chosen side (summed
    /// back to each input's shape), zero to the other.
    ///
    /// ```
    /// use lamina_core::{Mask, Tensor};
    /// let c = Mask::from_vec(vec![true, false], &[2, 1]);
    /// let a = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
    /// let b = Tensor::<f64>::scalar(0.0);
    /// assert_eq!(Tensor::where_(&c, &a, &b).to_vec(), vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn where_(cond: &Mask, a: &Tensor<E>, b: &Tensor<E>) -> Tensor<E> {
        let shape = broadcast_all("where", &[cond.shape(), a.shape(), b.shape()]);
        let c = &cond.data;
        let out = a.with_data(|da, la| {
            b.with_data(|db, lb| {
                fill_broadcast(&shape, [&cond.layout(), la, lb], |[k, i, j]| if c[k] { da[i] } else { db[j] })
            })
        });
        let (sa, sb): (Shape, Shape) = (a.shape().into(), b.shape().into());
        let cond = cond.clone();
        Tensor::from_vec(out, &shape).record("where", &[a, b], move |ctx, g| {
            smallvec![
                ctx.needs(0).then(|| g.masked_fill(&cond.logical_not(), E::zero()).sum_to(&sa)),
                ctx.needs(1).then(|| g.masked_fill(&cond, E::zero()).sum_to(&sb))
            ]
        })
    }

    /// `value` where `mask` (broadcast to this tensor's shape) is true, else
    /// this tensor's element. The gradient is zero where filled.
    #[track_caller]
    pub fn masked_fill(&self, mask: &Mask, value: E) -> Tensor<E> {
        if broadcast_shapes(mask.shape(), self.shape()).as_deref() != Some(self.shape()) {
            panic!(
                "masked_fill: mask of shape {:?} does not broadcast to shape {:?} at {}",
                mask.shape(),
                self.shape(),
                at(Location::caller())
            );
        }
        let m = &mask.data;
        let out = self.with_data(|d, l| {
            fill_broadcast(self.shape(), [&mask.layout(), l], |[k, i]| if m[k] { value } else { d[i] })
        });
        let mask = mask.clone();
        Tensor::from_vec(out, self.shape())
            .record("masked_fill", &[self], move |_, g| smallvec![Some(g.masked_fill(&mask, E::zero()))])
    }
}

/// Defines a tensor-tensor comparison and its `_scalar` form.
macro_rules! comparisons {
    ($($name:ident, $scalar:ident, $op:tt;)*) => {
        impl<E: Element> Tensor<E> {
            $(
                #[doc = concat!("Where `self ", stringify!($op), " rhs`, broadcasting.")]
                #[track_caller]
                pub fn $name(&self, rhs: &Tensor<E>) -> Mask {
                    self.compare_mask(stringify!($name), rhs, |a, b| a $op b)
                }

                #[doc = concat!("Where `self ", stringify!($op), " s`.")]
                pub fn $scalar(&self, s: E) -> Mask {
                    self.mask_where(|a| a $op s)
                }
            )*
        }
    };
}

comparisons! {
    gt, gt_scalar, >;
    ge, ge_scalar, >=;
    lt, lt_scalar, <;
    le, le_scalar, <=;
    eq, eq_scalar, ==;
    ne, ne_scalar, !=;
}
