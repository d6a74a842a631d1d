//! `torch/distributions/one_hot_categorical.py` (PyTorch 2.13.0), op for op.

use tch::Tensor;

use super::categorical::Categorical;
use super::constraints::Constraint;
use super::distribution::{validate_param, validate_sample};
use super::utils::enumerate_view;
use super::Distribution;
use crate::error::{Error, Result};

/// The one-hot categorical distribution: `torch.distributions.OneHotCategorical`.
///
/// A [`Categorical`] whose samples are one-hot vectors of length `K`: the event shape is
/// `(K,)`. As in PyTorch, the inner `Categorical` is built with validation on whatever
/// `validate_args` says, and then, with `validate_args`, `probs` (`Simplex()`) and `logits`
/// (`IndependentConstraint(Real(), 1)`) are both checked, which computes both.
///
/// `sample` is the inner `Categorical`'s sample, then `one_hot(indices, K).to(probs)`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, OneHotCategorical};
/// tch::manual_seed(0);
/// let d = OneHotCategorical::from_probs(&Tensor::from_slice(&[0.2f64, 0.3, 0.5]))?;
/// let x = d.sample(&[4])?;
/// assert_eq!(x.size(), vec![4, 3]);
/// assert_eq!(d.event_shape(), &[3]);
/// let lp = d.log_prob(&Tensor::from_slice(&[0.0f64, 0.0, 1.0]))?;
/// assert!((lp.double_value(&[]) - 0.5f64.ln()).abs() < 1e-12);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct OneHotCategorical {
    categorical: Categorical,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
    validate_args: bool,
}

impl OneHotCategorical {
    /// `OneHotCategorical(probs=probs)` with argument validation on.
    ///
    /// # Errors
    /// As [`Categorical::from_probs`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, OneHotCategorical};
    /// let d = OneHotCategorical::from_probs(&Tensor::ones([2, 5], tch::kind::FLOAT_CPU))?;
    /// assert_eq!((d.batch_shape(), d.event_shape()), (&[2i64][..], &[5i64][..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_probs(probs: &Tensor) -> Result<Self> {
        Self::from_probs_with_validate_args(probs, true)
    }

    /// `OneHotCategorical(probs=probs, validate_args=validate_args)`.
    ///
    /// # Errors
    /// As [`Categorical::from_probs`] whatever `validate_args` (PyTorch builds the inner
    /// `Categorical` with the default validation).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategorical;
    /// let p = Tensor::from_slice(&[0.5f64, -0.1, 0.6]);
    /// assert!(OneHotCategorical::from_probs_with_validate_args(&p, false).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_probs_with_validate_args(probs: &Tensor, validate_args: bool) -> Result<Self> {
        Self::build(Categorical::from_probs(probs)?, validate_args)
    }

    /// `OneHotCategorical(logits=logits)` with argument validation on.
    ///
    /// # Errors
    /// As [`Categorical::from_logits`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategorical;
    /// let d = OneHotCategorical::from_logits(&Tensor::zeros([4], tch::kind::DOUBLE_CPU))?;
    /// assert_eq!(d.probs()?.double_value(&[3]), 0.25);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_logits(logits: &Tensor) -> Result<Self> {
        Self::from_logits_with_validate_args(logits, true)
    }

    /// `OneHotCategorical(logits=logits, validate_args=validate_args)`.
    ///
    /// # Errors
    /// As [`Categorical::from_logits`] whatever `validate_args`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategorical;
    /// let l = Tensor::from_slice(&[0.0f64, f64::NAN]);
    /// assert!(OneHotCategorical::from_logits_with_validate_args(&l, false).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_logits_with_validate_args(logits: &Tensor, validate_args: bool) -> Result<Self> {
        Self::build(Categorical::from_logits(logits)?, validate_args)
    }

    fn build(categorical: Categorical, validate_args: bool) -> Result<Self> {
        let param_shape = categorical.param_shape();
        let event_shape = param_shape[param_shape.len().saturating_sub(1)..].to_vec();
        let d = OneHotCategorical {
            batch_shape: categorical.batch_shape().to_vec(),
            categorical,
            event_shape,
            validate_args,
        };
        if validate_args {
            validate_param(&d, "probs", d.probs()?, &Constraint::Simplex)?;
            validate_param(&d, "logits", d.logits()?, &Constraint::RealVector)?;
        }
        Ok(d)
    }

    /// The inner [`Categorical`]'s `probs`.
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategorical;
    /// let d = OneHotCategorical::from_probs(&Tensor::from_slice(&[1.0f64, 3.0]))?;
    /// assert_eq!(d.probs()?.double_value(&[1]), 0.75);
    /// # Ok(())
    /// # }
    /// ```
    pub fn probs(&self) -> Result<&Tensor> {
        self.categorical.probs()
    }

    /// The inner [`Categorical`]'s `logits`.
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategorical;
    /// let d = OneHotCategorical::from_probs(&Tensor::from_slice(&[1.0f64, 1.0]))?;
    /// assert_eq!(d.logits()?.double_value(&[0]), 0.5f64.ln());
    /// # Ok(())
    /// # }
    /// ```
    pub fn logits(&self) -> Result<&Tensor> {
        self.categorical.logits()
    }

    /// The inner [`Categorical`]'s `param_shape`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategorical;
    /// let d = OneHotCategorical::from_logits(&Tensor::zeros([2, 3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.param_shape(), vec![2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn param_shape(&self) -> Vec<i64> {
        self.categorical.param_shape()
    }

    /// The inner [`Categorical`] (`OneHotCategorical._categorical`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategorical;
    /// let d = OneHotCategorical::from_logits(&Tensor::zeros([2, 3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.categorical().num_events(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn categorical(&self) -> &Categorical {
        &self.categorical
    }
}

