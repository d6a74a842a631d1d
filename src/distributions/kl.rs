//! `torch/distributions/kl.py` (PyTorch 2.13.0): `kl_divergence` for the registered pairs
//! among tchdist's distributions, op for op.

use tch::{Kind, Tensor};

use super::lowrank_multivariate_normal::{batch_lowrank_logdet, batch_lowrank_mahalanobis};
use super::multivariate_normal::batch_mahalanobis;
use super::utils::sum_rightmost;
use super::{
    broadcast_shapes, Distribution, DistributionRef, Independent, LowRankMultivariateNormal,
    MultivariateNormal, Normal,
};
use crate::error::{Error, Result};

/// KL(p ‖ q) = ∫ p(x) log(p(x) / q(x)) dx, batched: `torch.distributions.kl_divergence`.
///
/// Dispatch is a `match` on the concrete pair; the registered pairs are PyTorch's:
/// (`Normal`, `Normal`), (`MultivariateNormal`, `MultivariateNormal`),
/// (`LowRankMultivariateNormal`, `LowRankMultivariateNormal`),
/// (`MultivariateNormal`, `LowRankMultivariateNormal`),
/// (`LowRankMultivariateNormal`, `MultivariateNormal`) and (`Independent`, `Independent`),
/// each computed with PyTorch's formula and operation order.
///
/// # Errors
/// - An unregistered pair: PyTorch's `NotImplementedError` "No KL(p || q) is implemented for
///   p type ... and q type ...".
/// - Two `Independent` with different `reinterpreted_batch_ndims`: `NotImplementedError`
///   (PyTorch's is bare, with no text; tchdist says which counts differ).
/// - (Low-rank) multivariate normals of different event shapes: PyTorch's `ValueError`
///   "KL-divergence between two ... with different event shapes cannot be computed".
/// - Batch shapes that do not broadcast: libtorch's message.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::distributions::{kl_divergence, Normal};
/// let p = Normal::new(&Tensor::from_slice(&[0.0f64]), &Tensor::from_slice(&[1.0f64]))?;
/// let q = Normal::new(&Tensor::from_slice(&[1.0f64]), &Tensor::from_slice(&[1.0f64]))?;
/// // KL(N(0, 1) || N(1, 1)) = (0 - 1)^2 / 2
/// assert_eq!(kl_divergence(&p, &q)?.double_value(&[0]), 0.5);
/// # Ok(())
/// # }
/// ```
pub fn kl_divergence<'p, 'q>(
    p: impl Into<DistributionRef<'p>>,
    q: impl Into<DistributionRef<'q>>,
) -> Result<Tensor> {
    use DistributionRef as D;
    match (p.into(), q.into()) {
        (D::Normal(p), D::Normal(q)) => kl_normal_normal(p, q),
        (D::MultivariateNormal(p), D::MultivariateNormal(q)) => {
            kl_multivariatenormal_multivariatenormal(p, q)
        }
        (D::LowRankMultivariateNormal(p), D::LowRankMultivariateNormal(q)) => {
            kl_lowrankmultivariatenormal_lowrankmultivariatenormal(p, q)
        }
        (D::MultivariateNormal(p), D::LowRankMultivariateNormal(q)) => {
            kl_multivariatenormal_lowrankmultivariatenormal(p, q)
        }
        (D::LowRankMultivariateNormal(p), D::MultivariateNormal(q)) => {
            kl_lowrankmultivariatenormal_multivariatenormal(p, q)
        }
        (D::Independent(p), D::Independent(q)) => kl_independent_independent(p, q),
        (p, q) => Err(Error::NotImplemented(format!(
            "No KL(p || q) is implemented for p type {} and q type {}",
            p.as_dyn().name(),
            q.as_dyn().name()
        ))),
    }
}

fn sum_last(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_sum_dim_intlist(&[-1i64][..], false, None::<Kind>)?)
}

/// `L.diagonal(dim1=-2, dim2=-1).log().sum(-1)`.
fn log_diag_sum(l: &Tensor) -> Result<Tensor> {
    sum_last(&l.f_diagonal(0, -2, -1)?.f_log()?)
}

/// `_batch_trace_XXT(bmat)`: tr(X Xᵀ) over trailing batch dimensions.
fn batch_trace_xxt(bmat: &Tensor) -> Result<Tensor> {
    let size = bmat.size();
    let (m, n) = (size[size.len() - 2], size[size.len() - 1]);
    let flat_trace = sum_last(&bmat.f_reshape([-1, m * n])?.f_pow_tensor_scalar(2i64)?)?;
    Ok(flat_trace.f_reshape(&size[..size.len() - 2])?)
}

