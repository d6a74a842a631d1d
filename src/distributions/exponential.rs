//! `torch/distributions/exponential.py` (PyTorch 2.13.0), op for op.

use tch::Tensor;

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::utils::broadcast_one;
use super::Distribution;
use crate::error::Result;

/// The exponential distribution with rate λ: `torch.distributions.Exponential`.
///
/// log p(x) = log λ - λx on `x >= 0`. `rsample` is `rate.new(shape).exponential_() / rate`,
/// so after the same `tch::manual_seed` it draws PyTorch's bits.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, Exponential};
/// tch::manual_seed(0);
/// let d = Exponential::new(&Tensor::from_slice(&[2.0f64, 0.5]))?;
/// assert_eq!(d.sample(&[3])?.size(), vec![3, 2]);
/// assert_eq!(d.mean()?.double_value(&[0]), 0.5);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Exponential {
    rate: Tensor,
    batch_shape: Vec<i64>,
    validate_args: bool,
}

/// A clone shares its parameter tensor (`Tensor::shallow_clone`).
impl Clone for Exponential {
    fn clone(&self) -> Self {
        Exponential {
            rate: self.rate.shallow_clone(),
            batch_shape: self.batch_shape.clone(),
            validate_args: self.validate_args,
        }
    }
}

impl Exponential {
    /// `Exponential(rate)` with argument validation on.
    ///
    /// # Errors
    /// As [`Exponential::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Exponential};
    /// let d = Exponential::new(&Tensor::ones([2, 3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.batch_shape(), &[2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(rate: &Tensor) -> Result<Self> {
        Self::with_validate_args(rate, true)
    }

    /// `Exponential(rate, validate_args=validate_args)`.
    ///
    /// # Errors
    /// With `validate_args`, a rate that is not positive: PyTorch's "Expected parameter rate
    /// ... to satisfy the constraint GreaterThan(lower_bound=0.0)" `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Exponential;
    /// let r = Tensor::from_slice(&[0.0f64]);
    /// assert!(Exponential::with_validate_args(&r, true).is_err());
    /// assert!(Exponential::with_validate_args(&r, false).is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(rate: &Tensor, validate_args: bool) -> Result<Self> {
        let rate = broadcast_one(rate)?;
        let d = Exponential {
            batch_shape: rate.size(),
            rate,
            validate_args,
        };
        if validate_args {
            validate_param(&d, "rate", &d.rate, &Constraint::Positive)?;
        }
        Ok(d)
    }

    /// The rate λ (`Exponential.rate`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Exponential;
    /// let d = Exponential::new(&Tensor::from_slice(&[2.0f64]))?;
    /// assert_eq!(d.rate().double_value(&[0]), 2.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn rate(&self) -> &Tensor {
        &self.rate
    }
}

impl Distribution for Exponential {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &[]
    }

    fn name(&self) -> &'static str {
        "Exponential"
    }

    fn repr(&self) -> Result<String> {
        repr_params(self.name(), &[("rate", &self.rate)])
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    fn has_rsample(&self) -> bool {
        true
    }

    /// `constraints.nonnegative`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::Nonnegative)
    }

    /// `rate.new(shape).exponential_() / rate`.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let mut e = Tensor::f_empty(&shape, (self.rate.kind(), self.rate.device()))?;
        let _ = e.f_exponential_(1.0)?;
        Ok(e.f_div(&self.rate)?)
    }

    /// `rate.log() - rate * value`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        Ok(self.rate.f_log()?.f_sub(&self.rate.f_mul(value)?)?)
    }

    /// `1 - exp(-rate * value)`.
    fn cdf(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        Ok(self
            .rate
            .f_neg()?
            .f_mul(value)?
            .f_exp()?
            .f_rsub_scalar(1i64)?)
    }

    /// `-log1p(-value) / rate`; like PyTorch, `value` is not validated.
    fn icdf(&self, value: &Tensor) -> Result<Tensor> {
        Ok(value.f_neg()?.f_log1p()?.f_neg()?.f_div(&self.rate)?)
    }

    /// `1.0 - log(rate)`.
    fn entropy(&self) -> Result<Tensor> {
        Ok(self.rate.f_log()?.f_rsub_scalar(1.0)?)
    }

    /// `rate.reciprocal()`.
    fn mean(&self) -> Result<Tensor> {
        Ok(self.rate.f_reciprocal()?)
    }

    /// `zeros_like(rate)`.
    fn mode(&self) -> Result<Tensor> {
        Ok(self.rate.f_zeros_like()?)
    }

    /// `rate.reciprocal()` (PyTorch overrides `stddev`).
    fn stddev(&self) -> Result<Tensor> {
        Ok(self.rate.f_reciprocal()?)
    }

    /// `rate.pow(-2)`.
    fn variance(&self) -> Result<Tensor> {
        Ok(self.rate.f_pow_tensor_scalar(-2i64)?)
    }

    /// Expands `rate` to `batch_shape`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        Ok(Exponential {
            rate: self.rate.f_expand(batch_shape, false)?,
            batch_shape: batch_shape.to_vec(),
            validate_args: self.validate_args,
        })
    }
}
