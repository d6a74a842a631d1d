//! `torch/distributions/kl.py` (PyTorch 2.13.0): `kl_divergence` for the registered pairs
//! among tchdist's distributions, op for op.

use tch::{Kind, Tensor};

use super::lowrank_multivariate_normal::{batch_lowrank_logdet, batch_lowrank_mahalanobis};
use super::multivariate_normal::batch_mahalanobis;
use super::transforms::transforms_eq;
use super::utils::sum_rightmost;
use super::{
    broadcast_shapes, Bernoulli, Beta, Categorical, Cauchy, Dirichlet, Distribution,
    DistributionRef, Exponential, Gamma, Geometric, Independent, LowRankMultivariateNormal,
    MultivariateNormal, Normal, OneHotCategorical, Poisson, TransformedDistribution, Uniform,
};
use crate::error::{Error, Result};

/// KL(p ‖ q) = ∫ p(x) log(p(x) / q(x)) dx, batched: `torch.distributions.kl_divergence`.
///
/// Dispatch is a `match` on the concrete pair; the registered pairs are PyTorch's:
/// (`Normal`, `Normal`), (`MultivariateNormal`, `MultivariateNormal`),
/// (`LowRankMultivariateNormal`, `LowRankMultivariateNormal`),
/// (`MultivariateNormal`, `LowRankMultivariateNormal`),
/// (`LowRankMultivariateNormal`, `MultivariateNormal`), (`Independent`, `Independent`), and
/// each of `Bernoulli`, `Beta`, `Categorical`, `Cauchy`, `Dirichlet`, `Exponential`, `Gamma`,
/// `Geometric`, `OneHotCategorical`, `Poisson`, `Uniform` and `TransformedDistribution` with
/// itself, and PyTorch's cross pairs among `Bernoulli`, `Beta`, `Exponential`, `Gamma`,
/// `Normal`, `Poisson` and `Uniform` (e.g. (`Exponential`, `Gamma`), (`Uniform`, `Normal`),
/// the infinite ones such as (`Normal`, `Uniform`)), each computed with PyTorch's formula and
/// operation order.
///
/// # Errors
/// - An unregistered pair: PyTorch's `NotImplementedError` "No KL(p || q) is implemented for
///   p type ... and q type ...", or, for two different exponential families, "The cross
///   KL-divergence between different exponential families cannot ... be computed using
///   Bregman divergences".
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
    let (p, q) = (p.into(), q.into());
    // Registered for (OneHotCategorical, OneHotCategorical): the straight-through subclass
    // dispatches there too.
    if let (Some(p), Some(q)) = (one_hot_of(p), one_hot_of(q)) {
        return kl_categorical_categorical(p.categorical(), q.categorical());
    }
    match (p, q) {
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
        (D::Bernoulli(p), D::Bernoulli(q)) => kl_bernoulli_bernoulli(p, q),
        (D::Beta(p), D::Beta(q)) => kl_beta_beta(p, q),
        (D::Categorical(p), D::Categorical(q)) => kl_categorical_categorical(p, q),
        (D::Cauchy(p), D::Cauchy(q)) => kl_cauchy_cauchy(p, q),
        (D::Dirichlet(p), D::Dirichlet(q)) => kl_dirichlet_dirichlet(p, q),
        (D::Exponential(p), D::Exponential(q)) => kl_exponential_exponential(p, q),
        (D::Gamma(p), D::Gamma(q)) => kl_gamma_gamma(p, q),
        (D::Geometric(p), D::Geometric(q)) => kl_geometric_geometric(p, q),
        (D::Poisson(p), D::Poisson(q)) => kl_poisson_poisson(p, q),
        (D::Uniform(p), D::Uniform(q)) => kl_uniform_uniform(p, q),
        (D::TransformedDistribution(p), D::TransformedDistribution(q)) => {
            kl_transformed_transformed(p, q)
        }
        (D::Bernoulli(p), D::Poisson(q)) => kl_bernoulli_poisson(p, q),
        (D::Beta(p), D::Exponential(q)) => kl_beta_exponential(p, q),
        (D::Beta(p), D::Gamma(q)) => kl_beta_gamma(p, q),
        (D::Beta(p), D::Normal(q)) => kl_beta_normal(p, q),
        (D::Beta(p), D::Uniform(q)) => kl_beta_uniform(p, q),
        (D::Exponential(p), D::Beta(_) | D::Uniform(_)) => infinite_like(p.rate()),
        (D::Exponential(p), D::Gamma(q)) => kl_exponential_gamma(p, q),
        (D::Exponential(p), D::Normal(q)) => kl_exponential_normal(p, q),
        (D::Gamma(p), D::Beta(_) | D::Uniform(_)) => infinite_like(p.concentration()),
        (D::Gamma(p), D::Exponential(q)) => kl_gamma_exponential(p, q),
        (D::Gamma(p), D::Normal(q)) => kl_gamma_normal(p, q),
        (D::Normal(p), D::Beta(_) | D::Exponential(_) | D::Gamma(_) | D::Uniform(_)) => {
            infinite_like(p.loc())
        }
        (D::Poisson(p), D::Bernoulli(_)) => infinite_like(p.rate()),
        (D::Uniform(p), D::Beta(q)) => kl_uniform_beta(p, q),
        (D::Uniform(p), D::Exponential(q)) => kl_uniform_exponential(p, q),
        (D::Uniform(p), D::Gamma(q)) => kl_uniform_gamma(p, q),
        (D::Uniform(p), D::Normal(q)) => kl_uniform_normal(p, q),
        // `_kl_expfamily_expfamily`, registered for (ExponentialFamily, ExponentialFamily),
        // catches every other pair of exponential families and refuses different types.
        (p, q) if is_exponential_family(p) && is_exponential_family(q) => {
            // PyTorch's text keeps the source's line-continuation spaces (29).
            Err(Error::NotImplemented(format!(
                "The cross KL-divergence between different exponential families cannot{}be \
                 computed using Bregman divergences",
                " ".repeat(29)
            )))
        }
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

/// Whether PyTorch's class derives from `ExponentialFamily`.
fn is_exponential_family(d: DistributionRef<'_>) -> bool {
    use DistributionRef as D;
    matches!(
        d,
        D::Normal(_)
            | D::Bernoulli(_)
            | D::Beta(_)
            | D::Dirichlet(_)
            | D::Exponential(_)
            | D::Gamma(_)
            | D::Poisson(_)
    )
}

/// `t[mask] = value` for a boolean mask of `t`'s shape: `masked_fill_` writes the same values
/// and has the same gradient as `index_put_`.
fn fill_where(t: &mut Tensor, mask: &Tensor, value: f64) -> Result<()> {
    let _ = t.f_masked_fill_(mask, value)?;
    Ok(())
}

/// `_kl_bernoulli_bernoulli`.
fn kl_bernoulli_bernoulli(p: &Bernoulli, q: &Bernoulli) -> Result<Tensor> {
    let pp = p.probs()?;
    let sq = q.logits()?.f_neg()?.f_softplus()?;
    let sp = p.logits()?.f_neg()?.f_softplus()?;
    let mut t1 = pp.f_mul(&sq.f_sub(&sp)?)?;
    fill_where(&mut t1, &q.probs()?.f_eq(0i64)?, f64::INFINITY)?;
    fill_where(&mut t1, &p.probs()?.f_eq(0i64)?, 0.0)?;
    let one_minus = p.probs()?.f_rsub_scalar(1i64)?;
    let diff = q
        .logits()?
        .f_softplus()?
        .f_sub(&p.logits()?.f_softplus()?)?;
    let mut t2 = one_minus.f_mul(&diff)?;
    fill_where(&mut t2, &q.probs()?.f_eq(1i64)?, f64::INFINITY)?;
    fill_where(&mut t2, &p.probs()?.f_eq(1i64)?, 0.0)?;
    Ok(t1.f_add(&t2)?)
}

/// `_kl_beta_beta` (each `concentration1`/`concentration0` read is a new `select`, as the
/// Python properties).
fn kl_beta_beta(p: &Beta, q: &Beta) -> Result<Tensor> {
    let sum_p = p.concentration1()?.f_add(&p.concentration0()?)?;
    let sum_q = q.concentration1()?.f_add(&q.concentration0()?)?;
    let t1 = q
        .concentration1()?
        .f_lgamma()?
        .f_add(&q.concentration0()?.f_lgamma()?)?
        .f_add(&sum_p.f_lgamma()?)?;
    let t2 = p
        .concentration1()?
        .f_lgamma()?
        .f_add(&p.concentration0()?.f_lgamma()?)?
        .f_add(&sum_q.f_lgamma()?)?;
    let t3 = p
        .concentration1()?
        .f_sub(&q.concentration1()?)?
        .f_mul(&p.concentration1()?.f_digamma()?)?;
    let t4 = p
        .concentration0()?
        .f_sub(&q.concentration0()?)?
        .f_mul(&p.concentration0()?.f_digamma()?)?;
    let t5 = sum_q.f_sub(&sum_p)?.f_mul(&sum_p.f_digamma()?)?;
    Ok(t1.f_sub(&t2)?.f_add(&t3)?.f_add(&t4)?.f_add(&t5)?)
}

/// `_kl_categorical_categorical`.
fn kl_categorical_categorical(p: &Categorical, q: &Categorical) -> Result<Tensor> {
    let pp = p.probs()?;
    let mut t = pp.f_mul(&p.logits()?.f_sub(q.logits()?)?)?;
    let size = t.size();
    let q_zero = q.probs()?.f_eq(0i64)?.f_expand(&size, false)?;
    fill_where(&mut t, &q_zero, f64::INFINITY)?;
    let p_zero = p.probs()?.f_eq(0i64)?.f_expand(&size, false)?;
    fill_where(&mut t, &p_zero, 0.0)?;
    sum_last(&t)
}

/// `_kl_cauchy_cauchy`: `log((σp + σq)² + (μp - μq)²) - log(4 σp σq)`.
fn kl_cauchy_cauchy(p: &Cauchy, q: &Cauchy) -> Result<Tensor> {
    let t1 = p
        .scale()
        .f_add(q.scale())?
        .f_pow_tensor_scalar(2i64)?
        .f_add(&p.loc().f_sub(q.loc())?.f_pow_tensor_scalar(2i64)?)?
        .f_log()?;
    let t2 = p.scale().f_mul_scalar(4i64)?.f_mul(q.scale())?.f_log()?;
    Ok(t1.f_sub(&t2)?)
}

/// `_kl_dirichlet_dirichlet`.
fn kl_dirichlet_dirichlet(p: &Dirichlet, q: &Dirichlet) -> Result<Tensor> {
    let (pc, qc) = (p.concentration(), q.concentration());
    let sum_p = sum_last(pc)?;
    let sum_q = sum_last(qc)?;
    let t1 = sum_p.f_lgamma()?.f_sub(&sum_q.f_lgamma()?)?;
    let t2 = sum_last(&pc.f_lgamma()?.f_sub(&qc.f_lgamma()?)?)?;
    let t3 = pc.f_sub(qc)?;
    let t4 = pc
        .f_digamma()?
        .f_sub(&sum_p.f_digamma()?.f_unsqueeze(-1)?)?;
    Ok(t1.f_sub(&t2)?.f_add(&sum_last(&t3.f_mul(&t4)?)?)?)
}

/// `_kl_exponential_exponential`: `-log(r) + r - 1` with `r = λq / λp`.
fn kl_exponential_exponential(p: &Exponential, q: &Exponential) -> Result<Tensor> {
    let ratio = q.rate().f_div(p.rate())?;
    let t1 = ratio.f_log()?.f_neg()?;
    Ok(t1.f_add(&ratio)?.f_sub_scalar(1i64)?)
}

/// `_kl_gamma_gamma`.
fn kl_gamma_gamma(p: &Gamma, q: &Gamma) -> Result<Tensor> {
    let (pc, pr, qc, qr) = (p.concentration(), p.rate(), q.concentration(), q.rate());
    let t1 = qc.f_mul(&pr.f_div(qr)?.f_log()?)?;
    let t2 = qc.f_lgamma()?.f_sub(&pc.f_lgamma()?)?;
    let t3 = pc.f_sub(qc)?.f_mul(&pc.f_digamma()?)?;
    let t4 = qr.f_sub(pr)?.f_mul(&pc.f_div(pr)?)?;
    Ok(t1.f_add(&t2)?.f_add(&t3)?.f_add(&t4)?)
}

/// `_kl_geometric_geometric`: `-p.entropy() - log1p(-q.probs) / p.probs - q.logits`.
fn kl_geometric_geometric(p: &Geometric, q: &Geometric) -> Result<Tensor> {
    let neg_h = p.entropy()?.f_neg()?;
    let t = q.probs()?.f_neg()?.f_log1p()?.f_div(p.probs()?)?;
    Ok(neg_h.f_sub(&t)?.f_sub(q.logits()?)?)
}

/// `_kl_poisson_poisson`: `λp (log λp - log λq) - (λp - λq)`.
fn kl_poisson_poisson(p: &Poisson, q: &Poisson) -> Result<Tensor> {
    let (pr, qr) = (p.rate(), q.rate());
    let t = pr.f_mul(&pr.f_log()?.f_sub(&qr.f_log()?)?)?;
    Ok(t.f_sub(&pr.f_sub(qr)?)?)
}

/// `_kl_uniform_uniform`: `log((bq - aq) / (bp - ap))`, infinite where q does not cover p.
fn kl_uniform_uniform(p: &Uniform, q: &Uniform) -> Result<Tensor> {
    let mut result = q
        .high()
        .f_sub(q.low())?
        .f_div(&p.high().f_sub(p.low())?)?
        .f_log()?;
    let outside = q
        .low()
        .f_gt_tensor(p.low())?
        .f_logical_or(&q.high().f_lt_tensor(p.high())?)?;
    fill_where(&mut result, &outside, f64::INFINITY)?;
    Ok(result)
}

/// `_kl_transformed_transformed`: the bases' KL when the transforms and event shapes are
/// equal (PyTorch's bare `NotImplementedError` otherwise; tchdist's says which).
fn kl_transformed_transformed(
    p: &TransformedDistribution,
    q: &TransformedDistribution,
) -> Result<Tensor> {
    if !transforms_eq(p.transforms(), q.transforms())? {
        return Err(Error::NotImplemented(
            "KL(p || q) between TransformedDistributions with different transforms".into(),
        ));
    }
    if p.event_shape() != q.event_shape() {
        return Err(Error::NotImplemented(
            "KL(p || q) between TransformedDistributions with different event shapes".into(),
        ));
    }
    kl_divergence(p.base_dist(), q.base_dist())
}

/// `_euler_gamma`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// `_infinite_like(t)`: `full_like(t, inf)`.
fn infinite_like(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_full_like(f64::INFINITY)?)
}

