//! `torch/distributions/multivariate_normal.py` (PyTorch 2.13.0), op for op.

use std::cell::OnceCell;
use std::f64::consts::PI;

use tch::{Kind, Tensor};

use super::constraints::Constraint;
use super::distribution::{repr_params, validate_param, validate_sample};
use super::utils::{clone_cell, expand_cell, lazy, standard_normal};
use super::{broadcast_shapes, shape_tuple, torch_size, Distribution};
use crate::error::{Error, Result};

/// Which matrix parameterises a [`MultivariateNormal`]: PyTorch's "exactly one of
/// `covariance_matrix`, `precision_matrix`, `scale_tril`".
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{Distribution, MultivariateNormal, MvnParam};
/// let prec = MvnParam::PrecisionMatrix(Tensor::eye(3, tch::kind::DOUBLE_CPU));
/// let d = MultivariateNormal::new(&Tensor::zeros([3], tch::kind::DOUBLE_CPU), prec, true)?;
/// assert_eq!(d.event_shape(), &[3]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub enum MvnParam {
    /// A positive-definite covariance matrix Σ (batched: `(..., d, d)`).
    CovarianceMatrix(Tensor),
    /// A positive-definite precision matrix Σ⁻¹.
    PrecisionMatrix(Tensor),
    /// A lower-triangular L with positive diagonal, Σ = L Lᵀ.
    ScaleTril(Tensor),
}

/// A clone shares the matrix (`Tensor::shallow_clone`).
impl Clone for MvnParam {
    fn clone(&self) -> Self {
        match self {
            MvnParam::CovarianceMatrix(t) => MvnParam::CovarianceMatrix(t.shallow_clone()),
            MvnParam::PrecisionMatrix(t) => MvnParam::PrecisionMatrix(t.shallow_clone()),
            MvnParam::ScaleTril(t) => MvnParam::ScaleTril(t.shallow_clone()),
        }
    }
}

impl MvnParam {
    fn name(&self) -> &'static str {
        match self {
            MvnParam::CovarianceMatrix(_) => "covariance_matrix",
            MvnParam::PrecisionMatrix(_) => "precision_matrix",
            MvnParam::ScaleTril(_) => "scale_tril",
        }
    }

    /// The matrix, whichever parameter it is.
    pub(crate) fn matrix(&self) -> &Tensor {
        match self {
            MvnParam::CovarianceMatrix(m)
            | MvnParam::PrecisionMatrix(m)
            | MvnParam::ScaleTril(m) => m,
        }
    }

    fn constraint(&self) -> Constraint {
        match self {
            MvnParam::ScaleTril(_) => Constraint::LowerCholesky,
            _ => Constraint::PositiveDefinite,
        }
    }

    /// The same kind of parameter holding `m`.
    fn with_matrix(&self, m: Tensor) -> MvnParam {
        match self {
            MvnParam::CovarianceMatrix(_) => MvnParam::CovarianceMatrix(m),
            MvnParam::PrecisionMatrix(_) => MvnParam::PrecisionMatrix(m),
            MvnParam::ScaleTril(_) => MvnParam::ScaleTril(m),
        }
    }

    /// A second handle to the same matrix (tch's `shallow_clone`: no copy).
    ///
    /// ```
    /// use tch::Tensor;
    /// use tchdist::distributions::MvnParam;
    /// let p = MvnParam::ScaleTril(Tensor::eye(2, tch::kind::FLOAT_CPU));
    /// assert!(matches!(p.shallow_clone(), MvnParam::ScaleTril(_)));
    /// ```
    pub fn shallow_clone(&self) -> MvnParam {
        self.with_matrix(self.matrix().shallow_clone())
    }
}

/// How [`MultivariateNormal`] turns its standard-normal draws into samples.
///
/// Both draw `eps = torch.empty(shape).normal_()`, so both take the same numbers from the
/// generator and leave it in the same state; they differ in the product `L eps`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::{Kind, Tensor};
/// use tchdist::distributions::{Distribution, MultivariateNormal, Sampler};
/// let loc = Tensor::zeros([3], (Kind::Double, tch::Device::Cpu));
/// let l = Tensor::from_slice(&[1.0f64, 0.0, 0.0, 0.5, 2.0, 0.0, -1.0, 0.25, 3.0]).reshape([3, 3]);
/// let exact = MultivariateNormal::from_scale_tril(&loc, &l)?;
/// let gemm = exact.clone().with_sampler(Sampler::Gemm);
/// tch::manual_seed(7);
/// let a = exact.sample(&[1000])?;
/// tch::manual_seed(7);
/// let b = gemm.sample(&[1000])?;
/// // The same draws; the products differ at most in their last bits.
/// assert!(a.allclose(&b, 1e-14, 1e-14, false));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sampler {
    /// PyTorch's `loc + _batch_mv(L, eps)`: the samples equal Python's bit for bit after the
    /// same `manual_seed`.
    #[default]
    Exact,
    /// `loc + eps Lᵀ` with all sample vectors in one matrix product (one GEMM per batch
    /// matrix). The same distribution and the same draws, not PyTorch's bits: each sample
    /// differs from [`Sampler::Exact`]'s in its last bits (the products' sums are rounded in
    /// another order). Faster where `_batch_mv`'s one product per sample dominates the
    /// sampling (large d). Opt-in.
    Gemm,
}

