//! The motivating question: draw samples from `MultivariateNormal(loc, Σ)`, take their
//! log-probabilities, and the Jacobian of those log-probabilities with respect to `loc`,
//! answered the ways Python answers it.

use std::fmt;
use std::str::FromStr;

use tch::Tensor;

use crate::autograd::functional::{jacobian, JacobianOptions, Strategy};
use crate::autograd::{grad, GradOptions};
use crate::distributions::{Distribution, MultivariateNormal, MvnParam};
use crate::error::{Error, Result};
use crate::func;

/// How the Jacobian of the log-probabilities is computed; each is a PyTorch program
/// (`tests/pyref/mvn_jacobian.py` holds the Python twin of every one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JacobianMethod {
    /// The question's first attempt: one `torch.autograd.grad(logprob, mu,
    /// retain_graph=True)` per log-probability, stacked.
    Loop,
    /// The accepted answer: `torch.autograd.functional.jacobian` over a closure that builds
    /// the distribution, samples, and returns the log-probabilities.
    Functional,
    /// The accepted answer's closure under `jacobian(..., vectorize=True)`: one vmapped
    /// backward pass.
    Vectorized,
    /// One `torch.autograd.grad(logprobs, mu, grad_outputs=torch.eye(n),
    /// is_grads_batched=True)`.
    Batched,
    /// The same one-hot `grad_outputs`, fed row by row to `autograd.grad` (retain_graph).
    BatchedLoop,
    /// `jacobian(lambda m: MVN(m, ...).log_prob(samples), mu, strategy="forward-mode",
    /// vectorize=True)`, samples drawn first (PyTorch refuses random ops inside vmap).
    Forward,
    /// `torch.func.jacrev(lambda m: MVN(m, ...).log_prob(samples))(mu)`.
    Jacrev,
    /// `torch.func.jacfwd(lambda m: MVN(m, ...).log_prob(samples))(mu)`.
    Jacfwd,
    /// Per-sample gradients, `torch.func.vmap(torch.func.grad(lambda m, x: MVN(m,
    /// ...).log_prob(x)), in_dims=(None, 0))(mu, samples)` (unbatched distributions: `grad`
    /// needs a scalar per sample).
    PerSample,
    /// The closed form Σ⁻¹ (x − μ) with two BLAS-3 triangular solves over all samples
    /// ([`MultivariateNormal::score_loc`]).
    Analytic,
}

impl JacobianMethod {
    /// Every method, in the order the CLI lists them.
    pub const ALL: [JacobianMethod; 10] = [
        JacobianMethod::Loop,
        JacobianMethod::Functional,
        JacobianMethod::Vectorized,
        JacobianMethod::Batched,
        JacobianMethod::BatchedLoop,
        JacobianMethod::Forward,
        JacobianMethod::Jacrev,
        JacobianMethod::Jacfwd,
        JacobianMethod::PerSample,
        JacobianMethod::Analytic,
    ];

    /// The method's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            JacobianMethod::Loop => "loop",
            JacobianMethod::Functional => "functional",
            JacobianMethod::Vectorized => "vectorized",
            JacobianMethod::Batched => "batched",
            JacobianMethod::BatchedLoop => "batched-loop",
            JacobianMethod::Forward => "forward",
            JacobianMethod::Jacrev => "jacrev",
            JacobianMethod::Jacfwd => "jacfwd",
            JacobianMethod::PerSample => "per-sample",
            JacobianMethod::Analytic => "analytic",
        }
    }
}

impl fmt::Display for JacobianMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for JacobianMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
                Error::Value(format!(
                    "unknown method '{s}' (expected one of: {})",
                    names.join(", ")
                ))
            })
    }
}

/// What one run of the question produces (all detached from the graph).
#[derive(Debug)]
pub struct MvnJacobian {
    /// The samples, shape `(n,) + batch_shape + (d,)`.
    pub samples: Tensor,
    /// Their log-probabilities, shape `(n,) + batch_shape`.
    pub log_prob: Tensor,
    /// ∂ log_prob / ∂ loc, shape `log_prob.shape + loc.shape`.
    pub jacobian: Tensor,
}

