//! `torch/distributions/lowrank_multivariate_normal.py` (PyTorch 2.13.0), op for op.

use std::cell::OnceCell;
use std::f64::consts::PI;

use tch::{Kind, Tensor};

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::multivariate_normal::{batch_mahalanobis, batch_mv};
use super::utils::{clone_cell, lazy, standard_normal};
use super::{torch_size, Distribution};
use crate::error::{Error, Result};

/// Adds 1 to the diagonal of each `n x n` matrix of the contiguous `k` in place, as PyTorch's
/// `K.view(-1, n * n)[:, :: n + 1] += 1`: Python runs `__getitem__`, `__iadd__` and then
/// `__setitem__`, which copies the updated slice onto a second view of itself; autograd
/// records both, so both are replayed here.
fn add_identity_(k: &Tensor, n: i64) -> Result<()> {
    let flat = k.f_view([-1, n * n])?;
    let mut diagonal = flat.f_slice(1, None, None, n + 1)?;
    let _ = diagonal.f_add_scalar_(1i64)?;
    let mut target = flat.f_slice(1, None, None, n + 1)?;
    target.f_copy_(&diagonal)?;
    Ok(())
}

/// `_batch_capacitance_tril(W, D)`: the Cholesky factor of `I + Wᵀ D⁻¹ W`.
fn batch_capacitance_tril(w: &Tensor, d: &Tensor) -> Result<Tensor> {
    let m = w.size().last().copied().unwrap_or(0);
    let wt_dinv = w.f_mt()?.f_div(&d.f_unsqueeze(-2)?)?;
    let k = wt_dinv.f_matmul(w)?.f_contiguous()?;
    add_identity_(&k, m)?;
    Ok(k.f_linalg_cholesky(false)?)
}

/// `_batch_lowrank_logdet(W, D, C)`: log |W Wᵀ + D| = 2 Σ log diag(C) + Σ log D (matrix
/// determinant lemma).
pub(crate) fn batch_lowrank_logdet(
    w: &Tensor,
    d: &Tensor,
    capacitance_tril: &Tensor,
) -> Result<Tensor> {
    let _ = w;
    let sum_last = |t: Tensor| t.f_sum_dim_intlist(&[-1i64][..], false, None::<Kind>);
    Ok(sum_last(capacitance_tril.f_diagonal(0, -2, -1)?.f_log()?)?
        .f_mul_scalar(2i64)?
        .f_add(&sum_last(d.f_log()?)?)?)
}

/// `_batch_lowrank_mahalanobis(W, D, x, C)`: xᵀ (W Wᵀ + D)⁻¹ x by the Woodbury identity.
pub(crate) fn batch_lowrank_mahalanobis(
    w: &Tensor,
    d: &Tensor,
    x: &Tensor,
    capacitance_tril: &Tensor,
) -> Result<Tensor> {
    let wt_dinv = w.f_mt()?.f_div(&d.f_unsqueeze(-2)?)?;
    let wt_dinv_x = batch_mv(&wt_dinv, x)?;
    let term1 = x.f_pow_tensor_scalar(2i64)?.f_div(d)?.f_sum_dim_intlist(
        &[-1i64][..],
        false,
        None::<Kind>,
    )?;
    let term2 = batch_mahalanobis(capacitance_tril, &wt_dinv_x)?;
    Ok(term1.f_sub(&term2)?)
}