/// `_x_log_x(t)`: `xlogy(t, t)`.
fn x_log_x(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_xlogy(t)?)
}

/// `_kl_bernoulli_poisson`: `-p.entropy() - (p.probs * q.rate.log() - q.rate)`.
fn kl_bernoulli_poisson(p: &Bernoulli, q: &Poisson) -> Result<Tensor> {
    let neg_h = p.entropy()?.f_neg()?;
    let t = p.probs()?.f_mul(&q.rate().f_log()?)?.f_sub(q.rate())?;
    Ok(neg_h.f_sub(&t)?)
}

/// `_kl_beta_exponential`.
fn kl_beta_exponential(p: &Beta, q: &Exponential) -> Result<Tensor> {
    let t = p.entropy()?.f_neg()?.f_sub(&q.rate().f_log()?)?;
    let c1 = p.concentration1()?;
    let total = p.concentration1()?.f_add(&p.concentration0()?)?;
    Ok(t.f_add(&q.rate().f_mul(&c1.f_div(&total)?)?)?)
}

/// `_kl_beta_gamma`.
fn kl_beta_gamma(p: &Beta, q: &Gamma) -> Result<Tensor> {
    let (qc, qr) = (q.concentration(), q.rate());
    let t1 = p.entropy()?.f_neg()?;
    let t2 = qc.f_lgamma()?.f_sub(&qc.f_mul(&qr.f_log()?)?)?;
    let d1 = p.concentration1()?.f_digamma()?;
    let d0 = p
        .concentration1()?
        .f_add(&p.concentration0()?)?
        .f_digamma()?;
    let t3 = qc.f_sub_scalar(1i64)?.f_mul(&d1.f_sub(&d0)?)?;
    let t4 = qr
        .f_mul(&p.concentration1()?)?
        .f_div(&p.concentration1()?.f_add(&p.concentration0()?)?)?;
    Ok(t1.f_add(&t2)?.f_sub(&t3)?.f_add(&t4)?)
}

