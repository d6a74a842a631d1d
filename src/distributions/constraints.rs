//! Constraints on parameters and values: `torch/distributions/constraints.py`.

use std::fmt;

use tch::{Kind, Tensor};

use crate::error::Result;

/// A region a parameter or a value must lie in, with PyTorch's `check` and `repr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// `constraints.real`: not NaN (infinities pass).
    Real,
    /// `constraints.real_vector`: `independent(real, 1)`.
    RealVector,
    /// `constraints.positive_definite`: symmetric (`isclose` with `atol=1e-6`) and Cholesky
    /// succeeds.
    PositiveDefinite,
    /// `constraints.lower_cholesky`: lower-triangular with a positive diagonal.
    LowerCholesky,
}

impl Constraint {
    /// `Constraint.check(value)`: a boolean tensor over the batch dimensions.
    ///
    /// # Errors
    /// Only when libtorch fails on the value (a wrong rank, say).
    pub fn check(&self, value: &Tensor) -> Result<Tensor> {
        match self {
            Constraint::Real => Ok(value.f_eq_tensor(value)?),
            Constraint::RealVector => {
                // _IndependentConstraint.check with reinterpreted_batch_ndims = 1.
                let result = value.f_eq_tensor(value)?;
                let mut shape = result.size();
                shape.pop();
                shape.push(-1);
                Ok(result.f_reshape(&shape)?.f_all_dim(-1, false)?)
            }
            Constraint::PositiveDefinite => {
                let size = value.size();
                let n = size.len();
                // _Square.check: a full tensor of `rows == cols` over the batch shape.
                if size[n - 2] != size[n - 1] {
                    return Ok(Tensor::f_full(
                        &size[..n - 2],
                        0,
                        (Kind::Bool, value.device()),
                    )?);
                }
                // _Symmetric.check: isclose(value, value.mT, atol=1e-6).all(-2).all(-1).
                let sym = value
                    .f_isclose(&value.f_mt()?, 1e-5, 1e-6, false)?
                    .f_all_dim(-2, false)?
                    .f_all_dim(-1, false)?;
                // `if not sym_check.all()`: Python's `bool()` is `is_nonzero`.
                if !sym.f_all()?.f_is_nonzero()? {
                    return Ok(sym);
                }
                let (_, info) = value.f_linalg_cholesky_ex(false, false)?;
                Ok(info.f_eq(0)?)
            }
            Constraint::LowerCholesky => {
                let tril = value.f_tril(0)?;
                let mut flat = value.size();
                flat.truncate(flat.len() - 2);
                flat.push(-1);
                let (lower, _) = tril
                    .f_eq_tensor(value)?
                    .f_view(&flat[..])?
                    .f_min_dim(-1, false)?;
                let (positive, _) = value.f_diagonal(0, -2, -1)?.f_gt(0)?.f_min_dim(-1, false)?;
                Ok(lower.f_logical_and(&positive)?)
            }
        }
    }

    /// The number of rightmost dimensions that make one event (`Constraint.event_dim`).
    pub fn event_dim(&self) -> usize {
        match self {
            Constraint::Real => 0,
            Constraint::RealVector => 1,
            Constraint::PositiveDefinite | Constraint::LowerCholesky => 2,
        }
    }
}

impl fmt::Display for Constraint {
    /// PyTorch's `repr(constraint)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Constraint::Real => "Real()",
            Constraint::RealVector => "IndependentConstraint(Real(), 1)",
            Constraint::PositiveDefinite => "PositiveDefinite()",
            Constraint::LowerCholesky => "LowerCholesky()",
        })
    }
}

/// `torch._is_all_true(t)` read as a Python `bool`: every element of a boolean tensor is true.
/// `_is_all_true` has a vmap rule that reduces over the batch too, so, as in PyTorch, the check
/// works on batched values inside `torch.func.vmap`, where `.all().item()` would fail.
pub(crate) fn all_true(t: &Tensor) -> Result<bool> {
    Ok(t.f_internal_is_all_true()?.f_is_nonzero()?)
}
