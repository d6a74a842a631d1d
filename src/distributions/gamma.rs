//! `torch/distributions/gamma.py` (PyTorch 2.13.0), op for op.

use tch::Tensor;

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::utils::{broadcast_pair, finfo_tiny};
use super::Distribution;
use crate::error::Result;

/// The gamma distribution with shape α (`concentration`) and rate β: `torch.distributions.Gamma`.
///
/// log p(x) = xlogy(α, β) + xlogy(α - 1, x) - βx - lgamma(α). `rsample` is
/// `_standard_gamma(concentration.expand(shape)) / rate.expand(shape)`, clamped below at
/// `finfo.tiny` outside the graph; libtorch's `_standard_gamma` derivative
/// (`_standard_gamma_grad`) carries the reparameterized gradient, as in PyTorch.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, Gamma};
/// tch::manual_seed(0);
/// let d = Gamma::new(&Tensor::from_slice(&[2.0f64]), &Tensor::from_slice(&[4.0f64]))?;
/// assert_eq!(d.rsample(&[3])?.size(), vec![3, 1]);
/// assert_eq!(d.mean()?.double_value(&[0]), 0.5);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Gamma {
    concentration: Tensor,
    rate: Tensor,
    batch_shape: Vec<i64>,
    validate_args: bool,
}

/// A clone shares its parameter tensors (`Tensor::shallow_clone`).
impl Clone for Gamma {
    fn clone(&self) -> Self {
        Gamma {
            concentration: self.concentration.shallow_clone(),
            rate: self.rate.shallow_clone(),
            batch_shape: self.batch_shape.clone(),
            validate_args: self.validate_args,
        }
    }
}

impl Gamma {
    /// `Gamma(concentration, rate)` with argument validation on.
    ///
    /// # Errors
    /// As [`Gamma::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Gamma};
    /// let d = Gamma::new(&Tensor::ones([2, 1], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.batch_shape(), &[2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(concentration: &Tensor, rate: &Tensor) -> Result<Self> {
        Self::with_validate_args(concentration, rate, true)
    }

    /// `Gamma(concentration, rate, validate_args=validate_args)`.
    ///
    /// # Errors
    /// Shapes that do not broadcast (libtorch's message); with `validate_args`, a
    /// concentration or rate that is not positive: PyTorch's "Expected parameter ..."
    /// `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Gamma;
    /// let (a, b) = (Tensor::from_slice(&[0.0f64]), Tensor::from_slice(&[1.0f64]));
    /// assert!(Gamma::with_validate_args(&a, &b, true).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(
        concentration: &Tensor,
        rate: &Tensor,
        validate_args: bool,
    ) -> Result<Self> {
        let (concentration, rate) = broadcast_pair(concentration, rate)?;
        let d = Gamma {
            batch_shape: concentration.size(),
            concentration,
            rate,
            validate_args,
        };
        if validate_args {
            validate_param(&d, "concentration", &d.concentration, &Constraint::Positive)?;
            validate_param(&d, "rate", &d.rate, &Constraint::Positive)?;
        }
        Ok(d)
    }

    /// The shape α (`Gamma.concentration`), broadcast to `batch_shape`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Gamma;
    /// let d = Gamma::new(&Tensor::ones([1], tch::kind::FLOAT_CPU), &Tensor::ones([4], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.concentration().size(), vec![4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn concentration(&self) -> &Tensor {
        &self.concentration
    }

    /// The rate β (`Gamma.rate`), broadcast to `batch_shape`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Gamma;
    /// let d = Gamma::new(&Tensor::ones([4], tch::kind::FLOAT_CPU), &Tensor::ones([1], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.rate().size(), vec![4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn rate(&self) -> &Tensor {
        &self.rate
    }
}

impl Distribution for Gamma {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &[]
    }

    fn name(&self) -> &'static str {
        "Gamma"
    }

    fn repr(&self) -> Result<String> {
        repr_params(
            self.name(),
            &[("concentration", &self.concentration), ("rate", &self.rate)],
        )
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

    /// `_standard_gamma(concentration.expand(shape)) / rate.expand(shape)`, then
    /// `value.detach().clamp_(min=finfo.tiny)`.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let value = self
            .concentration
            .f_expand(&shape, false)?
            .f_internal_standard_gamma()?
            .f_div(&self.rate.f_expand(&shape, false)?)?;
        let _ = value.f_detach()?.f_clamp_min_(finfo_tiny(value.kind()))?;
        Ok(value)
    }

    /// `xlogy(concentration, rate) + xlogy(concentration - 1, value) - rate * value -
    /// lgamma(concentration)`, `value` first converted to the rate's dtype.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let value =
            value.f_to_dtype_layout((self.rate.kind(), self.rate.device()), false, false)?;
        if self.validate_args {
            validate_sample(self, &value)?;
        }
        Ok(self
            .concentration
            .f_xlogy(&self.rate)?
            .f_add(&self.concentration.f_sub_scalar(1i64)?.f_xlogy(&value)?)?
            .f_sub(&self.rate.f_mul(&value)?)?
            .f_sub(&self.concentration.f_lgamma()?)?)
    }

    /// `special.gammainc(concentration, rate * value)`.
    fn cdf(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        Ok(self
            .concentration
            .f_special_gammainc(&self.rate.f_mul(value)?)?)
    }

    /// `concentration - log(rate) + lgamma(concentration) + (1.0 - concentration) *
    /// digamma(concentration)`.
    fn entropy(&self) -> Result<Tensor> {
        let c = &self.concentration;
        Ok(c.f_sub(&self.rate.f_log()?)?
            .f_add(&c.f_lgamma()?)?
            .f_add(&c.f_rsub_scalar(1.0)?.f_mul(&c.f_digamma()?)?)?)
    }

    /// `concentration / rate`.
    fn mean(&self) -> Result<Tensor> {
        Ok(self.concentration.f_div(&self.rate)?)
    }

    /// `((concentration - 1) / rate).clamp(min=0)`.
    fn mode(&self) -> Result<Tensor> {
        Ok(self
            .concentration
            .f_sub_scalar(1i64)?
            .f_div(&self.rate)?
            .f_clamp_min(0i64)?)
    }

    /// `concentration / rate.pow(2)`.
    fn variance(&self) -> Result<Tensor> {
        Ok(self
            .concentration
            .f_div(&self.rate.f_pow_tensor_scalar(2i64)?)?)
    }

    /// Expands `concentration` and `rate` to `batch_shape`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        Ok(Gamma {
            concentration: self.concentration.f_expand(batch_shape, false)?,
            rate: self.rate.f_expand(batch_shape, false)?,
            batch_shape: batch_shape.to_vec(),
            validate_args: self.validate_args,
        })
    }
}