impl Sampler {
    /// Every sampler, in the CLI's order.
    pub const ALL: [Sampler; 2] = [Sampler::Exact, Sampler::Gemm];

    /// The name on the command line and in the Python twin's requests.
    ///
    /// ```
    /// assert_eq!(tchdist::distributions::Sampler::Gemm.name(), "gemm");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Sampler::Exact => "exact",
            Sampler::Gemm => "gemm",
        }
    }
}

/// The multivariate normal distribution N(loc, Σ): `torch.distributions.MultivariateNormal`.
///
/// Density: log p(x) = -½ (k log 2π + (x-μ)ᵀ Σ⁻¹ (x-μ)) - log |L|, with Σ = L Lᵀ.
/// All computation goes through the Cholesky factor L, as in PyTorch; `sample`/`rsample`
/// draw `torch.empty(shape).normal_()` and return `loc + L eps`, so after the same
/// `tch::manual_seed` the samples equal Python's bit for bit.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::{Kind, Tensor};
/// use tchdist::distributions::{Distribution, MultivariateNormal};
/// tch::manual_seed(0);
/// let loc = Tensor::from_slice(&[1.0f32, 1.0]);
/// let mvn = MultivariateNormal::from_covariance(&loc, &Tensor::eye(2, (Kind::Float, tch::Device::Cpu)))?;
/// let x = mvn.sample(&[10])?;
/// assert_eq!(x.size(), vec![10, 2]);
/// assert_eq!(mvn.log_prob(&x)?.size(), vec![10]);
/// // The first standard-normal draw after manual_seed(0) is -1.1258.
/// assert!((x.double_value(&[0, 0]) - (1.0 - 1.1258)).abs() < 1e-4);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MultivariateNormal {
    loc: Tensor,
    given: MvnParam,
    unbroadcasted_scale_tril: Tensor,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
    validate_args: bool,
    sampler: Sampler,
    scale_tril: OnceCell<Tensor>,
    covariance_matrix: OnceCell<Tensor>,
    precision_matrix: OnceCell<Tensor>,
}

/// A clone shares its tensors (`Tensor::shallow_clone`) and keeps the lazy matrices already
/// computed, as reusing one distribution object does in Python.
impl Clone for MultivariateNormal {
    fn clone(&self) -> Self {
        MultivariateNormal {
            loc: self.loc.shallow_clone(),
            given: self.given.clone(),
            unbroadcasted_scale_tril: self.unbroadcasted_scale_tril.shallow_clone(),
            batch_shape: self.batch_shape.clone(),
            event_shape: self.event_shape.clone(),
            validate_args: self.validate_args,
            sampler: self.sampler,
            scale_tril: clone_cell(&self.scale_tril),
            covariance_matrix: clone_cell(&self.covariance_matrix),
            precision_matrix: clone_cell(&self.precision_matrix),
        }
    }
}