impl Distribution for OneHotCategorical {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }

    fn name(&self) -> &'static str {
        "OneHotCategorical"
    }

    /// `OneHotCategorical()`: `probs` and `logits` live on the inner `Categorical`, so
    /// PyTorch's `__repr__` finds none on the instance.
    fn repr(&self) -> Result<String> {
        Ok(format!("{}()", self.name()))
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    /// `True`.
    fn has_enumerate_support(&self) -> bool {
        true
    }

    /// `eye(K, dtype=_param.dtype).view((K,) + (1,) * len(batch_shape) + (K,))`, expanded to
    /// `(K,) + batch_shape + (K,)` when `expand`.
    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        let param = self
            .categorical
            .param()
            .ok_or_else(|| Error::Runtime("Categorical has neither probs nor logits".into()))?;
        let n = self.categorical.num_events();
        let values = Tensor::f_eye(n, (param.kind(), param.device()))?;
        enumerate_view(&values, &self.batch_shape, &[n], expand)
    }

    /// `constraints.one_hot`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::OneHot)
    }

    /// `one_hot(categorical.sample(sample_shape), K).to(probs)`.
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let probs = self.categorical.probs()?;
        let indices = self.categorical.sample(sample_shape)?;
        Ok(indices
            .f_one_hot(self.categorical.num_events())?
            .f_to_dtype_layout((probs.kind(), probs.device()), false, false)?)
    }

    /// `categorical.log_prob(value.max(-1)[1])`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let (_, indices) = value.f_max_dim(-1, false)?;
        self.categorical.log_prob(&indices)
    }

    /// The inner `Categorical`'s entropy.
    fn entropy(&self) -> Result<Tensor> {
        self.categorical.entropy()
    }

    /// `probs`.
    fn mean(&self) -> Result<Tensor> {
        Ok(self.categorical.probs()?.shallow_clone())
    }

    /// `one_hot(probs.argmax(-1), K).to(probs)`.
    fn mode(&self) -> Result<Tensor> {
        let probs = self.categorical.probs()?;
        let mode = probs.f_argmax(-1, false)?;
        let n = probs.size().last().copied().unwrap_or(0);
        Ok(mode
            .f_one_hot(n)?
            .f_to_dtype_layout((probs.kind(), probs.device()), false, false)?)
    }

    /// `probs * (1 - probs)`.
    fn variance(&self) -> Result<Tensor> {
        let probs = self.categorical.probs()?;
        Ok(probs.f_mul(&probs.f_rsub_scalar(1i64)?)?)
    }

    /// Expands the inner `Categorical`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        Ok(OneHotCategorical {
            categorical: self.categorical.expand(batch_shape)?,
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
            validate_args: self.validate_args,
        })
    }
}

/// A [`OneHotCategorical`] with a straight-through gradient estimator:
/// `torch.distributions.OneHotCategoricalStraightThrough`.
///
/// `rsample` is `sample + (probs - probs.detach())`: the one-hot sample's values, with the
/// gradient of `probs`. Everything else is [`OneHotCategorical`]'s.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, OneHotCategoricalStraightThrough};
/// tch::manual_seed(0);
/// let logits = Tensor::from_slice(&[0.0f64, 1.0, 2.0]).set_requires_grad(true);
/// let d = OneHotCategoricalStraightThrough::from_logits(&logits)?;
/// let x = d.rsample(&[4])?;
/// assert_eq!(x.size(), vec![4, 3]);
/// assert!(x.requires_grad());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct OneHotCategoricalStraightThrough {
    inner: OneHotCategorical,
}

