//! `torch/distributions/categorical.py` (PyTorch 2.13.0), op for op.

use std::cell::OnceCell;

use tch::{Kind, Tensor};

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::utils::{
    clone_cell, enumerate_view, expand_cell, finfo_min, lazy, logits_to_probs, probs_to_logits,
};
use super::Distribution;
use crate::error::{Error, Result};

/// The categorical distribution over `{0, ..., K-1}`: `torch.distributions.Categorical`.
///
/// Parameterized by `probs` ([`Categorical::from_probs`]; normalized to sum to 1 along the
/// last dimension, `probs / probs.sum(-1, keepdim=True)`) or `logits`
/// ([`Categorical::from_logits`]; normalized as `logits - logits.logsumexp(-1,
/// keepdim=True)`); the other is computed lazily (`softmax(logits)`, or `log` of the clamped
/// probabilities). `K` is the last dimension; the batch shape is the rest; the event shape is
/// `()`.
///
/// `sample` is `torch.multinomial(probs.reshape(-1, K), sample_shape.numel(), True).T`
/// reshaped to `sample_shape + batch_shape`, so after the same `tch::manual_seed` it draws
/// PyTorch's indices (`int64`).
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Categorical, Distribution};
/// tch::manual_seed(0);
/// let d = Categorical::from_probs(&Tensor::from_slice(&[1.0f64, 1.0, 2.0]))?;
/// let x = d.sample(&[4])?;
/// assert_eq!(x.size(), vec![4]);
/// let lp = d.log_prob(&Tensor::from_slice(&[2i64]))?;
/// assert!((lp.double_value(&[0]) - 0.5f64.ln()).abs() < 1e-12);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Categorical {
    probs: OnceCell<Tensor>,
    logits: OnceCell<Tensor>,
    /// Whether `probs` (else `logits`) was given: `_param`.
    from_probs: bool,
    num_events: i64,
    batch_shape: Vec<i64>,
    validate_args: bool,
}

/// A clone shares its tensors (`Tensor::shallow_clone`), lazy properties included.
impl Clone for Categorical {
    fn clone(&self) -> Self {
        Categorical {
            probs: clone_cell(&self.probs),
            logits: clone_cell(&self.logits),
            from_probs: self.from_probs,
            num_events: self.num_events,
            batch_shape: self.batch_shape.clone(),
            validate_args: self.validate_args,
        }
    }
}

