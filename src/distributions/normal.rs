//! `torch/distributions/normal.py` (PyTorch 2.13.0), op for op.

use std::f64::consts::PI;

use tch::Tensor;

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::utils::{broadcast_all, standard_normal};
use super::Distribution;
use crate::error::{Error, Result};

/// The normal distribution N(loc, scale²): `torch.distributions.Normal`.
///
/// `loc` and `scale` are tensors that broadcast against each other (`broadcast_all`); the
/// batch shape is their common shape and the event shape is `()`.
///
/// log p(x) = -(x-μ)² / (2σ²) - log σ - log √(2π).
///
/// `sample` draws with `torch.normal(loc.expand(shape), scale.expand(shape))` (standard
/// normals, then `* scale + loc` in place), `rsample` with `_standard_normal` and
/// `loc + eps * scale`: both give PyTorch's bits after the same `tch::manual_seed`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, Normal};
/// tch::manual_seed(0);
/// let d = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([1], tch::kind::FLOAT_CPU))?;
/// let x = d.sample(&[2])?;
/// assert_eq!(x.size(), vec![2, 3]);
/// // After manual_seed(0), fewer than 16 draws start with 1.5410 (PyTorch's scalar path).
/// assert!((x.double_value(&[0, 0]) - 1.5410).abs() < 1e-4);
/// assert_eq!(d.log_prob(&x)?.size(), vec![2, 3]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Normal {
    loc: Tensor,
    scale: Tensor,
    batch_shape: Vec<i64>,
    validate_args: bool,
}

/// A clone shares its parameter tensors (`Tensor::shallow_clone`), as reusing one
/// distribution object does in Python.
impl Clone for Normal {
    fn clone(&self) -> Self {
        Normal {
            loc: self.loc.shallow_clone(),
            scale: self.scale.shallow_clone(),
            batch_shape: self.batch_shape.clone(),
            validate_args: self.validate_args,
        }
    }
}

impl Normal {
    /// `Normal(loc, scale)` with argument validation on.
    ///
    /// # Errors
    /// As [`Normal::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([2, 1], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.batch_shape(), &[2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(loc: &Tensor, scale: &Tensor) -> Result<Self> {
        Self::with_validate_args(loc, scale, true)
    }

    /// `Normal(loc, scale, validate_args=validate_args)`.
    ///
    /// # Errors
    /// - `loc` and `scale` whose shapes do not broadcast: libtorch's `broadcast_tensors`
    ///   message ("The size of tensor a (2) must match the size of tensor b (3) ...").
    /// - With `validate_args`, a NaN in `loc` (`Real()`) or a `scale` that is not positive
    ///   (`GreaterThan(lower_bound=0.0)`): PyTorch's "Expected parameter ... to satisfy the
    ///   constraint" `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Normal;
    /// let loc = Tensor::zeros([2], tch::kind::FLOAT_CPU);
    /// let scale = Tensor::from_slice(&[1.0f32, -1.0]);
    /// assert!(Normal::with_validate_args(&loc, &scale, true).is_err());
    /// assert!(Normal::with_validate_args(&loc, &scale, false).is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(loc: &Tensor, scale: &Tensor, validate_args: bool) -> Result<Self> {
        let mut both = broadcast_all(&[loc, scale])?.into_iter();
        let (Some(loc), Some(scale)) = (both.next(), both.next()) else {
            return Err(Error::Runtime(
                "broadcast_tensors returned fewer tensors than it was given".into(),
            ));
        };
        let normal = Normal {
            batch_shape: loc.size(),
            loc,
            scale,
            validate_args,
        };
        if validate_args {
            validate_param(&normal, "loc", &normal.loc, &Constraint::Real)?;
            validate_param(&normal, "scale", &normal.scale, &Constraint::Positive)?;
        }
        Ok(normal)
    }

    /// The mean, broadcast to `batch_shape` (`Normal.loc`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Normal;
    /// let d = Normal::new(&Tensor::zeros([1], tch::kind::FLOAT_CPU), &Tensor::ones([4], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.loc().size(), vec![4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn loc(&self) -> &Tensor {
        &self.loc
    }

    /// The standard deviation, broadcast to `batch_shape` (`Normal.scale`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Normal;
    /// let d = Normal::new(&Tensor::zeros([4], tch::kind::FLOAT_CPU), &Tensor::ones([1], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.scale().size(), vec![4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn scale(&self) -> &Tensor {
        &self.scale
    }
}

