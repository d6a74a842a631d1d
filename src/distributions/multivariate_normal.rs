//! `torch/distributions/multivariate_normal.py` (PyTorch 2.13.0), op for op.

use std::cell::OnceCell;
use std::f64::consts::PI;

use tch::{Kind, Tensor};

use super::constraints::{all_true, Constraint};
use super::{broadcast_shapes, shape_tuple, torch_size, validate_sample_shape, Distribution};
use crate::error::{Error, Result};
use crate::format;

/// Which matrix parameterises a [`MultivariateNormal`]: PyTorch's "exactly one of
/// `covariance_matrix`, `precision_matrix`, `scale_tril`".
#[derive(Debug)]
pub enum MvnParam {
    /// A positive-definite covariance matrix Σ (batched: `(..., d, d)`).
    CovarianceMatrix(Tensor),
    /// A positive-definite precision matrix Σ⁻¹.
    PrecisionMatrix(Tensor),
    /// A lower-triangular L with positive diagonal, Σ = L Lᵀ.
    ScaleTril(Tensor),
}

impl MvnParam {
    fn name(&self) -> &'static str {
        match self {
            MvnParam::CovarianceMatrix(_) => "covariance_matrix",
            MvnParam::PrecisionMatrix(_) => "precision_matrix",
            MvnParam::ScaleTril(_) => "scale_tril",
        }
    }

    fn matrix(&self) -> &Tensor {
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
    scale_tril: OnceCell<Tensor>,
    covariance_matrix: OnceCell<Tensor>,
    precision_matrix: OnceCell<Tensor>,
}

impl MultivariateNormal {
    /// `MultivariateNormal(loc, covariance_matrix=cov)` with argument validation on.
    ///
    /// # Errors
    /// As [`MultivariateNormal::new`].
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
        let given = match param {
            MvnParam::CovarianceMatrix(_) => MvnParam::CovarianceMatrix(expanded),
            MvnParam::PrecisionMatrix(_) => MvnParam::PrecisionMatrix(expanded),
            MvnParam::ScaleTril(_) => MvnParam::ScaleTril(expanded),
        };
        let mut mvn = MultivariateNormal {
            loc,
            given,
            unbroadcasted_scale_tril: Tensor::new(),
            batch_shape,
            event_shape,
            validate_args,
            scale_tril: OnceCell::new(),
            covariance_matrix: OnceCell::new(),
            precision_matrix: OnceCell::new(),
        };
        if validate_args {
            mvn.validate_param("loc", &mvn.loc, Constraint::RealVector)?;
            mvn.validate_param(name, mvn.given.matrix(), mvn.given.constraint())?;
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

    /// Checks one parameter against its constraint, raising PyTorch's `ValueError` text.
    fn validate_param(&self, param: &str, value: &Tensor, constraint: Constraint) -> Result<()> {
        if all_true(&constraint.check(value)?)? {
            return Ok(());
        }
        Err(Error::Constraint {
            param: param.to_string(),
            shape: shape_tuple(&value.size()),
            distribution: self.repr()?,
            constraint: constraint.to_string(),
            values: format::display(value)?,
        })
    }

    /// `repr(dist)`: `MultivariateNormal(loc: torch.Size([2]), covariance_matrix: torch.Size([2, 2]))`,
    /// with a one-element parameter printed as its tensor, as `Distribution.__repr__` does.
    pub fn repr(&self) -> Result<String> {
        let param = |t: &Tensor| -> Result<String> {
            if t.numel() == 1 {
                format::display(t)
            } else {
                Ok(torch_size(&t.size()))
            }
        };
        Ok(format!(
            "MultivariateNormal(loc: {}, {}: {})",
            param(&self.loc)?,
            self.given.name(),
            param(self.given.matrix())?
        ))
    }

    /// The mean vector, broadcast to `batch_shape + event_shape` (`MultivariateNormal.loc`).
    pub fn loc(&self) -> &Tensor {
        &self.loc
    }

    /// Whether constructor arguments and `log_prob` values are validated (`validate_args`).
    pub fn validate_args(&self) -> bool {
        self.validate_args
    }

    /// The Cholesky factor before broadcasting (`_unbroadcasted_scale_tril`).
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
}

/// `lazy_property`: computed once, with grad enabled, so the result keeps its graph.
fn lazy(cell: &OnceCell<Tensor>, f: impl FnOnce() -> Result<Tensor>) -> Result<&Tensor> {
    if let Some(t) = cell.get() {
        return Ok(t);
    }
    let value = tch::with_grad(f)?;
    Ok(cell.get_or_init(|| value))
}

impl Distribution for MultivariateNormal {
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }

    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }

    /// `loc + _batch_mv(L, eps)` with `eps = torch.empty(shape).normal_()`.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let shape = self.extended_shape(sample_shape);
        let eps = standard_normal(&shape, self.loc.kind(), self.loc.device())?;
        Ok(self
            .loc
            .f_add(&batch_mv(&self.unbroadcasted_scale_tril, &eps)?)?)
    }

    /// `-0.5 * (k log 2π + M) - Σ log diag(L)`, M from `_batch_mahalanobis`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        if self.validate_args {
            self.validate_sample(value)?;
        }
        let diff = value.f_sub(&self.loc)?;
        let m = batch_mahalanobis(&self.unbroadcasted_scale_tril, &diff)?;
        let half_log_det = self
            .unbroadcasted_scale_tril
            .f_diagonal(0, -2, -1)?
            .f_log()?
            .f_sum_dim_intlist(&[-1i64][..], false, None::<Kind>)?;
        let k = self.event_shape[0] as f64;
        Ok(m.f_add_scalar(k * (2.0 * PI).ln())?
            .f_mul_scalar(-0.5)?
            .f_sub(&half_log_det)?)
    }
}

