//! `torch/distributions/independent.py` (PyTorch 2.13.0), op for op.

use tch::Tensor;

use super::constraints::Constraint;
use super::utils::sum_rightmost;
use super::{AnyDistribution, Distribution};
use crate::error::{Error, Result};

/// Reinterprets the rightmost `reinterpreted_batch_ndims` batch dimensions of a base
/// distribution as event dimensions: `torch.distributions.Independent`.
///
/// `log_prob` and `entropy` sum the base's over those dimensions (`_sum_rightmost`);
/// sampling, `mean`, `mode` and `variance` are the base's. `stddev` is `variance.sqrt()`
/// (PyTorch does not forward it to the base).
///
/// The base is an owned [`AnyDistribution`], not a `Box<dyn Distribution>`: `expand` must
/// rebuild the base as a concrete distribution, and `kl_divergence` must see its concrete
/// type to dispatch, both of which a closed enum gives without downcasting.
///
/// Like PyTorch, `Independent` validates nothing itself (it has no `arg_constraints` and its
/// `log_prob` does not call `_validate_sample`); the base validates with its own setting.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, Independent, Normal};
/// let normal = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
/// let diag = Independent::new(normal, 1)?;
/// assert_eq!((diag.batch_shape(), diag.event_shape()), (&[][..], &[3i64][..]));
/// assert_eq!(diag.log_prob(&Tensor::zeros([3], tch::kind::FLOAT_CPU))?.size(), Vec::<i64>::new());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Independent {
    base_dist: Box<AnyDistribution>,
    reinterpreted_batch_ndims: usize,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
    validate_args: bool,
}

impl Independent {
    /// `Independent(base_distribution, reinterpreted_batch_ndims)` with validation on.
    ///
    /// # Errors
    /// As [`Independent::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Independent, Normal};
    /// let normal = Normal::new(&Tensor::zeros([2, 3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// let d = Independent::new(normal, 2)?;
    /// assert_eq!(d.event_shape(), &[2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(
        base_distribution: impl Into<AnyDistribution>,
        reinterpreted_batch_ndims: usize,
    ) -> Result<Self> {
        Self::with_validate_args(base_distribution, reinterpreted_batch_ndims, true)
    }

    /// `Independent(base_distribution, reinterpreted_batch_ndims, validate_args=...)`.
    ///
    /// # Errors
    /// `reinterpreted_batch_ndims` greater than the base's batch rank: PyTorch's
    /// "Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), actual ..."
    /// `ValueError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Independent, Normal};
    /// let normal = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// let err = Independent::with_validate_args(normal, 2, false).unwrap_err();
    /// assert_eq!(err.to_string(), "Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), actual 2 vs 1");
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(
        base_distribution: impl Into<AnyDistribution>,
        reinterpreted_batch_ndims: usize,
        validate_args: bool,
    ) -> Result<Self> {
        let base: AnyDistribution = base_distribution.into();
        let base_batch = base.batch_shape();
        if reinterpreted_batch_ndims > base_batch.len() {
            return Err(Error::Value(format!(
                "Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), \
                 actual {reinterpreted_batch_ndims} vs {}",
                base_batch.len()
            )));
        }
        let mut shape = base_batch.to_vec();
        shape.extend_from_slice(base.event_shape());
        let event_dim = reinterpreted_batch_ndims + base.event_shape().len();
        let split = shape.len() - event_dim;
        Ok(Independent {
            batch_shape: shape[..split].to_vec(),
            event_shape: shape[split..].to_vec(),
            base_dist: Box::new(base),
            reinterpreted_batch_ndims,
            validate_args,
        })
    }

    /// The wrapped distribution (`Independent.base_dist`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{AnyDistribution, Independent, Normal};
    /// let normal = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// let d = Independent::new(normal, 1)?;
    /// assert!(matches!(d.base_dist(), AnyDistribution::Normal(_)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn base_dist(&self) -> &AnyDistribution {
        &self.base_dist
    }

    /// How many batch dimensions of the base became event dimensions
    /// (`Independent.reinterpreted_batch_ndims`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Independent, Normal};
    /// let normal = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(Independent::new(normal, 1)?.reinterpreted_batch_ndims(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reinterpreted_batch_ndims(&self) -> usize {
        self.reinterpreted_batch_ndims
    }
}

impl Distribution for Independent {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }

    fn name(&self) -> &'static str {
        "Independent"
    }

    /// `Independent(<base repr>, n)`.
    fn repr(&self) -> Result<String> {
        Ok(format!(
            "Independent({}, {})",
            self.base_dist.repr()?,
            self.reinterpreted_batch_ndims
        ))
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    /// The base's.
    fn has_rsample(&self) -> bool {
        self.base_dist.has_rsample()
    }

    /// `False` when `n > 0`, else the base's.
    fn has_enumerate_support(&self) -> bool {
        self.reinterpreted_batch_ndims == 0 && self.base_dist.has_enumerate_support()
    }

    /// The base's when `n == 0`; otherwise PyTorch's `NotImplementedError` "Enumeration over
    /// cartesian product is not implemented".
    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        if self.reinterpreted_batch_ndims > 0 {
            return Err(Error::NotImplemented(
                "Enumeration over cartesian product is not implemented".into(),
            ));
        }
        self.base_dist.enumerate_support(expand)
    }

    /// `independent(base.support, n)`, or the base's support when `n == 0`.
    fn support(&self) -> Result<Constraint> {
        let base = self.base_dist.support()?;
        if self.reinterpreted_batch_ndims > 0 {
            Ok(base.independent(self.reinterpreted_batch_ndims))
        } else {
            Ok(base)
        }
    }

    /// The base's `sample`.
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        self.base_dist.sample(sample_shape)
    }

    /// The base's `rsample`.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        self.base_dist.rsample(sample_shape)
    }

    /// `_sum_rightmost(base.log_prob(value), n)`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        sum_rightmost(
            &self.base_dist.log_prob(value)?,
            self.reinterpreted_batch_ndims,
        )
    }

    /// `_sum_rightmost(base.entropy(), n)`.
    fn entropy(&self) -> Result<Tensor> {
        sum_rightmost(&self.base_dist.entropy()?, self.reinterpreted_batch_ndims)
    }

    /// The base's.
    fn mean(&self) -> Result<Tensor> {
        self.base_dist.mean()
    }

    /// The base's.
    fn mode(&self) -> Result<Tensor> {
        self.base_dist.mode()
    }

    /// The base's.
    fn variance(&self) -> Result<Tensor> {
        self.base_dist.variance()
    }

    /// Expands the base to `batch_shape + event_shape[:n]`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        let mut base_shape = batch_shape.to_vec();
        base_shape.extend_from_slice(&self.event_shape[..self.reinterpreted_batch_ndims]);
        Ok(Independent {
            base_dist: Box::new(self.base_dist.expand(&base_shape)?),
            reinterpreted_batch_ndims: self.reinterpreted_batch_ndims,
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
            validate_args: self.validate_args,
        })
    }
}
