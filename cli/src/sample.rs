//! `tchdist sample` and `tchdist log-prob`: MultivariateNormal samples and log-probabilities
//! for the same flags as `jacobian`.

use anyhow::Result;
use tchdist::distributions::{Distribution, MultivariateNormal};
use tchdist::format;
use tchdist::mvn_jacobian::JacobianMethod;

use super::case::CaseArgs;
use super::output::{npz, Format, OutputArgs};

/// Flags of `tchdist sample`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tchdist sample -n 5 --loc '[0, 0]' --covariance '[[2, 1], [1, 2]]'\n  tchdist sample --format npy --output x.npy -n 1000"
)]
pub struct SampleArgs {
    #[command(flatten)]
    pub case: CaseArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Flags of `tchdist log-prob`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tchdist log-prob -n 5            log-probabilities of 5 samples drawn with seed 0\n  tchdist log-prob --value '[[0, 0], [1, 2]]'"
)]
pub struct LogProbArgs {
    #[command(flatten)]
    pub case: CaseArgs,
    /// Points to evaluate (..., d), as JSON or @FILE; default: the samples drawn with --seed
    /// and -n
    #[arg(long, value_name = "JSON|@FILE")]
    pub value: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `dist.sample((n,))` after `torch.manual_seed(seed)`.
pub fn run_sample(args: &SampleArgs) -> Result<Vec<u8>> {
    let case = args.case.case_with(
        JacobianMethod::Analytic,
        args.output.format == Format::Json,
        None,
    )?;
    let dist = MultivariateNormal::new(&case.loc, case.param, true)?.with_sampler(case.sampler);
    tch::manual_seed(case.seed as i64);
    let samples = dist.sample(&[case.num_samples])?;
    args.output
        .emit(render("samples", &samples, args.output.format)?)
}

/// `dist.log_prob(value)`, where value is `--value` or the drawn samples.
pub fn run_log_prob(args: &LogProbArgs) -> Result<Vec<u8>> {
    let case = args.case.case_with(
        JacobianMethod::Analytic,
        args.output.format == Format::Json,
        args.value.as_deref(),
    )?;
    let dist = MultivariateNormal::new(&case.loc, case.param, true)?.with_sampler(case.sampler);
    let value = match case.value {
        Some((value, _)) => value,
        None => {
            tch::manual_seed(case.seed as i64);
            dist.sample(&[case.num_samples])?
        }
    };
    let log_prob = dist.log_prob(&value)?;
    args.output
        .emit(render("log_prob", &log_prob, args.output.format)?)
}

/// The one tensor `name` (`samples` or `log_prob`) in the chosen format.
fn render(name: &str, t: &tch::Tensor, format: Format) -> Result<Vec<u8>> {
    Ok(match format {
        Format::Text => format!("{}\n", format::display(t)?).into_bytes(),
        Format::Json => format!("{}\n", format::json(t)?).into_bytes(),
        Format::Npy => format::npy(t)?,
        Format::Npz => npz(&[(name, t)])?,
    })
}
