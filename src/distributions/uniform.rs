//! `torch/distributions/uniform.py` (PyTorch 2.13.0), op for op.

use tch::Tensor;

use super::constraints::{BoundTensor, Constraint};
use super::distribution::{repr_params, validate_param, validate_sample};
use super::utils::broadcast_pair;
use super::Distribution;
use crate::error::Result;

/// The continuous uniform distribution on `[low, high)`: `torch.distributions.Uniform`.
///
/// `rsample` is `low + rand(shape) * (high - low)`, so after the same `tch::manual_seed` it
/// draws PyTorch's bits. The constraints depend on the parameters (`low` must be
/// `LessThan(upper_bound=high)`, `high` `GreaterThan(lower_bound=low)`, the support is
/// `Interval(low, high)`), printed with the tensors as PyTorch prints them.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, Uniform};
/// tch::manual_seed(0);
/// let d = Uniform::new(&Tensor::from_slice(&[0.0f64]), &Tensor::from_slice(&[2.0f64]))?;
/// assert_eq!(d.rsample(&[3])?.size(), vec![3, 1]);
/// assert_eq!(d.cdf(&Tensor::from_slice(&[0.5f64]))?.double_value(&[0]), 0.25);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Uniform {
    low: Tensor,
    high: Tensor,
    batch_shape: Vec<i64>,
    validate_args: bool,
}

/// A clone shares its parameter tensors (`Tensor::shallow_clone`).
impl Clone for Uniform {
    fn clone(&self) -> Self {
        Uniform {
            low: self.low.shallow_clone(),
            high: self.high.shallow_clone(),
            batch_shape: self.batch_shape.clone(),
            validate_args: self.validate_args,
        }
    }
}

impl Uniform {
    /// `Uniform(low, high)` with argument validation on.
    ///
    /// # Errors
    /// As [`Uniform::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Uniform};
    /// let d = Uniform::new(&Tensor::zeros([2, 1], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.batch_shape(), &[2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(low: &Tensor, high: &Tensor) -> Result<Self> {
        Self::with_validate_args(low, high, true)
    }

    /// `Uniform(low, high, validate_args=validate_args)`.
    ///
    /// # Errors
    /// Shapes that do not broadcast (libtorch's message); with `validate_args`, `low >= high`
    /// somewhere: PyTorch's "Expected parameter low ... to satisfy the constraint
    /// LessThan(upper_bound=...)" `ValueError` (then `high`'s `GreaterThan`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Uniform;
    /// let (low, high) = (Tensor::from_slice(&[1.0f64]), Tensor::from_slice(&[1.0f64]));
    /// assert!(Uniform::with_validate_args(&low, &high, true).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(low: &Tensor, high: &Tensor, validate_args: bool) -> Result<Self> {
        let (low, high) = broadcast_pair(low, high)?;
        let d = Uniform {
            batch_shape: low.size(),
            low,
            high,
            validate_args,
        };
        if validate_args {
            let low_c = Constraint::LessThan(BoundTensor::new(&d.high));
            validate_param(&d, "low", &d.low, &low_c)?;
            let high_c = Constraint::GreaterThan(BoundTensor::new(&d.low));
            validate_param(&d, "high", &d.high, &high_c)?;
        }
        Ok(d)
    }

    /// The lower bound (`Uniform.low`), broadcast to `batch_shape`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Uniform;
    /// let d = Uniform::new(&Tensor::zeros([1], tch::kind::FLOAT_CPU), &Tensor::ones([4], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.low().size(), vec![4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn low(&self) -> &Tensor {
        &self.low
    }

    /// The upper bound (`Uniform.high`), broadcast to `batch_shape`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Uniform;
    /// let d = Uniform::new(&Tensor::zeros([4], tch::kind::FLOAT_CPU), &Tensor::ones([1], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.high().size(), vec![4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn high(&self) -> &Tensor {
        &self.high
    }

    fn width(&self) -> Result<Tensor> {
        Ok(self.high.f_sub(&self.low)?)
    }
}

impl Distribution for Uniform {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &[]
    }

    fn name(&self) -> &'static str {
        "Uniform"
    }

    fn repr(&self) -> Result<String> {
        repr_params(self.name(), &[("low", &self.low), ("high", &self.high)])
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    fn has_rsample(&self) -> bool {
        true
    }

    /// `constraints.interval(low, high)`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::Interval(
            BoundTensor::new(&self.low),
            BoundTensor::new(&self.high),
        ))
    }

    /// `low + rand(shape) * (high - low)`.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let rand = Tensor::f_rand(&shape, (self.low.kind(), self.low.device()))?;
        Ok(self.low.f_add(&rand.f_mul(&self.width()?)?)?)
    }

    /// `log(low.le(value).type_as(low) * high.gt(value).type_as(low)) - log(high - low)`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let lb = self.low.f_le_tensor(value)?.f_type_as(&self.low)?;
        let ub = self.high.f_gt_tensor(value)?.f_type_as(&self.low)?;
        Ok(lb.f_mul(&ub)?.f_log()?.f_sub(&self.width()?.f_log()?)?)
    }

    /// `((value - low) / (high - low)).clamp(min=0, max=1)`.
    fn cdf(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        Ok(value
            .f_sub(&self.low)?
            .f_div(&self.width()?)?
            .f_clamp(0i64, 1i64)?)
    }

    /// `value * (high - low) + low`; like PyTorch, `value` is not validated.
    fn icdf(&self, value: &Tensor) -> Result<Tensor> {
        Ok(value.f_mul(&self.width()?)?.f_add(&self.low)?)
    }

    /// `log(high - low)`.
    fn entropy(&self) -> Result<Tensor> {
        Ok(self.width()?.f_log()?)
    }

    /// `(high + low) / 2`.
    fn mean(&self) -> Result<Tensor> {
        Ok(self.high.f_add(&self.low)?.f_div_scalar(2i64)?)
    }

    /// `nan * high`.
    fn mode(&self) -> Result<Tensor> {
        Ok(self.high.f_mul_scalar(f64::NAN)?)
    }

    /// `(high - low) / 12 ** 0.5`.
    fn stddev(&self) -> Result<Tensor> {
        Ok(self.width()?.f_div_scalar(12f64.powf(0.5))?)
    }

    /// `(high - low).pow(2) / 12`.
    fn variance(&self) -> Result<Tensor> {
        Ok(self
            .width()?
            .f_pow_tensor_scalar(2i64)?
            .f_div_scalar(12i64)?)
    }

    /// Expands `low` and `high` to `batch_shape`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        Ok(Uniform {
            low: self.low.f_expand(batch_shape, false)?,
            high: self.high.f_expand(batch_shape, false)?,
            batch_shape: batch_shape.to_vec(),
            validate_args: self.validate_args,
        })
    }
}
