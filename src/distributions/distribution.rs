//! `torch/distributions/distribution.py` (PyTorch 2.13.0): the [`Distribution`] trait and
//! `_validate_sample`.

use tch::Tensor;

use super::constraints::{all_true, Constraint};
use super::{shape_tuple, torch_size};
use crate::error::{Error, Result};
use crate::format;

/// The interface shared by all distributions: `torch.distributions.Distribution`.
///
/// Required: the shapes, [`name`](Distribution::name), [`repr`](Distribution::repr),
/// [`validate_args`](Distribution::validate_args) and [`expand`](Distribution::expand).
/// Every other member has PyTorch's base-class behaviour as its default: `stddev` is
/// `variance.sqrt()`, `perplexity` is `exp(entropy)`, `sample` is `rsample` without
/// gradients, and a member PyTorch's base class leaves abstract fails with
/// [`Error::NotImplemented`] (PyTorch's `NotImplementedError`).
///
/// The trait is dyn-compatible (`expand`, which returns `Self`, is excluded from trait
/// objects).
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, Normal};
/// tch::manual_seed(0);
/// let d = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
/// let boxed: Box<dyn Distribution> = Box::new(d);
/// assert_eq!(boxed.sample(&[2])?.size(), vec![2, 3]);
/// assert_eq!(boxed.batch_shape(), &[3]);
/// # Ok(())
/// # }
/// ```
pub trait Distribution {
    /// The shape over which parameters are batched (`Distribution.batch_shape`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([2, 3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.batch_shape(), &[2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    fn batch_shape(&self) -> &[i64];

    /// The shape of a single sample (`Distribution.event_shape`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, MultivariateNormal};
    /// let eye = Tensor::eye(4, tch::kind::FLOAT_CPU);
    /// let d = MultivariateNormal::from_covariance(&Tensor::zeros([4], tch::kind::FLOAT_CPU), &eye)?;
    /// assert_eq!(d.event_shape(), &[4]);
    /// # Ok(())
    /// # }
    /// ```
    fn event_shape(&self) -> &[i64];

    /// The class name PyTorch prints (`type(d).__name__`), e.g. `"Normal"`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([1], tch::kind::FLOAT_CPU), &Tensor::ones([1], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.name(), "Normal");
    /// # Ok(())
    /// # }
    /// ```
    fn name(&self) -> &'static str;

    /// `repr(d)`: the class name and each parameter set on the instance, as its size or, for a
    /// one-element tensor, as the tensor (`Distribution.__repr__`).
    ///
    /// # Errors
    /// Only if a parameter cannot be printed (not float32/float64).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([1], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.repr()?, "Normal(loc: torch.Size([3]), scale: torch.Size([3]))");
    /// # Ok(())
    /// # }
    /// ```
    fn repr(&self) -> Result<String>;

    /// Whether this instance validates its arguments and the values passed to `log_prob`
    /// (`Distribution._validate_args`; on by default).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let (loc, scale) = (Tensor::zeros([1], tch::kind::FLOAT_CPU), Tensor::ones([1], tch::kind::FLOAT_CPU));
    /// assert!(Normal::new(&loc, &scale)?.validate_args());
    /// assert!(!Normal::with_validate_args(&loc, &scale, false)?.validate_args());
    /// # Ok(())
    /// # }
    /// ```
    fn validate_args(&self) -> bool;

    /// Whether [`rsample`](Distribution::rsample) is implemented (`Distribution.has_rsample`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([1], tch::kind::FLOAT_CPU), &Tensor::ones([1], tch::kind::FLOAT_CPU))?;
    /// assert!(d.has_rsample());
    /// # Ok(())
    /// # }
    /// ```
    fn has_rsample(&self) -> bool {
        false
    }

    /// The set of values the distribution puts mass on (`Distribution.support`).
    ///
    /// # Errors
    /// [`Error::NotImplemented`] by default, as PyTorch's base class.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Constraint, Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([1], tch::kind::FLOAT_CPU), &Tensor::ones([1], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.support()?, Constraint::Real);
    /// # Ok(())
    /// # }
    /// ```
    fn support(&self) -> Result<Constraint> {
        Err(not_implemented(self.name(), "support"))
    }