impl MultivariateNormal {
    /// `MultivariateNormal(loc, covariance_matrix=cov)` with argument validation on.
    ///
    /// # Errors
    /// As [`MultivariateNormal::new`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::MultivariateNormal;
    /// let cov = Tensor::from_slice(&[1.0f64, 2.0, 2.0, 1.0]).reshape([2, 2]); // not PD
    /// let err = MultivariateNormal::from_covariance(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &cov);
    /// assert!(err.unwrap_err().to_string().starts_with("Expected parameter covariance_matrix"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_covariance(loc: &Tensor, covariance_matrix: &Tensor) -> Result<Self> {
        Self::new(
            loc,
            MvnParam::CovarianceMatrix(covariance_matrix.shallow_clone()),
            true,
        )
    }

    /// `MultivariateNormal(loc, precision_matrix=prec)` with argument validation on.
    ///
    /// # Errors
    /// As [`MultivariateNormal::new`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::MultivariateNormal;
    /// let prec = Tensor::from_slice(&[4.0f64, 0.0, 0.0, 0.25]).reshape([2, 2]);
    /// let d = MultivariateNormal::from_precision(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &prec)?;
    /// assert_eq!(Vec::<f64>::try_from(d.covariance_matrix()?.reshape([-1]))?, vec![0.25, 0.0, 0.0, 4.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_precision(loc: &Tensor, precision_matrix: &Tensor) -> Result<Self> {
        Self::new(
            loc,
            MvnParam::PrecisionMatrix(precision_matrix.shallow_clone()),
            true,
        )
    }

    /// `MultivariateNormal(loc, scale_tril=L)` with argument validation on.
    ///
    /// # Errors
    /// As [`MultivariateNormal::new`].
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, MultivariateNormal};
    /// let l = Tensor::from_slice(&[2.0f64, 0.0, 1.0, 1.0]).reshape([2, 2]);
    /// let d = MultivariateNormal::from_scale_tril(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &l)?;
    /// assert_eq!(Vec::<f64>::try_from(d.variance()?)?, vec![4.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_scale_tril(loc: &Tensor, scale_tril: &Tensor) -> Result<Self> {
        Self::new(loc, MvnParam::ScaleTril(scale_tril.shallow_clone()), true)
    }

    /// `MultivariateNormal(loc, <param>, validate_args=validate_args)`.
    ///
    /// `loc` has shape `(..., d)`, the matrix `(..., d, d)`; their batch dimensions broadcast.
    ///
    /// # Errors
    /// - `loc` of rank 0, a matrix of rank < 2, or batch shapes that do not broadcast: PyTorch's
    ///   `ValueError`/`RuntimeError` text.
    /// - With `validate_args`, a `loc` with NaN, a matrix that is not symmetric positive-definite
    ///   (`covariance_matrix`, `precision_matrix`) or not lower-triangular with a positive
    ///   diagonal (`scale_tril`): PyTorch's "Expected parameter ... to satisfy the constraint".
    /// - A matrix whose size is not `d x d` (PyTorch accepts it and fails later, inside
    ///   `sample` or `log_prob`; tchdist refuses it here).
    /// - A Cholesky factorisation that fails: libtorch's `linalg.cholesky` message.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{Distribution, MultivariateNormal, MvnParam};
    /// let cov = MvnParam::CovarianceMatrix(Tensor::eye(2, tch::kind::FLOAT_CPU).expand([3, 2, 2], false));
    /// let d = MultivariateNormal::new(&Tensor::zeros([4, 1, 2], tch::kind::FLOAT_CPU), cov, false)?;
    /// assert_eq!(d.batch_shape(), &[4, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(loc: &Tensor, param: MvnParam, validate_args: bool) -> Result<Self> {
        if loc.dim() < 1 {
            return Err(Error::Value("loc must be at least one-dimensional.".into()));
        }
        let name = param.name();
        // PyTorch factorises the matrix as the caller passed it, before `expand`.
        let matrix = param.matrix().shallow_clone();
        if matrix.dim() < 2 {
            let what = if name == "scale_tril" {
                "scale_tril matrix"
            } else {
                name
            };
            return Err(Error::Value(format!(
                "{what} must be at least two-dimensional, with optional leading batch dimensions"
            )));
        }
        let matrix_size = matrix.size();
        let loc_size = loc.size();
        let batch_shape = broadcast_shapes(&[
            &matrix_size[..matrix_size.len() - 2],
            &loc_size[..loc_size.len() - 1],
        ])?;
        let mut matrix_expand = batch_shape.clone();
        matrix_expand.extend_from_slice(&[-1, -1]);
        let expanded = matrix.f_expand(&matrix_expand, false)?;
        let mut loc_expand = batch_shape.clone();
        loc_expand.push(-1);
        let loc = loc.f_expand(&loc_expand, false)?;
        let event_shape = vec![loc_size[loc_size.len() - 1]];
        let mut mvn = MultivariateNormal {
            loc,
            given: param.with_matrix(expanded),
            unbroadcasted_scale_tril: Tensor::new(),
            batch_shape,
            event_shape,
            validate_args,
            sampler: Sampler::Exact,
            scale_tril: OnceCell::new(),
            covariance_matrix: OnceCell::new(),
            precision_matrix: OnceCell::new(),
        };
        if validate_args {
            validate_param(&mvn, "loc", &mvn.loc, &Constraint::RealVector)?;
            validate_param(&mvn, name, mvn.given.matrix(), &mvn.given.constraint())?;
        }
        let d = mvn.event_shape[0];
        if matrix_size[matrix_size.len() - 2..] != [d, d] {
            return Err(Error::Value(format!(
                "{name} of shape {} does not match loc's event size {d}: expected (..., {d}, {d}) \
                 (PyTorch accepts this and fails later, in sample or log_prob)",
                shape_tuple(&matrix_size)
            )));
        }
        mvn.unbroadcasted_scale_tril = match &mvn.given {
            MvnParam::ScaleTril(_) => matrix,
            MvnParam::CovarianceMatrix(_) => matrix.f_linalg_cholesky(false)?,
            MvnParam::PrecisionMatrix(_) => precision_to_scale_tril(&matrix)?,
        };
        Ok(mvn)
    }

    /// The mean vector, broadcast to `batch_shape + event_shape` (`MultivariateNormal.loc`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::MultivariateNormal;
    /// let eye = Tensor::eye(2, tch::kind::FLOAT_CPU).expand([3, 2, 2], false);
    /// let d = MultivariateNormal::from_covariance(&Tensor::zeros([2], tch::kind::FLOAT_CPU), &eye)?;
    /// assert_eq!(d.loc().size(), vec![3, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn loc(&self) -> &Tensor {
        &self.loc
    }

    /// This distribution drawing its samples with `sampler` (no PyTorch counterpart: PyTorch
    /// always samples as [`Sampler::Exact`], the default). Everything but `sample`/`rsample`
    /// is unchanged; [`Distribution::expand`] and `clone` keep the sampler.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::{MultivariateNormal, Sampler};
    /// let d = MultivariateNormal::from_covariance(&Tensor::zeros([2], tch::kind::FLOAT_CPU), &Tensor::eye(2, tch::kind::FLOAT_CPU))?;
    /// assert_eq!(d.sampler(), Sampler::Exact);
    /// assert_eq!(d.with_sampler(Sampler::Gemm).sampler(), Sampler::Gemm);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// How `sample`/`rsample` form the samples ([`MultivariateNormal::with_sampler`]).
    pub fn sampler(&self) -> Sampler {
        self.sampler
    }

    /// The Cholesky factor before broadcasting (`_unbroadcasted_scale_tril`).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::MultivariateNormal;
    /// let cov = Tensor::from_slice(&[4.0f64, 0.0, 0.0, 9.0]).reshape([2, 2]);
    /// let d = MultivariateNormal::from_covariance(&Tensor::zeros([5, 2], tch::kind::DOUBLE_CPU), &cov)?;
    /// assert_eq!(d.unbroadcasted_scale_tril().size(), vec![2, 2]);
    /// assert_eq!(d.unbroadcasted_scale_tril().double_value(&[1, 1]), 3.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn unbroadcasted_scale_tril(&self) -> &Tensor {
        &self.unbroadcasted_scale_tril
    }

    fn matrix_shape(&self) -> Vec<i64> {
        let mut shape = self.batch_shape.clone();
        shape.extend_from_slice(&self.event_shape);
        shape.extend_from_slice(&self.event_shape);
        shape
    }

    /// `MultivariateNormal.scale_tril` (lazy): L expanded to `batch_shape + (d, d)`.
    ///
    /// # Errors
    /// Only if libtorch fails to expand.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::MultivariateNormal;
    /// let cov = Tensor::from_slice(&[4.0f64, 2.0, 2.0, 2.0]).reshape([2, 2]);
    /// let d = MultivariateNormal::from_covariance(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &cov)?;
    /// assert_eq!(Vec::<f64>::try_from(d.scale_tril()?.reshape([-1]))?, vec![2.0, 0.0, 1.0, 1.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn scale_tril(&self) -> Result<&Tensor> {
        if let MvnParam::ScaleTril(m) = &self.given {
            return Ok(m);
        }
        lazy(&self.scale_tril, || {
            Ok(self
                .unbroadcasted_scale_tril
                .f_expand(self.matrix_shape(), false)?)
        })
    }

    /// `MultivariateNormal.covariance_matrix` (lazy): `L @ L.mT`, expanded.
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::MultivariateNormal;
    /// let l = Tensor::from_slice(&[2.0f64, 0.0, 1.0, 1.0]).reshape([2, 2]);
    /// let d = MultivariateNormal::from_scale_tril(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &l)?;
    /// assert_eq!(Vec::<f64>::try_from(d.covariance_matrix()?.reshape([-1]))?, vec![4.0, 2.0, 2.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn covariance_matrix(&self) -> Result<&Tensor> {
        if let MvnParam::CovarianceMatrix(m) = &self.given {
            return Ok(m);
        }
        lazy(&self.covariance_matrix, || {
            let l = &self.unbroadcasted_scale_tril;
            Ok(l.f_matmul(&l.f_mt()?)?
                .f_expand(self.matrix_shape(), false)?)
        })
    }

    /// `MultivariateNormal.precision_matrix` (lazy): `cholesky_inverse(L)`, expanded.
    ///
    /// # Errors
    /// Only if libtorch fails.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::MultivariateNormal;
    /// let cov = Tensor::from_slice(&[4.0f64, 0.0, 0.0, 0.25]).reshape([2, 2]);
    /// let d = MultivariateNormal::from_covariance(&Tensor::zeros([2], tch::kind::DOUBLE_CPU), &cov)?;
    /// assert_eq!(Vec::<f64>::try_from(d.precision_matrix()?.reshape([-1]))?, vec![0.25, 0.0, 0.0, 4.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn precision_matrix(&self) -> Result<&Tensor> {
        if let MvnParam::PrecisionMatrix(m) = &self.given {
            return Ok(m);
        }
        lazy(&self.precision_matrix, || {
            Ok(self
                .unbroadcasted_scale_tril
                .f_cholesky_inverse(false)?
                .f_expand(self.matrix_shape(), false)?)
        })
    }

    /// `-0.5 * (k log 2π + M) - Σ log diag(L)`.
    fn log_prob_from_mahalanobis(&self, m: &Tensor) -> Result<Tensor> {
        let half_log_det = self.half_log_det()?;
        let k = self.event_shape[0] as f64;
        Ok(m.f_add_scalar(k * (2.0 * PI).ln())?
            .f_mul_scalar(-0.5)?
            .f_sub(&half_log_det)?)
    }

    /// [`Distribution::log_prob`] and [`MultivariateNormal::score_loc`] of the same values, with
    /// the same bits as the two calls, checking the values once. Without a batch shape the score
    /// reuses log_prob's solve `L⁻¹(x − μ)` (the same right-hand sides in the same layout): one
    /// triangular solve fewer.
    pub(crate) fn log_prob_and_score_loc(&self, value: &Tensor) -> Result<(Tensor, Tensor)> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let l = &self.unbroadcasted_scale_tril;
        let diff = value.f_sub(&self.loc)?;
        let (m, solved) = batch_mahalanobis_and_solve(l, &diff)?;
        let score = if l.dim() == 2 && self.batch_shape.is_empty() {
            // No batch: `solved` is (1, d, N), L⁻¹ of the (d, N) right-hand sides
            // `score_of_diff` forms.
            l.f_mt()?
                .f_linalg_solve_triangular(&solved.f_squeeze_dim(0)?, true, true, false)?
                .f_permute([1, 0])?
                .f_reshape(diff.size())?
        } else {
            self.score_of_diff(&diff)?
        };
        Ok((self.log_prob_from_mahalanobis(&m)?, score))
    }

    /// `log |L| = Σ log diag(L)` over the unbroadcasted factor (PyTorch's `half_log_det`).
    fn half_log_det(&self) -> Result<Tensor> {
        Ok(self
            .unbroadcasted_scale_tril
            .f_diagonal(0, -2, -1)?
            .f_log()?
            .f_sum_dim_intlist(&[-1i64][..], false, None::<Kind>)?)
    }
}

