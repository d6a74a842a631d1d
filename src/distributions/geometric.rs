//! `torch/distributions/geometric.py` (PyTorch 2.13.0), op for op.

use std::cell::OnceCell;

use tch::{Reduction, Tensor};

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::utils::{
    broadcast_one, broadcast_pair, clone_cell, expand_cell, finfo_tiny, lazy, logits_to_probs,
    probs_to_logits,
};
use super::{shape_tuple, Distribution};
use crate::error::{Error, Result};
use crate::format;

/// The geometric distribution: the number of failures before the first success in
/// Bernoulli trials, `torch.distributions.Geometric`.
///
/// Parameterized by `probs` ([`Geometric::from_probs`]) or `logits`
/// ([`Geometric::from_logits`]), the other computed lazily as in [`Bernoulli`](super::Bernoulli).
/// `sample` is `floor(log(u) / log1p(-probs))` with `u = probs.new(shape).uniform_(tiny, 1)`
/// under `no_grad`, so after the same `tch::manual_seed` it draws PyTorch's counts.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, Geometric};
/// tch::manual_seed(0);
/// let d = Geometric::from_probs(&Tensor::from_slice(&[0.5f64]))?;
/// assert_eq!(d.sample(&[4])?.size(), vec![4, 1]);
/// assert_eq!(d.mean()?.double_value(&[0]), 1.0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Geometric {
    probs: OnceCell<Tensor>,
    logits: OnceCell<Tensor>,
    batch_shape: Vec<i64>,
    validate_args: bool,
}

/// A clone shares its tensors (`Tensor::shallow_clone`), lazy properties included.
impl Clone for Geometric {
    fn clone(&self) -> Self {
        Geometric {
            probs: clone_cell(&self.probs),
            logits: clone_cell(&self.logits),
            batch_shape: self.batch_shape.clone(),
            validate_args: self.validate_args,
        }
    }
}

impl Geometric {
    /// `Geometric(probs=probs)` with argument validation on.
    ///
    /// # Errors
    /// As [`Geometric::from_probs_with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Geometric};
    /// let d = Geometric::from_probs(&Tensor::from_slice(&[0.5f32, 0.1]))?;
    /// assert_eq!(d.batch_shape(), &[2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_probs(probs: &Tensor) -> Result<Self> {
        Self::from_probs_with_validate_args(probs, true)
    }

    /// `Geometric(probs=probs, validate_args=validate_args)`.
    ///
    /// # Errors
    /// With `validate_args`: probabilities outside `[0, 1]` (PyTorch's "Expected parameter
    /// probs ... to satisfy the constraint Interval(...)" `ValueError`), then a zero
    /// probability (PyTorch's "Expected parameter probs ... to be positive but found invalid
    /// values" `ValueError`, listing the invalid values).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Geometric;
    /// let p = Tensor::from_slice(&[0.0f64, 0.5]);
    /// assert!(Geometric::from_probs_with_validate_args(&p, true).is_err());
    /// assert!(Geometric::from_probs_with_validate_args(&p, false).is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_probs_with_validate_args(probs: &Tensor, validate_args: bool) -> Result<Self> {
        let d = Self::build(broadcast_one(probs)?, true, validate_args)?;
        if validate_args {
            if let Some(value) = d.probs.get() {
                let valid = value.f_gt(0i64)?;
                if !valid.f_all()?.f_is_nonzero()? {
                    let invalid = value.f_detach()?.f_masked_select(&valid.f_logical_not()?)?;
                    return Err(Error::Value(format!(
                        "Expected parameter probs (Tensor of shape {}) of distribution {} to be \
                         positive but found invalid values:\n{}",
                        shape_tuple(&value.size()),
                        d.repr()?,
                        format::format_value(&invalid)?
                    )));
                }
            }
        }
        Ok(d)
    }

    /// `Geometric(logits=logits)` with argument validation on.
    ///
    /// # Errors
    /// As [`Geometric::from_logits_with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Geometric;
    /// let d = Geometric::from_logits(&Tensor::from_slice(&[0.0f64]))?;
    /// assert_eq!(d.probs()?.double_value(&[0]), 0.5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_logits(logits: &Tensor) -> Result<Self> {
        Self::from_logits_with_validate_args(logits, true)
    }

    /// `Geometric(logits=logits, validate_args=validate_args)`.
    ///
    /// # Errors
    /// With `validate_args`, a NaN logit: PyTorch's "... to satisfy the constraint Real()"
    /// `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Geometric;
    /// let l = Tensor::from_slice(&[f64::NAN]);
    /// assert!(Geometric::from_logits_with_validate_args(&l, true).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_logits_with_validate_args(logits: &Tensor, validate_args: bool) -> Result<Self> {
        Self::build(broadcast_one(logits)?, false, validate_args)
    }

    fn build(param: Tensor, from_probs: bool, validate_args: bool) -> Result<Self> {
        let (probs, logits) = (OnceCell::new(), OnceCell::new());
        let batch_shape = param.size();
        let _ = if from_probs { &probs } else { &logits }.set(param);
        let d = Geometric {
            probs,
            logits,
            batch_shape,
            validate_args,
        };
        if validate_args {
            if let Some(p) = d.probs.get() {
                validate_param(&d, "probs", p, &Constraint::UnitInterval)?;
            }
            if let Some(l) = d.logits.get() {
                validate_param(&d, "logits", l, &Constraint::Real)?;
            }
        }
        Ok(d)
    }

    /// The success probability (`Geometric.probs`; `sigmoid(logits)` when built from logits,
    /// computed once).
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Geometric;
    /// let d = Geometric::from_probs(&Tensor::from_slice(&[0.25f64]))?;
    /// assert_eq!(d.probs()?.double_value(&[0]), 0.25);
    /// # Ok(())
    /// # }
    /// ```
    pub fn probs(&self) -> Result<&Tensor> {
        lazy(&self.probs, || {
            logits_to_probs(self.logits.get().ok_or_else(no_param)?, true)
        })
    }

    /// The log-odds of success (`Geometric.logits`, computed once from probs).
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Geometric;
    /// let d = Geometric::from_probs(&Tensor::from_slice(&[0.5f64]))?;
    /// assert_eq!(d.logits()?.double_value(&[0]), 0.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn logits(&self) -> Result<&Tensor> {
        lazy(&self.logits, || {
            probs_to_logits(self.probs.get().ok_or_else(no_param)?, true)
        })
    }
}