/// A multivariate normal with low-rank-plus-diagonal covariance Σ = W Wᵀ + diag(D):
/// `torch.distributions.LowRankMultivariateNormal`.
///
/// `loc` is `batch_shape + (d,)`, `cov_factor` W is `batch_shape + (d, m)`, `cov_diag` D is
/// `batch_shape + (d,)`; their batch dimensions broadcast. Determinant and inverse go
/// through the `m x m` capacitance `C = I + Wᵀ D⁻¹ W` (matrix determinant lemma, Woodbury
/// identity), as in PyTorch:
///
/// log p(x) = -½ (k log 2π + log|C| + Σ log D + (x-μ)ᵀ Σ⁻¹ (x-μ)).
///
/// `rsample` draws `eps_W` (`sample_shape + batch_shape + (m,)`) then `eps_D` and returns
/// `loc + W eps_W + sqrt(D) eps_D`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, LowRankMultivariateNormal};
/// tch::manual_seed(0);
/// let loc = Tensor::zeros([3], tch::kind::DOUBLE_CPU);
/// let w = Tensor::ones([3, 1], tch::kind::DOUBLE_CPU);
/// let d = LowRankMultivariateNormal::new(&loc, &w, &Tensor::ones([3], tch::kind::DOUBLE_CPU))?;
/// let x = d.sample(&[5])?;
/// assert_eq!(x.size(), vec![5, 3]);
/// assert_eq!(d.log_prob(&x)?.size(), vec![5]);
/// assert_eq!(d.covariance_matrix()?.double_value(&[0, 0]), 2.0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LowRankMultivariateNormal {
    loc: Tensor,
    cov_factor: Tensor,
    cov_diag: Tensor,
    unbroadcasted_cov_factor: Tensor,
    unbroadcasted_cov_diag: Tensor,
    capacitance_tril: Tensor,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
    validate_args: bool,
    variance: OnceCell<Tensor>,
    scale_tril: OnceCell<Tensor>,
    covariance_matrix: OnceCell<Tensor>,
    precision_matrix: OnceCell<Tensor>,
}

/// A clone shares its tensors (`Tensor::shallow_clone`) and keeps the lazy properties already
/// computed, as reusing one distribution object does in Python.
impl Clone for LowRankMultivariateNormal {
    fn clone(&self) -> Self {
        LowRankMultivariateNormal {
            loc: self.loc.shallow_clone(),
            cov_factor: self.cov_factor.shallow_clone(),
            cov_diag: self.cov_diag.shallow_clone(),
            unbroadcasted_cov_factor: self.unbroadcasted_cov_factor.shallow_clone(),
            unbroadcasted_cov_diag: self.unbroadcasted_cov_diag.shallow_clone(),
            capacitance_tril: self.capacitance_tril.shallow_clone(),
            batch_shape: self.batch_shape.clone(),
            event_shape: self.event_shape.clone(),
            validate_args: self.validate_args,
            variance: clone_cell(&self.variance),
            scale_tril: clone_cell(&self.scale_tril),
            covariance_matrix: clone_cell(&self.covariance_matrix),
            precision_matrix: clone_cell(&self.precision_matrix),
        }
    }
}