impl Distribution for MultivariateNormal {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }

    fn name(&self) -> &'static str {
        "MultivariateNormal"
    }

    /// `loc` and, in `arg_constraints` order, every matrix set on the instance: the one
    /// passed in and any lazy property already computed (they land in `__dict__`).
    fn repr(&self) -> Result<String> {
        let mut params: Vec<(&str, &Tensor)> = vec![("loc", &self.loc)];
        let cells = [
            ("covariance_matrix", &self.covariance_matrix),
            ("precision_matrix", &self.precision_matrix),
            ("scale_tril", &self.scale_tril),
        ];
        for (name, cell) in cells {
            if self.given.name() == name {
                params.push((name, self.given.matrix()));
            } else if let Some(t) = cell.get() {
                params.push((name, t));
            }
        }
        repr_params(self.name(), &params)
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

    /// `loc + _batch_mv(L, eps)` with `eps = torch.empty(shape).normal_()`; with
    /// [`Sampler::Gemm`], `loc + eps Lᵀ` in one matrix product.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let eps = standard_normal(&shape, self.loc.kind(), self.loc.device())?;
        let l = &self.unbroadcasted_scale_tril;
        let product = match self.sampler {
            Sampler::Exact => batch_mv(l, &eps)?,
            Sampler::Gemm => gemm_mv(l, &eps, &self.batch_shape)?,
        };
        Ok(self.loc.f_add(&product)?)
    }

    /// `-0.5 * (k log 2π + M) - Σ log diag(L)`, M from `_batch_mahalanobis`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        let diff = value.f_sub(&self.loc)?;
        let m = batch_mahalanobis(&self.unbroadcasted_scale_tril, &diff)?;
        self.log_prob_from_mahalanobis(&m)
    }

    /// `0.5 k (1 + log 2π) + Σ log diag(L)`, expanded to `batch_shape`.
    fn entropy(&self) -> Result<Tensor> {
        let k = self.event_shape[0] as f64;
        let h = self
            .half_log_det()?
            .f_add_scalar(0.5 * k * (1.0 + (2.0 * PI).ln()))?;
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

    /// `L.pow(2).sum(-1)`, expanded to `batch_shape + event_shape`.
    fn variance(&self) -> Result<Tensor> {
        let mut shape = self.batch_shape.clone();
        shape.extend_from_slice(&self.event_shape);
        Ok(self
            .unbroadcasted_scale_tril
            .f_pow_tensor_scalar(2i64)?
            .f_sum_dim_intlist(&[-1i64][..], false, None::<Kind>)?
            .f_expand(&shape, false)?)
    }

    /// Expands `loc` and every matrix already on the instance (given or lazily computed);
    /// shares `_unbroadcasted_scale_tril`.
    fn expand(&self, batch_shape: &[i64]) -> Result<Self> {
        let mut loc_shape = batch_shape.to_vec();
        loc_shape.extend_from_slice(&self.event_shape);
        let mut cov_shape = loc_shape.clone();
        cov_shape.extend_from_slice(&self.event_shape);
        let loc = self.loc.f_expand(&loc_shape, false)?;
        let given = self
            .given
            .with_matrix(self.given.matrix().f_expand(&cov_shape, false)?);
        let expand = |t: &Tensor| Ok(t.f_expand(&cov_shape, false)?);
        Ok(MultivariateNormal {
            loc,
            given,
            unbroadcasted_scale_tril: self.unbroadcasted_scale_tril.shallow_clone(),
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
            validate_args: self.validate_args,
            sampler: self.sampler,
            scale_tril: expand_cell(&self.scale_tril, expand)?,
            covariance_matrix: expand_cell(&self.covariance_matrix, expand)?,
            precision_matrix: expand_cell(&self.precision_matrix, expand)?,
        })
    }
}

