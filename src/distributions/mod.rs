//! Probability distributions mirroring `torch.distributions` (PyTorch 2.13.0).
//!
//! Each distribution follows its PyTorch file op for op, including how it draws from the global
//! generator, so that after the same `manual_seed` it produces the same bits as Python.

mod bernoulli;
mod beta;
mod categorical;
mod cauchy;
pub(crate) mod constraints;
mod dirichlet;
mod distribution;
mod exponential;
mod gamma;
mod geometric;
mod independent;
mod kl;
mod lowrank_multivariate_normal;
mod multivariate_normal;
mod normal;
mod one_hot_categorical;
mod poisson;
mod transformed_distribution;
mod transforms;
mod uniform;
mod utils;

pub use bernoulli::Bernoulli;
pub use beta::Beta;
pub use categorical::Categorical;
pub use cauchy::Cauchy;
pub use constraints::{BoundTensor, Constraint};
pub use dirichlet::Dirichlet;
pub use distribution::Distribution;
pub use exponential::Exponential;
pub use gamma::Gamma;
pub use geometric::Geometric;
pub use independent::Independent;
pub use kl::kl_divergence;
pub use lowrank_multivariate_normal::LowRankMultivariateNormal;
pub use multivariate_normal::{MultivariateNormal, MvnParam, Sampler};
pub use normal::Normal;
pub use one_hot_categorical::{OneHotCategorical, OneHotCategoricalStraightThrough};
pub use poisson::Poisson;
pub use transformed_distribution::TransformedDistribution;
pub use transforms::Transform;
pub use uniform::Uniform;

use tch::Tensor;

use crate::error::{Error, Result};

/// One of tchdist's distributions, owned: what [`Independent`] wraps and what
/// [`kl_divergence`] dispatches on (tchdist's counterpart of Python's dynamic typing; no
/// PyTorch class).
///
/// A closed enum rather than `Box<dyn Distribution>` so that `expand` can return a concrete
/// distribution and `kl_divergence` can `match` on the concrete pair, with the compiler
/// checking every pair. It implements [`Distribution`] by delegating to the variant.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{AnyDistribution, Distribution, Normal};
/// let normal = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
/// let any = AnyDistribution::from(normal);
/// assert_eq!(any.name(), "Normal");
/// assert_eq!(any.expand(&[2, 3])?.batch_shape(), &[2, 3]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyDistribution {
    /// A [`Normal`].
    Normal(Normal),
    /// A [`MultivariateNormal`].
    MultivariateNormal(MultivariateNormal),
    /// A [`LowRankMultivariateNormal`].
    LowRankMultivariateNormal(LowRankMultivariateNormal),
    /// An [`Independent`].
    Independent(Independent),
    /// A [`Bernoulli`].
    Bernoulli(Bernoulli),
    /// A [`Categorical`].
    Categorical(Categorical),
    /// A [`OneHotCategorical`].
    OneHotCategorical(OneHotCategorical),
    /// A [`OneHotCategoricalStraightThrough`].
    OneHotCategoricalStraightThrough(OneHotCategoricalStraightThrough),
    /// A [`Exponential`].
    Exponential(Exponential),
    /// A [`Cauchy`].
    Cauchy(Cauchy),
    /// A [`Geometric`].
    Geometric(Geometric),
    /// A [`Poisson`].
    Poisson(Poisson),
    /// A [`Gamma`].
    Gamma(Gamma),
    /// A [`Beta`].
    Beta(Beta),
    /// A [`Dirichlet`].
    Dirichlet(Dirichlet),
    /// A [`Uniform`].
    Uniform(Uniform),
    /// A [`TransformedDistribution`].
    TransformedDistribution(TransformedDistribution),
}

