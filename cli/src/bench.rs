//! `tchdist bench`: times one Jacobian method in-process on a generated case and prints one
//! JSON line: the median and fastest time, the process's peak RSS, and that peak above the
//! RSS before the first run (`extra_rss_mib`: what the method itself needed).
//!
//! The run policy (the small first run, warm-ups, timed repetitions, budget) is written once,
//! in [`measure`], over a [`Pipeline`]: tchdist's own in this process, or a twin's in another
//! process (`--peer DIR`: scripts/bench_ref.py's PyTorch and JAX twins), which answers "run
//! one pipeline of n samples" over two named pipes and reports its own memory.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tchdist::distributions::{MvnParam, Sampler};
use tchdist::mvn_jacobian::{bench_case, mvn_log_prob_jacobian_with_sampler, JacobianMethod};

use super::case::{Dtype, SamplerFlag};
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
    #[arg(long, value_enum, default_value_t = Method(JacobianMethod::Analytic))]
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
    /// Samples of one untimed run before the warm-ups, which pays the one-time costs (lazy
    /// initialisation) at a small size [default: N/100, at least 1; 0: no such run]
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(i64).range(0..))]
    pub warmup_samples: Option<i64>,
    /// Untimed warm-up runs at the full size
    #[arg(long, default_value_t = 1, value_name = "W", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub warmup: u32,
    /// Timed repetitions after the warm-up (0: the last warm-up is the one measurement)
    #[arg(long, default_value_t = 5, value_name = "R", value_parser = clap::value_parser!(u32).range(0..=10000))]
    pub repeat: u32,
    /// Stop repeating once the timed runs add up to this many seconds (a warm-up run that alone
    /// takes longer is the one measurement; without the small first run, the first full-size
    /// run only past 5 times as long)
    #[arg(long, value_name = "S", value_parser = parse_budget)]
    pub budget_s: Option<f64>,
    /// Intra-op threads (torch.set_num_threads)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub threads: Option<i32>,
    /// Time the floor instead of a method: one Cholesky of Σ and the two triangular solves
    /// L⁻¹(X − μ), L⁻ᵀ(·) over all n samples (drawn before the clock starts)
    #[arg(long, conflicts_with = "method")]
    pub floor: bool,
    /// Time the closed form's Jacobian step alone, as the floor is timed: build the
    /// distribution (validated, with its Cholesky) and take the score Σ⁻¹(x − μ) of all n
    /// samples (drawn before the clock starts)
    #[arg(long, conflicts_with_all = ["method", "floor"])]
    pub step: bool,
    /// Time the sampling alone: build the distribution (validated, with its Cholesky) and draw
    /// n samples
    #[arg(long, conflicts_with_all = ["method", "floor", "step"])]
    pub sample: bool,
    /// How samples are formed (the pipeline and --sample); a gemm run is named METHOD-gemm
    #[arg(long, value_enum, default_value_t = SamplerFlag(Sampler::Exact), conflicts_with_all = ["floor", "step"])]
    pub sampler: SamplerFlag,
    /// Drive another process's pipeline with this run policy instead of timing tchdist: DIR
    /// holds two named pipes, `requests` (written here: `run N`, `reset`, `peak`) and `replies`
    /// (`ok VALUE` or `error MESSAGE` per request: seconds of one pipeline of N samples, the
    /// RSS in bytes after resetting its peak, its peak RSS in bytes). scripts/bench_ref.py
    /// times the PyTorch and JAX twins this way
    #[arg(long, value_name = "DIR", hide = true)]
    pub peer: Option<PathBuf>,
    /// With --peer: the name the JSON line gives the method
    #[arg(long, value_name = "NAME", hide = true, requires = "peer")]
    pub label: Option<String>,
}

/// One pipeline of `n` samples, run and timed when asked, and its process's memory.
trait Pipeline {
    /// Seeds, runs one pipeline of `n` samples, and returns its seconds.
    fn run(&mut self, n: i64) -> Result<f64>;
    /// Resets the peak RSS and returns the RSS now, in bytes.
    fn reset_peak(&mut self) -> Result<u64>;
    /// The peak RSS since the reset, in bytes.
    fn peak(&mut self) -> Result<u64>;
}

/// What [`measure`] found: sorted times in milliseconds, RSS before the timed runs and peak.
struct Measured {
    times: Vec<f64>,
    rss_before: u64,
    peak: u64,
}