    /// Whether [`enumerate_support`](Distribution::enumerate_support) is implemented
    /// (`Distribution.has_enumerate_support`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Bernoulli, Distribution};
    /// let d = Bernoulli::from_probs(&Tensor::from_slice(&[0.25f64]))?;
    /// assert!(d.has_enumerate_support());
    /// # Ok(())
    /// # }
    /// ```
    fn has_enumerate_support(&self) -> bool {
        false
    }

    /// All the values of a discrete distribution's support, along a new leftmost dimension,
    /// expanded over `batch_shape` when `expand` (`Distribution.enumerate_support`).
    ///
    /// # Errors
    /// [`Error::NotImplemented`] by default, as PyTorch's base class.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Bernoulli, Distribution};
    /// let d = Bernoulli::from_probs(&Tensor::from_slice(&[0.25f64, 0.5, 0.75]))?;
    /// assert_eq!(d.enumerate_support(true)?.size(), vec![2, 3]);
    /// assert_eq!(d.enumerate_support(false)?.size(), vec![2, 1]);
    /// # Ok(())
    /// # }
    /// ```
    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        let _ = expand;
        Err(not_implemented(self.name(), "enumerate_support"))
    }

    /// A reparameterized sample of shape `sample_shape + batch_shape + event_shape`
    /// (`Distribution.rsample`): gradients flow back to the parameters.
    ///
    /// # Errors
    /// [`Error::NotImplemented`] by default; otherwise when libtorch rejects the shapes or the
    /// parameters.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// tch::manual_seed(0);
    /// let scale = Tensor::ones([3], tch::kind::FLOAT_CPU).set_requires_grad(true);
    /// let d = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &scale)?;
    /// let x = d.rsample(&[2])?;
    /// assert_eq!(x.size(), vec![2, 3]);
    /// assert!(x.requires_grad());
    /// # Ok(())
    /// # }
    /// ```
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let _ = sample_shape;
        Err(not_implemented(self.name(), "rsample"))
    }

    /// A sample with gradients disabled (`Distribution.sample`: `rsample` under
    /// `torch.no_grad()`, unless the distribution overrides it).
    ///
    /// # Errors
    /// As [`Distribution::rsample`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, MultivariateNormal};
    /// tch::manual_seed(0);
    /// let eye = Tensor::eye(2, tch::kind::FLOAT_CPU);
    /// let d = MultivariateNormal::from_covariance(&Tensor::zeros([2], tch::kind::FLOAT_CPU), &eye)?;
    /// let x = d.sample(&[4, 5])?;
    /// assert_eq!(x.size(), vec![4, 5, 2]);
    /// # Ok(())
    /// # }
    /// ```
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        self.rsample(sample_shape)
    }

    /// The log of the density at `value` (`Distribution.log_prob`); `value` broadcasts
    /// against `batch_shape + event_shape`.
    ///
    /// # Errors
    /// [`Error::NotImplemented`] by default. With validation on, a value whose shape does not
    /// broadcast against `batch_shape + event_shape`, or that lies outside the support, is
    /// rejected with PyTorch's message.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([3], tch::kind::DOUBLE_CPU), &Tensor::ones([3], tch::kind::DOUBLE_CPU))?;
    /// let lp = d.log_prob(&Tensor::zeros([5, 1], tch::kind::DOUBLE_CPU))?;
    /// assert_eq!(lp.size(), vec![5, 3]);
    /// assert!((lp.double_value(&[0, 0]) + 0.9189385332046727).abs() < 1e-15);
    /// # Ok(())
    /// # }
    /// ```
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let _ = value;
        Err(not_implemented(self.name(), "log_prob"))
    }

    /// The cumulative distribution function at `value` (`Distribution.cdf`).
    ///
    /// # Errors
    /// [`Error::NotImplemented`] by default (PyTorch's bare `NotImplementedError`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([1], tch::kind::DOUBLE_CPU), &Tensor::ones([1], tch::kind::DOUBLE_CPU))?;
    /// assert_eq!(d.cdf(&Tensor::zeros([1], tch::kind::DOUBLE_CPU))?.double_value(&[0]), 0.5);
    /// # Ok(())
    /// # }
    /// ```
    fn cdf(&self, value: &Tensor) -> Result<Tensor> {
        let _ = value;
        Err(not_implemented(self.name(), "cdf"))
    }

    /// The inverse cumulative distribution function at `value` (`Distribution.icdf`).
    ///
    /// # Errors
    /// [`Error::NotImplemented`] by default (PyTorch's bare `NotImplementedError`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, MultivariateNormal};
    /// let eye = Tensor::eye(2, tch::kind::FLOAT_CPU);
    /// let d = MultivariateNormal::from_covariance(&Tensor::zeros([2], tch::kind::FLOAT_CPU), &eye)?;
    /// assert!(matches!(d.icdf(&eye), Err(tchdist::Error::NotImplemented(_))));
    /// # Ok(())
    /// # }
    /// ```
    fn icdf(&self, value: &Tensor) -> Result<Tensor> {
        let _ = value;
        Err(not_implemented(self.name(), "icdf"))
    }

    /// The entropy, batched over `batch_shape` (`Distribution.entropy`).
    ///
    /// # Errors
    /// [`Error::NotImplemented`] by default.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &Tensor::ones([2], tch::kind::DOUBLE_CPU))?;
    /// let h = d.entropy()?;
    /// assert!((h.double_value(&[0]) - 1.4189385332046727).abs() < 1e-15);
    /// # Ok(())
    /// # }
    /// ```
    fn entropy(&self) -> Result<Tensor> {
        Err(not_implemented(self.name(), "entropy"))
    }

    /// `exp(entropy)` (`Distribution.perplexity`).
    ///
    /// # Errors
    /// As [`Distribution::entropy`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &Tensor::ones([2], tch::kind::DOUBLE_CPU))?;
    /// assert_eq!(d.perplexity()?.double_value(&[1]), d.entropy()?.exp().double_value(&[1]));
    /// # Ok(())
    /// # }
    /// ```
    fn perplexity(&self) -> Result<Tensor> {
        Ok(self.entropy()?.f_exp()?)
    }

    /// The mean (`Distribution.mean`).
    ///
    /// # Errors
    /// [`Error::NotImplemented`] by default.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::from_slice(&[1.5f64]), &Tensor::from_slice(&[2.0f64]))?;
    /// assert_eq!(d.mean()?.double_value(&[0]), 1.5);
    /// # Ok(())
    /// # }
    /// ```
    fn mean(&self) -> Result<Tensor> {
        Err(not_implemented(self.name(), "mean"))
    }

    /// The mode (`Distribution.mode`).
    ///
    /// # Errors
    /// By default PyTorch's "... does not implement mode" `NotImplementedError`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::from_slice(&[1.5f64]), &Tensor::from_slice(&[2.0f64]))?;
    /// assert_eq!(d.mode()?.double_value(&[0]), 1.5);
    /// # Ok(())
    /// # }
    /// ```
    fn mode(&self) -> Result<Tensor> {
        Err(Error::NotImplemented(format!(
            "{} does not implement mode",
            self.name()
        )))
    }

    /// The variance (`Distribution.variance`).
    ///
    /// # Errors
    /// [`Error::NotImplemented`] by default.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::from_slice(&[1.5f64]), &Tensor::from_slice(&[2.0f64]))?;
    /// assert_eq!(d.variance()?.double_value(&[0]), 4.0);
    /// # Ok(())
    /// # }
    /// ```
    fn variance(&self) -> Result<Tensor> {
        Err(not_implemented(self.name(), "variance"))
    }

    /// The standard deviation, `variance.sqrt()` unless overridden (`Distribution.stddev`).
    ///
    /// # Errors
    /// As [`Distribution::variance`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, MultivariateNormal};
    /// let cov = Tensor::from_slice(&[4.0f64, 0.0, 0.0, 9.0]).reshape([2, 2]);
    /// let d = MultivariateNormal::from_covariance(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &cov)?;
    /// assert_eq!(Vec::<f64>::try_from(d.stddev()?)?, vec![2.0, 3.0]);
    /// # Ok(())
    /// # }
    /// ```
    fn stddev(&self) -> Result<Tensor> {
        Ok(self.variance()?.f_sqrt()?)
    }

    /// A new distribution with the batch dimensions expanded to `batch_shape`, sharing the
    /// parameters' memory and skipping validation (`Distribution.expand`).
    ///
    /// # Errors
    /// libtorch's `expand` message when `batch_shape` is not an expansion of the current one.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, Normal};
    /// let d = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// let e = d.expand(&[2, 3])?;
    /// assert_eq!(e.batch_shape(), &[2, 3]);
    /// assert!(d.expand(&[2]).is_err());
    /// # Ok(())
    /// # }
    /// ```
    fn expand(&self, batch_shape: &[i64]) -> Result<Self>
    where
        Self: Sized;

    /// `sample_shape + batch_shape + event_shape` (`Distribution._extended_shape`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, MultivariateNormal};
    /// let eye = Tensor::eye(2, tch::kind::FLOAT_CPU);
    /// let d = MultivariateNormal::from_covariance(&Tensor::zeros([3, 2], tch::kind::FLOAT_CPU), &eye)?;
    /// assert_eq!(d.extended_shape(&[5]), vec![5, 3, 2]);
    /// # Ok(())
    /// # }
    /// ```
    fn extended_shape(&self, sample_shape: &[i64]) -> Vec<i64> {
        let mut shape = sample_shape.to_vec();
        shape.extend_from_slice(self.batch_shape());
        shape.extend_from_slice(self.event_shape());
        shape
    }
}