/// Runs the question for `MultivariateNormal(loc, param)` with `num_samples` samples, drawing
/// from the global generator (seed it first with `tch::manual_seed` for Python's numbers).
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::{Device, Kind, Tensor};
/// use tchdist::distributions::MvnParam;
/// use tchdist::question::{mvn_log_prob_jacobian, JacobianMethod};
/// tch::manual_seed(0);
/// let loc = Tensor::ones([2], (Kind::Float, Device::Cpu));
/// let cov = MvnParam::CovarianceMatrix(Tensor::eye(2, (Kind::Float, Device::Cpu)));
/// let run = mvn_log_prob_jacobian(&loc, &cov, 10, JacobianMethod::Functional)?;
/// assert_eq!(run.jacobian.size(), vec![10, 2]);
/// // With Σ = I the Jacobian is x - loc: the standard-normal draws themselves.
/// assert_eq!(run.jacobian.double_value(&[0, 0]), f64::from(-1.1258398f32));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Invalid parameters (see [`MultivariateNormal::new`]) and anything libtorch raises.
pub fn mvn_log_prob_jacobian(
    loc: &Tensor,
    param: &MvnParam,
    num_samples: i64,
    method: JacobianMethod,
) -> Result<MvnJacobian> {
    match method {
        JacobianMethod::Functional | JacobianMethod::Vectorized => {
            let opts = JacobianOptions {
                vectorize: method == JacobianMethod::Vectorized,
                ..Default::default()
            };
            let mut drawn = None;
            let jac = jacobian(
                |mu| {
                    let dist = MultivariateNormal::new(mu, param.shallow_clone(), true)?;
                    let samples = dist.sample(&[num_samples])?;
                    let log_prob = dist.log_prob(&samples)?;
                    drawn = Some((samples, log_prob.f_detach()?));
                    Ok(log_prob)
                },
                loc,
                &opts,
            )?;
            let (samples, log_prob) =
                drawn.ok_or_else(|| Error::Runtime("jacobian did not call the function".into()))?;
            Ok(MvnJacobian {
                samples,
                log_prob,
                jacobian: jac,
            })
        }
        JacobianMethod::Loop | JacobianMethod::Batched | JacobianMethod::BatchedLoop => {
            tch::with_grad(|| {
                let mu = loc.f_detach()?.f_set_requires_grad(true)?;
                let dist = MultivariateNormal::new(&mu, param.shallow_clone(), true)?;
                let samples = dist.sample(&[num_samples])?;
                let log_probs = dist.log_prob(&samples)?;
                let jacobian = match method {
                    JacobianMethod::Loop => loop_of_grads(&log_probs, &mu)?,
                    _ => one_hot_grads(&log_probs, &mu, method == JacobianMethod::Batched)?,
                };
                Ok(MvnJacobian {
                    samples,
                    log_prob: log_probs.f_detach()?,
                    jacobian,
                })
            })
        }
        JacobianMethod::Forward
        | JacobianMethod::Jacrev
        | JacobianMethod::Jacfwd
        | JacobianMethod::PerSample
        | JacobianMethod::Analytic => {
            let (dist, samples) = tch::with_grad(|| -> Result<_> {
                let mu = loc.f_detach()?.f_set_requires_grad(true)?;
                let dist = MultivariateNormal::new(&mu, param.shallow_clone(), true)?;
                let samples = dist.sample(&[num_samples])?;
                Ok((dist, samples))
            })?;
            let log_prob = dist.log_prob(&samples)?.f_detach()?;
            let mu = loc.f_detach()?;
            let log_prob_at = |m: &Tensor, x: &Tensor| {
                MultivariateNormal::new(m, param.shallow_clone(), true)?.log_prob(x)
            };
            let jacobian = match method {
                JacobianMethod::Forward => {
                    let opts = JacobianOptions {
                        vectorize: true,
                        strategy: Strategy::ForwardMode,
                        ..Default::default()
                    };
                    jacobian(|m| log_prob_at(m, &samples), &mu, &opts)?
                }
                JacobianMethod::Jacrev => single(func::jacrev(
                    |m| Ok(vec![log_prob_at(&m[0], &samples)?]),
                    &[&mu],
                    &[0],
                )?)?,
                JacobianMethod::Jacfwd => single(func::jacfwd(
                    |m| Ok(vec![log_prob_at(&m[0], &samples)?]),
                    &[&mu],
                    &[0],
                    func::Randomness::Error,
                )?)?,
                JacobianMethod::PerSample => single(func::vmap(
                    |args| func::grad(|a| log_prob_at(&a[0], &a[1]), &[&args[0], &args[1]], &[0]),
                    &[&mu, &samples],
                    &[None, Some(0)],
                    0,
                    &func::VmapOptions::default(),
                )?)?,
                _ => {
                    let score = tch::no_grad(|| dist.score_loc(&samples))?;
                    score_to_jacobian(&score, dist.batch_shape(), &loc.size())?
                }
            };
            Ok(MvnJacobian {
                samples,
                log_prob,
                jacobian,
            })
        }
    }
}

