//! The flags that describe one case (distribution, sample count, seed, sampler, dtype,
//! device, threads), shared by `jacobian`, `check`, `sample` and `log-prob`.

use anyhow::{bail, Result};
use clap::builder::PossibleValue;
use clap::{ArgGroup, ValueEnum};
use tch::{Kind, Tensor};
use tchdist::distributions::{MvnParam, Sampler};
use tchdist::format::torch_size;
use tchdist::mvn_jacobian::{batch_numel, estimated_bytes, estimated_seconds, JacobianMethod};

use super::input::Array;

/// Flags of a case: `MultivariateNormal(loc, <matrix>)`, `n` samples after `manual_seed(seed)`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(ArgGroup::new("matrix").args(["covariance", "precision", "scale_tril"]).multiple(false)))]
pub struct CaseArgs {
    /// Mean vector as JSON, e.g. '[1, 1]'; batched: '[[0, 0], [1, 1]]' (default: ones(d)). Every
    /// tensor flag also takes @FILE: a .npy, an .npz as @FILE.npz:KEY, or a .json file; @- reads
    /// JSON or .npy from stdin
    #[arg(long, value_name = "JSON|@FILE")]
    pub loc: Option<String>,
    /// Covariance matrix, e.g. '[[1, 0], [0, 1]]' (default: the identity)
    #[arg(long, value_name = "JSON|@FILE")]
    pub covariance: Option<String>,
    /// Precision matrix (inverse covariance), instead of --covariance
    #[arg(long, value_name = "JSON|@FILE")]
    pub precision: Option<String>,
    /// Lower-triangular Cholesky factor of the covariance, instead of --covariance
    #[arg(long = "scale-tril", value_name = "JSON|@FILE")]
    pub scale_tril: Option<String>,
    /// Number of samples
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    pub num_samples: i64,
    /// Seed of the global generator (torch.manual_seed)
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub seed: u64,
    /// Floating-point type of every tensor
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    pub dtype: Dtype,
    /// Device: cpu, cuda or cuda:N (CUDA is loaded only when asked for)
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
    /// Intra-op threads (torch.set_num_threads); default: libtorch's choice
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub threads: Option<i32>,
    /// How samples are formed from the standard-normal draws
    #[arg(long, value_enum, default_value_t = SamplerFlag(Sampler::Exact))]
    pub sampler: SamplerFlag,
    /// Run a method whose time grows with n² (loop, functional, vectorized, batched,
    /// batched-loop, jacrev) even when it would take over a minute
    #[arg(long)]
    pub allow_slow: bool,
}

/// `--dtype`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
}

impl Dtype {
    pub fn kind(self) -> Kind {
        match self {
            Dtype::F32 => Kind::Float,
            Dtype::F64 => Kind::Double,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        }
    }
}

/// `--sampler`: the library's [`Sampler`], names from the library (`Sampler::ALL`, `name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SamplerFlag(pub Sampler);

static SAMPLERS: [SamplerFlag; Sampler::ALL.len()] =
    [SamplerFlag(Sampler::ALL[0]), SamplerFlag(Sampler::ALL[1])];

impl ValueEnum for SamplerFlag {
    fn value_variants<'a>() -> &'a [Self] {
        &SAMPLERS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self.0 {
            Sampler::Exact => "PyTorch's sampling: Python's samples bit for bit",
            Sampler::Gemm => {
                "the same draws times Lᵀ in one matrix product: faster at large d, not PyTorch's bits"
            }
        };
        Some(PossibleValue::new(self.0.name()).help(help))
    }
}

impl std::fmt::Display for SamplerFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name())
    }
}

/// A parsed case, tensors on their device.
pub struct Case {
    pub loc: Tensor,
    pub param: MvnParam,
    pub num_samples: i64,
    pub seed: u64,
    pub sampler: Sampler,
    /// The JSON arrays as given (for the Python twin), after defaults are applied.
    pub loc_array: Array,
    pub matrix_array: Array,
    pub param_name: &'static str,
    /// `--value`: the caller's points `(S..., d)`, instead of drawn samples.
    pub value: Option<(Tensor, Array)>,
}

impl Case {
    /// How many points the log-probabilities are taken at: `-n`, or the leading size of the
    /// `--value` points.
    pub fn outputs(&self) -> i64 {
        match &self.value {
            Some((_, points)) => points.shape[..points.shape.len() - 1].iter().product(),
            None => self.num_samples,
        }
    }
}

