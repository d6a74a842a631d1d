//! `tchdist jacobian`: the Jacobian of MultivariateNormal log-probabilities w.r.t. the mean.

use anyhow::Result;
use clap::builder::PossibleValue;
use clap::ValueEnum;
use tchdist::format;
use tchdist::mvn_jacobian::{
    mvn_log_prob_jacobian_at, mvn_log_prob_jacobian_with_sampler, JacobianMethod, MvnJacobian,
};

use super::case::{Case, CaseArgs};
use super::output::{npz, Format, OutputArgs};
use super::progress::Progress;

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
    #[arg(long, value_enum, default_value_t = Method::FUNCTIONAL)]
    pub method: Method,
    /// Differentiate log_prob at these points (..., d) instead of drawn samples (JSON or @FILE)
    #[arg(long, value_name = "JSON|@FILE", conflicts_with_all = ["num_samples", "seed", "sampler"])]
    pub value: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `--method`: the library's [`JacobianMethod`], each a PyTorch program; names and help come
/// from the library's one list (`JacobianMethod::ALL`, `name`, `about`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Method(pub JacobianMethod);

impl Method {
    pub const FUNCTIONAL: Method = Method(JacobianMethod::Functional);

    pub fn library(self) -> JacobianMethod {
        self.0
    }
}

/// Every method, in the library's order.
static METHODS: [Method; JacobianMethod::ALL.len()] = {
    let mut out = [Method::FUNCTIONAL; JacobianMethod::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = Method(JacobianMethod::ALL[i]);
        i += 1;
    }
    out
};

impl ValueEnum for Method {
    fn value_variants<'a>() -> &'a [Self] {
        &METHODS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()).help(self.0.about()))
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `tchdist list-methods`: the names, in the library's order, one a line (`quadratic`: only
/// those whose time grows with n²).
pub fn list_methods(quadratic: bool) -> Vec<u8> {
    METHODS
        .iter()
        .filter(|m| !quadratic || m.0.time_grows_with_n_squared())
        .map(|m| format!("{}\n", m.0.name()))
        .collect::<String>()
        .into_bytes()
}

/// `list-methods --chunk-rows N D DTYPE`: `mvn_jacobian::basis_chunk_rows` for the benchmark
/// case, so that the benchmark's twins chunk their basis as tchdist does.
pub fn chunk_rows(case: &[String]) -> Result<Vec<u8>> {
    let [n, d, dtype] = case else {
        anyhow::bail!("--chunk-rows takes N D DTYPE");
    };
    let n: i64 = n
        .parse()
        .map_err(|_| anyhow::anyhow!("N '{n}' is not a number"))?;
    let d: i64 = d
        .parse()
        .map_err(|_| anyhow::anyhow!("D '{d}' is not a number"))?;
    if n < 1 || d < 1 {
        anyhow::bail!("N and D must be at least 1");
    }
    let kind = <super::case::Dtype as clap::ValueEnum>::from_str(dtype, false)
        .map_err(|_| anyhow::anyhow!("DTYPE '{dtype}' is not f32 or f64"))?
        .kind();
    let loc = tch::Tensor::f_zeros([d], (kind, tch::Device::Cpu))?;
    let cov = tch::Tensor::f_zeros([d, d], (kind, tch::Device::Cpu))?;
    let rows = tchdist::mvn_jacobian::basis_chunk_rows(
        &loc,
        &tchdist::distributions::MvnParam::CovarianceMatrix(cov),
        n,
    );
    Ok(rows
        .map_or("all\n".to_string(), |r| format!("{r}\n"))
        .into_bytes())
}

pub fn run(args: &Args) -> Result<Vec<u8>> {
    let method = args.method.library();
    let case = args.case.case_with(
        method,
        args.output.format == Format::Json,
        args.value.as_deref(),
    )?;
    let run = compute(&case, method)?;
    args.output.emit(render(&run, args.output.format)?)
}

/// The case's samples (drawn after `manual_seed(seed)`) or its `--value` points, their
/// log-probabilities and the Jacobian, with a spinner on a terminal while it runs.
pub fn compute(case: &Case, method: JacobianMethod) -> Result<MvnJacobian> {
    let _progress = Progress::start(format!(
        "tchdist jacobian --method {method}, {} log-probabilities",
        case.outputs()
    ));
    Ok(match &case.value {
        Some((value, _)) => mvn_log_prob_jacobian_at(&case.loc, &case.param, value, method)?,
        None => {
            tch::manual_seed(case.seed as i64);
            mvn_log_prob_jacobian_with_sampler(
                &case.loc,
                &case.param,
                case.num_samples,
                method,
                case.sampler,
            )?
        }
    })
}

/// The Jacobian as text or .npy, all three tensors as JSON, or as an .npz archive.
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
        Format::Npz => npz(&[
            ("samples", &run.samples),
            ("log_prob", &run.log_prob),
            ("jacobian", &run.jacobian),
        ])?,
    })
}
