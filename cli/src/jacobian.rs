//! `tchdist jacobian`: the Jacobian of MultivariateNormal log-probabilities w.r.t. the mean.

use anyhow::Result;
use clap::ValueEnum;
use tchdist::format;
use tchdist::question::{mvn_log_prob_jacobian, JacobianMethod, MvnJacobian};

use super::case::CaseArgs;
use super::output::{Format, OutputArgs};

const EXAMPLES: &str = "\
Examples:
  tchdist jacobian
      the accepted answer: seed 0, MultivariateNormal(ones(2), eye(2)), 10 samples
  tchdist jacobian --loc '[0, 1, 2]' --covariance '[[2, 0.5, 0], [0.5, 1, 0], [0, 0, 1]]' -n 5
  tchdist jacobian --scale-tril '[[1, 0], [0.5, 2]]' --dtype f64 --format json
  tchdist jacobian --method analytic -n 100000 --format npy --output jac.npy";

/// Flags of `tchdist jacobian`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub case: CaseArgs,
    /// How the Jacobian is computed
    #[arg(long, value_enum, default_value_t = Method::Functional)]
    pub method: Method,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `--method`: each is a PyTorch program (see `tchdist::question::JacobianMethod`).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Method {
    /// one torch.autograd.grad(..., retain_graph=True) per log-probability (the question)
    Loop,
    /// torch.autograd.functional.jacobian (the accepted answer)
    Functional,
    /// functional.jacobian(..., vectorize=True): one vmapped backward pass
    Vectorized,
    /// one autograd.grad with grad_outputs=eye(n) and is_grads_batched=True
    Batched,
    /// the same one-hot grad_outputs fed to autograd.grad row by row
    BatchedLoop,
    /// functional.jacobian(..., strategy="forward-mode", vectorize=True)
    Forward,
    /// torch.func.jacrev
    Jacrev,
    /// torch.func.jacfwd
    Jacfwd,
    /// torch.func.vmap(torch.func.grad(log_prob)): per-sample gradients
    PerSample,
    /// closed form Σ⁻¹(x − μ): two BLAS-3 triangular solves over all samples
    Analytic,
}

impl Method {
    pub fn library(self) -> JacobianMethod {
        match self {
            Method::Loop => JacobianMethod::Loop,
            Method::Functional => JacobianMethod::Functional,
            Method::Vectorized => JacobianMethod::Vectorized,
            Method::Batched => JacobianMethod::Batched,
            Method::BatchedLoop => JacobianMethod::BatchedLoop,
            Method::Forward => JacobianMethod::Forward,
            Method::Jacrev => JacobianMethod::Jacrev,
            Method::Jacfwd => JacobianMethod::Jacfwd,
            Method::PerSample => JacobianMethod::PerSample,
            Method::Analytic => JacobianMethod::Analytic,
        }
    }
}

pub fn run(args: &Args) -> Result<Vec<u8>> {
    let method = args.method.library();
    let case = args
        .case
        .case_with_output(method, args.output.format == Format::Json)?;
    tch::manual_seed(case.seed as i64);
    let run = mvn_log_prob_jacobian(&case.loc, &case.param, case.num_samples, method)?;
    args.output.emit(render(&run, args.output.format)?)
}

/// The Jacobian as text or .npy, or all three tensors as JSON.
fn render(run: &MvnJacobian, format: Format) -> Result<Vec<u8>> {
    Ok(match format {
        Format::Text => format!("{}\n", format::display(&run.jacobian)?).into_bytes(),
        Format::Json => format!(
            "{{\"samples\": {}, \"log_prob\": {}, \"jacobian\": {}}}\n",
            format::json(&run.samples)?,
            format::json(&run.log_prob)?,
            format::json(&run.jacobian)?
        )
        .into_bytes(),
        Format::Npy => format::npy(&run.jacobian)?,
    })
}