/// `_kl_beta_normal`.
fn kl_beta_normal(p: &Beta, q: &Normal) -> Result<Tensor> {
    let e_beta = p
        .concentration1()?
        .f_div(&p.concentration1()?.f_add(&p.concentration0()?)?)?;
    let var_normal = q.scale().f_pow_tensor_scalar(2i64)?;
    let t1 = p.entropy()?.f_neg()?;
    let t2 = var_normal
        .f_mul_scalar(2i64)?
        .f_mul_scalar(std::f64::consts::PI)?
        .f_log()?
        .f_mul_scalar(0.5)?;
    let t3 = e_beta
        .f_mul(&e_beta.f_rsub_scalar(1i64)?)?
        .f_div(
            &p.concentration1()?
                .f_add(&p.concentration0()?)?
                .f_add_scalar(1i64)?,
        )?
        .f_add(&e_beta.f_pow_tensor_scalar(2i64)?)?
        .f_mul_scalar(0.5)?;
    let t4 = q.loc().f_mul(&e_beta)?;
    let t5 = q.loc().f_pow_tensor_scalar(2i64)?.f_mul_scalar(0.5)?;
    Ok(t1
        .f_add(&t2)?
        .f_add(&t3.f_sub(&t4)?.f_add(&t5)?.f_div(&var_normal)?)?)
}

