//! `tchdist jacobian`: the Jacobian of MultivariateNormal log-probabilities w.r.t. the mean.

use anyhow::{bail, Result};
use clap::{ArgGroup, ValueEnum};
use tch::{Device, Kind, Tensor};
use tchdist::distributions::MvnParam;
use tchdist::format;
use tchdist::question::{mvn_log_prob_jacobian, JacobianMethod};

use super::input::Array;

const EXAMPLES: &str = "\
Examples:
  tchdist jacobian
      the accepted answer: seed 0, MultivariateNormal(ones(2), eye(2)), 10 samples
  tchdist jacobian --loc '[0, 1, 2]' --covariance '[[2, 0.5, 0], [0.5, 1, 0], [0, 0, 1]]' -n 5
  tchdist jacobian --scale-tril '[[1, 0], [0.5, 2]]' --dtype f64 --format json
  tchdist jacobian --method loop --seed 42";

/// Flags of `tchdist jacobian`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
#[command(group(ArgGroup::new("matrix").args(["covariance", "precision", "scale_tril"]).multiple(false)))]
pub struct Args {
    /// Mean vector as JSON, e.g. '[1, 1]' (default: ones of the matrix's size, or 2)
    #[arg(long, value_name = "JSON")]
    loc: Option<String>,
    /// Covariance matrix as JSON, e.g. '[[1, 0], [0, 1]]' (default: the identity)
    #[arg(long, value_name = "JSON")]
    covariance: Option<String>,
    /// Precision matrix (inverse covariance) as JSON, instead of --covariance
    #[arg(long, value_name = "JSON")]
    precision: Option<String>,
    /// Lower-triangular Cholesky factor of the covariance as JSON, instead of --covariance
    #[arg(long = "scale-tril", value_name = "JSON")]
    scale_tril: Option<String>,
    /// Number of samples
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    num_samples: i64,
    /// Seed of the global generator (torch.manual_seed)
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// Floating-point type of every tensor
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,
    /// How the Jacobian is computed
    #[arg(long, value_enum, default_value_t = Method::Functional)]
    method: Method,
    /// text: the Jacobian as Python prints it; json: samples, log_prob and jacobian
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Dtype {
    F32,
    F64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Method {
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
    /// closed form Σ⁻¹(x − μ): two BLAS-3 triangular solves over all samples
    Analytic,
}

impl Method {
    fn library(self) -> JacobianMethod {
        match self {
            Method::Loop => JacobianMethod::Loop,
            Method::Functional => JacobianMethod::Functional,
            Method::Vectorized => JacobianMethod::Vectorized,
            Method::Batched => JacobianMethod::Batched,
            Method::BatchedLoop => JacobianMethod::BatchedLoop,
            Method::Forward => JacobianMethod::Forward,
            Method::Analytic => JacobianMethod::Analytic,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

/// The largest number of samples accepted: beyond it the per-sample backward passes alone
/// would run for hours; the limit keeps a typo from looking like a hang.
const MAX_SAMPLES: i64 = 10_000_000;

pub fn run(args: &Args) -> Result<String> {
    if args.num_samples < 1 {
        bail!("--num-samples must be at least 1, got {}", args.num_samples);
    }
    if args.num_samples > MAX_SAMPLES {
        bail!(
            "--num-samples {} is too large (at most {MAX_SAMPLES})",
            args.num_samples
        );
    }
    let kind = match args.dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
    };
    let (loc, param) = parameters(args, kind)?;
    let method = args.method.library();
    tch::manual_seed(args.seed as i64);
    let run = mvn_log_prob_jacobian(&loc, &param, args.num_samples, method)?;
    Ok(match args.format {
        OutputFormat::Text => format!("{}\n", format::display(&run.jacobian)?),
        OutputFormat::Json => format!(
            "{{\"samples\": {}, \"log_prob\": {}, \"jacobian\": {}}}\n",
            format::json(&run.samples)?,
            format::json(&run.log_prob)?,
            format::json(&run.jacobian)?
        ),
    })
}

/// Reads `--loc` and the one matrix flag; a missing loc is `ones(d)`, a missing matrix `eye(d)`.
fn parameters(args: &Args, kind: Kind) -> Result<(Tensor, MvnParam)> {
    let matrix = [
        ("--covariance", &args.covariance),
        ("--precision", &args.precision),
        ("--scale-tril", &args.scale_tril),
    ]
    .into_iter()
    .find_map(|(flag, text)| text.as_ref().map(|t| (flag, t)))
    .map(|(flag, text)| Array::parse(flag, text).map(|a| (flag, a)))
    .transpose()?;
    let loc = args
        .loc
        .as_ref()
        .map(|text| Array::parse("--loc", text))
        .transpose()?;
    let options = (kind, Device::Cpu);
    let loc_tensor = match (&loc, &matrix) {
        (Some(loc), _) => loc.to_tensor(kind)?,
        (None, Some((_, m))) => Tensor::f_ones(&m.shape[m.shape.len() - 1..], options)?,
        (None, None) => Tensor::f_ones([2], options)?,
    };
    let d = loc_tensor.size()[loc_tensor.dim() - 1];
    let param = match matrix {
        Some(("--precision", m)) => MvnParam::PrecisionMatrix(m.to_tensor(kind)?),
        Some(("--scale-tril", m)) => MvnParam::ScaleTril(m.to_tensor(kind)?),
        Some((_, m)) => MvnParam::CovarianceMatrix(m.to_tensor(kind)?),
        None => MvnParam::CovarianceMatrix(Tensor::f_eye(d, options)?),
    };
    Ok((loc_tensor, param))
}