/// The one tensor a transform returned.
fn single(mut results: Vec<Tensor>) -> Result<Tensor> {
    match results.len() {
        1 => results
            .pop()
            .ok_or_else(|| Error::Runtime("no result".into())),
        n => Err(Error::Runtime(format!("expected one result, got {n}"))),
    }
}

/// `for logprob in logprobs: grad(logprob, mu, retain_graph=True)`, stacked (the loop
/// iterates over `logprobs.unbind(0)`).
fn loop_of_grads(log_probs: &Tensor, mu: &Tensor) -> Result<Tensor> {
    let opts = GradOptions {
        retain_graph: Some(true),
        ..Default::default()
    };
    let grads = log_probs
        .f_unbind(0)?
        .iter()
        .map(|lp| first_grad(grad(&[lp], &[mu], &opts)?))
        .collect::<Result<Vec<Tensor>>>()?;
    Ok(Tensor::f_stack(&grads, 0)?)
}

/// `grad(logprobs, mu, grad_outputs=eye(N).reshape((N,) + logprobs.shape), ...)`, either
/// batched in one call (`is_grads_batched=True`) or one row at a time; reshaped to
/// `logprobs.shape + mu.shape`.
fn one_hot_grads(log_probs: &Tensor, mu: &Tensor, batched: bool) -> Result<Tensor> {
    let n = log_probs.numel() as i64;
    let mut basis_shape = vec![n];
    basis_shape.extend(log_probs.size());
    let eye = Tensor::f_eye(n, (log_probs.kind(), log_probs.device()))?.f_reshape(&basis_shape)?;
    let flat = if batched {
        let opts = GradOptions {
            grad_outputs: Some(vec![Some(&eye)]),
            is_grads_batched: true,
            ..Default::default()
        };
        first_grad(grad(&[log_probs], &[mu], &opts)?)?
    } else {
        let rows = eye
            .f_unbind(0)?
            .iter()
            .map(|row| {
                let opts = GradOptions {
                    grad_outputs: Some(vec![Some(row)]),
                    retain_graph: Some(true),
                    ..Default::default()
                };
                first_grad(grad(&[log_probs], &[mu], &opts)?)
            })
            .collect::<Result<Vec<Tensor>>>()?;
        Tensor::f_stack(&rows, 0)?
    };
    let mut shape = log_probs.size();
    shape.extend(mu.size());
    Ok(flat.f_reshape(&shape)?)
}

fn first_grad(mut grads: Vec<Option<Tensor>>) -> Result<Tensor> {
    grads
        .pop()
        .flatten()
        .ok_or_else(|| Error::Runtime("loc is unused by log_prob".into()))
}

