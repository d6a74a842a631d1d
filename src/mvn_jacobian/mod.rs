//! The Jacobian of MultivariateNormal log-probabilities with respect to the mean: draw samples
//! from `MultivariateNormal(loc, Σ)`, take their log-probabilities, and differentiate them by
//! `loc`, in each of the ways PyTorch offers ([`JacobianMethod`]) and in closed form; with the
//! memory each way needs, how the one-hot basis is chunked, and the benchmark's case.

use std::fmt;
use std::str::FromStr;

use tch::Tensor;

use crate::autograd::functional::{
    chunk_ranges, jacobian, standard_basis_rows, JacobianOptions, Strategy,
};
use crate::autograd::{grad, GradOptions};
use crate::distributions::{Distribution, MultivariateNormal, MvnParam, Sampler};
use crate::error::{Error, Result};
use crate::func;

/// The PyTorch twin of every [`JacobianMethod`], as a Python program (this module's
/// `pytorch_twin.py`): it reads a JSON list of cases on stdin, runs for each the Python program
/// the case's method names, and prints every tensor as float64 bit patterns. `tchdist check`
/// runs it with `python -c`, the parity tests and the benchmark run the same file.
///
/// ```
/// assert!(tchdist::mvn_jacobian::PYTORCH_TWIN.contains("def compute(method"));
/// ```
pub const PYTORCH_TWIN: &str = include_str!("pytorch_twin.py");