/// The run policy, once for every side: one untimed run at `small` samples (the one-time
/// costs), up to `--warmup` untimed full-size runs (ending once they add up to the budget; one
/// that alone reaches it is the measurement), then up to `--repeat` timed runs or `--budget-s`.
fn measure(args: &Args, small: i64, pipeline: &mut dyn Pipeline) -> Result<Measured> {
    if small > 0 {
        pipeline.run(small)?;
    }
    let rss_before = pipeline.reset_peak()?;
    let over = |secs: f64| args.budget_s.is_some_and(|b| secs >= b);
    let mut times = Vec::new();
    let (mut warmups, mut warm, mut spent) = (0, 0.0, 0.0);
    loop {
        let secs = pipeline.run(args.num_samples)?;
        if warmups < args.warmup {
            warmups += 1;
            // A warm-up run that alone reaches the budget is the one measurement. Without the
            // small first run, the first full-size run pays the one-time costs (lazy
            // initialisation): then only when it is 5 budgets long, for those not to matter.
            let alone = if warmups == 1 && small == 0 {
                secs / 5.0
            } else {
                secs
            };
            warm += secs;
            let last = warmups == args.warmup || over(warm);
            if over(alone) || (args.repeat == 0 && last) {
                times.push(secs * 1e3);
                break;
            }
            if last {
                // The warm-ups end once they add up to the budget.
                warmups = args.warmup;
            }
            continue;
        }
        times.push(secs * 1e3);
        spent += secs;
        if times.len() >= args.repeat as usize || over(spent) {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    let peak = pipeline.peak()?;
    Ok(Measured {
        times,
        rss_before,
        peak,
    })
}

/// tchdist's pipeline in this process.
struct Local<'a> {
    args: &'a Args,
    method: JacobianMethod,
    device: tch::Device,
    loc: tch::Tensor,
    param: MvnParam,
    /// Samples drawn before the clock (--floor, --step).
    samples: Option<tch::Tensor>,
}

impl Pipeline for Local<'_> {
    fn run(&mut self, n: i64) -> Result<f64> {
        tch::manual_seed(1);
        let start = Instant::now();
        let sampler = self.args.sampler.0;
        let out = if self.args.sample {
            sample(&self.loc, &self.param, n, sampler)?
        } else {
            match &self.samples {
                Some(x) => given_samples(self.args, &self.loc, &self.param, &x.f_narrow(0, 0, n)?)?,
                None => {
                    mvn_log_prob_jacobian_with_sampler(
                        &self.loc,
                        &self.param,
                        n,
                        self.method,
                        sampler,
                    )?
                    .jacobian
                }
            }
        };
        if let tch::Device::Cuda(i) = self.device {
            tch::Cuda::synchronize(i as i64);
        }
        let secs = start.elapsed().as_secs_f64();
        drop(out);
        Ok(secs)
    }

    fn reset_peak(&mut self) -> Result<u64> {
        tchdist::memory::reset_peak_rss()?;
        Ok(tchdist::memory::rss_bytes()?)
    }

    fn peak(&mut self) -> Result<u64> {
        Ok(tchdist::memory::peak_rss_bytes()?)
    }
}

/// A twin's pipeline in another process, over the named pipes in `--peer DIR`.
struct Peer {
    requests: std::fs::File,
    replies: BufReader<std::fs::File>,
}

impl Peer {
    /// Opens `DIR/requests` for writing, then `DIR/replies` for reading (the peer opens them
    /// in the same order, so neither waits for the other forever).
    fn open(dir: &std::path::Path) -> Result<Peer> {
        let requests = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("requests"))
            .with_context(|| format!("cannot open {}", dir.join("requests").display()))?;
        let replies = std::fs::File::open(dir.join("replies"))
            .with_context(|| format!("cannot open {}", dir.join("replies").display()))?;
        Ok(Peer {
            requests,
            replies: BufReader::new(replies),
        })
    }

    fn ask(&mut self, request: &str) -> Result<String> {
        writeln!(self.requests, "{request}").context("the peer stopped reading")?;
        self.requests.flush().context("the peer stopped reading")?;
        let mut line = String::new();
        if self.replies.read_line(&mut line)? == 0 {
            bail!("the peer exited without answering '{request}'");
        }
        let line = line.trim_end();
        match line.split_once(' ') {
            Some(("ok", value)) => Ok(value.to_string()),
            Some(("error", message)) => bail!("{message}"),
            _ => bail!("the peer answered '{line}' to '{request}'"),
        }
    }

    fn number<T: std::str::FromStr>(&mut self, request: &str) -> Result<T> {
        let value = self.ask(request)?;
        value
            .parse()
            .map_err(|_| anyhow::anyhow!("the peer answered '{value}' to '{request}'"))
    }
}

impl Pipeline for Peer {
    fn run(&mut self, n: i64) -> Result<f64> {
        self.number(&format!("run {n}"))
    }

