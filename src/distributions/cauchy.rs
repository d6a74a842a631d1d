//! `torch/distributions/cauchy.py` (PyTorch 2.13.0), op for op.

use std::f64::consts::PI;

use tch::Tensor;

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::utils::{broadcast_pair, full_like_kind};
use super::Distribution;
use crate::error::Result;

/// The Cauchy (Lorentz) distribution: `torch.distributions.Cauchy`.
///
/// log p(x) = -log π - log γ - log1p(((x - x₀)/γ)²). `rsample` is
/// `loc + loc.new(shape).cauchy_() * scale`, so after the same `tch::manual_seed` it draws
/// PyTorch's bits. The mean is NaN and the variance infinite, as in PyTorch.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Cauchy, Distribution};
/// tch::manual_seed(0);
/// let d = Cauchy::new(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &Tensor::ones([2], tch::kind::DOUBLE_CPU))?;
/// assert_eq!(d.rsample(&[3])?.size(), vec![3, 2]);
/// assert_eq!(d.cdf(&Tensor::zeros([2], tch::kind::DOUBLE_CPU))?.double_value(&[0]), 0.5);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Cauchy {
    loc: Tensor,
    scale: Tensor,
    batch_shape: Vec<i64>,
    validate_args: bool,
}

/// A clone shares its parameter tensors (`Tensor::shallow_clone`).
impl Clone for Cauchy {
    fn clone(&self) -> Self {
        Cauchy {
            loc: self.loc.shallow_clone(),
            scale: self.scale.shallow_clone(),
            batch_shape: self.batch_shape.clone(),
            validate_args: self.validate_args,
        }
    }
}

impl Cauchy {
    /// `Cauchy(loc, scale)` with argument validation on.
    ///
    /// # Errors
    /// As [`Cauchy::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Cauchy, Distribution};
    /// let d = Cauchy::new(&Tensor::zeros([2, 1], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.batch_shape(), &[2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(loc: &Tensor, scale: &Tensor) -> Result<Self> {
        Self::with_validate_args(loc, scale, true)
    }

    /// `Cauchy(loc, scale, validate_args=validate_args)`.
    ///
    /// # Errors
    /// Shapes that do not broadcast (libtorch's message); with `validate_args`, a NaN `loc`
    /// (`Real()`) or a `scale` that is not positive: PyTorch's "Expected parameter ..."
    /// `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Cauchy;
    /// let (loc, scale) = (Tensor::from_slice(&[0.0f64]), Tensor::from_slice(&[-1.0f64]));
    /// assert!(Cauchy::with_validate_args(&loc, &scale, true).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(loc: &Tensor, scale: &Tensor, validate_args: bool) -> Result<Self> {
        let (loc, scale) = broadcast_pair(loc, scale)?;
        let d = Cauchy {
            batch_shape: loc.size(),
            loc,
            scale,
            validate_args,
        };
        if validate_args {
            validate_param(&d, "loc", &d.loc, &Constraint::Real)?;
            validate_param(&d, "scale", &d.scale, &Constraint::Positive)?;
        }
        Ok(d)
    }

    /// The median (`Cauchy.loc`), broadcast to `batch_shape`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Cauchy;
    /// let d = Cauchy::new(&Tensor::zeros([1], tch::kind::FLOAT_CPU), &Tensor::ones([4], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.loc().size(), vec![4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn loc(&self) -> &Tensor {
        &self.loc
    }

    /// The half width at half maximum (`Cauchy.scale`), broadcast to `batch_shape`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Cauchy;
    /// let d = Cauchy::new(&Tensor::zeros([4], tch::kind::FLOAT_CPU), &Tensor::ones([1], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.scale().size(), vec![4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn scale(&self) -> &Tensor {
        &self.scale
    }
}

impl Distribution for Cauchy {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &[]
    }

    fn name(&self) -> &'static str {
        "Cauchy"
    }

    fn repr(&self) -> Result<String> {
        repr_params(self.name(), &[("loc", &self.loc), ("scale", &self.scale)])
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    fn has_rsample(&self) -> bool {
        true
    }

    /// `constraints.real`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::Real)
    }

    /// `loc + loc.new(shape).cauchy_() * scale`.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let mut eps = Tensor::f_empty(&shape, (self.loc.kind(), self.loc.device()))?;
        let _ = eps.f_cauchy_(0.0, 1.0)?;
        Ok(self.loc.f_add(&eps.f_mul(&self.scale)?)?)
    }

    /// `-log(π) - scale.log() - (((value - loc) / scale) ** 2).log1p()`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let z2 = value
            .f_sub(&self.loc)?
            .f_div(&self.scale)?
            .f_pow_tensor_scalar(2i64)?
            .f_log1p()?;
        Ok(self.scale.f_log()?.f_rsub_scalar(-PI.ln())?.f_sub(&z2)?)
    }

    /// `atan((value - loc) / scale) / π + 0.5`.
    fn cdf(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        Ok(value
            .f_sub(&self.loc)?
            .f_div(&self.scale)?
            .f_atan()?
            .f_div_scalar(PI)?
            .f_add_scalar(0.5)?)
    }

    /// `tan(π * (value - 0.5)) * scale + loc`; like PyTorch, `value` is not validated.
    fn icdf(&self, value: &Tensor) -> Result<Tensor> {
        Ok(value
            .f_sub_scalar(0.5)?
            .f_mul_scalar(PI)?
            .f_tan()?
            .f_mul(&self.scale)?
            .f_add(&self.loc)?)
    }

    /// `log(4π) + scale.log()`.
    fn entropy(&self) -> Result<Tensor> {
        Ok(self.scale.f_log()?.f_add_scalar((4.0 * PI).ln())?)
    }

    /// `full(batch_shape, nan)`.
    fn mean(&self) -> Result<Tensor> {
        full_like_kind(&self.extended_shape(&[]), f64::NAN, &self.loc)
    }

    /// `loc`.
    fn mode(&self) -> Result<Tensor> {
        Ok(self.loc.shallow_clone())
    }

    /// `full(batch_shape, inf)`.
    fn variance(&self) -> Result<Tensor> {
        full_like_kind(&self.extended_shape(&[]), f64::INFINITY, &self.loc)
    }

    /// Expands `loc` and `scale` to `batch_shape`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        Ok(Cauchy {
            loc: self.loc.f_expand(batch_shape, false)?,
            scale: self.scale.f_expand(batch_shape, false)?,
            batch_shape: batch_shape.to_vec(),
            validate_args: self.validate_args,
        })
    }
}