impl MultivariateNormal {
    /// The score with respect to the mean, ∇_loc log p(value) = Σ⁻¹ (value − loc), in closed
    /// form (no PyTorch counterpart; tchdist's fast path for the Jacobian of `log_prob`).
    ///
    /// All sample vectors go through one pair of triangular solves with L and Lᵀ as matrix
    /// right-hand sides (`(..., d, N)`, BLAS-3), not one small solve per sample. The result
    /// has the shape of `value - loc`: `sample_shape + batch_shape + (d,)`.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::{Device, Kind, Tensor};
    /// use tchdist::distributions::MultivariateNormal;
    /// let loc = Tensor::zeros([2], (Kind::Double, Device::Cpu));
    /// let cov = Tensor::from_slice(&[4.0f64, 0.0, 0.0, 1.0]).reshape([2, 2]);
    /// let mvn = MultivariateNormal::from_covariance(&loc, &cov)?;
    /// let x = Tensor::from_slice(&[2.0f64, 3.0]);
    /// assert_eq!(Vec::<f64>::try_from(mvn.score_loc(&x)?)?, vec![0.5, 3.0]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// With validation on, the same value checks as [`Distribution::log_prob`].
    pub fn score_loc(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            validate_sample(self, value)?;
        }
        self.score_of_diff(&value.f_sub(&self.loc)?)
    }

    /// [`MultivariateNormal::score_loc`]'s arithmetic on `diff = value − loc`, unchecked.
    fn score_of_diff(&self, diff: &Tensor) -> Result<Tensor> {
        let shape = diff.size();
        let batch_dims = self.batch_shape.len();
        let sample_dims = shape.len() - batch_dims - 1;
        let n: i64 = shape[..sample_dims].iter().product();
        // (S..., B..., d) -> (N, B..., d) -> (B..., d, N)
        let mut flat = vec![n];
        flat.extend_from_slice(&shape[sample_dims..]);
        let mut to_rhs: Vec<i64> = (1..=batch_dims as i64 + 1).collect();
        to_rhs.push(0);
        let rhs = diff.f_reshape(&flat)?.f_permute(&to_rhs)?;
        let l = &self.unbroadcasted_scale_tril;
        let z = l.f_linalg_solve_triangular(&rhs, false, true, false)?;
        let w = l.f_mt()?.f_linalg_solve_triangular(&z, true, true, false)?;
        // (B..., d, N) -> (N, B..., d) -> (S..., B..., d)
        let mut back = vec![batch_dims as i64 + 1];
        back.extend(0..=batch_dims as i64);
        Ok(w.f_permute(&back)?.f_reshape(&shape)?)
    }
}

