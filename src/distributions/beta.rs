//! `torch/distributions/beta.py` (PyTorch 2.13.0), op for op.

use tch::Tensor;

use super::constraints::Constraint;
use super::dirichlet::Dirichlet;
use super::distribution::{validate_param, validate_sample};
use super::utils::broadcast_pair;
use super::Distribution;
use crate::error::Result;

/// The beta distribution with concentrations α (`concentration1`) and β
/// (`concentration0`): `torch.distributions.Beta`.
///
/// As in PyTorch, a [`Dirichlet`] over `stack([concentration1, concentration0], -1)`:
/// `rsample` is the Dirichlet's `rsample(...).select(-1, 0)`, so after the same
/// `tch::manual_seed` it gives PyTorch's bits and gradients.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Beta, Distribution};
/// tch::manual_seed(0);
/// let d = Beta::new(&Tensor::from_slice(&[2.0f64]), &Tensor::from_slice(&[2.0f64]))?;
/// assert_eq!(d.rsample(&[3])?.size(), vec![3, 1]);
/// assert_eq!(d.mean()?.double_value(&[0]), 0.5);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Beta {
    dirichlet: Dirichlet,
    batch_shape: Vec<i64>,
    validate_args: bool,
}

impl Beta {
    /// `Beta(concentration1, concentration0)` with argument validation on.
    ///
    /// # Errors
    /// As [`Beta::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Beta, Distribution};
    /// let d = Beta::new(&Tensor::ones([2, 1], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.batch_shape(), &[2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(concentration1: &Tensor, concentration0: &Tensor) -> Result<Self> {
        Self::with_validate_args(concentration1, concentration0, true)
    }

    /// `Beta(concentration1, concentration0, validate_args=validate_args)`.
    ///
    /// # Errors
    /// Shapes that do not broadcast (libtorch's message); with `validate_args`, a
    /// concentration that is not positive: the inner Dirichlet's "Expected parameter
    /// concentration ..." `ValueError`, as in PyTorch.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Beta;
    /// let (a, b) = (Tensor::from_slice(&[0.0f64]), Tensor::from_slice(&[1.0f64]));
    /// assert!(Beta::with_validate_args(&a, &b, true).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(
        concentration1: &Tensor,
        concentration0: &Tensor,
        validate_args: bool,
    ) -> Result<Self> {
        let (c1, c0) = broadcast_pair(concentration1, concentration0)?;
        let stacked = Tensor::f_stack(&[c1, c0], -1)?;
        let dirichlet = Dirichlet::with_validate_args(&stacked, validate_args)?;
        let d = Beta {
            batch_shape: dirichlet.batch_shape().to_vec(),
            dirichlet,
            validate_args,
        };
        if validate_args {
            validate_param(
                &d,
                "concentration1",
                &d.concentration1()?,
                &Constraint::Positive,
            )?;
            validate_param(
                &d,
                "concentration0",
                &d.concentration0()?,
                &Constraint::Positive,
            )?;
        }
        Ok(d)
    }

    /// α: `_dirichlet.concentration[..., 0]` (`Beta.concentration1`).
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Beta;
    /// let d = Beta::new(&Tensor::from_slice(&[2.0f64]), &Tensor::from_slice(&[3.0f64]))?;
    /// assert_eq!(d.concentration1()?.double_value(&[0]), 2.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn concentration1(&self) -> Result<Tensor> {
        Ok(self.dirichlet.concentration().f_select(-1, 0)?)
    }

    /// β: `_dirichlet.concentration[..., 1]` (`Beta.concentration0`).
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Beta;
    /// let d = Beta::new(&Tensor::from_slice(&[2.0f64]), &Tensor::from_slice(&[3.0f64]))?;
    /// assert_eq!(d.concentration0()?.double_value(&[0]), 3.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn concentration0(&self) -> Result<Tensor> {
        Ok(self.dirichlet.concentration().f_select(-1, 1)?)
    }

    /// The inner [`Dirichlet`] (`Beta._dirichlet`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Beta, Distribution};
    /// let d = Beta::new(&Tensor::from_slice(&[2.0f64]), &Tensor::from_slice(&[3.0f64]))?;
    /// assert_eq!(d.dirichlet().event_shape(), &[2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn dirichlet(&self) -> &Dirichlet {
        &self.dirichlet
    }
}

impl Distribution for Beta {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &[]
    }

    fn name(&self) -> &'static str {
        "Beta"
    }

    /// `Beta()`: the concentrations are properties, not set on the instance, so PyTorch's
    /// `__repr__` finds none.
    fn repr(&self) -> Result<String> {
        Ok(format!("{}()", self.name()))
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    fn has_rsample(&self) -> bool {
        true
    }

    /// `constraints.unit_interval`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::UnitInterval)
    }

    /// `_dirichlet.rsample(sample_shape).select(-1, 0)`.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        Ok(self.dirichlet.rsample(sample_shape)?.f_select(-1, 0)?)
    }

    /// `_dirichlet.log_prob(stack([value, 1.0 - value], -1))`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let heads_tails = Tensor::f_stack(&[value.shallow_clone(), value.f_rsub_scalar(1.0)?], -1)?;
        self.dirichlet.log_prob(&heads_tails)
    }

    /// The inner Dirichlet's entropy.
    fn entropy(&self) -> Result<Tensor> {
        self.dirichlet.entropy()
    }

    /// `concentration1 / (concentration1 + concentration0)`.
    fn mean(&self) -> Result<Tensor> {
        let c1 = self.concentration1()?;
        Ok(c1.f_div(&c1.f_add(&self.concentration0()?)?)?)
    }

    /// `_dirichlet.mode[..., 0]`.
    fn mode(&self) -> Result<Tensor> {
        Ok(self.dirichlet.mode()?.f_select(-1, 0)?)
    }

    /// `c1 * c0 / (total.pow(2) * (total + 1))` with `total = c1 + c0`.
    fn variance(&self) -> Result<Tensor> {
        let (c1, c0) = (self.concentration1()?, self.concentration0()?);
        let total = c1.f_add(&c0)?;
        Ok(c1.f_mul(&c0)?.f_div(
            &total
                .f_pow_tensor_scalar(2i64)?
                .f_mul(&total.f_add_scalar(1i64)?)?,
        )?)
    }

    /// Expands the inner Dirichlet.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        Ok(Beta {
            dirichlet: self.dirichlet.expand(batch_shape)?,
            batch_shape: batch_shape.to_vec(),
            validate_args: self.validate_args,
        })
    }
}