/// PyTorch's event-shape check; the text keeps the source's line-continuation spaces.
fn check_event_shapes(p: &dyn Distribution, q: &dyn Distribution, which: &str) -> Result<()> {
    if p.event_shape() == q.event_shape() {
        return Ok(());
    }
    Err(Error::Value(format!(
        "KL-divergence between two {which} with                          different event \
         shapes cannot be computed"
    )))
}

/// `torch.Size(shape) + tail`.
fn with_tail(shape: &[i64], tail: &[i64]) -> Vec<i64> {
    let mut out = shape.to_vec();
    out.extend_from_slice(tail);
    out
}

/// `_kl_normal_normal`: `0.5 * (r + ((μp - μq)/σq)² - 1 - log r)` with `r = (σp/σq)²`.
fn kl_normal_normal(p: &Normal, q: &Normal) -> Result<Tensor> {
    let var_ratio = p.scale().f_div(q.scale())?.f_pow_tensor_scalar(2i64)?;
    let t1 = p
        .loc()
        .f_sub(q.loc())?
        .f_div(q.scale())?
        .f_pow_tensor_scalar(2i64)?;
    Ok(var_ratio
        .f_add(&t1)?
        .f_sub_scalar(1i64)?
        .f_sub(&var_ratio.f_log()?)?
        .f_mul_scalar(0.5)?)
}

/// `_kl_multivariatenormal_multivariatenormal`.
fn kl_multivariatenormal_multivariatenormal(
    p: &MultivariateNormal,
    q: &MultivariateNormal,
) -> Result<Tensor> {
    check_event_shapes(p, q, "Multivariate Normals")?;
    let (pl, ql) = (p.unbroadcasted_scale_tril(), q.unbroadcasted_scale_tril());
    let half_term1 = log_diag_sum(ql)?.f_sub(&log_diag_sum(pl)?)?;
    let (ql_size, pl_size) = (ql.size(), pl.size());
    let combined =
        broadcast_shapes(&[&ql_size[..ql_size.len() - 2], &pl_size[..pl_size.len() - 2]])?;
    let n = p.event_shape()[0];
    let q_scale_tril = ql.f_expand(with_tail(&combined, &[n, n]), false)?;
    let p_scale_tril = pl.f_expand(with_tail(&combined, &[n, n]), false)?;
    let term2 = batch_trace_xxt(&q_scale_tril.f_linalg_solve_triangular(
        &p_scale_tril,
        false,
        true,
        false,
    )?)?;
    let term3 = batch_mahalanobis(ql, &q.loc().f_sub(p.loc())?)?;
    Ok(half_term1.f_add(&term2.f_add(&term3)?.f_sub_scalar(n)?.f_mul_scalar(0.5)?)?)
}

/// `A = solve_triangular(C_q, W_qᵀ / D_q)`, shared by the low-rank KL terms.
fn woodbury_a(q: &LowRankMultivariateNormal) -> Result<Tensor> {
    let qwt_qdinv = q
        .unbroadcasted_cov_factor()
        .f_mt()?
        .f_div(&q.unbroadcasted_cov_diag().f_unsqueeze(-2)?)?;
    Ok(q.capacitance_tril()
        .f_linalg_solve_triangular(&qwt_qdinv, false, true, false)?)
}

fn lowrank_logdet(d: &LowRankMultivariateNormal) -> Result<Tensor> {
    batch_lowrank_logdet(
        d.unbroadcasted_cov_factor(),
        d.unbroadcasted_cov_diag(),
        d.capacitance_tril(),
    )
}

/// `_batch_lowrank_mahalanobis(W_q, D_q, q.loc - p.loc, C_q)`.
fn lowrank_term3(q: &LowRankMultivariateNormal, p_loc: &Tensor) -> Result<Tensor> {
    batch_lowrank_mahalanobis(
        q.unbroadcasted_cov_factor(),
        q.unbroadcasted_cov_diag(),
        &q.loc().f_sub(p_loc)?,
        q.capacitance_tril(),
    )
}

/// `0.5 * (term1 + term2 + term3 - k)`.
fn half_sum(term1: &Tensor, term2: &Tensor, term3: &Tensor, k: i64) -> Result<Tensor> {
    Ok(term1
        .f_add(term2)?
        .f_add(term3)?
        .f_sub_scalar(k)?
        .f_mul_scalar(0.5)?)
}

