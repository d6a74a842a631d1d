//! `tchdist bench`: times one Jacobian method in-process on a generated case and prints one
//! JSON line.

use std::time::Instant;

use anyhow::{bail, Result};
use tchdist::distributions::MvnParam;
use tchdist::question::{bench_case, mvn_log_prob_jacobian};

use super::case::Dtype;
use super::jacobian::Method;

/// Flags of `tchdist bench`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each repetition covers what the Python forms time: building the distribution, sampling,
log_prob and the Jacobian. loc = zeros(d); Σ = A Aᵀ/d + I with A = randn(d, d) after
manual_seed(0), the same in scripts/bench_ref.py.

Example:
  tchdist bench --method analytic -n 10000 --dim 50 --dtype f64 --repeat 5")]
pub struct Args {
    /// The Jacobian method to time
    #[arg(long, value_enum, default_value_t = Method::Analytic)]
    pub method: Method,
    /// Number of samples
    #[arg(short = 'n', long, default_value_t = 1000, value_name = "N")]
    pub num_samples: i64,
    /// Dimension d
    #[arg(long, default_value_t = 10, value_name = "D")]
    pub dim: i64,
    /// Floating-point type
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
    /// Device: cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Timed repetitions (after one warm-up)
    #[arg(long, default_value_t = 5, value_name = "R", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub repeat: u32,
    /// Intra-op threads (torch.set_num_threads)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub threads: Option<i32>,
}

pub fn run(args: &Args) -> Result<Vec<u8>> {
    if args.num_samples < 1 || args.dim < 1 {
        bail!("--num-samples and --dim must be at least 1");
    }
    let method = args.method.library();
    let elem = if args.dtype == Dtype::F32 { 4 } else { 8 };
    let need = tchdist::question::estimated_bytes(
        method,
        args.num_samples as u64,
        1,
        args.dim as u64,
        args.dim as u64,
        elem,
    );
    super::case::check_available(
        need,
        &format!(
            "--num-samples {} --dim {} with --method {method}",
            args.num_samples, args.dim
        ),
    )?;
    let device = tchdist::device::device(&args.device)?;
    if let Some(n) = args.threads {
        tch::set_num_threads(n);
    }
    let (loc, cov) = bench_case(args.dim, args.dtype.kind(), device, 0)?;
    let param = MvnParam::CovarianceMatrix(cov);
    let mut times = Vec::new();
    for i in 0..=args.repeat {
        tch::manual_seed(1);
        let start = Instant::now();
        let run = mvn_log_prob_jacobian(&loc, &param, args.num_samples, method)?;
        if let tch::Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
        let ms = start.elapsed().as_secs_f64() * 1e3;
        drop(run);
        if i > 0 {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(format!(
        "{{\"method\": \"{}\", \"n\": {}, \"d\": {}, \"dtype\": \"{}\", \"device\": \"{}\", \"repeat\": {}, \"median_ms\": {:.4}, \"min_ms\": {:.4}}}\n",
        method,
        args.num_samples,
        args.dim,
        args.dtype.name(),
        args.device,
        args.repeat,
        median,
        times[0]
    )
    .into_bytes())
}