/// `_kl_beta_uniform`: infinite where the uniform does not cover `[0, 1]`.
fn kl_beta_uniform(p: &Beta, q: &Uniform) -> Result<Tensor> {
    let mut result = p
        .entropy()?
        .f_neg()?
        .f_add(&q.high().f_sub(q.low())?.f_log()?)?;
    let outside = q.low().f_gt(0.0)?.f_logical_or(&q.high().f_lt(1.0)?)?;
    fill_where(&mut result, &outside, f64::INFINITY)?;
    Ok(result)
}

/// `_kl_exponential_gamma`.
fn kl_exponential_gamma(p: &Exponential, q: &Gamma) -> Result<Tensor> {
    let qc = q.concentration();
    let ratio = q.rate().f_div(p.rate())?;
    let t1 = qc.f_neg()?.f_mul(&ratio.f_log()?)?;
    Ok(t1
        .f_add(&ratio)?
        .f_add(&qc.f_lgamma()?)?
        .f_add(&qc.f_mul_scalar(EULER_GAMMA)?)?
        .f_sub_scalar(1.0 + EULER_GAMMA)?)
}

/// `_kl_exponential_normal`.
fn kl_exponential_normal(p: &Exponential, q: &Normal) -> Result<Tensor> {
    let var_normal = q.scale().f_pow_tensor_scalar(2i64)?;
    let rate_sqr = p.rate().f_pow_tensor_scalar(2i64)?;
    let t1 = rate_sqr
        .f_mul(&var_normal)?
        .f_mul_scalar(2i64)?
        .f_mul_scalar(std::f64::consts::PI)?
        .f_log()?
        .f_mul_scalar(0.5)?;
    let t2 = rate_sqr.f_reciprocal()?;
    let t3 = q.loc().f_div(p.rate())?;
    let t4 = q.loc().f_pow_tensor_scalar(2i64)?.f_mul_scalar(0.5)?;
    Ok(t1
        .f_sub_scalar(1i64)?
        .f_add(&t2.f_sub(&t3)?.f_add(&t4)?.f_div(&var_normal)?)?)
}