/// `_kl_lowrankmultivariatenormal_lowrankmultivariatenormal`.
fn kl_lowrankmultivariatenormal_lowrankmultivariatenormal(
    p: &LowRankMultivariateNormal,
    q: &LowRankMultivariateNormal,
) -> Result<Tensor> {
    check_event_shapes(p, q, "Low Rank Multivariate Normals")?;
    let term1 = lowrank_logdet(q)?.f_sub(&lowrank_logdet(p)?)?;
    let term3 = lowrank_term3(q, p.loc())?;
    let a = woodbury_a(q)?;
    let (pw, pd) = (p.unbroadcasted_cov_factor(), p.unbroadcasted_cov_diag());
    let qd = q.unbroadcasted_cov_diag();
    let term21 = sum_last(&pd.f_div(qd)?)?;
    let term22 = batch_trace_xxt(&pw.f_mul(&qd.f_rsqrt()?.f_unsqueeze(-1)?)?)?;
    let term23 = batch_trace_xxt(&a.f_mul(&pd.f_sqrt()?.f_unsqueeze(-2)?)?)?;
    let term24 = batch_trace_xxt(&a.f_matmul(pw)?)?;
    let term2 = term21.f_add(&term22)?.f_sub(&term23)?.f_sub(&term24)?;
    half_sum(&term1, &term2, &term3, p.event_shape()[0])
}

/// `_kl_multivariatenormal_lowrankmultivariatenormal`.
fn kl_multivariatenormal_lowrankmultivariatenormal(
    p: &MultivariateNormal,
    q: &LowRankMultivariateNormal,
) -> Result<Tensor> {
    check_event_shapes(p, q, "(Low Rank) Multivariate Normals")?;
    let pl = p.unbroadcasted_scale_tril();
    let term1 = lowrank_logdet(q)?.f_sub(&log_diag_sum(pl)?.f_mul_scalar(2i64)?)?;
    let term3 = lowrank_term3(q, p.loc())?;
    let a = woodbury_a(q)?;
    let qd = q.unbroadcasted_cov_diag();
    let term21 = batch_trace_xxt(&pl.f_mul(&qd.f_rsqrt()?.f_unsqueeze(-1)?)?)?;
    let term22 = batch_trace_xxt(&a.f_matmul(pl)?)?;
    let term2 = term21.f_sub(&term22)?;
    half_sum(&term1, &term2, &term3, p.event_shape()[0])
}

/// `_kl_lowrankmultivariatenormal_multivariatenormal`.
fn kl_lowrankmultivariatenormal_multivariatenormal(
    p: &LowRankMultivariateNormal,
    q: &MultivariateNormal,
) -> Result<Tensor> {
    check_event_shapes(p, q, "(Low Rank) Multivariate Normals")?;
    let ql = q.unbroadcasted_scale_tril();
    let term1 = log_diag_sum(ql)?
        .f_mul_scalar(2i64)?
        .f_sub(&lowrank_logdet(p)?)?;
    let term3 = batch_mahalanobis(ql, &q.loc().f_sub(p.loc())?)?;
    let (pw, pd) = (p.unbroadcasted_cov_factor(), p.unbroadcasted_cov_diag());
    let (ql_size, pw_size) = (ql.size(), pw.size());
    let combined =
        broadcast_shapes(&[&ql_size[..ql_size.len() - 2], &pw_size[..pw_size.len() - 2]])?;
    let n = p.event_shape()[0];
    let rank = p.cov_factor().size().last().copied().unwrap_or(0);
    let q_scale_tril = ql.f_expand(with_tail(&combined, &[n, n]), false)?;
    let p_cov_factor = pw.f_expand(with_tail(&combined, &[n, rank]), false)?;
    let p_cov_diag = pd
        .f_sqrt()?
        .f_diag_embed(0, -2, -1)?
        .f_expand(with_tail(&combined, &[n, n]), false)?;
    let term21 = batch_trace_xxt(&q_scale_tril.f_linalg_solve_triangular(
        &p_cov_factor,
        false,
        true,
        false,
    )?)?;
    let term22 = batch_trace_xxt(&q_scale_tril.f_linalg_solve_triangular(
        &p_cov_diag,
        false,
        true,
        false,
    )?)?;
    let term2 = term21.f_add(&term22)?;
    half_sum(&term1, &term2, &term3, n)
}

/// `_kl_independent_independent`: the bases' KL summed over the reinterpreted dimensions.
fn kl_independent_independent(p: &Independent, q: &Independent) -> Result<Tensor> {
    if p.reinterpreted_batch_ndims() != q.reinterpreted_batch_ndims() {
        return Err(Error::NotImplemented(format!(
            "KL(p || q) between Independent distributions with different \
             reinterpreted_batch_ndims ({} vs {}) is not implemented",
            p.reinterpreted_batch_ndims(),
            q.reinterpreted_batch_ndims()
        )));
    }
    let result = kl_divergence(p.base_dist(), q.base_dist())?;
    sum_rightmost(&result, p.reinterpreted_batch_ndims())
}