    fn reset_peak(&mut self) -> Result<u64> {
        self.number("reset")
    }

    fn peak(&mut self) -> Result<u64> {
        self.number("peak")
    }
}

pub fn run(args: &Args) -> Result<Vec<u8>> {
    if args.num_samples < 1 || args.dim < 1 {
        bail!("--num-samples and --dim must be at least 1");
    }
    let method = args.method.library();
    let small = args
        .warmup_samples
        .unwrap_or((args.num_samples / 100).max(1))
        .min(args.num_samples);
    let name = if let Some(label) = &args.label {
        label.clone()
    } else if args.floor {
        "floor".to_string()
    } else if args.step {
        "analytic-step".to_string()
    } else if args.sample {
        "sample".to_string()
    } else {
        method.to_string()
    };
    let name = if args.label.is_none() && args.sampler.0 != Sampler::Exact {
        format!("{name}-{}", args.sampler)
    } else {
        name
    };
    let measured = match &args.peer {
        Some(dir) => measure(args, small, &mut Peer::open(dir)?)?,
        None => measure(args, small, &mut local(args, method)?)?,
    };
    let Measured {
        times,
        rss_before,
        peak,
    } = measured;
    let median = times[times.len() / 2];
    let mib = |bytes: u64| bytes as f64 / f64::from(1u32 << 20);
    Ok(format!(
        "{{\"method\": \"{}\", \"n\": {}, \"d\": {}, \"dtype\": \"{}\", \"device\": \"{}\", \"repeat\": {}, \"median_ms\": {:.4}, \"min_ms\": {:.4}, \"peak_rss_mib\": {:.1}, \"extra_rss_mib\": {:.1}}}\n",
        name,
        args.num_samples,
        args.dim,
        args.dtype.name(),
        args.device,
        times.len(),
        median,
        times[0],
        mib(peak),
        mib(peak.saturating_sub(rss_before))
    )
    .into_bytes())
}

/// tchdist's own pipeline for `args`, after the memory check.
fn local(args: &Args, method: JacobianMethod) -> Result<Local<'_>> {
    let elem = if args.dtype == Dtype::F32 { 4 } else { 8 };
    let need = tchdist::mvn_jacobian::estimated_bytes(
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
        super::case::check_threads(n)?;
        tch::set_num_threads(n);
    }
    let (loc, cov) = bench_case(args.dim, args.dtype.kind(), device, 0)?;
    let param = MvnParam::CovarianceMatrix(cov);
    let samples = if args.floor || args.step {
        tch::manual_seed(1);
        Some(sample(&loc, &param, args.num_samples, Sampler::Exact)?)
    } else {
        None
    };
    Ok(Local {
        args,
        method,
        device,
        loc,
        param,
        samples,
    })
}

/// `--sample`: build the validated distribution and draw `n` samples with `sampler`.
fn sample(loc: &tch::Tensor, param: &MvnParam, n: i64, sampler: Sampler) -> Result<tch::Tensor> {
    let dist = tchdist::distributions::MultivariateNormal::new(loc, param.shallow_clone(), true)?
        .with_sampler(sampler);
    Ok(tchdist::distributions::Distribution::sample(&dist, &[n])?)
}

/// What `--floor` or `--step` times on samples drawn before the clock.
fn given_samples(
    args: &Args,
    loc: &tch::Tensor,
    param: &MvnParam,
    samples: &tch::Tensor,
) -> Result<tch::Tensor> {
    if args.floor {
        return floor(loc, param, samples);
    }
    tch::no_grad(|| {
        let dist =
            tchdist::distributions::MultivariateNormal::new(loc, param.shallow_clone(), true)?;
        Ok(dist.score_loc(samples)?)
    })
}

/// The floor of every exact method: `L = cholesky(Σ)`, then `L⁻ᵀ L⁻¹ (X − μ)` with two
/// triangular solves over all samples at once (the closed form's arithmetic, nothing else).
fn floor(loc: &tch::Tensor, param: &MvnParam, samples: &tch::Tensor) -> Result<tch::Tensor> {
    let MvnParam::CovarianceMatrix(cov) = param else {
        bail!("the floor is defined for a covariance matrix");
    };
    let l = cov.f_linalg_cholesky(false)?;
    let rhs = samples.f_sub(loc)?.f_tr()?;
    let z = l.f_linalg_solve_triangular(&rhs, false, true, false)?;
    Ok(l.f_mt()?.f_linalg_solve_triangular(&z, true, true, false)?)
}

/// `--budget-s`: a finite number of seconds, zero or more.
fn parse_budget(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("'{text}' is not a number of seconds (0 or more)")),
    }
}