/// `_batch_mv`: `torch.matmul(bmat, bvec.unsqueeze(-1)).squeeze(-1)`.
///
/// On the CPU, for a 2-D column-major `bmat` (a Cholesky factor) outside autograd with at
/// least 400 entries, ATen hands every
/// vector to MKL's batched gemm, which is several times slower than the arithmetic needs (7 ms
/// of the 16 ms that drawing 4000 samples at d = 50 takes in PyTorch). The shim gets the same
/// bits from one MKL gemv per vector (`src/shim/batch_mv.cpp` says why they are the same), and
/// this falls back to `matmul` wherever that does not apply.
pub(crate) fn batch_mv(bmat: &Tensor, bvec: &Tensor) -> Result<Tensor> {
    if let Some(product) = crate::shim::batch_mv_rows(bmat, bvec)? {
        return Ok(product);
    }
    Ok(bmat.f_matmul(&bvec.f_unsqueeze(-1)?)?.f_squeeze_dim(-1)?)
}

/// [`Sampler::Gemm`]'s product `L eps` for every vector of `eps` (`sample_shape +
/// batch_shape + (d,)`): `eps Lᵀ` with the sample vectors as the rows of one matrix, one GEMM
/// for a 2-D `L`, one per batch matrix otherwise (`L` expanded to the batch shape).
fn gemm_mv(l: &Tensor, eps: &Tensor, batch_shape: &[i64]) -> Result<Tensor> {
    let shape = eps.size();
    let d = shape[shape.len() - 1];
    let b: i64 = batch_shape.iter().product();
    if eps.numel() == 0 || b == 0 {
        // Nothing to multiply (and no -1 to infer in the reshapes below).
        return batch_mv(l, eps);
    }
    if l.dim() == 2 {
        return Ok(eps
            .f_reshape([-1, d])?
            .f_matmul(&l.f_mt()?)?
            .f_reshape(&shape)?);
    }
    let mut l_shape = batch_shape.to_vec();
    l_shape.extend([d, d]);
    let l = l.f_expand(&l_shape, false)?.f_reshape([b, d, d])?;
    // (S..., B..., d) -> (N, B, d) -> (B, N, d), times (B, d, d), and back.
    let rows = eps.f_reshape([-1, b, d])?.f_transpose(0, 1)?;
    Ok(rows
        .f_matmul(&l.f_mt()?)?
        .f_transpose(0, 1)?
        .f_reshape(&shape)?)
}