impl LowRankMultivariateNormal {
    /// `LowRankMultivariateNormal(loc, cov_factor, cov_diag)` with argument validation on.
    ///
    /// # Errors
    /// As [`LowRankMultivariateNormal::with_validate_args`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, LowRankMultivariateNormal};
    /// let loc = Tensor::zeros([4, 3], tch::kind::FLOAT_CPU);
    /// let w = Tensor::ones([3, 2], tch::kind::FLOAT_CPU);
    /// let d = LowRankMultivariateNormal::new(&loc, &w, &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!((d.batch_shape(), d.event_shape()), (&[4i64][..], &[3i64][..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(loc: &Tensor, cov_factor: &Tensor, cov_diag: &Tensor) -> Result<Self> {
        Self::with_validate_args(loc, cov_factor, cov_diag, true)
    }

    /// `LowRankMultivariateNormal(loc, cov_factor, cov_diag, validate_args=validate_args)`.
    ///
    /// # Errors
    /// PyTorch's `ValueError` texts, in PyTorch's order: `loc` of rank 0, `cov_factor` of rank
    /// < 2 or with a row count other than `d`, `cov_diag` of last size other than `d`, batch
    /// shapes that do not broadcast ("Incompatible batch shapes: ..."); then a capacitance
    /// matrix whose Cholesky factorisation fails (libtorch's `linalg.cholesky` message, raised
    /// before validation as in PyTorch); then, with `validate_args`, PyTorch's "Expected
    /// parameter ... to satisfy the constraint" for a NaN in `loc` or `cov_factor` or a
    /// non-positive `cov_diag`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::LowRankMultivariateNormal;
    /// let loc = Tensor::zeros([3], tch::kind::FLOAT_CPU);
    /// let err = LowRankMultivariateNormal::with_validate_args(
    ///     &loc, &Tensor::ones([2, 1], tch::kind::FLOAT_CPU), &Tensor::ones([3], tch::kind::FLOAT_CPU), true);
    /// assert_eq!(err.unwrap_err().to_string(), "cov_factor must be a batch of matrices with shape 3 x m");
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_validate_args(
        loc: &Tensor,
        cov_factor: &Tensor,
        cov_diag: &Tensor,
        validate_args: bool,
    ) -> Result<Self> {
        if loc.dim() < 1 {
            return Err(Error::Value("loc must be at least one-dimensional.".into()));
        }
        let loc_size = loc.size();
        let event_shape = loc_size[loc_size.len() - 1..].to_vec();
        if cov_factor.dim() < 2 {
            return Err(Error::Value(
                "cov_factor must be at least two-dimensional, with optional leading batch \
                 dimensions"
                    .into(),
            ));
        }
        let w_size = cov_factor.size();
        if w_size[w_size.len() - 2..w_size.len() - 1] != event_shape[..] {
            return Err(Error::Value(format!(
                "cov_factor must be a batch of matrices with shape {} x m",
                event_shape[0]
            )));
        }
        let d_size = cov_diag.size();
        if d_size[d_size.len().saturating_sub(1)..] != event_shape[..] {
            return Err(Error::Value(format!(
                "cov_diag must be a batch of vectors with shape {}",
                torch_size(&event_shape)
            )));
        }
        let loc_ = loc.f_unsqueeze(-1)?;
        let cov_diag_ = cov_diag.f_unsqueeze(-1)?;
        let broadcast =
            Tensor::f_broadcast_tensors(&[&loc_, cov_factor, &cov_diag_]).map_err(|_| {
                Error::Value(format!(
                    "Incompatible batch shapes: loc {}, cov_factor {}, cov_diag {}",
                    torch_size(&loc_size),
                    torch_size(&w_size),
                    torch_size(&d_size)
                ))
            })?;
        let [loc_, w, cov_diag_]: [Tensor; 3] = broadcast.try_into().map_err(|_| {
            Error::Runtime("broadcast_tensors returned the wrong number of tensors".into())
        })?;
        // Python's `loc_[..., 0]`: a select on the last dimension.
        let loc = loc_.f_select(-1, 0)?;
        let cov_diag_b = cov_diag_.f_select(-1, 0)?;
        let loc_b_size = loc.size();
        let batch_shape = loc_b_size[..loc_b_size.len() - 1].to_vec();
        let capacitance_tril = batch_capacitance_tril(cov_factor, cov_diag)?;
        let dist = LowRankMultivariateNormal {
            loc,
            cov_factor: w,
            cov_diag: cov_diag_b,
            unbroadcasted_cov_factor: cov_factor.shallow_clone(),
            unbroadcasted_cov_diag: cov_diag.shallow_clone(),
            capacitance_tril,
            batch_shape,
            event_shape,
            validate_args,
            variance: OnceCell::new(),
            scale_tril: OnceCell::new(),
            covariance_matrix: OnceCell::new(),
            precision_matrix: OnceCell::new(),
        };
        if validate_args {
            validate_param(&dist, "loc", &dist.loc, &Constraint::RealVector)?;
            validate_param(
                &dist,
                "cov_factor",
                &dist.cov_factor,
                &Constraint::Real.independent(2),
            )?;
            validate_param(
                &dist,
                "cov_diag",
                &dist.cov_diag,
                &Constraint::Positive.independent(1),
            )?;
        }
        Ok(dist)
    }

    /// The mean, broadcast to `batch_shape + (d,)` (`LowRankMultivariateNormal.loc`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::LowRankMultivariateNormal;
    /// let w = Tensor::ones([2, 3, 1], tch::kind::FLOAT_CPU);
    /// let d = LowRankMultivariateNormal::new(&Tensor::zeros([3], tch::kind::FLOAT_CPU), &w, &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.loc().size(), vec![2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn loc(&self) -> &Tensor {
        &self.loc
    }

    /// W, broadcast to `batch_shape + (d, m)` (`LowRankMultivariateNormal.cov_factor`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::LowRankMultivariateNormal;
    /// let w = Tensor::ones([3, 2], tch::kind::FLOAT_CPU);
    /// let d = LowRankMultivariateNormal::new(&Tensor::zeros([4, 3], tch::kind::FLOAT_CPU), &w, &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.cov_factor().size(), vec![4, 3, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn cov_factor(&self) -> &Tensor {
        &self.cov_factor
    }

    /// D, broadcast to `batch_shape + (d,)` (`LowRankMultivariateNormal.cov_diag`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::LowRankMultivariateNormal;
    /// let w = Tensor::ones([3, 2], tch::kind::FLOAT_CPU);
    /// let d = LowRankMultivariateNormal::new(&Tensor::zeros([4, 3], tch::kind::FLOAT_CPU), &w, &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.cov_diag().size(), vec![4, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn cov_diag(&self) -> &Tensor {
        &self.cov_diag
    }

    /// W as passed in (`_unbroadcasted_cov_factor`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::LowRankMultivariateNormal;
    /// let w = Tensor::ones([3, 2], tch::kind::FLOAT_CPU);
    /// let d = LowRankMultivariateNormal::new(&Tensor::zeros([4, 3], tch::kind::FLOAT_CPU), &w, &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.unbroadcasted_cov_factor().size(), vec![3, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn unbroadcasted_cov_factor(&self) -> &Tensor {
        &self.unbroadcasted_cov_factor
    }

    /// D as passed in (`_unbroadcasted_cov_diag`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::LowRankMultivariateNormal;
    /// let w = Tensor::ones([3, 2], tch::kind::FLOAT_CPU);
    /// let d = LowRankMultivariateNormal::new(&Tensor::zeros([4, 3], tch::kind::FLOAT_CPU), &w, &Tensor::ones([3], tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.unbroadcasted_cov_diag().size(), vec![3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn unbroadcasted_cov_diag(&self) -> &Tensor {
        &self.unbroadcasted_cov_diag
    }

    /// The Cholesky factor of the capacitance `I + Wᵀ D⁻¹ W`, `(..., m, m)`
    /// (`_capacitance_tril`, from `_batch_capacitance_tril`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::LowRankMultivariateNormal;
    /// let w = Tensor::ones([3, 1], tch::kind::DOUBLE_CPU);
    /// let d = LowRankMultivariateNormal::new(&Tensor::zeros([3], tch::kind::DOUBLE_CPU), &w, &Tensor::ones([3], tch::kind::DOUBLE_CPU))?;
    /// // sqrt(1 + 3)
    /// assert_eq!(d.capacitance_tril().double_value(&[0, 0]), 2.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn capacitance_tril(&self) -> &Tensor {
        &self.capacitance_tril
    }

    fn matrix_shape(&self) -> Vec<i64> {
        let mut shape = self.batch_shape.clone();
        shape.extend_from_slice(&self.event_shape);
        shape.extend_from_slice(&self.event_shape);
        shape
    }

    /// `LowRankMultivariateNormal.scale_tril` (lazy): `sqrt(D) * cholesky(I + D^-½ W Wᵀ
    /// D^-½)`, expanded to `batch_shape + (d, d)`.
    ///
    /// # Errors
    /// The Cholesky factorisation's message if it fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::LowRankMultivariateNormal;
    /// let w = Tensor::zeros([2, 1], tch::kind::DOUBLE_CPU);
    /// let d = LowRankMultivariateNormal::new(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &w, &Tensor::from_slice(&[4.0f64, 9.0]))?;
    /// assert_eq!(Vec::<f64>::try_from(d.scale_tril()?.reshape([-1]))?, vec![2.0, 0.0, 0.0, 3.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn scale_tril(&self) -> Result<&Tensor> {
        lazy(&self.scale_tril, || {
            let n = self.event_shape[0];
            let cov_diag_sqrt_unsqueeze = self.unbroadcasted_cov_diag.f_sqrt()?.f_unsqueeze(-1)?;
            let dinvsqrt_w = self
                .unbroadcasted_cov_factor
                .f_div(&cov_diag_sqrt_unsqueeze)?;
            let k = dinvsqrt_w.f_matmul(&dinvsqrt_w.f_mt()?)?.f_contiguous()?;
            add_identity_(&k, n)?;
            let scale_tril = cov_diag_sqrt_unsqueeze.f_mul(&k.f_linalg_cholesky(false)?)?;
            Ok(scale_tril.f_expand(self.matrix_shape(), false)?)
        })
    }

    /// `LowRankMultivariateNormal.covariance_matrix` (lazy): `W @ W.mT + diag_embed(D)`,
    /// expanded.
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::LowRankMultivariateNormal;
    /// let w = Tensor::ones([2, 1], tch::kind::DOUBLE_CPU);
    /// let d = LowRankMultivariateNormal::new(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &w, &Tensor::ones([2], tch::kind::DOUBLE_CPU))?;
    /// assert_eq!(Vec::<f64>::try_from(d.covariance_matrix()?.reshape([-1]))?, vec![2.0, 1.0, 1.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn covariance_matrix(&self) -> Result<&Tensor> {
        lazy(&self.covariance_matrix, || {
            let w = &self.unbroadcasted_cov_factor;
            let cov = w
                .f_matmul(&w.f_mt()?)?
                .f_add(&self.unbroadcasted_cov_diag.f_diag_embed(0, -2, -1)?)?;
            Ok(cov.f_expand(self.matrix_shape(), false)?)
        })
    }

    /// `LowRankMultivariateNormal.precision_matrix` (lazy), by the Woodbury identity:
    /// `diag_embed(1/D) - AᵀA` with `A = solve_triangular(C, Wᵀ D⁻¹)`, expanded.
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::LowRankMultivariateNormal;
    /// let w = Tensor::zeros([2, 1], tch::kind::DOUBLE_CPU);
    /// let d = LowRankMultivariateNormal::new(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &w, &Tensor::from_slice(&[4.0f64, 0.5]))?;
    /// assert_eq!(Vec::<f64>::try_from(d.precision_matrix()?.reshape([-1]))?, vec![0.25, 0.0, 0.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn precision_matrix(&self) -> Result<&Tensor> {
        lazy(&self.precision_matrix, || {
            let wt_dinv = self
                .unbroadcasted_cov_factor
                .f_mt()?
                .f_div(&self.unbroadcasted_cov_diag.f_unsqueeze(-2)?)?;
            let a = self
                .capacitance_tril
                .f_linalg_solve_triangular(&wt_dinv, false, true, false)?;
            let precision = self
                .unbroadcasted_cov_diag
                .f_reciprocal()?
                .f_diag_embed(0, -2, -1)?
                .f_sub(&a.f_mt()?.f_matmul(&a)?)?;
            Ok(precision.f_expand(self.matrix_shape(), false)?)
        })
    }

    /// `_batch_lowrank_logdet` of this distribution: log |Σ| over the unbroadcasted
    /// parameters.
    fn log_det(&self) -> Result<Tensor> {
        batch_lowrank_logdet(
            &self.unbroadcasted_cov_factor,
            &self.unbroadcasted_cov_diag,
            &self.capacitance_tril,
        )
    }
}

