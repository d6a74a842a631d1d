//! `torch/distributions/transforms.py` (PyTorch 2.13.0): `ExpTransform`, `SigmoidTransform`,
//! `TanhTransform` and `AffineTransform` (with tensor `loc` and `scale`), op for op, with
//! `Transform`'s one-entry cache.

use std::f64::consts::LN_2;
use std::sync::{Arc, Mutex};

use tch::{Kind, Tensor};

use super::broadcast_shapes;
use super::constraints::{BoundTensor, Constraint};
use super::utils::{finfo_eps, finfo_tiny};
use crate::error::{Error, Result};

#[derive(Debug)]
enum Kind_ {
    Exp,
    Sigmoid,
    Tanh,
    Affine {
        loc: Tensor,
        scale: Tensor,
        event_dim: usize,
    },
}

/// `Transform._cached_x_y` of a transform built with `cache_size=1`.
type Cache = Arc<Mutex<Option<(Tensor, Tensor)>>>;

/// An invertible map y = f(x) with its log |det J|: `torch.distributions.transforms`'s
/// `ExpTransform`, `SigmoidTransform`, `TanhTransform` and `AffineTransform`.
///
/// With `cache_size = 1` ([`Transform::with_cache`]) the transform remembers its last
/// `(x, y)` pair, as PyTorch's: calling it on the same `x` returns the same `y`, and inverting
/// the same `y` returns the `x` it came from without computing the inverse (how SAC scores
/// its own `tanh`-squashed samples). "The same" is PyTorch's `is`, read as: the same memory,
/// shape, strides, dtype and device.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::Transform;
/// let t = Transform::tanh();
/// let x = Tensor::from_slice(&[0.5f64]);
/// let y = t.call(&x)?;
/// assert_eq!(y.double_value(&[0]), 0.5f64.tanh());
/// assert!((t.inv(&y)?.double_value(&[0]) - 0.5).abs() < 1e-15);
/// assert_eq!(t.repr(), "TanhTransform()");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Transform {
    kind: Kind_,
    cache: Option<Cache>,
    /// `_InverseTransform(kind)`: the map runs backwards (sharing the cache).
    inverted: bool,
}

/// A clone shares its tensors and its cache (the same Python object).
impl Clone for Transform {
    fn clone(&self) -> Self {
        let kind = match &self.kind {
            Kind_::Exp => Kind_::Exp,
            Kind_::Sigmoid => Kind_::Sigmoid,
            Kind_::Tanh => Kind_::Tanh,
            Kind_::Affine {
                loc,
                scale,
                event_dim,
            } => Kind_::Affine {
                loc: loc.shallow_clone(),
                scale: scale.shallow_clone(),
                event_dim: *event_dim,
            },
        };
        Transform {
            kind,
            cache: self.cache.clone(),
            inverted: self.inverted,
        }
    }
}

/// Python's `x is x_old`, for tensors: the same memory, shape, strides, dtype and device.
fn same_tensor(a: &Tensor, b: &Tensor) -> bool {
    a.data_ptr() == b.data_ptr()
        && a.size() == b.size()
        && a.stride() == b.stride()
        && a.kind() == b.kind()
        && a.device() == b.device()
}

fn lock(cache: &Cache) -> Result<std::sync::MutexGuard<'_, Option<(Tensor, Tensor)>>> {
    cache
        .lock()
        .map_err(|_| Error::Runtime("a transform's cache lock was poisoned".into()))
}

impl Transform {
    fn of(kind: Kind_) -> Self {
        Transform {
            kind,
            cache: None,
            inverted: false,
        }
    }

    /// `transform.inv` as a transform (`_InverseTransform`): y = f⁻¹(x), sharing this
    /// transform's cache; its own `inverse_transform` is the original again.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Transform;
    /// let logit = Transform::sigmoid().inverse_transform();
    /// assert_eq!(logit.repr(), "_InverseTransform(SigmoidTransform())");
    /// assert_eq!(logit.call(&Tensor::from_slice(&[0.5f64]))?.double_value(&[0]), 0.0);
    /// assert_eq!(logit.inverse_transform().repr(), "SigmoidTransform()");
    /// # Ok(())
    /// # }
    /// ```
    pub fn inverse_transform(&self) -> Self {
        let mut t = self.clone();
        t.inverted = !self.inverted;
        t
    }

