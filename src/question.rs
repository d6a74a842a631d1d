//! The motivating question: draw samples from `MultivariateNormal(loc, Σ)`, take their
//! log-probabilities, and the Jacobian of those log-probabilities with respect to `loc`,
//! answered the ways Python answers it.

use std::fmt;
use std::str::FromStr;

use tch::Tensor;

use crate::autograd::functional::{jacobian, JacobianOptions};
use crate::autograd::{grad, GradOptions};
use crate::distributions::{Distribution, MultivariateNormal, MvnParam};
use crate::error::{Error, Result};

/// How the Jacobian of the log-probabilities is computed; each is a PyTorch program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JacobianMethod {
    /// The accepted answer: `torch.autograd.functional.jacobian` over a closure that builds
    /// the distribution, samples, and returns the log-probabilities.
    Functional,
    /// The question's first attempt: one `torch.autograd.grad(logprob, mu,
    /// retain_graph=True)` per log-probability, stacked.
    Loop,
}

impl JacobianMethod {
    /// Every method, in the order the CLI lists them.
    pub const ALL: [JacobianMethod; 2] = [JacobianMethod::Functional, JacobianMethod::Loop];

    /// The method's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            JacobianMethod::Functional => "functional",
            JacobianMethod::Loop => "loop",
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
        JacobianMethod::Functional => {
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
                &JacobianOptions::default(),
            )?;
            let (samples, log_prob) =
                drawn.ok_or_else(|| Error::Runtime("jacobian did not call the function".into()))?;
            Ok(MvnJacobian {
                samples,
                log_prob,
                jacobian: jac,
            })
        }
        JacobianMethod::Loop => tch::with_grad(|| {
            let mu = loc.f_detach()?.f_set_requires_grad(true)?;
            let dist = MultivariateNormal::new(&mu, param.shallow_clone(), true)?;
            let samples = dist.sample(&[num_samples])?;
            let log_probs = dist.log_prob(&samples)?;
            // `for logprob in logprobs` iterates over `logprobs.unbind(0)`.
            let opts = GradOptions {
                retain_graph: Some(true),
                ..Default::default()
            };
            let grads = log_probs
                .f_unbind(0)?
                .iter()
                .map(|lp| {
                    grad(&[lp], &[&mu], &opts)?
                        .pop()
                        .flatten()
                        .ok_or_else(|| Error::Runtime("loc is unused by log_prob".into()))
                })
                .collect::<Result<Vec<Tensor>>>()?;
            Ok(MvnJacobian {
                samples,
                log_prob: log_probs.f_detach()?,
                jacobian: Tensor::f_stack(&grads, 0)?,
            })
        }),
    }
}