/// The parameter a lazy property derives from is always set; this is the error if not.
fn no_param() -> Error {
    Error::Runtime("Geometric has neither probs nor logits".into())
}

impl Distribution for Geometric {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &[]
    }

    fn name(&self) -> &'static str {
        "Geometric"
    }

    /// The parameters set on the instance, lazily computed ones included, `probs` first.
    fn repr(&self) -> Result<String> {
        let mut params = Vec::new();
        if let Some(p) = self.probs.get() {
            params.push(("probs", p));
        }
        if let Some(l) = self.logits.get() {
            params.push(("logits", l));
        }
        repr_params(self.name(), &params)
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    /// `constraints.nonnegative_integer`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::NonnegativeInteger)
    }

    /// `(u.log() / (-probs).log1p()).floor()` with `u = probs.new(shape).uniform_(tiny, 1)`,
    /// under `no_grad`.
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let probs = self.probs()?;
        let tiny = finfo_tiny(probs.kind());
        let _guard = tch::no_grad_guard();
        let mut u = Tensor::f_empty(&shape, (probs.kind(), probs.device()))?;
        let _ = u.f_uniform_(tiny, 1.0)?;
        Ok(u.f_log()?.f_div(&probs.f_neg()?.f_log1p()?)?.f_floor()?)
    }

    /// `value * (-probs).log1p() + self.probs.log()`, with `probs` (broadcast against
    /// `value`, cloned) set to 0 where `probs == 1` and `value == 0`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let self_probs = self.probs()?;
        let (value, probs) = broadcast_pair(value, self_probs)?;
        // `probs.clone(memory_format=torch.contiguous_format)`: a fresh contiguous copy in
        // the graph (a copy's gradient is the identity, as clone's).
        let mut copy = Tensor::f_zeros(probs.size(), (probs.kind(), probs.device()))?;
        copy.f_copy_(&probs)?;
        let mut probs = copy;
        // `probs[(probs == 1) & (value == 0)] = 0`: `masked_fill_` writes the same zeros
        // (and has the same gradient) and takes a 0-dimensional mask as Python's indexing.
        let mask = probs.f_eq(1i64)?.f_bitwise_and_tensor(&value.f_eq(0i64)?)?;
        let _ = probs.f_masked_fill_(&mask, 0i64)?;
        Ok(value
            .f_mul(&probs.f_neg()?.f_log1p()?)?
            .f_add(&self_probs.f_log()?)?)
    }

    /// `binary_cross_entropy_with_logits(logits, probs, reduction="none") / probs`.
    fn entropy(&self) -> Result<Tensor> {
        let probs = self.probs()?;
        Ok(self
            .logits()?
            .f_binary_cross_entropy_with_logits::<Tensor>(probs, None, None, Reduction::None)?
            .f_div(probs)?)
    }

    /// `1.0 / probs - 1.0` (Python's `1.0 / t` is `t.reciprocal() * 1.0`).
    fn mean(&self) -> Result<Tensor> {
        Ok(self
            .probs()?
            .f_reciprocal()?
            .f_mul_scalar(1.0)?
            .f_sub_scalar(1.0)?)
    }

    /// `zeros_like(probs)`.
    fn mode(&self) -> Result<Tensor> {
        Ok(self.probs()?.f_zeros_like()?)
    }

    /// `(1.0 / probs - 1.0) / probs`.
    fn variance(&self) -> Result<Tensor> {
        let probs = self.probs()?;
        Ok(probs
            .f_reciprocal()?
            .f_mul_scalar(1.0)?
            .f_sub_scalar(1.0)?
            .f_div(probs)?)
    }

    /// Expands whichever of `probs` and `logits` are set to `batch_shape`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        let expand =
            |cell: &OnceCell<Tensor>| expand_cell(cell, |t| Ok(t.f_expand(batch_shape, false)?));
        Ok(Geometric {
            probs: expand(&self.probs)?,
            logits: expand(&self.logits)?,
            batch_shape: batch_shape.to_vec(),
            validate_args: self.validate_args,
        })
    }
}