/// `_batch_mahalanobis(bL, bx)`: xᵀ (L Lᵀ)⁻¹ x with one triangular solve over all vectors,
/// reshaped and permuted exactly as PyTorch does so that the solve sees the same layout.
pub(crate) fn batch_mahalanobis(bl: &Tensor, bx: &Tensor) -> Result<Tensor> {
    Ok(batch_mahalanobis_and_solve(bl, bx)?.0)
}

/// [`batch_mahalanobis`] and the triangular solve it squares, `L⁻¹ x` in its `(c, d, b)` layout.
fn batch_mahalanobis_and_solve(bl: &Tensor, bx: &Tensor) -> Result<(Tensor, Tensor)> {
    let bx_size = bx.size();
    let bl_size = bl.size();
    let n = bx_size[bx_size.len() - 1];
    let bx_batch_shape = &bx_size[..bx_size.len() - 1];
    let bx_batch_dims = bx_batch_shape.len();
    let bl_batch_dims = bl_size.len() - 2;
    let outer_batch_dims = bx_batch_dims.checked_sub(bl_batch_dims).ok_or_else(|| {
        Error::Runtime(format!(
            "_batch_mahalanobis: value batch shape {} has fewer dimensions than the scale's {}",
            torch_size(bx_batch_shape),
            torch_size(&bl_size[..bl_batch_dims])
        ))
    })?;
    let old_batch_dims = outer_batch_dims + bl_batch_dims;
    let new_batch_dims = outer_batch_dims + 2 * bl_batch_dims;

    let mut bx_new_shape = bx_size[..outer_batch_dims].to_vec();
    for (sl, sx) in bl_size[..bl_batch_dims]
        .iter()
        .zip(&bx_size[outer_batch_dims..bx_size.len() - 1])
    {
        // Python's `sx // sL` raises ZeroDivisionError for an empty batch dimension of L.
        let quotient = sx
            .checked_div(*sl)
            .ok_or_else(|| Error::Runtime("integer division or modulo by zero".into()))?;
        bx_new_shape.push(quotient);
        bx_new_shape.push(*sl);
    }
    bx_new_shape.push(n);
    let bx = bx.f_reshape(&bx_new_shape)?;

    let mut permute: Vec<i64> = (0..outer_batch_dims as i64).collect();
    permute.extend(
        (outer_batch_dims..new_batch_dims)
            .step_by(2)
            .map(|d| d as i64),
    );
    permute.extend(
        (outer_batch_dims + 1..new_batch_dims)
            .step_by(2)
            .map(|d| d as i64),
    );
    permute.push(new_batch_dims as i64);
    let bx = bx.f_permute(&permute)?;

    let flat_l = bl.f_reshape([-1, n, n])?;
    let flat_x = bx.f_reshape([-1, flat_l.size()[0], n])?;
    let flat_x_swap = flat_x.f_permute([1, 2, 0])?;
    let solved = flat_l.f_linalg_solve_triangular(&flat_x_swap, false, true, false)?;
    let m_swap =
        solved
            .f_pow_tensor_scalar(2i64)?
            .f_sum_dim_intlist(&[-2i64][..], false, None::<Kind>)?;
    let m = m_swap.f_tr()?;

    let bx_perm_size = bx.size();
    let permuted_m = m.f_reshape(&bx_perm_size[..bx_perm_size.len() - 1])?;
    let mut permute_inv: Vec<i64> = (0..outer_batch_dims as i64).collect();
    for i in 0..bl_batch_dims {
        permute_inv.push((outer_batch_dims + i) as i64);
        permute_inv.push((old_batch_dims + i) as i64);
    }
    let reshaped_m = permuted_m.f_permute(&permute_inv)?;
    Ok((reshaped_m.f_reshape(bx_batch_shape)?, solved))
}