/// `_kl_gamma_exponential`: `-p.entropy() - q.rate.log() + q.rate * p.concentration / p.rate`.
fn kl_gamma_exponential(p: &Gamma, q: &Exponential) -> Result<Tensor> {
    let t = p.entropy()?.f_neg()?.f_sub(&q.rate().f_log()?)?;
    Ok(t.f_add(&q.rate().f_mul(p.concentration())?.f_div(p.rate())?)?)
}

/// `_kl_gamma_normal`.
fn kl_gamma_normal(p: &Gamma, q: &Normal) -> Result<Tensor> {
    let (pc, pr) = (p.concentration(), p.rate());
    let var_normal = q.scale().f_pow_tensor_scalar(2i64)?;
    let beta_sqr = pr.f_pow_tensor_scalar(2i64)?;
    let t1 = beta_sqr
        .f_mul(&var_normal)?
        .f_mul_scalar(2i64)?
        .f_mul_scalar(std::f64::consts::PI)?
        .f_log()?
        .f_mul_scalar(0.5)?
        .f_sub(pc)?
        .f_sub(&pc.f_lgamma()?)?;
    let t2 = pc
        .f_pow_tensor_scalar(2i64)?
        .f_add(pc)?
        .f_mul_scalar(0.5)?
        .f_div(&beta_sqr)?;
    let t3 = q.loc().f_mul(pc)?.f_div(pr)?;
    let t4 = q.loc().f_pow_tensor_scalar(2i64)?.f_mul_scalar(0.5)?;
    Ok(t1
        .f_add(&pc.f_sub_scalar(1i64)?.f_mul(&pc.f_digamma()?)?)?
        .f_add(&t2.f_sub(&t3)?.f_add(&t4)?.f_div(&var_normal)?)?)
}

