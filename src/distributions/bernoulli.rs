//! `torch/distributions/bernoulli.py` (PyTorch 2.13.0), op for op.

use std::cell::OnceCell;

use tch::{Reduction, Tensor};

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::utils::{
    broadcast_all, clone_cell, enumerate_view, expand_cell, lazy, logits_to_probs, probs_to_logits,
};
use super::Distribution;
use crate::error::{Error, Result};

/// The Bernoulli distribution over `{0, 1}`: `torch.distributions.Bernoulli`.
///
/// Parameterized by `probs` (the probability of `1`, [`Bernoulli::from_probs`]) or `logits`
/// (its log-odds, [`Bernoulli::from_logits`]); the other is computed lazily, as PyTorch's
/// `lazy_property` (`logits = log(p) - log1p(-p)` on the clamped probabilities,
/// `probs = sigmoid(logits)`). The batch shape is the parameter's shape; the event shape is
/// `()`.
///
/// `sample` is `torch.bernoulli(probs.expand(shape))` under `no_grad`, so after the same
/// `tch::manual_seed` it draws PyTorch's bits.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Bernoulli, Distribution};
/// tch::manual_seed(0);
/// let d = Bernoulli::from_probs(&Tensor::from_slice(&[0.25f64, 0.75]))?;
/// let x = d.sample(&[5])?;
/// assert_eq!(x.size(), vec![5, 2]);
/// let lp = d.log_prob(&Tensor::from_slice(&[1.0f64, 1.0]))?;
/// assert!((lp.double_value(&[0]) - 0.25f64.ln()).abs() < 1e-12);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Bernoulli {
    probs: OnceCell<Tensor>,
    logits: OnceCell<Tensor>,
    /// Whether `probs` (else `logits`) was given: `_param`.
    from_probs: bool,
    batch_shape: Vec<i64>,
    validate_args: bool,
}

/// A clone shares its tensors (`Tensor::shallow_clone`), lazy properties included.
impl Clone for Bernoulli {
    fn clone(&self) -> Self {
        Bernoulli {
            probs: clone_cell(&self.probs),
            logits: clone_cell(&self.logits),
            from_probs: self.from_probs,
            batch_shape: self.batch_shape.clone(),
            validate_args: self.validate_args,
        }
    }
}

impl Bernoulli {
    /// `Bernoulli(probs=probs)` with argument validation on.
    ///
    /// # Errors
    /// As [`Bernoulli::from_probs_with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Bernoulli, Distribution};
    /// let d = Bernoulli::from_probs(&Tensor::from_slice(&[0.5f32, 0.1, 0.9]))?;
    /// assert_eq!(d.batch_shape(), &[3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_probs(probs: &Tensor) -> Result<Self> {
        Self::from_probs_with_validate_args(probs, true)
    }

    /// `Bernoulli(probs=probs, validate_args=validate_args)`.
    ///
    /// # Errors
    /// With `validate_args`, a probability outside `[0, 1]` (or NaN): PyTorch's "Expected
    /// parameter probs ... to satisfy the constraint Interval(lower_bound=0.0,
    /// upper_bound=1.0)" `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Bernoulli;
    /// let p = Tensor::from_slice(&[1.5f64]);
    /// assert!(Bernoulli::from_probs_with_validate_args(&p, true).is_err());
    /// assert!(Bernoulli::from_probs_with_validate_args(&p, false).is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_probs_with_validate_args(probs: &Tensor, validate_args: bool) -> Result<Self> {
        Self::build(probs, true, validate_args)
    }

    /// `Bernoulli(logits=logits)` with argument validation on.
    ///
    /// # Errors
    /// As [`Bernoulli::from_logits_with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Bernoulli;
    /// let d = Bernoulli::from_logits(&Tensor::from_slice(&[0.0f64]))?;
    /// assert_eq!(d.probs()?.double_value(&[0]), 0.5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_logits(logits: &Tensor) -> Result<Self> {
        Self::from_logits_with_validate_args(logits, true)
    }

    /// `Bernoulli(logits=logits, validate_args=validate_args)`.
    ///
    /// # Errors
    /// With `validate_args`, a NaN logit: PyTorch's "Expected parameter logits ... to satisfy
    /// the constraint Real()" `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Bernoulli;
    /// let l = Tensor::from_slice(&[f64::NAN]);
    /// assert!(Bernoulli::from_logits_with_validate_args(&l, true).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_logits_with_validate_args(logits: &Tensor, validate_args: bool) -> Result<Self> {
        Self::build(logits, false, validate_args)
    }

    fn build(param: &Tensor, from_probs: bool, validate_args: bool) -> Result<Self> {
        let Some(param) = broadcast_all(&[param])?.into_iter().next() else {
            return Err(Error::Runtime(
                "broadcast_tensors returned no tensor".into(),
            ));
        };
        let (probs, logits) = (OnceCell::new(), OnceCell::new());
        let batch_shape = param.size();
        let _ = if from_probs { &probs } else { &logits }.set(param);
        let d = Bernoulli {
            probs,
            logits,
            from_probs,
            batch_shape,
            validate_args,
        };
        if validate_args {
            // Only the given parameter: the lazy one is skipped, as in PyTorch.
            if let Some(p) = d.probs.get() {
                validate_param(&d, "probs", p, &Constraint::UnitInterval)?;
            }
            if let Some(l) = d.logits.get() {
                validate_param(&d, "logits", l, &Constraint::Real)?;
            }
        }
        Ok(d)
    }

    /// The probability of `1` (`Bernoulli.probs`; `sigmoid(logits)` when built from logits,
    /// computed once).
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Bernoulli;
    /// let d = Bernoulli::from_probs(&Tensor::from_slice(&[0.25f64]))?;
    /// assert_eq!(d.probs()?.double_value(&[0]), 0.25);
    /// # Ok(())
    /// # }
    /// ```
    pub fn probs(&self) -> Result<&Tensor> {
        lazy(&self.probs, || {
            logits_to_probs(self.logits.get().ok_or_else(no_param)?, true)
        })
    }

    /// The log-odds of `1` (`Bernoulli.logits`; `log(p) - log1p(-p)` on the clamped
    /// probabilities when built from probs, computed once).
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Bernoulli;
    /// let d = Bernoulli::from_probs(&Tensor::from_slice(&[0.5f64]))?;
    /// assert_eq!(d.logits()?.double_value(&[0]), 0.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn logits(&self) -> Result<&Tensor> {
        lazy(&self.logits, || {
            probs_to_logits(self.probs.get().ok_or_else(no_param)?, true)
        })
    }

    /// The shape of the given parameter (`Bernoulli.param_shape`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Bernoulli;
    /// let d = Bernoulli::from_logits(&Tensor::zeros([2, 3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.param_shape(), vec![2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn param_shape(&self) -> Vec<i64> {
        self.param().map(Tensor::size).unwrap_or_default()
    }

    /// `_param`: the tensor the distribution was built from.
    fn param(&self) -> Option<&Tensor> {
        if self.from_probs {
            self.probs.get()
        } else {
            self.logits.get()
        }
    }
}

