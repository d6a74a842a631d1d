//! Constraints on parameters and values: `torch/distributions/constraints.py`.

use std::fmt;

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// A region a parameter or a value must lie in, with PyTorch's `check` and `repr`.
///
/// PyTorch counterpart: the `torch.distributions.constraints` objects the distributions in
/// this crate use.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::Constraint;
/// let c = Constraint::Independent(Box::new(Constraint::Positive), 1);
/// assert_eq!(c.to_string(), "IndependentConstraint(GreaterThan(lower_bound=0.0), 1)");
/// let ok = c.check(&Tensor::from_slice(&[1.0f64, -1.0, 2.0, 3.0]).reshape([2, 2]))?;
/// assert_eq!(Vec::<bool>::try_from(ok)?, vec![false, true]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Constraint {
    /// `constraints.real`: not NaN (infinities pass).
    Real,
    /// `constraints.real_vector`: `independent(real, 1)`; behaves and prints exactly as
    /// `Constraint::Independent(Box::new(Constraint::Real), 1)`.
    RealVector,
    /// `constraints.positive`: `GreaterThan(lower_bound=0.0)`, `0.0 < value`.
    Positive,
    /// `constraints.positive_definite`: symmetric (`isclose` with `atol=1e-6`) and Cholesky
    /// succeeds.
    PositiveDefinite,
    /// `constraints.lower_cholesky`: lower-triangular with a positive diagonal.
    LowerCholesky,
    /// `constraints.independent(base, reinterpreted_batch_ndims)`: the base constraint, with
    /// that many more rightmost dimensions making one event (all must hold).
    Independent(Box<Constraint>, usize),
    /// `constraints.boolean`: `(value == 0) | (value == 1)`; discrete.
    Boolean,
    /// `constraints.unit_interval`: `Interval(lower_bound=0.0, upper_bound=1.0)`,
    /// `(0.0 <= value) & (value <= 1.0)`.
    UnitInterval,
    /// `constraints.simplex`: `all(value >= 0, dim=-1) & ((value.sum(-1) - 1).abs() < 1e-6)`;
    /// event_dim 1.
    Simplex,
    /// `constraints.integer_interval(lower_bound, upper_bound)`:
    /// `(value % 1 == 0) & (lower_bound <= value) & (value <= upper_bound)`; discrete.
    IntegerInterval(i64, i64),
    /// `constraints.nonnegative`: `GreaterThanEq(lower_bound=0.0)`, `0.0 <= value`.
    Nonnegative,
    /// `constraints.nonnegative_integer`: `IntegerGreaterThan(lower_bound=0)`,
    /// `(value % 1 == 0) & (value >= 0)`; discrete.
    NonnegativeInteger,
    /// `constraints.less_than(upper_bound)` with a tensor bound: `value < upper_bound`.
    LessThan(BoundTensor),
    /// `constraints.greater_than(lower_bound)` with a tensor bound: `lower_bound < value`.
    GreaterThan(BoundTensor),
    /// `constraints.interval(lower_bound, upper_bound)` with tensor bounds:
    /// `(lower_bound <= value) & (value <= upper_bound)`.
    Interval(BoundTensor, BoundTensor),
    /// `constraints.one_hot`: every entry 0 or 1 along the last dimension and the entries
    /// summing to 1; discrete, event_dim 1.
    OneHot,
}

impl Constraint {
    /// `Constraint.is_discrete`: whether the constrained space is discrete (`Boolean`,
    /// `IntegerInterval` and `OneHot` are).
    ///
    /// ```
    /// use tchdist::distributions::Constraint;
    /// assert!(!Constraint::Independent(Box::new(Constraint::Positive), 1).is_discrete());
    /// ```
    pub fn is_discrete(&self) -> bool {
        match self {
            Constraint::Independent(base, _) => base.is_discrete(),
            Constraint::Real
            | Constraint::RealVector
            | Constraint::Positive
            | Constraint::PositiveDefinite
            | Constraint::LowerCholesky
            | Constraint::UnitInterval
            | Constraint::Simplex
            | Constraint::Nonnegative
            | Constraint::LessThan(_)
            | Constraint::GreaterThan(_)
            | Constraint::Interval(..) => false,
            Constraint::Boolean
            | Constraint::IntegerInterval(..)
            | Constraint::OneHot
            | Constraint::NonnegativeInteger => true,
        }
    }