/// How the Jacobian of the log-probabilities is computed; each is a PyTorch program
/// ([`PYTORCH_TWIN`] holds the Python twin of every one).
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

    /// The method's name on the command line (and in the Python twins' requests).
    pub fn name(self) -> &'static str {
        self.describe().0
    }

    /// One line on what the method runs, as `tchdist jacobian --help` lists it.
    ///
    /// ```
    /// use tchdist::mvn_jacobian::JacobianMethod;
    /// assert_eq!(JacobianMethod::Jacrev.about(), "torch.func.jacrev");
    /// ```
    pub fn about(self) -> &'static str {
        self.describe().1
    }

    /// Whether the method's time grows with n² (one backward pass, or one row of an n-row
    /// one-hot basis, per log-probability): the reverse-mode methods. The others (forward
    /// mode, per-sample gradients, the closed form) grow with n.
    ///
    /// ```
    /// use tchdist::mvn_jacobian::JacobianMethod;
    /// assert!(JacobianMethod::Loop.time_grows_with_n_squared());
    /// assert!(!JacobianMethod::Analytic.time_grows_with_n_squared());
    /// ```
    pub fn time_grows_with_n_squared(self) -> bool {
        matches!(
            self,
            JacobianMethod::Loop
                | JacobianMethod::Functional
                | JacobianMethod::Vectorized
                | JacobianMethod::Batched
                | JacobianMethod::BatchedLoop
                | JacobianMethod::Jacrev
        )
    }

    /// Name and one-line description, written once for both.
    fn describe(self) -> (&'static str, &'static str) {
        match self {
            JacobianMethod::Loop => (
                "loop",
                "one torch.autograd.grad(..., retain_graph=True) per log-probability (the question)",
            ),
            JacobianMethod::Functional => (
                "functional",
                "torch.autograd.functional.jacobian (the accepted answer)",
            ),
            JacobianMethod::Vectorized => (
                "vectorized",
                "functional.jacobian(..., vectorize=True): one vmapped backward pass",
            ),
            JacobianMethod::Batched => (
                "batched",
                "one autograd.grad with grad_outputs=eye(n) and is_grads_batched=True",
            ),
            JacobianMethod::BatchedLoop => (
                "batched-loop",
                "the same one-hot grad_outputs fed to autograd.grad row by row",
            ),
            JacobianMethod::Forward => (
                "forward",
                "functional.jacobian(..., strategy=\"forward-mode\", vectorize=True)",
            ),
            JacobianMethod::Jacrev => ("jacrev", "torch.func.jacrev"),
            JacobianMethod::Jacfwd => ("jacfwd", "torch.func.jacfwd"),
            JacobianMethod::PerSample => (
                "per-sample",
                "torch.func.vmap(torch.func.grad(log_prob)): per-sample gradients",
            ),
            JacobianMethod::Analytic => (
                "analytic",
                "closed form Σ⁻¹(x − μ): two BLAS-3 triangular solves over all samples",
            ),
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
/// use tchdist::mvn_jacobian::{mvn_log_prob_jacobian, JacobianMethod};
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
    mvn_log_prob_jacobian_with_sampler(loc, param, num_samples, method, Sampler::Exact)
}

/// [`mvn_log_prob_jacobian`] with the chunk of one-hot basis rows that the `vectorized`,
/// `batched` and `jacrev` methods give each batched backward pass chosen by the caller
/// (`None`: all rows in one pass, PyTorch's program; [`mvn_log_prob_jacobian`] picks
/// [`basis_chunk_rows`]). Other methods ignore it.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::{Device, Kind, Tensor};
/// use tchdist::distributions::MvnParam;
/// use tchdist::mvn_jacobian::{mvn_log_prob_jacobian_chunked, JacobianMethod};
/// let loc = Tensor::ones([2], (Kind::Double, Device::Cpu));
/// let cov = MvnParam::CovarianceMatrix(Tensor::eye(2, (Kind::Double, Device::Cpu)));
/// tch::manual_seed(0);
/// let one = mvn_log_prob_jacobian_chunked(&loc, &cov, 10, JacobianMethod::Batched, None)?;
/// tch::manual_seed(0);
/// let chunked = mvn_log_prob_jacobian_chunked(&loc, &cov, 10, JacobianMethod::Batched, Some(3))?;
/// assert!(one.jacobian.equal(&chunked.jacobian));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`mvn_log_prob_jacobian`]; a `chunk` below 1 is refused.
pub fn mvn_log_prob_jacobian_chunked(
    loc: &Tensor,
    param: &MvnParam,
    num_samples: i64,
    method: JacobianMethod,
    chunk: Option<i64>,
) -> Result<MvnJacobian> {
    run(
        loc,
        param,
        Points::Draw(num_samples, Sampler::Exact),
        method,
        chunk,
    )
}

/// [`mvn_log_prob_jacobian`] with the samples drawn by `sampler`: [`Sampler::Exact`] is
/// [`mvn_log_prob_jacobian`] itself; with [`Sampler::Gemm`] the same standard-normal draws are
/// multiplied by Lᵀ in one matrix product (faster at large d, not PyTorch's sample bits; the
/// log-probabilities and the Jacobian are then each method's program on those samples).
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::{Device, Kind, Tensor};
/// use tchdist::distributions::{MvnParam, Sampler};
/// use tchdist::mvn_jacobian::{mvn_log_prob_jacobian_with_sampler, JacobianMethod};
/// let loc = Tensor::zeros([30], (Kind::Double, Device::Cpu));
/// let cov = MvnParam::CovarianceMatrix(Tensor::eye(30, (Kind::Double, Device::Cpu)) * 2.0);
/// tch::manual_seed(0);
/// let run = mvn_log_prob_jacobian_with_sampler(&loc, &cov, 500, JacobianMethod::Analytic, Sampler::Gemm)?;
/// // Σ⁻¹ (x − μ) = x / 2
/// assert!(run.jacobian.allclose(&(&run.samples / 2.0), 1e-15, 0.0, false));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`mvn_log_prob_jacobian`].
pub fn mvn_log_prob_jacobian_with_sampler(
    loc: &Tensor,
    param: &MvnParam,
    num_samples: i64,
    method: JacobianMethod,
    sampler: Sampler,
) -> Result<MvnJacobian> {
    let chunk = basis_chunk_rows(loc, param, num_samples);
    run(
        loc,
        param,
        Points::Draw(num_samples, sampler),
        method,
        chunk,
    )
}

/// The Jacobian of `log_prob(value)` with respect to `loc` at the caller's points: each
/// method's program with `value` in place of the drawn samples (nothing is sampled, the
/// generator is untouched). `value` is `(S..., d)` and broadcasts against the batch shape as
/// in `MultivariateNormal.log_prob`; the result's `samples` is `value`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::{Device, Kind, Tensor};
/// use tchdist::distributions::MvnParam;
/// use tchdist::mvn_jacobian::{mvn_log_prob_jacobian_at, JacobianMethod};
/// let loc = Tensor::zeros([2], (Kind::Double, Device::Cpu));
/// let cov = MvnParam::CovarianceMatrix(Tensor::eye(2, (Kind::Double, Device::Cpu)) * 4.0);
/// let x = Tensor::from_slice(&[2.0f64, -4.0]).reshape([1, 2]);
/// let run = mvn_log_prob_jacobian_at(&loc, &cov, &x, JacobianMethod::Jacrev)?;
/// // Σ⁻¹ (x − μ) = x / 4
/// assert_eq!(Vec::<f64>::try_from(run.jacobian.reshape([-1]))?, vec![0.5, -1.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`mvn_log_prob_jacobian`], and PyTorch's messages for a `value` outside the support or
/// of a shape that does not broadcast.
pub fn mvn_log_prob_jacobian_at(
    loc: &Tensor,
    param: &MvnParam,
    value: &Tensor,
    method: JacobianMethod,
) -> Result<MvnJacobian> {
    let outputs = broadcast_numel(&[
        batch_dims(&value.size(), 1),
        batch_dims(&loc.size(), 1),
        batch_dims(&param.matrix().size(), 2),
    ]);
    let chunk = chunk_rows_for(loc, outputs);
    run(loc, param, Points::Given(value), method, chunk)
}

/// Where the log-probabilities are taken: `n` fresh samples, or the caller's points.
#[derive(Clone, Copy)]
enum Points<'a> {
    Draw(i64, Sampler),
    Given(&'a Tensor),
}

impl Points<'_> {
    /// `dist.sample((n,))`, or the given points.
    fn of(self, dist: &MultivariateNormal) -> Result<Tensor> {
        match self {
            Points::Draw(n, Sampler::Exact) => dist.sample(&[n]),
            Points::Draw(n, sampler) => dist.clone().with_sampler(sampler).sample(&[n]),
            Points::Given(value) => Ok(value.shallow_clone()),
        }
    }
}