impl CaseArgs {
    /// Parses and checks the flags, applies `--threads`, and makes the tensors; the size is
    /// checked against available memory for `method` before anything large is allocated,
    /// counting a result printed as JSON (`json`: `--format json`, or `check`'s exchange with
    /// Python) and the `--value` points (`value`: the flag's text) when given.
    pub fn case_with(
        &self,
        method: JacobianMethod,
        json: bool,
        value: Option<&str>,
    ) -> Result<Case> {
        let room = |bytes: u128, flag: &str| check_available(bytes, &format!("reading {flag}"));
        if self.num_samples < 1 {
            bail!("--num-samples must be at least 1, got {}", self.num_samples);
        }
        let matrix = [
            ("--covariance", "covariance", &self.covariance),
            ("--precision", "precision", &self.precision),
            ("--scale-tril", "scale_tril", &self.scale_tril),
        ]
        .into_iter()
        .find_map(|(flag, name, text)| text.as_ref().map(|t| (flag, name, t)))
        .map(|(flag, name, text)| Array::from_flag(flag, text, &room).map(|a| (name, a)))
        .transpose()?;
        let loc = self
            .loc
            .as_ref()
            .map(|text| Array::from_flag("--loc", text, &room))
            .transpose()?;
        let value = value
            .map(|text| Array::from_flag("--value", text, &room))
            .transpose()?;
        let d = match (&loc, &matrix) {
            (Some(l), _) => l.shape[l.shape.len() - 1],
            (None, Some((_, m))) => m.shape[m.shape.len() - 1],
            (None, None) => 2,
        };
        // Sized from the shapes alone: the default ones(d) and eye(d) are made only after.
        let loc_shape = loc.as_ref().map_or_else(|| vec![d], |l| l.shape.clone());
        let matrix_shape = matrix
            .as_ref()
            .map_or_else(|| vec![d, d], |(_, m)| m.shape.clone());
        // With --value, one log-probability per point: the points' leading dimensions.
        let n = value.as_ref().map_or(self.num_samples, |v| {
            v.shape[..v.shape.len() - 1]
                .iter()
                .fold(1i64, |acc, &s| acc.saturating_mul(s))
        });
        if let Some(v) = &value {
            let event = v.shape[v.shape.len() - 1];
            if event != d {
                // PyTorch's words (`_validate_sample`), with the flag that gave the points.
                bail!(
                    "--value: The right-most size of value must match event_shape: {} vs {}.",
                    torch_size(&v.shape),
                    torch_size(&[d]),
                );
            }
        }
        let size = Size {
            n,
            loc: &loc_shape,
            matrix: &matrix_shape,
            dtype: self.dtype,
            json,
        };
        check_memory(method, &size)?;
        if !self.allow_slow {
            check_time(method, &size)?;
        }
        if let Some(n) = self.threads {
            check_threads(n)?;
        }
        let loc = loc.unwrap_or_else(|| Array::ones(&[d]));
        let (param_name, matrix) = matrix.unwrap_or_else(|| ("covariance", Array::eye(d)));

        let device = tchdist::device::device(&self.device)?;
        if let Some(n) = self.threads {
            tch::set_num_threads(n);
        }
        let kind = self.dtype.kind();
        let on = |a: &Array| -> Result<Tensor> { Ok(a.to_tensor(kind)?.f_to_device(device)?) };
        let loc_tensor = on(&loc)?;
        let matrix_tensor = on(&matrix)?;
        let value = value
            .map(|v| Ok::<_, anyhow::Error>((on(&v)?, v)))
            .transpose()?;
        let param = match param_name {
            "precision" => MvnParam::PrecisionMatrix(matrix_tensor),
            "scale_tril" => MvnParam::ScaleTril(matrix_tensor),
            _ => MvnParam::CovarianceMatrix(matrix_tensor),
        };
        Ok(Case {
            loc: loc_tensor,
            param,
            num_samples: self.num_samples,
            seed: self.seed,
            sampler: self.sampler.0,
            loc_array: loc,
            matrix_array: matrix,
            param_name,
            value,
        })
    }

    pub fn device_is_cpu(&self) -> bool {
        self.device == "cpu" || self.device.starts_with("cpu:")
    }
}

/// The sizes of a case, read from the flags before any tensor exists.
struct Size<'a> {
    n: i64,
    loc: &'a [i64],
    matrix: &'a [i64],
    dtype: Dtype,
    json: bool,
}

/// Bytes per printed element of a JSON result: about 25 characters, held up to three times
/// (each tensor's text, the whole reply, and for `check` the parsed reply).
const JSON_BYTES_PER_ELEMENT: u128 = 80;