/// `_precision_to_scale_tril`: flip, Cholesky, flip, transpose, triangular solve against I.
pub(crate) fn precision_to_scale_tril(p: &Tensor) -> Result<Tensor> {
    let lf = p.f_flip([-2, -1])?.f_linalg_cholesky(false)?;
    let l_inv = lf.f_flip([-2, -1])?.f_transpose(-2, -1)?;
    let size = p.size();
    let id = Tensor::f_eye(size[size.len() - 1], (p.kind(), p.device()))?;
    Ok(l_inv.f_linalg_solve_triangular(&id, false, true, false)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// The analytic method's shared-solve path keeps the bits of `log_prob` and `score_loc`
    /// called apart (which the parity tests compare with PyTorch and the Python closed form).
    #[test]
    fn log_prob_and_score_loc_equal_the_two_calls_bit_for_bit() {
        tch::manual_seed(7);
        let cases: [(&[i64], &[i64], &[i64]); 6] = [
            (&[], &[], &[1]),
            (&[], &[], &[13]),
            (&[], &[], &[4, 5]),
            (&[3], &[], &[6]),
            (&[], &[2], &[5]),
            (&[2, 1], &[3], &[4]),
        ];
        let mut checked = 0;
        for kind in [Kind::Float, Kind::Double] {
            for d in [1i64, 2, 7, 33, 70] {
                for (loc_batch, cov_batch, sample_shape) in cases {
                    let opts = (kind, Device::Cpu);
                    let mut loc_shape = loc_batch.to_vec();
                    loc_shape.push(d);
                    let mut a_shape = cov_batch.to_vec();
                    a_shape.extend([d, d]);
                    let loc = Tensor::randn(&loc_shape, opts);
                    let a = Tensor::randn(&a_shape, opts);
                    let cov = a.matmul(&a.mt()).g_div_scalar(d as f64) + Tensor::eye(d, opts);
                    let mvn = MultivariateNormal::new(&loc, MvnParam::CovarianceMatrix(cov), true)
                        .expect("valid parameters");
                    let x = mvn.sample(sample_shape).expect("sample");
                    let (lp, score) = mvn.log_prob_and_score_loc(&x).expect("fused");
                    let lp_alone = mvn.log_prob(&x).expect("log_prob");
                    let score_alone = mvn.score_loc(&x).expect("score");
                    assert!(
                        lp.equal(&lp_alone),
                        "log_prob {kind:?} d={d} {loc_batch:?} {cov_batch:?}"
                    );
                    assert!(
                        score.equal(&score_alone),
                        "score {kind:?} d={d} {loc_batch:?} {cov_batch:?} {sample_shape:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 60);
    }
}