/// Lays the per-sample scores `(S..., B..., d)` out as the Jacobian of `log_prob` (shape
/// `(S..., B...)`) with respect to a `loc` of shape `(Lb..., d)` that broadcasts to `B`:
/// entry `[s, b, l, :]` is `score[s, b, :]` where `l` broadcasts to `b`, zero elsewhere.
fn score_to_jacobian(score: &Tensor, batch_shape: &[i64], loc_shape: &[i64]) -> Result<Tensor> {
    let loc_batch = &loc_shape[..loc_shape.len() - 1];
    if loc_batch.is_empty() {
        return Ok(score.shallow_clone());
    }
    let options = (score.kind(), score.device());
    let mut indicator_shape = batch_shape.to_vec();
    indicator_shape.extend_from_slice(loc_batch);
    let mut indicator = Tensor::f_ones(&indicator_shape, options)?;
    let offset = batch_shape.len() - loc_batch.len();
    for (k, &size) in loc_batch.iter().enumerate() {
        if size == 1 {
            continue;
        }
        let mut eye_shape = vec![1i64; indicator_shape.len()];
        eye_shape[offset + k] = size;
        eye_shape[batch_shape.len() + k] = size;
        indicator = indicator.f_mul(&Tensor::f_eye(size, options)?.f_reshape(&eye_shape)?)?;
    }
    let score_size = score.size();
    let mut score_shape = score_size[..score_size.len() - 1].to_vec();
    score_shape.extend(std::iter::repeat_n(1, loc_batch.len()));
    score_shape.push(score_size[score_size.len() - 1]);
    Ok(score
        .f_reshape(&score_shape)?
        .f_mul(&indicator.f_unsqueeze(-1)?)?)
}

/// A rough upper bound, in bytes, of the memory a run of `method` needs for `num_samples`
/// samples of a `d`-dimensional MVN with `batch` batch elements (`loc` of `loc_numel`
/// elements), with `elem` bytes per float: outputs, the retained graph, and the largest
/// temporaries (the n² one-hot basis of the batched methods, the d-wide tangent batch of
/// forward mode), times 4 for intermediates. Used to refuse sizes that cannot fit before
/// allocating anything.
///
/// ```
/// use tchdist::question::{estimated_bytes, JacobianMethod};
/// let small = estimated_bytes(JacobianMethod::Analytic, 10, 1, 2, 2, 4);
/// let big = estimated_bytes(JacobianMethod::Batched, 100_000, 1, 2, 2, 4);
/// assert!(small < 10_000 && big > 100_000_000_000);
/// ```
pub fn estimated_bytes(
    method: JacobianMethod,
    num_samples: u64,
    batch: u64,
    d: u64,
    loc_numel: u64,
    elem: u64,
) -> u128 {
    let n = u128::from(num_samples) * u128::from(batch.max(1));
    let (d, loc) = (u128::from(d), u128::from(loc_numel));
    let base = n * d * 4 + n * loc + d * d * u128::from(batch.max(1));
    let extra = match method {
        JacobianMethod::Vectorized | JacobianMethod::Batched => n * n * (d + loc + 1),
        JacobianMethod::Forward => loc * n * (d + 1),
        _ => 0,
    };
    (base + extra) * 4 * u128::from(elem)
}

/// The benchmark case: `loc = zeros(d)` and a random SPD covariance made from `seed`,
/// `torch.manual_seed(seed); A = torch.randn(d, d); Σ = A Aᵀ / d + I`, identical in Python.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// let (loc, cov) = tchdist::question::bench_case(3, tch::Kind::Double, tch::Device::Cpu, 0)?;
/// assert_eq!((loc.size(), cov.size()), (vec![3], vec![3, 3]));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Only if libtorch fails to allocate.
pub fn bench_case(
    d: i64,
    kind: tch::Kind,
    device: tch::Device,
    seed: u64,
) -> Result<(Tensor, Tensor)> {
    tch::manual_seed(seed as i64);
    let a = Tensor::f_randn([d, d], (kind, device))?;
    let cov = a
        .f_matmul(&a.f_tr()?)?
        .f_div_scalar(d as f64)?
        .f_add(&Tensor::f_eye(d, (kind, device))?)?;
    Ok((Tensor::f_zeros([d], (kind, device))?, cov))
}