    /// `Constraint.check(value)`: a boolean tensor over the dimensions left of the event.
    ///
    /// # Errors
    /// `Independent` over a value with too few dimensions: PyTorch's
    /// "Expected value.dim() >= ..." `ValueError`; otherwise only when libtorch fails on the
    /// value (a wrong rank, say).
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::Tensor;
    /// use tchdist::distributions::Constraint;
    /// let ok = Constraint::Real.check(&Tensor::from_slice(&[1.0f64, f64::NAN]))?;
    /// assert_eq!(Vec::<bool>::try_from(ok)?, vec![true, false]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn check(&self, value: &Tensor) -> Result<Tensor> {
        match self {
            Constraint::Real => Ok(value.f_eq_tensor(value)?),
            Constraint::RealVector => independent_check(&Constraint::Real, 1, value),
            Constraint::Positive => Ok(value.f_gt(0.0)?),
            Constraint::Independent(base, n) => independent_check(base, *n, value),
            Constraint::PositiveDefinite => {
                let size = value.size();
                let n = size.len();
                if n < 2 {
                    return Err(Error::Runtime(format!(
                        "positive_definite check needs a matrix, got a tensor of shape {}",
                        super::torch_size(&size)
                    )));
                }
                // _Square.check: a full tensor of `rows == cols` over the batch shape.
                if size[n - 2] != size[n - 1] {
                    return Ok(Tensor::f_full(
                        &size[..n - 2],
                        0,
                        (Kind::Bool, value.device()),
                    )?);
                }
                // _Symmetric.check: isclose(value, value.mT, atol=1e-6).all(-2).all(-1). An
                // exactly symmetric matrix passes it (isclose(x, x) holds for every x but NaN,
                // and NaN is never equal to itself), so one comparison answers the common case
                // and isclose runs only when that one fails: the same outcome, a third of the
                // ops.
                let mt = value.f_mt()?;
                if !value.f_eq_tensor(&mt)?.f_all()?.f_is_nonzero()? {
                    let sym = value
                        .f_isclose(&mt, 1e-5, 1e-6, false)?
                        .f_all_dim(-2, false)?
                        .f_all_dim(-1, false)?;
                    // `if not sym_check.all()`: Python's `bool()` is `is_nonzero`.
                    if !sym.f_all()?.f_is_nonzero()? {
                        return Ok(sym);
                    }
                }
                let (_, info) = value.f_linalg_cholesky_ex(false, false)?;
                Ok(info.f_eq(0)?)
            }
            Constraint::Boolean => Ok(value.f_eq(0)?.f_bitwise_or_tensor(&value.f_eq(1)?)?),
            Constraint::UnitInterval => {
                Ok(value.f_le(1.0)?.f_bitwise_and_tensor(&value.f_ge(0.0)?)?)
            }
            Constraint::Simplex => {
                let nonneg = value.f_ge(0)?.f_all_dim(-1, false)?;
                let sum = value.f_sum_dim_intlist(&[-1i64][..], false, None::<Kind>)?;
                let close = sum.f_sub_scalar(1i64)?.f_abs()?.f_lt(1e-6)?;
                Ok(nonneg.f_bitwise_and_tensor(&close)?)
            }
            Constraint::IntegerInterval(lower, upper) => {
                let integer = value.f_remainder(1i64)?.f_eq(0)?;
                let above = value.f_ge(*lower)?;
                let below = value.f_le(*upper)?;
                Ok(integer
                    .f_bitwise_and_tensor(&above)?
                    .f_bitwise_and_tensor(&below)?)
            }
            Constraint::Nonnegative => Ok(value.f_ge(0.0)?),
            Constraint::LessThan(upper) => Ok(value.f_lt_tensor(&upper.0)?),
            Constraint::GreaterThan(lower) => Ok(lower.0.f_lt_tensor(value)?),
            Constraint::Interval(lower, upper) => Ok(lower
                .0
                .f_le_tensor(value)?
                .f_bitwise_and_tensor(&value.f_le_tensor(&upper.0)?)?),
            Constraint::NonnegativeInteger => {
                let integer = value.f_remainder(1i64)?.f_eq(0)?;
                Ok(integer.f_bitwise_and_tensor(&value.f_ge(0i64)?)?)
            }
            Constraint::OneHot => {
                let is_boolean = value.f_eq(0)?.f_bitwise_or_tensor(&value.f_eq(1)?)?;
                let normalized = value
                    .f_sum_dim_intlist(&[-1i64][..], false, None::<Kind>)?
                    .f_eq(1)?;
                Ok(is_boolean
                    .f_all_dim(-1, false)?
                    .f_bitwise_and_tensor(&normalized)?)
            }
            Constraint::LowerCholesky => {
                let tril = value.f_tril(0)?;
                let mut flat = value.size();
                flat.truncate(flat.len().saturating_sub(2));
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
    ///
    /// ```
    /// use tchdist::distributions::Constraint;
    /// assert_eq!(Constraint::RealVector.independent(2).event_dim(), 3);
    /// ```
    pub fn event_dim(&self) -> usize {
        match self {
            Constraint::Real
            | Constraint::Positive
            | Constraint::Boolean
            | Constraint::UnitInterval
            | Constraint::IntegerInterval(..)
            | Constraint::Nonnegative
            | Constraint::NonnegativeInteger
            | Constraint::LessThan(_)
            | Constraint::GreaterThan(_)
            | Constraint::Interval(..) => 0,
            Constraint::RealVector | Constraint::Simplex | Constraint::OneHot => 1,
            Constraint::PositiveDefinite | Constraint::LowerCholesky => 2,
            Constraint::Independent(base, n) => base.event_dim() + n,
        }
    }

    /// `constraints.independent(self, reinterpreted_batch_ndims)`.
    ///
    /// ```
    /// use tchdist::distributions::Constraint;
    /// assert_eq!(Constraint::Real.independent(2).to_string(), "IndependentConstraint(Real(), 2)");
    /// ```
    pub fn independent(self, reinterpreted_batch_ndims: usize) -> Constraint {
        Constraint::Independent(Box::new(self), reinterpreted_batch_ndims)
    }
}

/// `_IndependentConstraint.check`: the base check, then `all` over the `n` rightmost dims.
fn independent_check(base: &Constraint, n: usize, value: &Tensor) -> Result<Tensor> {
    let result = base.check(value)?;
    let dim = result.dim();
    if dim < n {
        return Err(Error::Value(format!(
            "Expected value.dim() >= {} but got {}",
            base.event_dim() + n,
            value.dim()
        )));
    }
    let mut shape = result.size()[..dim - n].to_vec();
    shape.push(-1);
    Ok(result.f_reshape(&shape)?.f_all_dim(-1, false)?)
}

impl fmt::Display for Constraint {
    /// PyTorch's `repr(constraint)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::Real => f.write_str("Real()"),
            Constraint::RealVector => f.write_str("IndependentConstraint(Real(), 1)"),
            Constraint::Positive => f.write_str("GreaterThan(lower_bound=0.0)"),
            Constraint::PositiveDefinite => f.write_str("PositiveDefinite()"),
            Constraint::LowerCholesky => f.write_str("LowerCholesky()"),
            Constraint::Independent(base, n) => write!(f, "IndependentConstraint({base}, {n})"),
            Constraint::Boolean => f.write_str("Boolean()"),
            Constraint::UnitInterval => f.write_str("Interval(lower_bound=0.0, upper_bound=1.0)"),
            Constraint::Simplex => f.write_str("Simplex()"),
            Constraint::IntegerInterval(lower, upper) => write!(
                f,
                "IntegerInterval(lower_bound={lower}, upper_bound={upper})"
            ),
            Constraint::OneHot => f.write_str("OneHot()"),
            Constraint::Nonnegative => f.write_str("GreaterThanEq(lower_bound=0.0)"),
            Constraint::LessThan(upper) => write!(f, "LessThan(upper_bound={upper})"),
            Constraint::GreaterThan(lower) => write!(f, "GreaterThan(lower_bound={lower})"),
            Constraint::Interval(lower, upper) => {
                write!(f, "Interval(lower_bound={lower}, upper_bound={upper})")
            }
            Constraint::NonnegativeInteger => f.write_str("IntegerGreaterThan(lower_bound=0)"),
        }
    }
}