impl OneHotCategoricalStraightThrough {
    /// `OneHotCategoricalStraightThrough(probs=probs)` with argument validation on.
    ///
    /// # Errors
    /// As [`OneHotCategorical::from_probs`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, OneHotCategoricalStraightThrough};
    /// let d = OneHotCategoricalStraightThrough::from_probs(&Tensor::ones([2, 5], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.event_shape(), &[5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_probs(probs: &Tensor) -> Result<Self> {
        Self::from_probs_with_validate_args(probs, true)
    }

    /// `OneHotCategoricalStraightThrough(probs=probs, validate_args=validate_args)`.
    ///
    /// # Errors
    /// As [`OneHotCategorical::from_probs_with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategoricalStraightThrough;
    /// let p = Tensor::from_slice(&[0.5f64, -0.1, 0.6]);
    /// assert!(OneHotCategoricalStraightThrough::from_probs_with_validate_args(&p, false).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_probs_with_validate_args(probs: &Tensor, validate_args: bool) -> Result<Self> {
        Ok(OneHotCategoricalStraightThrough {
            inner: OneHotCategorical::from_probs_with_validate_args(probs, validate_args)?,
        })
    }

    /// `OneHotCategoricalStraightThrough(logits=logits)` with argument validation on.
    ///
    /// # Errors
    /// As [`OneHotCategorical::from_logits`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategoricalStraightThrough;
    /// let d = OneHotCategoricalStraightThrough::from_logits(&Tensor::zeros([4], tch::kind::DOUBLE_CPU))?;
    /// assert_eq!(d.one_hot_categorical().probs()?.double_value(&[3]), 0.25);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_logits(logits: &Tensor) -> Result<Self> {
        Self::from_logits_with_validate_args(logits, true)
    }

    /// `OneHotCategoricalStraightThrough(logits=logits, validate_args=validate_args)`.
    ///
    /// # Errors
    /// As [`OneHotCategorical::from_logits_with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategoricalStraightThrough;
    /// let l = Tensor::from_slice(&[0.0f64, f64::NAN]);
    /// assert!(OneHotCategoricalStraightThrough::from_logits_with_validate_args(&l, false).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_logits_with_validate_args(logits: &Tensor, validate_args: bool) -> Result<Self> {
        Ok(OneHotCategoricalStraightThrough {
            inner: OneHotCategorical::from_logits_with_validate_args(logits, validate_args)?,
        })
    }

    /// The [`OneHotCategorical`] it extends (its `probs`, `logits`, `param_shape`, ...).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::OneHotCategoricalStraightThrough;
    /// let d = OneHotCategoricalStraightThrough::from_logits(&Tensor::zeros([2, 3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.one_hot_categorical().param_shape(), vec![2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn one_hot_categorical(&self) -> &OneHotCategorical {
        &self.inner
    }
}

impl Distribution for OneHotCategoricalStraightThrough {
    fn batch_shape(&self) -> &[i64] {
        self.inner.batch_shape()
    }

    fn event_shape(&self) -> &[i64] {
        self.inner.event_shape()
    }

    fn name(&self) -> &'static str {
        "OneHotCategoricalStraightThrough"
    }

    /// `OneHotCategoricalStraightThrough()`.
    fn repr(&self) -> Result<String> {
        Ok(format!("{}()", self.name()))
    }

    fn validate_args(&self) -> bool {
        self.inner.validate_args()
    }

    /// `True`.
    fn has_rsample(&self) -> bool {
        true
    }

    /// `True`.
    fn has_enumerate_support(&self) -> bool {
        true
    }

    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        self.inner.enumerate_support(expand)
    }

    /// `constraints.one_hot`.
    fn support(&self) -> Result<Constraint> {
        self.inner.support()
    }

    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        self.inner.sample(sample_shape)
    }

    /// `samples + (probs - probs.detach())` with `samples = self.sample(sample_shape)`.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let samples = self.sample(sample_shape)?;
        let probs = self.inner.probs()?;
        Ok(samples.f_add(&probs.f_sub(&probs.f_detach()?)?)?)
    }

    /// The one-hot log-probability; the error names this class, as PyTorch's.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args() {
            validate_sample(self, value)?;
        }
        let (_, indices) = value.f_max_dim(-1, false)?;
        self.inner.categorical().log_prob(&indices)
    }

    fn entropy(&self) -> Result<Tensor> {
        self.inner.entropy()
    }

    fn mean(&self) -> Result<Tensor> {
        self.inner.mean()
    }

    fn mode(&self) -> Result<Tensor> {
        self.inner.mode()
    }

    fn variance(&self) -> Result<Tensor> {
        self.inner.variance()
    }

    /// Expands the inner `Categorical`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        Ok(OneHotCategoricalStraightThrough {
            inner: self.inner.expand(batch_shape)?,
        })
    }
}
