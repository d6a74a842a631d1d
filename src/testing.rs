//! Comparing tensors the way `torch.testing` and tchdist's parity checks do: bit identity,
//! distance in units in the last place (ULP) of the tensor's dtype, absolute difference.

use std::path::PathBuf;

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// The Python with torch 2.13.0 that cross-checks run: `$TCHDIST_PYTHON`, else the virtual
/// environment that tchdist's `scripts/setup` creates,
/// `$XDG_CACHE_HOME/tchdist/torch-2.13.0/bin/python` (`XDG_CACHE_HOME` only when it is an
/// absolute path, as the XDG spec requires), else `$HOME/.cache/tchdist/torch-2.13.0/bin/python`.
/// `None` when none of these variables is set (never a path relative to the current
/// directory). Whether the file exists is the caller's to check.
///
/// ```
/// if let Some(python) = tchdist::testing::setup_python() {
///     assert!(python.is_absolute() || std::env::var_os("TCHDIST_PYTHON").is_some());
/// }
/// ```
pub fn setup_python() -> Option<PathBuf> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    std::env::var_os("TCHDIST_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            absolute("XDG_CACHE_HOME")
                .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
                .map(|cache| cache.join("tchdist/torch-2.13.0/bin/python"))
        })
}

/// How two float tensors of the same shape differ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    /// Every element has the same bit pattern.
    pub identical: bool,
    /// The largest distance in ULPs of the dtype (f32 or f64); NaNs compare by bits.
    pub max_ulp: u64,
    /// The largest absolute difference.
    pub max_abs_diff: f64,
    /// Flat index of the element with the largest ULP distance.
    pub worst_index: usize,
}

/// Compares `actual` against `expected` values (float64, row-major, exact for float32), as
/// floats of `actual`'s dtype.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// let t = Tensor::from_slice(&[1.0f32, 2.0]);
/// let c = tchdist::testing::compare(&t, &[1.0, f64::from(f32::from_bits(2.0f32.to_bits() + 3))])?;
/// assert_eq!((c.identical, c.max_ulp), (false, 3));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Shapes that differ in element count, or a tensor that is not float32/float64.
pub fn compare(actual: &Tensor, expected: &[f64]) -> Result<Comparison> {
    let kind = actual.kind();
    if !matches!(kind, Kind::Float | Kind::Double) {
        return Err(Error::Value(format!("compare: unsupported dtype {kind:?}")));
    }
    let flat = tch::no_grad(|| {
        actual
            .f_detach()?
            .f_to_device(tch::Device::Cpu)?
            .f_to_kind(Kind::Double)?
            .f_contiguous()?
            .f_reshape([-1])
    })?;
    let values = Vec::<f64>::try_from(&flat)?;
    if values.len() != expected.len() {
        return Err(Error::Value(format!(
            "compare: {} elements against {} expected",
            values.len(),
            expected.len()
        )));
    }
    let mut out = Comparison {
        identical: true,
        max_ulp: 0,
        max_abs_diff: 0.0,
        worst_index: 0,
    };
    for (i, (&a, &e)) in values.iter().zip(expected).enumerate() {
        if a.to_bits() == e.to_bits() {
            continue;
        }
        out.identical = false;
        let ulp = ulp_distance(a, e, kind);
        if ulp > out.max_ulp {
            out.max_ulp = ulp;
            out.worst_index = i;
        }
        let diff = (a - e).abs();
        if diff > out.max_abs_diff || diff.is_nan() {
            out.max_abs_diff = diff;
        }
    }
    Ok(out)
}

/// Distance between two floats in ULPs of `kind` (f32 or f64), through the monotone mapping
/// of IEEE bit patterns onto integers (-0.0 and 0.0 map to the same integer, distance 0).
pub fn ulp_distance(a: f64, b: f64, kind: Kind) -> u64 {
    match kind {
        Kind::Float => {
            let key = |x: f32| {
                let v = x.to_bits() as i32;
                if v < 0 {
                    i32::MIN as i64 - v as i64
                } else {
                    v as i64
                }
            };
            (key(a as f32) - key(b as f32)).unsigned_abs()
        }
        _ => {
            let key = |x: f64| {
                let v = x.to_bits() as i64;
                if v < 0 {
                    i64::MIN as i128 - v as i128
                } else {
                    v as i128
                }
            };
            (key(a) - key(b)).unsigned_abs().min(u64::MAX as u128) as u64
        }
    }
}

/// How many products `L @ eps` (MultivariateNormal's and LowRankMultivariateNormal's
/// `_batch_mv`) took the faster route to ATen's CPU bits in this process (one MKL gemv per
/// vector instead of ATen's batched gemm, for a column-major L as Cholesky returns it), and whether its guard, which compares the first
/// vectors with ATen's own product on every call, has turned the route off. For tests and
/// benchmarks to see which route ran.
///
/// ```
/// use tchdist::distributions::{Distribution, MultivariateNormal, MvnParam};
/// use tch::{Device, Kind, Tensor};
///
/// let (before, _) = tchdist::testing::sample_route_stats();
/// let d = 20; // the route needs d x d >= 400 entries, as ATen's batched gemm does
/// let cov = Tensor::eye(d, (Kind::Double, Device::Cpu)) * 2.0;
/// // A covariance matrix: its Cholesky factor is column-major, as the route needs.
/// let mvn = MultivariateNormal::new(&cov.get(0), MvnParam::CovarianceMatrix(cov.shallow_clone()), true)?;
/// mvn.sample(&[100])?;
/// let (after, off) = tchdist::testing::sample_route_stats();
/// assert!(off || after == before + 1);
/// # Ok::<(), tchdist::Error>(())
/// ```
pub fn sample_route_stats() -> (i64, bool) {
    crate::shim::batch_mv_stats()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulp_distance_counts_representable_floats_between() {
        assert_eq!(ulp_distance(1.0, 1.0, Kind::Double), 0);
        assert_eq!(
            ulp_distance(1.0, f64::from_bits(1.0f64.to_bits() + 2), Kind::Double),
            2
        );
        assert_eq!(ulp_distance(0.0, -0.0, Kind::Float), 0);
        assert_eq!(ulp_distance(-1.0, 1.0, Kind::Float), 2 * 0x3f80_0000);
        assert_eq!(
            ulp_distance(f64::from(f32::MIN_POSITIVE), 0.0, Kind::Float),
            0x0080_0000
        );
    }
}