/// A tensor bound of a constraint (`Uniform`'s `low` and `high`): shared with the
/// distribution (`Tensor::shallow_clone`), equal when it is the same tensor, and shown as
/// Python's f-string shows it (`Tensor.__format__`).
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{BoundTensor, Constraint};
/// let c = Constraint::LessThan(BoundTensor::new(&Tensor::from_slice(&[1.0f32, 2.0])));
/// assert_eq!(c.to_string(), "LessThan(upper_bound=tensor([1., 2.]))");
/// let ok = c.check(&Tensor::from_slice(&[0.5f32, 2.0]))?;
/// assert_eq!(Vec::<bool>::try_from(ok)?, vec![true, false]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct BoundTensor(Tensor);

impl BoundTensor {
    /// A bound sharing `t`'s memory.
    ///
    /// ```
    /// use tch::Tensor;
    /// use tchdist::distributions::BoundTensor;
    /// let b = BoundTensor::new(&Tensor::from_slice(&[1.0f64]));
    /// assert_eq!(b.tensor().size(), vec![1]);
    /// ```
    pub fn new(t: &Tensor) -> Self {
        BoundTensor(t.shallow_clone())
    }

    /// The bound.
    ///
    /// ```
    /// use tch::Tensor;
    /// use tchdist::distributions::BoundTensor;
    /// let b = BoundTensor::new(&Tensor::from_slice(&[1.0f64]));
    /// assert_eq!(b.tensor().double_value(&[0]), 1.0);
    /// ```
    pub fn tensor(&self) -> &Tensor {
        &self.0
    }
}

