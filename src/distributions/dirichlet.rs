//! `torch/distributions/dirichlet.py` (PyTorch 2.13.0), op for op.

use tch::{Kind, Tensor};

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::Distribution;
use crate::error::{Error, Result};

/// The Dirichlet distribution with concentration α: `torch.distributions.Dirichlet`.
///
/// The last dimension of `concentration` is the event (`K` categories); the rest is the
/// batch. `rsample` draws with `torch._sample_dirichlet(concentration.expand(shape))`, so
/// after the same `tch::manual_seed` it gives PyTorch's bits, and its gradient is PyTorch's
/// `_Dirichlet.backward`, `_dirichlet_grad(x, α, total) * (g - (x * g).sum(-1, True))`
/// (built from differentiable ops around the sample, since tch has no custom autograd
/// functions; the forward value is the sample itself).
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Dirichlet, Distribution};
/// tch::manual_seed(0);
/// let d = Dirichlet::new(&Tensor::from_slice(&[1.0f64, 2.0, 3.0]))?;
/// let x = d.sample(&[4])?;
/// assert_eq!(x.size(), vec![4, 3]);
/// assert_eq!(d.mean()?.double_value(&[2]), 0.5);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Dirichlet {
    concentration: Tensor,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
    validate_args: bool,
}

/// A clone shares its parameter tensor (`Tensor::shallow_clone`).
impl Clone for Dirichlet {
    fn clone(&self) -> Self {
        Dirichlet {
            concentration: self.concentration.shallow_clone(),
            batch_shape: self.batch_shape.clone(),
            event_shape: self.event_shape.clone(),
            validate_args: self.validate_args,
        }
    }
}

impl Dirichlet {
    /// `Dirichlet(concentration)` with argument validation on.
    ///
    /// # Errors
    /// As [`Dirichlet::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Dirichlet, Distribution};
    /// let d = Dirichlet::new(&Tensor::ones([2, 3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!((d.batch_shape(), d.event_shape()), (&[2i64][..], &[3i64][..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(concentration: &Tensor) -> Result<Self> {
        Self::with_validate_args(concentration, true)
    }

    /// `Dirichlet(concentration, validate_args=validate_args)`.
    ///
    /// # Errors
    /// A 0-dimensional `concentration`: PyTorch's "`concentration` parameter must be at least
    /// one-dimensional." `ValueError`; with `validate_args`, an entry that is not positive:
    /// "... to satisfy the constraint IndependentConstraint(GreaterThan(lower_bound=0.0), 1)".
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Dirichlet;
    /// let c = Tensor::from_slice(&[1.0f64, 0.0]);
    /// assert!(Dirichlet::with_validate_args(&c, true).is_err());
    /// assert!(Dirichlet::with_validate_args(&c, false).is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(concentration: &Tensor, validate_args: bool) -> Result<Self> {
        if concentration.dim() < 1 {
            return Err(Error::Value(
                "`concentration` parameter must be at least one-dimensional.".into(),
            ));
        }
        let size = concentration.size();
        let split = size.len() - 1;
        let d = Dirichlet {
            concentration: concentration.shallow_clone(),
            batch_shape: size[..split].to_vec(),
            event_shape: size[split..].to_vec(),
            validate_args,
        };
        if validate_args {
            validate_param(
                &d,
                "concentration",
                &d.concentration,
                &Constraint::Positive.independent(1),
            )?;
        }
        Ok(d)
    }

    /// The concentration α (`Dirichlet.concentration`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Dirichlet;
    /// let d = Dirichlet::new(&Tensor::ones([2, 3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.concentration().size(), vec![2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn concentration(&self) -> &Tensor {
        &self.concentration
    }
}

fn sum_last(t: &Tensor, keepdim: bool) -> Result<Tensor> {
    Ok(t.f_sum_dim_intlist(&[-1i64][..], keepdim, None::<Kind>)?)
}

