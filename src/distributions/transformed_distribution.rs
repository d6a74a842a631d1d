//! `torch/distributions/transformed_distribution.py` (PyTorch 2.13.0), op for op.

use tch::Tensor;

use super::constraints::Constraint;
use super::distribution::validate_sample;
use super::transforms::Transform;
use super::utils::sum_rightmost;
use super::{torch_size, AnyDistribution, Distribution, Independent};
use crate::error::{Error, Result};

/// A base distribution pushed through a list of [`Transform`]s:
/// `torch.distributions.TransformedDistribution`.
///
/// `rsample` draws from the base and applies each transform; `log_prob` inverts them (through
/// each transform's cache when it has one), subtracting each `log_abs_det_jacobian`, and adds
/// the base's `log_prob`. SAC's squashed Gaussian is
/// `TransformedDistribution::new(Normal::new(mu, sigma)?, vec![Transform::tanh().with_cache(1)?])`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, Normal, Transform, TransformedDistribution};
/// tch::manual_seed(0);
/// let base = Normal::new(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &Tensor::ones([2], tch::kind::DOUBLE_CPU))?;
/// let d = TransformedDistribution::new(base, vec![Transform::tanh().with_cache(1)?])?;
/// let a = d.rsample(&[3])?;
/// assert_eq!(a.size(), vec![3, 2]);
/// assert_eq!(d.log_prob(&a)?.size(), vec![3, 2]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TransformedDistribution {
    base_dist: Box<AnyDistribution>,
    transforms: Vec<Transform>,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
    validate_args: bool,
}

/// `ComposeTransform(parts).domain.event_dim` for parts whose domain and codomain have the
/// same event dimension: the largest.
fn compose_event_dim(transforms: &[Transform]) -> usize {
    transforms
        .iter()
        .map(Transform::event_dim)
        .max()
        .unwrap_or(0)
}

impl TransformedDistribution {
    /// `TransformedDistribution(base_distribution, transforms)` with validation on.
    ///
    /// # Errors
    /// As [`TransformedDistribution::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal, Transform, TransformedDistribution};
    /// let base = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// let log_normal = TransformedDistribution::new(base, vec![Transform::exp()])?;
    /// assert_eq!(log_normal.batch_shape(), &[3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(
        base_distribution: impl Into<AnyDistribution>,
        transforms: Vec<Transform>,
    ) -> Result<Self> {
        Self::with_validate_args(base_distribution, transforms, true)
    }

    /// `TransformedDistribution(base_distribution, transforms, validate_args=validate_args)`:
    /// the base is expanded to the shape the transforms broadcast it to, and wrapped in
    /// `Independent` when the transforms' event dimension exceeds its own.
    ///
    /// # Errors
    /// - A base of fewer dimensions than the transforms' event: PyTorch's "base_distribution
    ///   needs to have shape with size at least ..." `ValueError`.
    /// - Shapes that do not broadcast with an affine transform's parameters: PyTorch's
    ///   message.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal, Transform, TransformedDistribution};
    /// let base = Normal::new(&Tensor::zeros([], tch::kind::DOUBLE_CPU), &Tensor::ones([], tch::kind::DOUBLE_CPU))?;
    /// let affine = Transform::affine(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &Tensor::ones([2], tch::kind::DOUBLE_CPU), 1);
    /// assert!(TransformedDistribution::with_validate_args(base, vec![affine], true).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(
        base_distribution: impl Into<AnyDistribution>,
        transforms: Vec<Transform>,
        validate_args: bool,
    ) -> Result<Self> {
        let mut base: AnyDistribution = base_distribution.into();
        let mut base_shape = base.batch_shape().to_vec();
        base_shape.extend_from_slice(base.event_shape());
        let base_event_dim = base.event_shape().len();
        let domain_event_dim = compose_event_dim(&transforms);
        if base_shape.len() < domain_event_dim {
            return Err(Error::Value(format!(
                "base_distribution needs to have shape with size at least {domain_event_dim}, \
                 but got {}.",
                torch_size(&base_shape)
            )));
        }
        let mut forward_shape = base_shape.clone();
        for t in &transforms {
            forward_shape = t.forward_shape(&forward_shape)?;
        }
        let mut expanded_base_shape = forward_shape.clone();
        for t in transforms.iter().rev() {
            expanded_base_shape = t.inverse_shape(&expanded_base_shape)?;
        }
        if base_shape != expanded_base_shape {
            let cut = expanded_base_shape.len() - base_event_dim;
            base = base.expand(&expanded_base_shape[..cut])?;
        }
        if domain_event_dim > base_event_dim {
            base = Independent::new(base, domain_event_dim - base_event_dim)?.into();
        }
        // The codomain's event dimension equals the domain's for these transforms.
        let event_dim = domain_event_dim.max(base_event_dim);
        let cut = forward_shape.len() - event_dim;
        Ok(TransformedDistribution {
            base_dist: Box::new(base),
            transforms,
            batch_shape: forward_shape[..cut].to_vec(),
            event_shape: forward_shape[cut..].to_vec(),
            validate_args,
        })
    }

    /// The (possibly expanded, possibly `Independent`-wrapped) base distribution
    /// (`TransformedDistribution.base_dist`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal, Transform, TransformedDistribution};
    /// let base = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// let d = TransformedDistribution::new(base, vec![Transform::exp()])?;
    /// assert_eq!(d.base_dist().name(), "Normal");
    /// # Ok(())
    /// # }
    /// ```
    pub fn base_dist(&self) -> &AnyDistribution {
        &self.base_dist
    }

    /// The transforms, in the order they apply (`TransformedDistribution.transforms`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Normal, Transform, TransformedDistribution};
    /// let base = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// let d = TransformedDistribution::new(base, vec![Transform::exp(), Transform::sigmoid()])?;
    /// assert_eq!(d.transforms().len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn transforms(&self) -> &[Transform] {
        &self.transforms
    }

    /// `_monotonize_cdf`: `value` when every sign is the integer +1, else
    /// `sign * (value - 0.5) + 0.5`.
    fn monotonize_cdf(&self, value: Tensor) -> Result<Tensor> {
        let mut sign: Option<Tensor> = None;
        for t in &self.transforms {
            if let Some(s) = t.sign_tensor()? {
                // `sign = sign * transform.sign`: int 1 * tensor is the tensor's `__rmul__`.
                sign = Some(match sign {
                    None => s.f_mul_scalar(1i64)?,
                    Some(acc) => acc.f_mul(&s)?,
                });
            }
        }
        match sign {
            None => Ok(value),
            Some(s) => Ok(s.f_mul(&value.f_sub_scalar(0.5)?)?.f_add_scalar(0.5)?),
        }
    }
}