/// The error for a member PyTorch's base class leaves abstract (a bare `NotImplementedError`,
/// whose Python text is empty; tchdist names the class and the member).
pub(crate) fn not_implemented(class: &str, member: &str) -> Error {
    Error::NotImplemented(format!("{class} does not implement {member}"))
}

/// `Distribution._validate_sample`: the shape checks, then the support check, with PyTorch's
/// messages.
pub(crate) fn validate_sample<D: Distribution + ?Sized>(dist: &D, value: &Tensor) -> Result<()> {
    validate_sample_shape(value, dist.batch_shape(), dist.event_shape())?;
    let support = dist.support()?;
    if all_true(&support.check(value)?)? {
        return Ok(());
    }
    Err(Error::Support {
        shape: shape_tuple(&value.size()),
        support: support.to_string(),
        distribution: dist.repr()?,
        values: format::format_value(value)?,
    })
}

/// `Distribution._validate_sample`'s shape checks, with PyTorch's messages.
pub(crate) fn validate_sample_shape(
    value: &Tensor,
    batch_shape: &[i64],
    event_shape: &[i64],
) -> Result<()> {
    let actual = value.size();
    let event_start = actual.len().checked_sub(event_shape.len());
    if event_start.map(|start| &actual[start..]) != Some(event_shape) {
        return Err(Error::Value(format!(
            "The right-most size of value must match event_shape: {} vs {}.",
            torch_size(&actual),
            torch_size(event_shape)
        )));
    }
    let mut expected = batch_shape.to_vec();
    expected.extend_from_slice(event_shape);
    for (i, j) in actual.iter().rev().zip(expected.iter().rev()) {
        if *i != 1 && *j != 1 && i != j {
            return Err(Error::Value(format!(
                "Value is not broadcastable with batch_shape+event_shape: {} vs {}.",
                torch_size(&actual),
                torch_size(&expected)
            )));
        }
    }
    Ok(())
}

/// `Distribution.__init__`'s check of one parameter against its constraint, raising PyTorch's
/// "Expected parameter ..." `ValueError`.
pub(crate) fn validate_param<D: Distribution + ?Sized>(
    dist: &D,
    param: &str,
    value: &Tensor,
    constraint: &Constraint,
) -> Result<()> {
    if all_true(&constraint.check(value)?)? {
        return Ok(());
    }
    Err(Error::Constraint {
        param: param.to_string(),
        shape: shape_tuple(&value.size()),
        distribution: dist.repr()?,
        constraint: constraint.to_string(),
        values: format::format_value(value)?,
    })
}

/// `Distribution.__repr__` for the given `(name, tensor)` parameters, in `arg_constraints`
/// order: the tensor itself when it has one element, else its `torch.Size`.
pub(crate) fn repr_params(class: &str, params: &[(&str, &Tensor)]) -> Result<String> {
    let mut parts = Vec::with_capacity(params.len());
    for (name, t) in params {
        let shown = if t.numel() == 1 {
            format::format_value(t)?
        } else {
            torch_size(&t.size())
        };
        parts.push(format!("{name}: {shown}"));
    }
    Ok(format!("{class}({})", parts.join(", ")))
}