impl Categorical {
    /// `Categorical(probs=probs)` with argument validation on.
    ///
    /// # Errors
    /// As [`Categorical::from_probs_with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Categorical, Distribution};
    /// let d = Categorical::from_probs(&Tensor::ones([2, 5], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.batch_shape(), &[2]);
    /// assert_eq!(d.probs()?.double_value(&[0, 0]), 0.2f32 as f64);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_probs(probs: &Tensor) -> Result<Self> {
        Self::from_probs_with_validate_args(probs, true)
    }

    /// `Categorical(probs=probs, validate_args=validate_args)`.
    ///
    /// # Errors
    /// - A 0-dimensional `probs`: PyTorch's "`probs` parameter must be at least
    ///   one-dimensional." `ValueError`.
    /// - With `validate_args`, normalized probabilities off the simplex (a negative entry, a
    ///   NaN): PyTorch's "Expected parameter probs ... to satisfy the constraint Simplex()"
    ///   `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Categorical;
    /// let p = Tensor::from_slice(&[0.5f64, -0.1, 0.6]);
    /// assert!(Categorical::from_probs_with_validate_args(&p, true).is_err());
    /// assert!(Categorical::from_probs_with_validate_args(&p, false).is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_probs_with_validate_args(probs: &Tensor, validate_args: bool) -> Result<Self> {
        if probs.dim() < 1 {
            return Err(Error::Value(
                "`probs` parameter must be at least one-dimensional.".into(),
            ));
        }
        let sum = probs.f_sum_dim_intlist(&[-1i64][..], true, None::<Kind>)?;
        Self::build(probs.f_div(&sum)?, true, validate_args)
    }

    /// `Categorical(logits=logits)` with argument validation on.
    ///
    /// # Errors
    /// As [`Categorical::from_logits_with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Categorical;
    /// let d = Categorical::from_logits(&Tensor::zeros([4], tch::kind::DOUBLE_CPU))?;
    /// assert_eq!(d.probs()?.double_value(&[3]), 0.25);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_logits(logits: &Tensor) -> Result<Self> {
        Self::from_logits_with_validate_args(logits, true)
    }

    /// `Categorical(logits=logits, validate_args=validate_args)`.
    ///
    /// # Errors
    /// - A 0-dimensional `logits`: PyTorch's "`logits` parameter must be at least
    ///   one-dimensional." `ValueError`.
    /// - With `validate_args`, normalized logits with a NaN (a `+inf` or all `-inf` in a row
    ///   gives one): PyTorch's "... to satisfy the constraint IndependentConstraint(Real(),
    ///   1)" `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Categorical;
    /// let l = Tensor::from_slice(&[0.0f64, f64::INFINITY]);
    /// assert!(Categorical::from_logits_with_validate_args(&l, true).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_logits_with_validate_args(logits: &Tensor, validate_args: bool) -> Result<Self> {
        if logits.dim() < 1 {
            return Err(Error::Value(
                "`logits` parameter must be at least one-dimensional.".into(),
            ));
        }
        let lse = logits.f_logsumexp(&[-1i64][..], true)?;
        Self::build(logits.f_sub(&lse)?, false, validate_args)
    }

    fn build(param: Tensor, from_probs: bool, validate_args: bool) -> Result<Self> {
        let size = param.size();
        let num_events = size.last().copied().unwrap_or(0);
        let batch_shape = if size.len() > 1 {
            size[..size.len() - 1].to_vec()
        } else {
            Vec::new()
        };
        let (probs, logits) = (OnceCell::new(), OnceCell::new());
        let _ = if from_probs { &probs } else { &logits }.set(param);
        let d = Categorical {
            probs,
            logits,
            from_probs,
            num_events,
            batch_shape,
            validate_args,
        };
        if validate_args {
            if let Some(p) = d.probs.get() {
                validate_param(&d, "probs", p, &Constraint::Simplex)?;
            }
            if let Some(l) = d.logits.get() {
                validate_param(&d, "logits", l, &Constraint::RealVector)?;
            }
        }
        Ok(d)
    }

    /// The normalized event probabilities (`Categorical.probs`; `softmax(logits, -1)` when
    /// built from logits, computed once).
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Categorical;
    /// let d = Categorical::from_probs(&Tensor::from_slice(&[1.0f64, 3.0]))?;
    /// assert_eq!(d.probs()?.double_value(&[1]), 0.75);
    /// # Ok(())
    /// # }
    /// ```
    pub fn probs(&self) -> Result<&Tensor> {
        lazy(&self.probs, || {
            logits_to_probs(self.logits.get().ok_or_else(no_param)?, false)
        })
    }

    /// The normalized log-probabilities (`Categorical.logits`; `log` of the clamped
    /// probabilities when built from probs, computed once).
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Categorical;
    /// let d = Categorical::from_probs(&Tensor::from_slice(&[1.0f64, 1.0]))?;
    /// assert_eq!(d.logits()?.double_value(&[0]), 0.5f64.ln());
    /// # Ok(())
    /// # }
    /// ```
    pub fn logits(&self) -> Result<&Tensor> {
        lazy(&self.logits, || {
            probs_to_logits(self.probs.get().ok_or_else(no_param)?, false)
        })
    }

    /// The shape of the given (normalized) parameter, `batch_shape + (K,)`
    /// (`Categorical.param_shape`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Categorical;
    /// let d = Categorical::from_logits(&Tensor::zeros([2, 3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.param_shape(), vec![2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn param_shape(&self) -> Vec<i64> {
        self.param().map(Tensor::size).unwrap_or_default()
    }

    /// The number of categories `K` (`Categorical._num_events`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Categorical;
    /// let d = Categorical::from_logits(&Tensor::zeros([2, 3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.num_events(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn num_events(&self) -> i64 {
        self.num_events
    }

    /// `_param`: the tensor the distribution was built from.
    pub(crate) fn param(&self) -> Option<&Tensor> {
        if self.from_probs {
            self.probs.get()
        } else {
            self.logits.get()
        }
    }
}