impl Distribution for TransformedDistribution {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }

    fn name(&self) -> &'static str {
        "TransformedDistribution"
    }

    /// `TransformedDistribution()` (its `arg_constraints` are empty).
    fn repr(&self) -> Result<String> {
        Ok(format!("{}()", self.name()))
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    /// The base's.
    fn has_rsample(&self) -> bool {
        self.base_dist.has_rsample()
    }

    /// The last transform's codomain (made `independent` over the remaining event
    /// dimensions), or the base's support without transforms.
    fn support(&self) -> Result<Constraint> {
        let Some(last) = self.transforms.last() else {
            return self.base_dist.support();
        };
        let support = last.codomain()?;
        let n = self.event_shape.len();
        if n > support.event_dim() {
            let extra = n - support.event_dim();
            return Ok(support.independent(extra));
        }
        Ok(support)
    }

    /// The base's `sample`, then each transform, under `no_grad`.
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let mut x = self.base_dist.sample(sample_shape)?;
        for t in &self.transforms {
            x = t.call(&x)?;
        }
        Ok(x)
    }

    /// The base's `rsample`, then each transform.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let mut x = self.base_dist.rsample(sample_shape)?;
        for t in &self.transforms {
            x = t.call(&x)?;
        }
        Ok(x)
    }

    /// `0.0 - Σ _sum_rightmost(log_abs_det_jacobian(x, y), ...) + _sum_rightmost(base.log_prob(x),
    /// ...)`, inverting the transforms from the last.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let event_dim = self.event_shape.len();
        // `log_prob = 0.0`, a Python float until the first tensor term.
        let mut log_prob: Option<Tensor> = None;
        let mut y = value.shallow_clone();
        for t in self.transforms.iter().rev() {
            let x = t.inv(&y)?;
            let term = sum_rightmost(&t.log_abs_det_jacobian(&x, &y)?, event_dim - t.event_dim())?;
            log_prob = Some(match log_prob {
                None => term.f_rsub_scalar(0.0)?,
                Some(lp) => lp.f_sub(&term)?,
            });
            y = x;
        }
        let base = sum_rightmost(
            &self.base_dist.log_prob(&y)?,
            event_dim - self.base_dist.event_shape().len(),
        )?;
        Ok(match log_prob {
            None => base.f_add_scalar(0.0)?,
            Some(lp) => lp.f_add(&base)?,
        })
    }

    /// Inverts the transforms, validates against the base, the base's `cdf`, then
    /// `_monotonize_cdf`.
    fn cdf(&self, value: &Tensor) -> Result<Tensor> {
        let mut value = value.shallow_clone();
        for t in self.transforms.iter().rev() {
            value = t.inv(&value)?;
        }
        if self.validate_args {
            validate_sample(self.base_dist.as_dyn(), &value)?;
        }
        let value = self.base_dist.cdf(&value)?;
        self.monotonize_cdf(value)
    }

    /// `_monotonize_cdf`, the base's `icdf`, then each transform.
    fn icdf(&self, value: &Tensor) -> Result<Tensor> {
        let value = self.monotonize_cdf(value.shallow_clone())?;
        let mut value = self.base_dist.icdf(&value)?;
        for t in &self.transforms {
            value = t.call(&value)?;
        }
        Ok(value)
    }

    /// PyTorch's base-class `NotImplementedError`, with its text (the class's repr).
    fn mode(&self) -> Result<Tensor> {
        Err(Error::NotImplemented(
            "<class 'torch.distributions.transformed_distribution.TransformedDistribution'> does \
             not implement mode"
                .into(),
        ))
    }

    /// Expands the base to the batch shape the transforms pull `batch_shape + event_shape`
    /// back to.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        let mut shape = batch_shape.to_vec();
        shape.extend_from_slice(&self.event_shape);
        for t in self.transforms.iter().rev() {
            shape = t.inverse_shape(&shape)?;
        }
        let cut = shape
            .len()
            .saturating_sub(self.base_dist.event_shape().len());
        Ok(TransformedDistribution {
            base_dist: Box::new(self.base_dist.expand(&shape[..cut])?),
            transforms: self.transforms.clone(),
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
            validate_args: self.validate_args,
        })
    }
}