impl Distribution for Dirichlet {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }

    fn name(&self) -> &'static str {
        "Dirichlet"
    }

    fn repr(&self) -> Result<String> {
        repr_params(self.name(), &[("concentration", &self.concentration)])
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    fn has_rsample(&self) -> bool {
        true
    }

    /// `constraints.simplex`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::Simplex)
    }

    /// `_Dirichlet.apply(concentration.expand(shape))`: `_sample_dirichlet` forward,
    /// `_Dirichlet_backward` gradient.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let concentration = self.concentration.f_expand(&shape, false)?;
        let x = tch::no_grad(|| concentration.f_internal_sample_dirichlet())?;
        if !concentration.requires_grad() {
            return Ok(x);
        }
        // `_Dirichlet_backward`: grad = _dirichlet_grad(x, α, total), and the gradient
        // w.r.t. α is `grad * (g - (x * g).sum(-1, True))`. With G = grad (constant),
        // z = α * G and w = z - x * z.sum(-1, True), the vector-Jacobian product of w is
        // exactly that expression; `x + (w - w.detach())` has x's value and w's gradient.
        let (g, w_detached) = tch::no_grad(|| -> Result<(Tensor, Tensor)> {
            let alpha = concentration.f_detach()?;
            let total = sum_last(&alpha, true)?.f_expand_as(&alpha)?;
            let g = Tensor::f_internal_dirichlet_grad(&x, &alpha, &total)?;
            let z = alpha.f_mul(&g)?;
            let w = z.f_sub(&x.f_mul(&sum_last(&z, true)?)?)?;
            Ok((g, w))
        })?;
        let z = concentration.f_mul(&g)?;
        let w = z.f_sub(&x.f_mul(&sum_last(&z, true)?)?)?;
        Ok(x.f_add(&w.f_sub(&w_detached)?)?)
    }

    /// `xlogy(concentration - 1.0, value).sum(-1) + lgamma(concentration.sum(-1)) -
    /// lgamma(concentration).sum(-1)`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let c = &self.concentration;
        Ok(sum_last(&c.f_sub_scalar(1.0)?.f_xlogy(value)?, false)?
            .f_add(&sum_last(c, false)?.f_lgamma()?)?
            .f_sub(&sum_last(&c.f_lgamma()?, false)?)?)
    }

    /// `lgamma(α).sum(-1) - lgamma(α₀) - (k - α₀) * digamma(α₀) - ((α - 1.0) *
    /// digamma(α)).sum(-1)`.
    fn entropy(&self) -> Result<Tensor> {
        let c = &self.concentration;
        let k = c.size().last().copied().unwrap_or(0);
        let a0 = sum_last(c, false)?;
        Ok(sum_last(&c.f_lgamma()?, false)?
            .f_sub(&a0.f_lgamma()?)?
            .f_sub(&a0.f_rsub_scalar(k)?.f_mul(&a0.f_digamma()?)?)?
            .f_sub(&sum_last(
                &c.f_sub_scalar(1.0)?.f_mul(&c.f_digamma()?)?,
                false,
            )?)?)
    }

    /// `concentration / concentration.sum(-1, True)`.
    fn mean(&self) -> Result<Tensor> {
        let c = &self.concentration;
        Ok(c.f_div(&sum_last(c, true)?)?)
    }

    /// `(α - 1).clamp(min=0)` normalized, and, where every `α < 1`, the one-hot vector of its
    /// argmax.
    fn mode(&self) -> Result<Tensor> {
        let c = &self.concentration;
        let cm1 = c.f_sub_scalar(1i64)?.f_clamp_min(0.0)?;
        let mode = cm1.f_div(&sum_last(&cm1, true)?)?;
        let mask = c.f_lt(1i64)?.f_all_dim(-1, false)?;
        // Python indexes with a 0-dimensional boolean mask by adding a dimension to both.
        let (mut target, mask) = if mask.dim() == 0 {
            (mode.f_unsqueeze(0)?, mask.f_unsqueeze(0)?)
        } else {
            (mode.shallow_clone(), mask)
        };
        let k = cm1.size().last().copied().unwrap_or(0);
        let picked = target.f_index(&[Some(&mask)])?;
        let one_hot = picked
            .f_argmax(-1, false)?
            .f_one_hot(k)?
            .f_to_dtype_layout((mode.kind(), mode.device()), false, false)?;
        let _ = target.f_index_put_(&[Some(&mask)], &one_hot, false)?;
        Ok(mode)
    }

    /// `α * (α₀ - α) / (α₀.pow(2) * (α₀ + 1))` with `α₀ = α.sum(-1, True)`.
    fn variance(&self) -> Result<Tensor> {
        let c = &self.concentration;
        let con0 = sum_last(c, true)?;
        Ok(c.f_mul(&con0.f_sub(c)?)?.f_div(
            &con0
                .f_pow_tensor_scalar(2i64)?
                .f_mul(&con0.f_add_scalar(1i64)?)?,
        )?)
    }

    /// Expands `concentration` to `batch_shape + event_shape`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        let mut shape = batch_shape.to_vec();
        shape.extend_from_slice(&self.event_shape);
        Ok(Dirichlet {
            concentration: self.concentration.f_expand(&shape, false)?,
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
            validate_args: self.validate_args,
        })
    }
}