/// The parameter a lazy property derives from is always set; this is the error if not.
fn no_param() -> Error {
    Error::Runtime("Categorical has neither probs nor logits".into())
}

impl Distribution for Categorical {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &[]
    }

    fn name(&self) -> &'static str {
        "Categorical"
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

    /// `arange(K, dtype=long).view((-1,) + (1,) * len(batch_shape))`, expanded to
    /// `(-1,) + batch_shape` when `expand`.
    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        let param = self.param().ok_or_else(no_param)?;
        let values = Tensor::f_arange(self.num_events, (Kind::Int64, param.device()))?;
        enumerate_view(&values, &self.batch_shape, &[], expand)
    }

    /// `constraints.integer_interval(0, K - 1)`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::IntegerInterval(0, self.num_events - 1))
    }

    /// `multinomial(probs.reshape(-1, K), sample_shape.numel(), True).T`, reshaped to
    /// `sample_shape + batch_shape`.
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let probs_2d = self.probs()?.f_reshape([-1, self.num_events])?;
        let n: i64 = sample_shape.iter().product();
        let samples_2d = probs_2d.f_multinomial(n, true)?.f_permute([1, 0])?;
        Ok(samples_2d.f_reshape(self.extended_shape(sample_shape))?)
    }

    /// `log_pmf.gather(-1, value[..., :1]).squeeze(-1)` after
    /// `broadcast_tensors(value.long().unsqueeze(-1), logits)`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let value = value.f_to_kind(Kind::Int64)?.f_unsqueeze(-1)?;
        let both = Tensor::f_broadcast_tensors(&[&value, self.logits()?])?;
        let [value, log_pmf] = &both[..] else {
            return Err(Error::Runtime(
                "broadcast_tensors returned fewer tensors than it was given".into(),
            ));
        };
        let value = value.f_slice(-1, None, Some(1), 1)?;
        Ok(log_pmf.f_gather(-1, &value, false)?.f_squeeze_dim(-1)?)
    }

    /// `-(clamp(logits, min=finfo.min) * probs).sum(-1)`.
    fn entropy(&self) -> Result<Tensor> {
        let logits = self.logits()?;
        let logits = logits.f_clamp_min(finfo_min(logits.kind()))?;
        let p_log_p = logits.f_mul(self.probs()?)?;
        Ok(p_log_p
            .f_sum_dim_intlist(&[-1i64][..], false, None::<Kind>)?
            .f_neg()?)
    }

    /// `full(batch_shape, nan)` in `probs`' dtype.
    fn mean(&self) -> Result<Tensor> {
        let probs = self.probs()?;
        Ok(Tensor::f_full(
            self.extended_shape(&[]),
            f64::NAN,
            (probs.kind(), probs.device()),
        )?)
    }

    /// `probs.argmax(dim=-1)`.
    fn mode(&self) -> Result<Tensor> {
        Ok(self.probs()?.f_argmax(-1, false)?)
    }

    /// `full(batch_shape, nan)` in `probs`' dtype.
    fn variance(&self) -> Result<Tensor> {
        self.mean()
    }

    /// Expands whichever of `probs` and `logits` are set to `batch_shape + (K,)`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        let mut param_shape = batch_shape.to_vec();
        param_shape.push(self.num_events);
        let expand =
            |cell: &OnceCell<Tensor>| expand_cell(cell, |t| Ok(t.f_expand(&param_shape, false)?));
        Ok(Categorical {
            probs: expand(&self.probs)?,
            logits: expand(&self.logits)?,
            from_probs: self.from_probs,
            num_events: self.num_events,
            batch_shape: batch_shape.to_vec(),
            validate_args: self.validate_args,
        })
    }
}