/// The parameter a lazy property derives from is always set; this is the error if not.
fn no_param() -> Error {
    Error::Runtime("Bernoulli has neither probs nor logits".into())
}

impl Distribution for Bernoulli {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &[]
    }

    fn name(&self) -> &'static str {
        "Bernoulli"
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

    /// `True`.
    fn has_enumerate_support(&self) -> bool {
        true
    }

    /// `arange(2, dtype=_param.dtype).view((-1,) + (1,) * len(batch_shape))`, expanded to
    /// `(-1,) + batch_shape` when `expand`.
    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        let param = self.param().ok_or_else(no_param)?;
        let values = Tensor::f_arange(2, (param.kind(), param.device()))?;
        enumerate_view(&values, &self.batch_shape, &[], expand)
    }

    /// `constraints.boolean`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::Boolean)
    }

    /// `torch.bernoulli(probs.expand(shape))` under `no_grad`.
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let probs = self.probs()?;
        let _guard = tch::no_grad_guard();
        Ok(probs.f_expand(&shape, false)?.f_bernoulli()?)
    }

    /// `-binary_cross_entropy_with_logits(logits, value, reduction="none")` after
    /// `broadcast_all(logits, value)`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let both = broadcast_all(&[self.logits()?, value])?;
        let [logits, value] = &both[..] else {
            return Err(Error::Runtime(
                "broadcast_tensors returned fewer tensors than it was given".into(),
            ));
        };
        Ok(logits
            .f_binary_cross_entropy_with_logits::<Tensor>(value, None, None, Reduction::None)?
            .f_neg()?)
    }

    /// `binary_cross_entropy_with_logits(logits, probs, reduction="none")`.
    fn entropy(&self) -> Result<Tensor> {
        let logits = self.logits()?;
        let probs = self.probs()?;
        Ok(logits.f_binary_cross_entropy_with_logits::<Tensor>(
            probs,
            None,
            None,
            Reduction::None,
        )?)
    }

    /// `probs`.
    fn mean(&self) -> Result<Tensor> {
        Ok(self.probs()?.shallow_clone())
    }

    /// `(probs >= 0.5).to(probs)`, then NaN where `probs == 0.5` (`mode[probs == 0.5] = nan`;
    /// `masked_fill_` writes the same NaN and, unlike `index_put_`, takes a 0-dimensional
    /// mask as Python's indexing does).
    fn mode(&self) -> Result<Tensor> {
        let probs = self.probs()?;
        let mut mode =
            probs
                .f_ge(0.5)?
                .f_to_dtype_layout((probs.kind(), probs.device()), false, false)?;
        let half = probs.f_eq(0.5)?;
        let _ = mode.f_masked_fill_(&half, f64::NAN)?;
        Ok(mode)
    }

    /// `probs * (1 - probs)`.
    fn variance(&self) -> Result<Tensor> {
        let probs = self.probs()?;
        Ok(probs.f_mul(&probs.f_rsub_scalar(1i64)?)?)
    }

    /// Expands whichever of `probs` and `logits` are set to `batch_shape`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        let expand =
            |cell: &OnceCell<Tensor>| expand_cell(cell, |t| Ok(t.f_expand(batch_shape, false)?));
        Ok(Bernoulli {
            probs: expand(&self.probs)?,
            logits: expand(&self.logits)?,
            from_probs: self.from_probs,
            batch_shape: batch_shape.to_vec(),
            validate_args: self.validate_args,
        })
    }
}