impl Clone for BoundTensor {
    fn clone(&self) -> Self {
        BoundTensor(self.0.shallow_clone())
    }
}

/// The same tensor: same memory, shape, strides and dtype.
impl PartialEq for BoundTensor {
    fn eq(&self, other: &Self) -> bool {
        self.0.data_ptr() == other.0.data_ptr()
            && self.0.size() == other.0.size()
            && self.0.stride() == other.0.stride()
            && self.0.kind() == other.0.kind()
    }
}

impl Eq for BoundTensor {}

/// Python's `f"{tensor}"` (a 0-d tensor as its float, any other as `str(tensor)`), or the
/// printer's error text for a dtype it cannot print.
impl fmt::Display for BoundTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::format::format_value(&self.0) {
            Ok(text) => f.write_str(&text),
            Err(e) => write!(f, "<{e}>"),
        }
    }
}

/// `torch._is_all_true(t)` read as a Python `bool`: every element of a boolean tensor is true.
/// `_is_all_true` has a vmap rule that reduces over the batch too, so, as in PyTorch, the check
/// works on batched values inside `torch.func.vmap`, where `.all().item()` would fail.
pub(crate) fn all_true(t: &Tensor) -> Result<bool> {
    Ok(t.f_internal_is_all_true()?.f_is_nonzero()?)
}