/// A borrowed [`AnyDistribution`]: what [`kl_divergence`] takes, so that callers keep their
/// distributions (no PyTorch class).
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{DistributionRef, Normal};
/// let normal = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
/// assert!(matches!(DistributionRef::from(&normal), DistributionRef::Normal(_)));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum DistributionRef<'a> {
    /// A [`Normal`].
    Normal(&'a Normal),
    /// A [`MultivariateNormal`].
    MultivariateNormal(&'a MultivariateNormal),
    /// A [`LowRankMultivariateNormal`].
    LowRankMultivariateNormal(&'a LowRankMultivariateNormal),
    /// An [`Independent`].
    Independent(&'a Independent),
    /// A [`Bernoulli`].
    Bernoulli(&'a Bernoulli),
    /// A [`Categorical`].
    Categorical(&'a Categorical),
    /// A [`OneHotCategorical`].
    OneHotCategorical(&'a OneHotCategorical),
    /// A [`OneHotCategoricalStraightThrough`].
    OneHotCategoricalStraightThrough(&'a OneHotCategoricalStraightThrough),
    /// A [`Exponential`].
    Exponential(&'a Exponential),
    /// A [`Cauchy`].
    Cauchy(&'a Cauchy),
    /// A [`Geometric`].
    Geometric(&'a Geometric),
    /// A [`Poisson`].
    Poisson(&'a Poisson),
    /// A [`Gamma`].
    Gamma(&'a Gamma),
    /// A [`Beta`].
    Beta(&'a Beta),
    /// A [`Dirichlet`].
    Dirichlet(&'a Dirichlet),
    /// A [`Uniform`].
    Uniform(&'a Uniform),
    /// A [`TransformedDistribution`].
    TransformedDistribution(&'a TransformedDistribution),
}

macro_rules! any_distribution_variants {
    ($($variant:ident),*) => {
        $(
            impl From<$variant> for AnyDistribution {
                fn from(d: $variant) -> Self {
                    AnyDistribution::$variant(d)
                }
            }

            impl<'a> From<&'a $variant> for DistributionRef<'a> {
                fn from(d: &'a $variant) -> Self {
                    DistributionRef::$variant(d)
                }
            }
        )*

        impl<'a> From<&'a AnyDistribution> for DistributionRef<'a> {
            fn from(d: &'a AnyDistribution) -> Self {
                match d {
                    $(AnyDistribution::$variant(x) => DistributionRef::$variant(x),)*
                }
            }
        }

        impl AnyDistribution {
            /// The distribution as a `&dyn Distribution`.
            ///
            /// ```
            /// # fn main() -> tchdist::Result<()> {
            /// use tch::Tensor;
            /// use tchdist::distributions::{AnyDistribution, Normal};
            /// let normal = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
            /// assert_eq!(AnyDistribution::from(normal).as_dyn().batch_shape(), &[3]);
            /// # Ok(())
            /// # }
            /// ```
            pub fn as_dyn(&self) -> &dyn Distribution {
                match self {
                    $(AnyDistribution::$variant(x) => x,)*
                }
            }
        }

        impl<'a> DistributionRef<'a> {
            /// The distribution as a `&dyn Distribution`.
            ///
            /// ```
            /// # fn main() -> tchdist::Result<()> {
            /// use tch::Tensor;
            /// use tchdist::distributions::{DistributionRef, Normal};
            /// let normal = Normal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
            /// assert_eq!(DistributionRef::from(&normal).as_dyn().name(), "Normal");
            /// # Ok(())
            /// # }
            /// ```
            pub fn as_dyn(self) -> &'a dyn Distribution {
                match self {
                    $(DistributionRef::$variant(x) => x,)*
                }
            }
        }

        impl Distribution for AnyDistribution {
            fn batch_shape(&self) -> &[i64] {
                self.as_dyn().batch_shape()
            }

            fn event_shape(&self) -> &[i64] {
                self.as_dyn().event_shape()
            }

            fn name(&self) -> &'static str {
                self.as_dyn().name()
            }

            fn repr(&self) -> Result<String> {
                self.as_dyn().repr()
            }

            fn validate_args(&self) -> bool {
                self.as_dyn().validate_args()
            }

            fn has_rsample(&self) -> bool {
                self.as_dyn().has_rsample()
            }

            fn support(&self) -> Result<Constraint> {
                self.as_dyn().support()
            }

            fn has_enumerate_support(&self) -> bool {
                self.as_dyn().has_enumerate_support()
            }

            fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
                self.as_dyn().enumerate_support(expand)
            }

            fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
                self.as_dyn().rsample(sample_shape)
            }

            fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
                self.as_dyn().sample(sample_shape)
            }

            fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
                self.as_dyn().log_prob(value)
            }

            fn cdf(&self, value: &Tensor) -> Result<Tensor> {
                self.as_dyn().cdf(value)
            }

            fn icdf(&self, value: &Tensor) -> Result<Tensor> {
                self.as_dyn().icdf(value)
            }

            fn entropy(&self) -> Result<Tensor> {
                self.as_dyn().entropy()
            }

            fn perplexity(&self) -> Result<Tensor> {
                self.as_dyn().perplexity()
            }

            fn mean(&self) -> Result<Tensor> {
                self.as_dyn().mean()
            }

            fn mode(&self) -> Result<Tensor> {
                self.as_dyn().mode()
            }

            fn variance(&self) -> Result<Tensor> {
                self.as_dyn().variance()
            }

            fn stddev(&self) -> Result<Tensor> {
                self.as_dyn().stddev()
            }

            fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
                Ok(match self {
                    $(AnyDistribution::$variant(x) => AnyDistribution::$variant(x.expand(batch_shape)?),)*
                })
            }
        }
    };
}

any_distribution_variants!(
    Normal,
    MultivariateNormal,
    LowRankMultivariateNormal,
    Independent,
    Bernoulli,
    Categorical,
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
    Exponential,
    Cauchy,
    Geometric,
    Poisson,
    Gamma,
    Beta,
    Dirichlet,
    Uniform,
    TransformedDistribution
);

/// `torch.broadcast_shapes` (`torch._refs._broadcast_shapes`), with PyTorch's error text.
pub(crate) fn broadcast_shapes(shapes: &[&[i64]]) -> Result<Vec<i64>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut common = vec![1i64; rank];
    for (arg_idx, shape) in shapes.iter().enumerate() {
        for back in 1..=shape.len() {
            let size = shape[shape.len() - back];
            let slot = &mut common[rank - back];
            if size == *slot {
                continue;
            }
            if *slot == 1 {
                if size < 0 {
                    return Err(Error::Value(
                        "Attempting to broadcast a dimension with negative length!".into(),
                    ));
                }
                *slot = size;
            }
            if size != 1 && *slot != size {
                return Err(Error::Runtime(format!(
                    "Attempting to broadcast a dimension of length {size} at -{back}! Mismatching \
                     argument at index {arg_idx} had {}; but expected shape should be \
                     broadcastable to {common:?}",
                    torch_size(shape)
                )));
            }
        }
    }
    Ok(common)
}

pub(crate) use crate::format::torch_size;

/// Python's repr of a shape tuple: `(2, 3)`, `(2,)`, `()`.
pub(crate) fn shape_tuple(shape: &[i64]) -> String {
    crate::format::py_tuple(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shapes_follows_numpy_rules() {
        assert_eq!(broadcast_shapes(&[&[3, 1], &[4]]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[&[], &[2]]).unwrap(), vec![2]);
        assert_eq!(broadcast_shapes(&[&[], &[]]).unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn broadcast_shapes_mismatch_uses_pytorch_words() {
        let err = broadcast_shapes(&[&[2], &[3]]).unwrap_err().to_string();
        assert_eq!(
            err,
            "Attempting to broadcast a dimension of length 3 at -1! Mismatching argument at \
             index 1 had torch.Size([3]); but expected shape should be broadcastable to [2]"
        );
    }

    #[test]
    fn shape_reprs_match_python() {
        assert_eq!(shape_tuple(&[2]), "(2,)");
        assert_eq!(shape_tuple(&[]), "()");
        assert_eq!(shape_tuple(&[2, 3]), "(2, 3)");
        assert_eq!(torch_size(&[]), "torch.Size([])");
        assert_eq!(torch_size(&[4, 1]), "torch.Size([4, 1])");
    }
}