impl Distribution for LowRankMultivariateNormal {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }

    fn name(&self) -> &'static str {
        "LowRankMultivariateNormal"
    }

    fn repr(&self) -> Result<String> {
        repr_params(
            self.name(),
            &[
                ("loc", &self.loc),
                ("cov_factor", &self.cov_factor),
                ("cov_diag", &self.cov_diag),
            ],
        )
    }

    fn validate_args(&self) -> bool {
        self.validate_args
    }

    fn has_rsample(&self) -> bool {
        true
    }

    /// `constraints.real_vector`.
    fn support(&self) -> Result<Constraint> {
        Ok(Constraint::RealVector)
    }

    /// `loc + _batch_mv(W, eps_W) + sqrt(D) * eps_D`, drawing `eps_W` first.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let mut w_shape = shape[..shape.len() - 1].to_vec();
        w_shape.push(self.cov_factor.size().last().copied().unwrap_or(0));
        let kind = self.loc.kind();
        let device = self.loc.device();
        let eps_w = standard_normal(&w_shape, kind, device)?;
        let eps_d = standard_normal(&shape, kind, device)?;
        Ok(self
            .loc
            .f_add(&batch_mv(&self.unbroadcasted_cov_factor, &eps_w)?)?
            .f_add(&self.unbroadcasted_cov_diag.f_sqrt()?.f_mul(&eps_d)?)?)
    }

    /// `-0.5 * (k log 2π + log_det + M)`, M from `_batch_lowrank_mahalanobis`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let diff = value.f_sub(&self.loc)?;
        let m = batch_lowrank_mahalanobis(
            &self.unbroadcasted_cov_factor,
            &self.unbroadcasted_cov_diag,
            &diff,
            &self.capacitance_tril,
        )?;
        let k = self.event_shape[0] as f64;
        Ok(self
            .log_det()?
            .f_add_scalar(k * (2.0 * PI).ln())?
            .f_add(&m)?
            .f_mul_scalar(-0.5)?)
    }

    /// `0.5 * (k (1 + log 2π) + log_det)`, expanded to `batch_shape`.
    fn entropy(&self) -> Result<Tensor> {
        let k = self.event_shape[0] as f64;
        let h = self
            .log_det()?
            .f_add_scalar(k * (1.0 + (2.0 * PI).ln()))?
            .f_mul_scalar(0.5)?;
        if self.batch_shape.is_empty() {
            Ok(h)
        } else {
            Ok(h.f_expand(&self.batch_shape, false)?)
        }
    }

    /// `loc`.
    fn mean(&self) -> Result<Tensor> {
        Ok(self.loc.shallow_clone())
    }

    /// `loc`.
    fn mode(&self) -> Result<Tensor> {
        Ok(self.loc.shallow_clone())
    }

    /// (lazy) `W.pow(2).sum(-1) + D`, expanded to `batch_shape + (d,)`.
    fn variance(&self) -> Result<Tensor> {
        let v = lazy(&self.variance, || {
            let mut shape = self.batch_shape.clone();
            shape.extend_from_slice(&self.event_shape);
            Ok(self
                .unbroadcasted_cov_factor
                .f_pow_tensor_scalar(2i64)?
                .f_sum_dim_intlist(&[-1i64][..], false, None::<Kind>)?
                .f_add(&self.unbroadcasted_cov_diag)?
                .f_expand(&shape, false)?)
        })?;
        Ok(v.shallow_clone())
    }

    /// Expands `loc`, `cov_diag` and `cov_factor`; shares the unbroadcasted parameters and
    /// `_capacitance_tril`; lazy properties are recomputed, as in PyTorch.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        let mut loc_shape = batch_shape.to_vec();
        loc_shape.extend_from_slice(&self.event_shape);
        let mut w_shape = loc_shape.clone();
        w_shape.push(self.cov_factor.size().last().copied().unwrap_or(0));
        Ok(LowRankMultivariateNormal {
            loc: self.loc.f_expand(&loc_shape, false)?,
            cov_diag: self.cov_diag.f_expand(&loc_shape, false)?,
            cov_factor: self.cov_factor.f_expand(&w_shape, false)?,
            unbroadcasted_cov_factor: self.unbroadcasted_cov_factor.shallow_clone(),
            unbroadcasted_cov_diag: self.unbroadcasted_cov_diag.shallow_clone(),
            capacitance_tril: self.capacitance_tril.shallow_clone(),
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
            validate_args: self.validate_args,
            variance: OnceCell::new(),
            scale_tril: OnceCell::new(),
            covariance_matrix: OnceCell::new(),
            precision_matrix: OnceCell::new(),
        })
    }
}