/// Every method's program, on drawn or given points.
fn run(
    loc: &Tensor,
    param: &MvnParam,
    points: Points,
    method: JacobianMethod,
    chunk: Option<i64>,
) -> Result<MvnJacobian> {
    if chunk.is_some_and(|c| c < 1) {
        return Err(Error::Value(format!(
            "the basis chunk must be at least 1 row, got {}",
            chunk.unwrap_or_default()
        )));
    }
    match method {
        JacobianMethod::Functional | JacobianMethod::Vectorized => {
            let opts = JacobianOptions {
                vectorize: method == JacobianMethod::Vectorized,
                chunk_size: chunk,
                ..Default::default()
            };
            let mut drawn = None;
            let jac = jacobian(
                |mu| {
                    let dist = MultivariateNormal::new(mu, param.shallow_clone(), true)?;
                    let samples = points.of(&dist)?;
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
                let samples = points.of(&dist)?;
                let log_probs = dist.log_prob(&samples)?;
                let jacobian = match method {
                    JacobianMethod::Loop => loop_of_grads(&log_probs, &mu)?,
                    JacobianMethod::Batched => batched_one_hot_grads(&log_probs, &mu, chunk)?,
                    _ => row_by_row_one_hot_grads(&log_probs, &mu)?,
                };
                Ok(MvnJacobian {
                    samples,
                    log_prob: log_probs.f_detach()?,
                    jacobian,
                })
            })
        }
        JacobianMethod::Analytic => tch::no_grad(|| {
            // No autograd at all: the closed form needs no graph; the score shares log_prob's
            // sample check and (one scale matrix) its triangular solve.
            let dist = MultivariateNormal::new(&loc.f_detach()?, param.shallow_clone(), true)?;
            let samples = points.of(&dist)?;
            let (log_prob, score) = dist.log_prob_and_score_loc(&samples)?;
            let jacobian = score_to_jacobian(&score, dist.batch_shape(), &loc.size())?;
            Ok(MvnJacobian {
                samples,
                log_prob,
                jacobian,
            })
        }),
        JacobianMethod::Forward
        | JacobianMethod::Jacrev
        | JacobianMethod::Jacfwd
        | JacobianMethod::PerSample => {
            let (dist, samples) = tch::with_grad(|| -> Result<_> {
                let mu = loc.f_detach()?.f_set_requires_grad(true)?;
                let dist = MultivariateNormal::new(&mu, param.shallow_clone(), true)?;
                let samples = points.of(&dist)?;
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
                JacobianMethod::Jacrev => single(func::jacrev_chunked(
                    |m| Ok(vec![log_prob_at(&m[0], &samples)?]),
                    &[&mu],
                    &[0],
                    chunk,
                )?)?,
                JacobianMethod::Jacfwd => single(func::jacfwd(
                    |m| Ok(vec![log_prob_at(&m[0], &samples)?]),
                    &[&mu],
                    &[0],
                    func::Randomness::Error,
                )?)?,
                // PerSample, the one method of this arm left.
                _ => single(func::vmap(
                    |args| func::grad(|a| log_prob_at(&a[0], &a[1]), &[&args[0], &args[1]], &[0]),
                    &[&mu, &samples],
                    &[None, Some(0)],
                    0,
                    &func::VmapOptions::default(),
                )?)?,
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

/// Rows `start..start + len` of `eye(N).reshape((N,) + logprobs.shape)`, N = `logprobs.numel()`.
fn eye_rows(log_probs: &Tensor, start: i64, len: i64) -> Result<Tensor> {
    let rows = single(standard_basis_rows(
        &[log_probs],
        &[log_probs.numel() as i64],
        start,
        len,
    )?)?;
    let mut shape = vec![len];
    shape.extend(log_probs.size());
    Ok(rows.f_reshape(&shape)?)
}

/// `grad(logprobs, mu, grad_outputs=eye(N).reshape((N,) + logprobs.shape),
/// is_grads_batched=True)`: one call for all N rows, or with `chunk` one call per `chunk` rows
/// (graph retained), concatenated; reshaped to `logprobs.shape + mu.shape`.
fn batched_one_hot_grads(log_probs: &Tensor, mu: &Tensor, chunk: Option<i64>) -> Result<Tensor> {
    let n = log_probs.numel() as i64;
    let mut parts = chunk_ranges(n, chunk)
        .into_iter()
        .map(|(start, len)| {
            let basis = eye_rows(log_probs, start, len)?;
            let opts = GradOptions {
                grad_outputs: Some(vec![Some(&basis)]),
                is_grads_batched: true,
                retain_graph: (len < n).then_some(true),
                ..Default::default()
            };
            first_grad(grad(&[log_probs], &[mu], &opts)?)
        })
        .collect::<Result<Vec<Tensor>>>()?;
    let flat = if parts.len() == 1 {
        parts.swap_remove(0)
    } else {
        Tensor::f_cat(&parts, 0)?
    };
    as_jacobian(&flat, log_probs, mu)
}

/// The same one-hot rows fed to `autograd.grad` one at a time (retain_graph), stacked.
fn row_by_row_one_hot_grads(log_probs: &Tensor, mu: &Tensor) -> Result<Tensor> {
    let eye = eye_rows(log_probs, 0, log_probs.numel() as i64)?;
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
    as_jacobian(&Tensor::f_stack(&rows, 0)?, log_probs, mu)
}

/// One gradient row per log-probability, reshaped to `logprobs.shape + mu.shape`.
fn as_jacobian(flat: &Tensor, log_probs: &Tensor, mu: &Tensor) -> Result<Tensor> {
    let mut shape = log_probs.size();
    shape.extend(mu.size());
    Ok(flat.f_reshape(&shape)?)
}

/// Memory that one batched backward pass of the `vectorized`, `batched` and `jacrev` methods
/// may take for its rows of the one-hot basis: 512 MiB.
pub const BASIS_MEMORY_BUDGET: u64 = 512 << 20;

/// Memory one batched backward pass aims at (32 MiB): passes of fewer rows keep their
/// intermediates in cache and in the allocator's reuse, which measured faster and leaner than
/// one pass over every row (1000 x 10 f64, vectorized: 172 -> 63 ms, 237 -> 109 MiB above
/// start with glibc's malloc), down to [`MIN_BASIS_ROWS`] rows a pass.
pub const BASIS_PASS_TARGET: u64 = 32 << 20;

/// The fewest rows of the one-hot basis a batched backward pass takes (as
/// [`BASIS_MEMORY_BUDGET`] allows): below it the passes' fixed cost dominates (10000 x 50
/// f32, vectorized: 16 rows a pass took twice as long as 32).
pub const MIN_BASIS_ROWS: u64 = 32;

/// Rows per batched backward pass for `outputs` rows of `row` bytes each (all when they fit).
fn rows_per_pass(outputs: u64, row: u64) -> u64 {
    let row = row.max(1);
    let most = (BASIS_MEMORY_BUDGET / row).max(1);
    (BASIS_PASS_TARGET / row)
        .max(MIN_BASIS_ROWS.min(most))
        .min(outputs.max(1))
}

/// Bytes one row of the one-hot basis costs in a batched backward pass: the gradient of
/// every n·d intermediate and of `loc`, twice over (the gradient and its temporaries).
fn basis_row_bytes(outputs: u64, d: u64, loc_numel: u64, elem: u64) -> u64 {
    outputs
        .saturating_mul(d.saturating_add(loc_numel))
        .saturating_mul(elem)
        .saturating_mul(2)
}

/// Rows of the one-hot basis per batched backward pass: `None` (PyTorch's single pass over all
/// N = num_samples · batch outputs) when they fit in [`BASIS_PASS_TARGET`], else as many as fit
/// in it, but at least [`MIN_BASIS_ROWS`] where [`BASIS_MEMORY_BUDGET`] allows (at least one).
/// Chunking only splits the basis; the rows and their arithmetic are the same.
///
/// ```
/// use tch::{Device, Kind, Tensor};
/// use tchdist::distributions::MvnParam;
/// use tchdist::mvn_jacobian::basis_chunk_rows;
/// let case = |d: i64| {
///     let opts = (Kind::Double, Device::Cpu);
///     (Tensor::zeros([d], opts), MvnParam::CovarianceMatrix(Tensor::eye(d, opts)))
/// };
/// let (loc, cov) = case(10);
/// assert_eq!(basis_chunk_rows(&loc, &cov, 100), None);
/// // One row: 1000 outputs x (10 + 10) x 8 bytes x 2 = 320 kB; 32 MiB holds 104.
/// assert_eq!(basis_chunk_rows(&loc, &cov, 1000), Some(104));
/// let (loc, cov) = case(50);
/// // One row: 10000 outputs x (50 + 50) x 8 bytes x 2 = 16 MB: 32 rows (512 MiB holds 33).
/// assert_eq!(basis_chunk_rows(&loc, &cov, 10_000), Some(32));
/// ```
pub fn basis_chunk_rows(loc: &Tensor, param: &MvnParam, num_samples: i64) -> Option<i64> {
    let batch = batch_numel(&loc.size(), &param.matrix().size());
    chunk_rows_for(loc, (num_samples.max(0) as u64).saturating_mul(batch))
}

/// The number of batch elements of `MultivariateNormal(loc, matrix)`: the batch shapes of `loc`
/// (`(..., d)`) and of the matrix (`(..., d, d)`) broadcast together (saturating; a
/// dimension of 0 counts 0).
///
/// ```
/// use tchdist::mvn_jacobian::batch_numel;
/// assert_eq!(batch_numel(&[12000, 1, 2], &[100, 2, 2]), 1_200_000);
/// assert_eq!(batch_numel(&[2], &[2, 2]), 1);
/// ```
pub fn batch_numel(loc_shape: &[i64], matrix_shape: &[i64]) -> u64 {
    broadcast_numel(&[batch_dims(loc_shape, 1), batch_dims(matrix_shape, 2)])
}

/// The shape left of the `event_dims` rightmost dimensions.
fn batch_dims(shape: &[i64], event_dims: usize) -> Vec<i64> {
    shape[..shape.len().saturating_sub(event_dims)].to_vec()
}

/// The number of elements of the shapes broadcast together (saturating).
fn broadcast_numel(shapes: &[Vec<i64>]) -> u64 {
    let rank = shapes.iter().map(Vec::len).max().unwrap_or(0);
    (0..rank)
        .map(|i| {
            shapes
                .iter()
                .map(|s| {
                    (i + s.len())
                        .checked_sub(rank)
                        .map_or(1, |j| s[j].max(0) as u64)
                })
                .max()
                .unwrap_or(1)
        })
        .fold(1u64, u64::saturating_mul)
}

/// [`basis_chunk_rows`] for `outputs` log-probabilities of a `loc`.
fn chunk_rows_for(loc: &Tensor, outputs: u64) -> Option<i64> {
    let d = loc.size().last().copied().unwrap_or(1).max(1) as u64;
    let elem = loc.kind().elt_size_in_bytes() as u64;
    let fit = rows_per_pass(
        outputs,
        basis_row_bytes(outputs, d, loc.numel() as u64, elem),
    );
    (fit < outputs).then(|| fit.min(i64::MAX as u64) as i64)
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
/// temporaries (the rows of the one-hot basis that one batched backward pass takes, at most
/// [`BASIS_MEMORY_BUDGET`] when there are many; the d-wide tangent batch of forward mode),
/// times 4 for intermediates. Used to refuse sizes that cannot fit before allocating anything.
///
/// ```
/// use tchdist::mvn_jacobian::{estimated_bytes, JacobianMethod};
/// let small = estimated_bytes(JacobianMethod::Analytic, 10, 1, 2, 2, 4);
/// let big = estimated_bytes(JacobianMethod::Batched, 100_000_000, 1, 2, 2, 4);
/// assert!(small < 10_000 && big > 10_000_000_000);
/// ```
pub fn estimated_bytes(
    method: JacobianMethod,
    num_samples: u64,
    batch: u64,
    d: u64,
    loc_numel: u64,
    elem: u64,
) -> u128 {
    let outputs = num_samples.saturating_mul(batch.max(1));
    let n = u128::from(outputs);
    let (d128, loc) = (u128::from(d), u128::from(loc_numel));
    // Saturating throughout: a size past u128 is "too big", never a wrapped small number.
    let mul = |factors: &[u128]| factors.iter().fold(1u128, |a, &b| a.saturating_mul(b));
    let base = mul(&[n, d128, 4])
        .saturating_add(mul(&[n, loc]))
        .saturating_add(mul(&[d128, d128, u128::from(batch.max(1))]));
    let extra = match method {
        JacobianMethod::Vectorized | JacobianMethod::Batched | JacobianMethod::Jacrev => {
            let row = basis_row_bytes(outputs, d, loc_numel, elem).max(1);
            let rows = rows_per_pass(outputs, row);
            mul(&[
                u128::from(rows),
                n.saturating_add(u128::from(row) / u128::from(elem.max(1))),
            ])
        }
        JacobianMethod::Forward => mul(&[loc, n, d128.saturating_add(1)]),
        _ => 0,
    };
    // batched-loop makes the whole N x N one-hot basis before feeding its rows one by one.
    let basis = match method {
        JacobianMethod::BatchedLoop => mul(&[n, n, u128::from(elem)]),
        _ => 0,
    };
    mul(&[base.saturating_add(extra), 4, u128::from(elem)]).saturating_add(basis)
}

/// A rough time, in seconds, of `method` on `outputs` log-probabilities of dimension `d` on
/// the CPU, fitted to docs/BENCHMARKS.md (2 cores, n = 1000 to 10000, d = 10 to 200): the
/// reverse-mode methods take one backward pass over the n·d graph per output (n² d), the
/// others n d². Used to refuse runs of minutes before they start; machine-dependent.
///
/// ```
/// use tchdist::mvn_jacobian::{estimated_seconds, JacobianMethod};
/// assert!(estimated_seconds(JacobianMethod::Loop, 1_000_000, 2) > 3600.0);
/// assert!(estimated_seconds(JacobianMethod::Analytic, 1_000_000, 2) < 1.0);
/// ```
pub fn estimated_seconds(method: JacobianMethod, outputs: u64, d: u64) -> f64 {
    let (outputs, d) = (outputs as f64, d as f64);
    let quadratic = |c: f64, k: f64| c * outputs * outputs * (d + k);
    let linear = |c: f64| c * outputs * d * d + 1e-7 * outputs;
    match method {
        JacobianMethod::Loop => quadratic(1.5e-8, 100.0),
        JacobianMethod::Functional | JacobianMethod::BatchedLoop => quadratic(9e-9, 10.0),
        JacobianMethod::Vectorized | JacobianMethod::Batched | JacobianMethod::Jacrev => {
            quadratic(1e-8, 10.0)
        }
        JacobianMethod::Forward => linear(1.5e-8),
        JacobianMethod::Jacfwd => linear(1.2e-8),
        JacobianMethod::PerSample => linear(3e-9),
        JacobianMethod::Analytic => linear(1e-9),
    }
}

/// The benchmark case: `loc = zeros(d)` and a random SPD covariance made from `seed`,
/// `torch.manual_seed(seed); A = torch.randn(d, d); Σ = A Aᵀ / d + I`, identical in Python.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// let (loc, cov) = tchdist::mvn_jacobian::bench_case(3, tch::Kind::Double, tch::Device::Cpu, 0)?;
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