impl Distribution for Normal {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &[]
    }

    fn name(&self) -> &'static str {
        "Normal"
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

    /// `torch.normal(loc.expand(shape), scale.expand(shape))` under `no_grad`.
    ///
    /// tch 0.26 has no binding for `normal(Tensor mean, Tensor std)`; this is ATen's
    /// `normal_out_impl` step for step: the std check, `normal_(0, 1)` into a fresh
    /// contiguous tensor, then `mul_(std).add_(mean)`.
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let _guard = tch::no_grad_guard();
        let mean = self.loc.f_expand(&shape, false)?;
        let std = self.scale.f_expand(&shape, false)?;
        // CHECK_NORMAL_TENSOR_STD: std.numel() == 0 || std.min().ge(0).item<bool>()
        if std.numel() != 0 && std.f_min()?.f_ge(0.0)?.f_int64_value(&[])? == 0 {
            return Err(Error::Runtime(
                "normal expects all elements of std >= 0.0".into(),
            ));
        }
        let mut out = standard_normal(&shape, mean.kind(), mean.device())?;
        let _ = out.f_mul_(&std)?;
        let _ = out.f_add_(&mean)?;
        Ok(out)
    }

    /// `loc + eps * scale` with `eps = _standard_normal(shape)`.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let eps = standard_normal(&shape, self.loc.kind(), self.loc.device())?;
        Ok(self.loc.f_add(&eps.f_mul(&self.scale)?)?)
    }

    /// `-((value - loc) ** 2) / (2 * var) - log(scale) - log(sqrt(2π))`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let var = self.scale.f_pow_tensor_scalar(2i64)?;
        let log_scale = self.scale.f_log()?;
        Ok(value
            .f_sub(&self.loc)?
            .f_pow_tensor_scalar(2i64)?
            .f_neg()?
            .f_div(&var.f_mul_scalar(2i64)?)?
            .f_sub(&log_scale)?
            .f_sub_scalar((2.0 * PI).sqrt().ln())?)
    }

    /// `0.5 * (1 + erf((value - loc) * scale.reciprocal() / sqrt(2)))`.
    fn cdf(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        Ok(value
            .f_sub(&self.loc)?
            .f_mul(&self.scale.f_reciprocal()?)?
            .f_div_scalar(2f64.sqrt())?
            .f_erf()?
            .f_add_scalar(1i64)?
            .f_mul_scalar(0.5)?)
    }

    /// `loc + scale * erfinv(2 * value - 1) * sqrt(2)`; like PyTorch, `value` is not
    /// validated.
    fn icdf(&self, value: &Tensor) -> Result<Tensor> {
        let erfinv = value.f_mul_scalar(2i64)?.f_sub_scalar(1i64)?.f_erfinv()?;
        Ok(self
            .loc
            .f_add(&self.scale.f_mul(&erfinv)?.f_mul_scalar(2f64.sqrt())?)?)
    }

    /// `0.5 + 0.5 * log(2π) + log(scale)`.
    fn entropy(&self) -> Result<Tensor> {
        Ok(self
            .scale
            .f_log()?
            .f_add_scalar(0.5 + 0.5 * (2.0 * PI).ln())?)
    }

    /// `loc`.
    fn mean(&self) -> Result<Tensor> {
        Ok(self.loc.shallow_clone())
    }

    /// `loc`.
    fn mode(&self) -> Result<Tensor> {
        Ok(self.loc.shallow_clone())
    }

    /// `scale` itself (PyTorch overrides `stddev`).
    fn stddev(&self) -> Result<Tensor> {
        Ok(self.scale.shallow_clone())
    }

    /// `stddev.pow(2)`.
    fn variance(&self) -> Result<Tensor> {
        Ok(self.scale.f_pow_tensor_scalar(2i64)?)
    }

    /// Expands `loc` and `scale` to `batch_shape`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        Ok(Normal {
            loc: self.loc.f_expand(batch_shape, false)?,
            scale: self.scale.f_expand(batch_shape, false)?,
            batch_shape: batch_shape.to_vec(),
            validate_args: self.validate_args,
        })
    }
}
