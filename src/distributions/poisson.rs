//! `torch/distributions/poisson.py` (PyTorch 2.13.0), op for op.

use tch::Tensor;

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::utils::{broadcast_one, broadcast_pair};
use super::Distribution;
use crate::error::Result;

/// The Poisson distribution with rate λ: `torch.distributions.Poisson`.
///
/// log p(k) = k log λ - λ - lgamma(k + 1) on the non-negative integers. `sample` is
/// `torch.poisson(rate.expand(shape))` under `no_grad`, so after the same `tch::manual_seed`
/// it draws PyTorch's counts.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, Poisson};
/// tch::manual_seed(0);
/// let d = Poisson::new(&Tensor::from_slice(&[3.0f64, 0.5]))?;
/// assert_eq!(d.sample(&[4])?.size(), vec![4, 2]);
/// let lp = d.log_prob(&Tensor::from_slice(&[0.0f64, 0.0]))?;
/// assert_eq!(lp.double_value(&[0]), -3.0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Poisson {
    rate: Tensor,
    batch_shape: Vec<i64>,
    validate_args: bool,
}

/// A clone shares its parameter tensor (`Tensor::shallow_clone`).
impl Clone for Poisson {
    fn clone(&self) -> Self {
        Poisson {
            rate: self.rate.shallow_clone(),
            batch_shape: self.batch_shape.clone(),
            validate_args: self.validate_args,
        }
    }
}

impl Poisson {
    /// `Poisson(rate)` with argument validation on.
    ///
    /// # Errors
    /// As [`Poisson::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Poisson};
    /// let d = Poisson::new(&Tensor::ones([2, 3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.batch_shape(), &[2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(rate: &Tensor) -> Result<Self> {
        Self::with_validate_args(rate, true)
    }

    /// `Poisson(rate, validate_args=validate_args)`.
    ///
    /// # Errors
    /// With `validate_args`, a negative or NaN rate: PyTorch's "Expected parameter rate ...
    /// to satisfy the constraint GreaterThanEq(lower_bound=0.0)" `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Poisson;
    /// let r = Tensor::from_slice(&[-1.0f64]);
    /// assert!(Poisson::with_validate_args(&r, true).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(rate: &Tensor, validate_args: bool) -> Result<Self> {
        let rate = broadcast_one(rate)?;
        let d = Poisson {
            batch_shape: rate.size(),
            rate,
            validate_args,
        };
        if validate_args {
            validate_param(&d, "rate", &d.rate, &Constraint::Nonnegative)?;
        }
        Ok(d)
    }

    /// The rate λ (`Poisson.rate`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Poisson;
    /// let d = Poisson::new(&Tensor::from_slice(&[2.0f64]))?;
    /// assert_eq!(d.rate().double_value(&[0]), 2.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn rate(&self) -> &Tensor {
        &self.rate
    }
}

impl Distribution for Poisson {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &[]
    }

    fn name(&self) -> &'static str {
        "Poisson"
    }

    fn repr(&self) -> Result<String> {
        repr_params(self.name(), &[("rate", &self.rate)])
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    /// `constraints.nonnegative_integer`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::NonnegativeInteger)
    }

    /// `torch.poisson(rate.expand(shape))` under `no_grad`.
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let _guard = tch::no_grad_guard();
        Ok(self.rate.f_expand(&shape, false)?.f_poisson()?)
    }

    /// `value.xlogy(rate) - rate - (value + 1).lgamma()` after `broadcast_all(rate, value)`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let (rate, value) = broadcast_pair(&self.rate, value)?;
        Ok(value
            .f_xlogy(&rate)?
            .f_sub(&rate)?
            .f_sub(&value.f_add_scalar(1i64)?.f_lgamma()?)?)
    }

    /// `rate`.
    fn mean(&self) -> Result<Tensor> {
        Ok(self.rate.shallow_clone())
    }

    /// `rate.floor()`.
    fn mode(&self) -> Result<Tensor> {
        Ok(self.rate.f_floor()?)
    }

    /// `rate`.
    fn variance(&self) -> Result<Tensor> {
        Ok(self.rate.shallow_clone())
    }

    /// Expands `rate` to `batch_shape`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        Ok(Poisson {
            rate: self.rate.f_expand(batch_shape, false)?,
            batch_shape: batch_shape.to_vec(),
            validate_args: self.validate_args,
        })
    }
}