/// `_kl_uniform_beta`: infinite where the uniform leaves `[0, 1]`.
fn kl_uniform_beta(p: &Uniform, q: &Beta) -> Result<Tensor> {
    let (ph, pl) = (p.high(), p.low());
    let common = ph.f_sub(pl)?;
    let t1 = common.f_log()?;
    let t2 = q
        .concentration1()?
        .f_sub_scalar(1i64)?
        .f_mul(&x_log_x(ph)?.f_sub(&x_log_x(pl)?)?.f_sub(&common)?)?
        .f_div(&common)?;
    let t3 = q
        .concentration0()?
        .f_sub_scalar(1i64)?
        .f_mul(
            &x_log_x(&ph.f_rsub_scalar(1i64)?)?
                .f_sub(&x_log_x(&pl.f_rsub_scalar(1i64)?)?)?
                .f_add(&common)?,
        )?
        .f_div(&common)?;
    let t4 = q
        .concentration1()?
        .f_lgamma()?
        .f_add(&q.concentration0()?.f_lgamma()?)?
        .f_sub(
            &q.concentration1()?
                .f_add(&q.concentration0()?)?
                .f_lgamma()?,
        )?;
    let mut result = t3.f_add(&t4)?.f_sub(&t1)?.f_sub(&t2)?;
    let outside = ph.f_gt(1.0)?.f_logical_or(&pl.f_lt(0.0)?)?;
    fill_where(&mut result, &outside, f64::INFINITY)?;
    Ok(result)
}

/// `_kl_uniform_exponetial` (sic): infinite where the uniform reaches below 0.
fn kl_uniform_exponential(p: &Uniform, q: &Exponential) -> Result<Tensor> {
    let (ph, pl, qr) = (p.high(), p.low(), q.rate());
    let mut result = qr
        .f_mul(&ph.f_add(pl)?)?
        .f_div_scalar(2i64)?
        .f_sub(&ph.f_sub(pl)?.f_mul(qr)?.f_log()?)?;
    fill_where(&mut result, &pl.f_lt(0.0)?, f64::INFINITY)?;
    Ok(result)
}

/// `_kl_uniform_gamma`: infinite where the uniform reaches below 0.
fn kl_uniform_gamma(p: &Uniform, q: &Gamma) -> Result<Tensor> {
    let (ph, pl, qc, qr) = (p.high(), p.low(), q.concentration(), q.rate());
    let common = ph.f_sub(pl)?;
    let t1 = common.f_log()?;
    let t2 = qc.f_lgamma()?.f_sub(&qc.f_mul(&qr.f_log()?)?)?;
    let t3 = qc
        .f_rsub_scalar(1i64)?
        .f_mul(&x_log_x(ph)?.f_sub(&x_log_x(pl)?)?.f_sub(&common)?)?
        .f_div(&common)?;
    let t4 = qr.f_mul(&ph.f_add(pl)?)?.f_div_scalar(2i64)?;
    let mut result = t1.f_neg()?.f_add(&t2)?.f_add(&t3)?.f_add(&t4)?;
    fill_where(&mut result, &pl.f_lt(0.0)?, f64::INFINITY)?;
    Ok(result)
}

/// `_kl_uniform_normal`.
fn kl_uniform_normal(p: &Uniform, q: &Normal) -> Result<Tensor> {
    let (ph, pl) = (p.high(), p.low());
    let common = ph.f_sub(pl)?;
    let t1 = q
        .scale()
        .f_mul_scalar((std::f64::consts::PI * 2.0).sqrt())?
        .f_div(&common)?
        .f_log()?;
    let t2 = common.f_pow_tensor_scalar(2i64)?.f_div_scalar(12i64)?;
    let t3 = ph
        .f_add(pl)?
        .f_sub(&q.loc().f_mul_scalar(2i64)?)?
        .f_div_scalar(2i64)?
        .f_pow_tensor_scalar(2i64)?;
    Ok(t1.f_add(
        &t2.f_add(&t3)?
            .f_mul_scalar(0.5)?
            .f_div(&q.scale().f_pow_tensor_scalar(2i64)?)?,
    )?)
}

/// The `OneHotCategorical` a distribution is (or extends).
fn one_hot_of(d: DistributionRef<'_>) -> Option<&OneHotCategorical> {
    match d {
        DistributionRef::OneHotCategorical(d) => Some(d),
        DistributionRef::OneHotCategoricalStraightThrough(d) => Some(d.one_hot_categorical()),
        _ => None,
    }
}