/// Refuses, before allocating, a size whose tensors would not fit in available memory.
fn check_memory(method: JacobianMethod, size: &Size) -> Result<()> {
    let n = size.n;
    let d = *size.loc.last().unwrap_or(&1) as u64;
    let batch = batch_numel(size.loc, size.matrix);
    let loc_numel: u64 = size
        .loc
        .iter()
        .map(|&s| s.max(0) as u64)
        .fold(1, u64::saturating_mul);
    let matrix_numel: u64 = size
        .matrix
        .iter()
        .map(|&s| s.max(0) as u64)
        .fold(1, u64::saturating_mul);
    let elem = if size.dtype == Dtype::F32 { 4 } else { 8 };
    // The parsed arrays (f64) are held beside their tensors.
    let inputs = u128::from(loc_numel.saturating_add(matrix_numel)) * 8;
    let mut need =
        estimated_bytes(method, n as u64, batch, d, loc_numel, elem).saturating_add(inputs);
    if size.json {
        // samples (n, B, d), log_prob (n, B) and the Jacobian (n, B, loc...).
        let outputs = u128::from(n as u64) * u128::from(batch);
        let elements = outputs * (u128::from(d) + 1 + u128::from(loc_numel));
        need = need.saturating_add(elements.saturating_mul(JSON_BYTES_PER_ELEMENT));
    }
    check_available(need, &format!("--num-samples {n} with --method {method}")).map_err(|e| {
        if matches!(method, JacobianMethod::Vectorized | JacobianMethod::Batched) {
            anyhow::anyhow!(
                "{e} or a method that does not build the n x n basis (analytic, forward, loop)"
            )
        } else {
            e
        }
    })
}

/// Refuses `--threads N` whose thread stacks (RLIMIT_STACK each, 8 MiB when unlimited) do
/// not fit in the memory or address space left: libgomp would abort creating them.
pub fn check_threads(n: i32) -> Result<()> {
    let stack = rustix::process::getrlimit(rustix::process::Resource::Stack)
        .current
        .map_or(8 << 20, u128::from);
    let need = u128::from(n.unsigned_abs()) * stack;
    let available = u128::from(tchdist::memory::available_bytes());
    if need > available {
        bail!(
            "--threads {n} would need about {} of thread stacks (more than the {} available); use fewer threads",
            human(need),
            human(available)
        );
    }
    Ok(())
}

/// Longest estimated run of a method whose time grows with n², without `--allow-slow`.
const SLOW_SECONDS: f64 = 60.0;

/// Refuses a method whose time grows with n² past [`SLOW_SECONDS`], naming the methods that
/// take under a second at that size.
fn check_time(method: JacobianMethod, size: &Size) -> Result<()> {
    if !method.time_grows_with_n_squared() {
        return Ok(());
    }
    let d = (*size.loc.last().unwrap_or(&1)).max(0) as u64;
    let outputs = (size.n.max(0) as u64).saturating_mul(batch_numel(size.loc, size.matrix));
    let seconds = estimated_seconds(method, outputs, d);
    if seconds <= SLOW_SECONDS {
        return Ok(());
    }
    let fast: Vec<&str> = JacobianMethod::ALL
        .into_iter()
        .filter(|&m| estimated_seconds(m, outputs, d) < 1.0)
        .map(JacobianMethod::name)
        .collect();
    let instead = if fast.is_empty() {
        String::new()
    } else {
        format!("; under a second at this size: {}", fast.join(", "))
    };
    bail!(
        "--num-samples {} with --method {method} would take about {} (its time grows with n²){instead}; or pass --allow-slow",
        size.n,
        duration(seconds)
    )
}

fn duration(seconds: f64) -> String {
    if seconds < 3600.0 {
        format!("{:.0} min", seconds / 60.0)
    } else if seconds < 86400.0 * 2.0 {
        format!("{:.0} h", seconds / 3600.0)
    } else {
        format!("{:.0} days", seconds / 86400.0)
    }
}

/// Refuses `need` bytes when the memory available is smaller, naming both sizes.
pub fn check_available(need: u128, what: &str) -> Result<()> {
    let available = u128::from(tchdist::memory::available_bytes());
    if need > available {
        bail!(
            "{what} would need about {} (more than the {} available); use fewer samples",
            human(need),
            human(available)
        );
    }
    Ok(())
}

fn human(bytes: u128) -> String {
    let gib = bytes as f64 / f64::from(1u32 << 30);
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    }
}