    /// `ExpTransform()`: y = exp(x).
    ///
    /// ```
    /// use tchdist::distributions::Transform;
    /// assert_eq!(Transform::exp().repr(), "ExpTransform()");
    /// ```
    pub fn exp() -> Self {
        Self::of(Kind_::Exp)
    }

    /// `SigmoidTransform()`: y = sigmoid(x), clamped to `[tiny, 1 - eps]`.
    ///
    /// ```
    /// use tchdist::distributions::Transform;
    /// assert_eq!(Transform::sigmoid().repr(), "SigmoidTransform()");
    /// ```
    pub fn sigmoid() -> Self {
        Self::of(Kind_::Sigmoid)
    }

    /// `TanhTransform()`: y = tanh(x).
    ///
    /// ```
    /// use tchdist::distributions::Transform;
    /// # fn main() -> tchdist::Result<()> {
    /// assert_eq!(Transform::tanh().codomain()?.to_string(), "Interval(lower_bound=-1.0, upper_bound=1.0)");
    /// # Ok(())
    /// # }
    /// ```
    pub fn tanh() -> Self {
        Self::of(Kind_::Tanh)
    }

    /// `AffineTransform(loc, scale, event_dim)` with tensor `loc` and `scale`:
    /// y = loc + scale * x, with `event_dim` rightmost dimensions making one event.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Transform;
    /// let t = Transform::affine(&Tensor::from_slice(&[1.0f64]), &Tensor::from_slice(&[2.0f64]), 0);
    /// assert_eq!(t.call(&Tensor::from_slice(&[3.0f64]))?.double_value(&[0]), 7.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn affine(loc: &Tensor, scale: &Tensor, event_dim: usize) -> Self {
        Self::of(Kind_::Affine {
            loc: loc.shallow_clone(),
            scale: scale.shallow_clone(),
            event_dim,
        })
    }

    /// `transform.with_cache(cache_size)`: the same map with a fresh cache of `cache_size`
    /// entries (0 or 1), or itself when it already has that size.
    ///
    /// # Errors
    /// Any other size: PyTorch's "cache_size must be 0 or 1" `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Transform;
    /// let t = Transform::tanh().with_cache(1)?;
    /// let y = t.call(&Tensor::from_slice(&[30.0f64]))?; // tanh(30) rounds to 1.0
    /// assert_eq!(t.inv(&y)?.double_value(&[0]), 30.0); // the cached x, not atanh(1) = inf
    /// assert!(Transform::tanh().with_cache(2).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_cache(&self, cache_size: usize) -> Result<Self> {
        let mut t = self.clone();
        match (cache_size, &self.cache) {
            (0, None) | (1, Some(_)) => Ok(t),
            (0, Some(_)) => {
                t.cache = None;
                Ok(t)
            }
            (1, None) => {
                t.cache = Some(Arc::new(Mutex::new(None)));
                Ok(t)
            }
            _ => Err(Error::Value("cache_size must be 0 or 1".into())),
        }
    }

    /// PyTorch's class name, e.g. `"TanhTransform"`.
    ///
    /// ```
    /// use tchdist::distributions::Transform;
    /// assert_eq!(Transform::sigmoid().name(), "SigmoidTransform");
    /// ```
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind_::Exp => "ExpTransform",
            Kind_::Sigmoid => "SigmoidTransform",
            Kind_::Tanh => "TanhTransform",
            Kind_::Affine { .. } => "AffineTransform",
        }
    }

    /// `repr(transform)`: the class name and `()`.
    ///
    /// ```
    /// use tch::Tensor;
    /// use tchdist::distributions::Transform;
    /// let t = Transform::affine(&Tensor::from_slice(&[0.0f64]), &Tensor::from_slice(&[1.0f64]), 0);
    /// assert_eq!(t.repr(), "AffineTransform()");
    /// ```
    pub fn repr(&self) -> String {
        if self.inverted {
            return format!("_InverseTransform({}())", self.name());
        }
        format!("{}()", self.name())
    }

    /// `transform.domain`: `Real()` (`independent(real, event_dim)` for an affine transform
    /// with `event_dim > 0`); an inverse transform's is the original's codomain.
    ///
    /// # Errors
    /// As [`Transform::codomain`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tchdist::distributions::{Constraint, Transform};
    /// assert_eq!(Transform::exp().domain()?, Constraint::Real);
    /// assert_eq!(Transform::exp().inverse_transform().domain()?, Constraint::Positive);
    /// # Ok(())
    /// # }
    /// ```
    pub fn domain(&self) -> Result<Constraint> {
        if self.inverted {
            return self.forward_codomain();
        }
        Ok(self.forward_domain())
    }

    /// The domain of the un-inverted map.
    fn forward_domain(&self) -> Constraint {
        match &self.kind {
            Kind_::Affine { event_dim, .. } if *event_dim > 0 => {
                Constraint::Real.independent(*event_dim)
            }
            _ => Constraint::Real,
        }
    }

    /// `transform.codomain`: `GreaterThan(lower_bound=0.0)` (exp), `Interval(lower_bound=0.0,
    /// upper_bound=1.0)` (sigmoid), `Interval(lower_bound=-1.0, upper_bound=1.0)` (tanh), the
    /// domain (affine); an inverse transform's is the original's domain.
    ///
    /// # Errors
    /// Only if libtorch fails to make tanh's bounds.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tchdist::distributions::{Constraint, Transform};
    /// assert_eq!(Transform::exp().codomain()?, Constraint::Positive);
    /// # Ok(())
    /// # }
    /// ```
    pub fn codomain(&self) -> Result<Constraint> {
        if self.inverted {
            return Ok(self.forward_domain());
        }
        self.forward_codomain()
    }

    /// The codomain of the un-inverted map.
    fn forward_codomain(&self) -> Result<Constraint> {
        Ok(match &self.kind {
            Kind_::Exp => Constraint::Positive,
            Kind_::Sigmoid => Constraint::UnitInterval,
            Kind_::Tanh => {
                let bound = |v: f64| Tensor::f_full([], v, (Kind::Double, tch::Device::Cpu));
                Constraint::Interval(
                    BoundTensor::new(&bound(-1.0)?),
                    BoundTensor::new(&bound(1.0)?),
                )
            }
            Kind_::Affine { .. } => self.forward_domain(),
        })
    }

    /// `transform.sign`: `None` for PyTorch's integer `+1`, `scale.sign()` for an affine
    /// transform.
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Transform;
    /// assert!(Transform::tanh().sign_tensor()?.is_none());
    /// let t = Transform::affine(&Tensor::from_slice(&[0.0f64]), &Tensor::from_slice(&[-2.0f64]), 0);
    /// assert_eq!(t.sign_tensor()?.map(|s| s.double_value(&[0])), Some(-1.0));
    /// # Ok(())
    /// # }
    /// ```
    pub fn sign_tensor(&self) -> Result<Option<Tensor>> {
        match &self.kind {
            Kind_::Affine { scale, .. } => Ok(Some(scale.f_sign()?)),
            _ => Ok(None),
        }
    }

    /// `transform.forward_shape(shape)`: the shape itself, or for an affine transform
    /// `broadcast_shapes(shape, loc.shape, scale.shape)`.
    ///
    /// # Errors
    /// Shapes that do not broadcast: PyTorch's message.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Transform;
    /// let t = Transform::affine(&Tensor::zeros([3], tch::kind::DOUBLE_CPU), &Tensor::ones([1], tch::kind::DOUBLE_CPU), 0);
    /// assert_eq!(t.forward_shape(&[2, 1])?, vec![2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn forward_shape(&self, shape: &[i64]) -> Result<Vec<i64>> {
        match &self.kind {
            Kind_::Affine { loc, scale, .. } => {
                broadcast_shapes(&[shape, &loc.size(), &scale.size()])
            }
            _ => Ok(shape.to_vec()),
        }
    }

    /// `transform.inverse_shape(shape)`: as [`forward_shape`](Transform::forward_shape).
    ///
    /// # Errors
    /// As [`Transform::forward_shape`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tchdist::distributions::Transform;
    /// assert_eq!(Transform::exp().inverse_shape(&[4])?, vec![4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn inverse_shape(&self, shape: &[i64]) -> Result<Vec<i64>> {
        self.forward_shape(shape)
    }

    /// `transform(x)` (`Transform.__call__`): y = f(x), through the cache when there is one.
    ///
    /// # Errors
    /// Only if libtorch fails (shapes that do not broadcast with an affine transform's).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Transform;
    /// let y = Transform::exp().call(&Tensor::from_slice(&[0.0f64]))?;
    /// assert_eq!(y.double_value(&[0]), 1.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn call(&self, x: &Tensor) -> Result<Tensor> {
        if self.inverted {
            // `_InverseTransform.__call__`: the original's `_inv_call`.
            return self.cached_inverse(x);
        }
        self.cached_forward(x)
    }

    /// `Transform.__call__` of the un-inverted map.
    fn cached_forward(&self, x: &Tensor) -> Result<Tensor> {
        let Some(cache) = &self.cache else {
            return self.forward(x);
        };
        let mut entry = lock(cache)?;
        if let Some((x_old, y_old)) = entry.as_ref() {
            if same_tensor(x, x_old) {
                return Ok(y_old.shallow_clone());
            }
        }
        let y = self.forward(x)?;
        *entry = Some((x.shallow_clone(), y.shallow_clone()));
        Ok(y)
    }

    /// `transform.inv(y)` (`Transform._inv_call`): x = f⁻¹(y), through the cache when there
    /// is one.
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Transform;
    /// let x = Transform::exp().inv(&Tensor::from_slice(&[1.0f64]))?;
    /// assert_eq!(x.double_value(&[0]), 0.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn inv(&self, y: &Tensor) -> Result<Tensor> {
        if self.inverted {
            return self.cached_forward(y);
        }
        self.cached_inverse(y)
    }

    /// `Transform._inv_call` of the un-inverted map.
    fn cached_inverse(&self, y: &Tensor) -> Result<Tensor> {
        let Some(cache) = &self.cache else {
            return self.inverse_uncached(y);
        };
        let mut entry = lock(cache)?;
        if let Some((x_old, y_old)) = entry.as_ref() {
            if same_tensor(y, y_old) {
                return Ok(x_old.shallow_clone());
            }
        }
        let x = self.inverse_uncached(y)?;
        *entry = Some((x.shallow_clone(), y.shallow_clone()));
        Ok(x)
    }

    /// `_call`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match &self.kind {
            Kind_::Exp => x.f_exp()?,
            // `_clipped_sigmoid`: clamp(sigmoid(x), min=tiny, max=1 - eps).
            Kind_::Sigmoid => {
                let k = x.kind();
                x.f_sigmoid()?.f_clamp(finfo_tiny(k), 1.0 - finfo_eps(k))?
            }
            Kind_::Tanh => x.f_tanh()?,
            Kind_::Affine { loc, scale, .. } => loc.f_add(&scale.f_mul(x)?)?,
        })
    }

    /// `_inverse`.
    fn inverse_uncached(&self, y: &Tensor) -> Result<Tensor> {
        Ok(match &self.kind {
            Kind_::Exp => y.f_log()?,
            // y.clamp(min=tiny, max=1 - eps), then y.log() - (-y).log1p().
            Kind_::Sigmoid => {
                let k = y.kind();
                let y = y.f_clamp(finfo_tiny(k), 1.0 - finfo_eps(k))?;
                y.f_log()?.f_sub(&y.f_neg()?.f_log1p()?)?
            }
            Kind_::Tanh => y.f_atanh()?,
            Kind_::Affine { loc, scale, .. } => y.f_sub(loc)?.f_div(scale)?,
        })
    }

    /// `transform.log_abs_det_jacobian(x, y)`: `x` (exp), `-softplus(-x) - softplus(x)`
    /// (sigmoid), `2 * (log 2 - x - softplus(-2x))` (tanh), `abs(scale).log()` summed over
    /// `event_dim` and expanded to the batch of `x` (affine).
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Transform;
    /// let x = Tensor::from_slice(&[0.0f64]);
    /// let lad = Transform::tanh().log_abs_det_jacobian(&x, &x.tanh())?;
    /// assert!(lad.double_value(&[0]).abs() < 1e-15); // d tanh / dx = 1 at 0
    /// # Ok(())
    /// # }
    /// ```
    pub fn log_abs_det_jacobian(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        if self.inverted {
            // `_InverseTransform.log_abs_det_jacobian`: `-inv.log_abs_det_jacobian(y, x)`.
            return Ok(self.forward_lad(y, x)?.f_neg()?);
        }
        self.forward_lad(x, y)
    }

    /// `log_abs_det_jacobian` of the un-inverted map.
    fn forward_lad(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let _ = y;
        Ok(match &self.kind {
            Kind_::Exp => x.shallow_clone(),
            Kind_::Sigmoid => x.f_neg()?.f_softplus()?.f_neg()?.f_sub(&x.f_softplus()?)?,
            // Python's left-to-right order (`log 2 - x` before `-2.0 * x`) also fixes the
            // order autograd accumulates x's gradient in.
            Kind_::Tanh => {
                let first = x.f_rsub_scalar(LN_2)?;
                let sp = x.f_mul_scalar(-2.0)?.f_softplus()?;
                first.f_sub(&sp)?.f_mul_scalar(2.0)?
            }
            Kind_::Affine {
                scale, event_dim, ..
            } => {
                let mut shape = x.size();
                let mut result = scale.f_abs()?.f_log()?;
                if *event_dim > 0 {
                    let size = result.size();
                    let mut flat = size[..size.len().saturating_sub(*event_dim)].to_vec();
                    flat.push(-1);
                    result = result.f_view(&flat[..])?.f_sum_dim_intlist(
                        &[-1i64][..],
                        false,
                        None::<Kind>,
                    )?;
                    shape.truncate(shape.len().saturating_sub(*event_dim));
                }
                result.f_expand(&shape, false)?
            }
        })
    }

    /// The number of rightmost dimensions of one event, in the domain and the codomain.
    pub(crate) fn event_dim(&self) -> usize {
        match &self.kind {
            Kind_::Affine { event_dim, .. } => *event_dim,
            _ => 0,
        }
    }
}

/// Python's `list == list` of transforms (`Transform.__eq__`): the same length and, pairwise,
/// the same kind; affine transforms also need `(loc == loc).all()` and
/// `(scale == scale).all()` (which fails, as in PyTorch, on shapes that do not broadcast).
pub(crate) fn transforms_eq(a: &[Transform], b: &[Transform]) -> Result<bool> {
    if a.len() != b.len() {
        return Ok(false);
    }
    for (x, y) in a.iter().zip(b) {
        if x.inverted != y.inverted {
            return Ok(false);
        }
        let same = match (&x.kind, &y.kind) {
            (Kind_::Exp, Kind_::Exp)
            | (Kind_::Sigmoid, Kind_::Sigmoid)
            | (Kind_::Tanh, Kind_::Tanh) => true,
            (
                Kind_::Affine {
                    loc: l1, scale: s1, ..
                },
                Kind_::Affine {
                    loc: l2, scale: s2, ..
                },
            ) => {
                l1.f_eq_tensor(l2)?.f_all()?.f_is_nonzero()?
                    && s1.f_eq_tensor(s2)?.f_all()?.f_is_nonzero()?
            }
            _ => false,
        };
        if !same {
            return Ok(false);
        }
    }
    Ok(true)
}