impl MultivariateNormal {
    /// `Distribution._validate_sample`: shapes, then the `real_vector` support.
    fn validate_sample(&self, value: &Tensor) -> Result<()> {
        validate_sample_shape(value, &self.batch_shape, &self.event_shape)?;
        if all_true(&Constraint::RealVector.check(value)?)? {
            return Ok(());
        }
        Err(Error::Support {
            shape: shape_tuple(&value.size()),
            support: Constraint::RealVector.to_string(),
            distribution: self.repr()?,
            values: format::display(value)?,
        })
    }
}

/// `_standard_normal`: `torch.empty(shape, dtype, device).normal_()`.
pub(crate) fn standard_normal(shape: &[i64], kind: Kind, device: tch::Device) -> Result<Tensor> {
    Ok(Tensor::f_empty(shape, (kind, device))?.f_normal_(0.0, 1.0)?)
}

/// `_batch_mv`: `torch.matmul(bmat, bvec.unsqueeze(-1)).squeeze(-1)`.
pub(crate) fn batch_mv(bmat: &Tensor, bvec: &Tensor) -> Result<Tensor> {
    Ok(bmat.f_matmul(&bvec.f_unsqueeze(-1)?)?.f_squeeze_dim(-1)?)
}

/// `_batch_mahalanobis(bL, bx)`: xᵀ (L Lᵀ)⁻¹ x with one triangular solve over all vectors,
/// reshaped and permuted exactly as PyTorch does so that the solve sees the same layout.
pub(crate) fn batch_mahalanobis(bl: &Tensor, bx: &Tensor) -> Result<Tensor> {
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
        bx_new_shape.push(sx / sl);
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
    let m_swap = flat_l
        .f_linalg_solve_triangular(&flat_x_swap, false, true, false)?
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
    Ok(reshaped_m.f_reshape(bx_batch_shape)?)
}

/// `_precision_to_scale_tril`: flip, Cholesky, flip, transpose, triangular solve against I.
pub(crate) fn precision_to_scale_tril(p: &Tensor) -> Result<Tensor> {
    let lf = p.f_flip([-2, -1])?.f_linalg_cholesky(false)?;
    let l_inv = lf.f_flip([-2, -1])?.f_transpose(-2, -1)?;
    let size = p.size();
    let id = Tensor::f_eye(size[size.len() - 1], (p.kind(), p.device()))?;
    Ok(l_inv.f_linalg_solve_triangular(&id, false, true, false)?)
}

impl MvnParam {
    /// A second handle to the same matrix (tch's `shallow_clone`: no copy).
    pub fn shallow_clone(&self) -> MvnParam {
        match self {
            MvnParam::CovarianceMatrix(m) => MvnParam::CovarianceMatrix(m.shallow_clone()),
            MvnParam::PrecisionMatrix(m) => MvnParam::PrecisionMatrix(m.shallow_clone()),
            MvnParam::ScaleTril(m) => MvnParam::ScaleTril(m.shallow_clone()),
        }
    }
}
