//! The flags that describe one case (distribution, sample count, seed, dtype, device,
//! threads), shared by `jacobian`, `check`, `sample` and `log-prob`.

use anyhow::{bail, Result};
use clap::{ArgGroup, ValueEnum};
use tch::{Kind, Tensor};
use tchdist::distributions::MvnParam;
use tchdist::mvn_jacobian::{estimated_bytes, JacobianMethod};

use super::input::Array;

/// Flags of a case: `MultivariateNormal(loc, <matrix>)`, `n` samples after `manual_seed(seed)`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(ArgGroup::new("matrix").args(["covariance", "precision", "scale_tril"]).multiple(false)))]
pub struct CaseArgs {
    /// Mean vector as JSON, e.g. '[1, 1]'; batched: '[[0, 0], [1, 1]]' (default: ones(d))
    #[arg(long, value_name = "JSON")]
    pub loc: Option<String>,
    /// Covariance matrix as JSON, e.g. '[[1, 0], [0, 1]]' (default: the identity)
    #[arg(long, value_name = "JSON")]
    pub covariance: Option<String>,
    /// Precision matrix (inverse covariance) as JSON, instead of --covariance
    #[arg(long, value_name = "JSON")]
    pub precision: Option<String>,
    /// Lower-triangular Cholesky factor of the covariance as JSON, instead of --covariance
    #[arg(long = "scale-tril", value_name = "JSON")]
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

/// A parsed case, tensors on their device.
pub struct Case {
    pub loc: Tensor,
    pub param: MvnParam,
    pub num_samples: i64,
    pub seed: u64,
    /// The JSON arrays as given (for the Python twin), after defaults are applied.
    pub loc_array: Array,
    pub matrix_array: Array,
    pub param_name: &'static str,
}

impl CaseArgs {
    /// Parses and checks the flags, applies `--threads`, and makes the tensors; the size is
    /// checked against available memory for `method` before anything large is allocated.
    pub fn case(&self, method: JacobianMethod) -> Result<Case> {
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
        .map(|(flag, name, text)| Array::parse(flag, text).map(|a| (name, a)))
        .transpose()?;
        let loc = self
            .loc
            .as_ref()
            .map(|text| Array::parse("--loc", text))
            .transpose()?;
        let d = match (&loc, &matrix) {
            (Some(l), _) => l.shape[l.shape.len() - 1],
            (None, Some((_, m))) => m.shape[m.shape.len() - 1],
            (None, None) => 2,
        };
        let loc = loc.unwrap_or_else(|| Array::ones(&[d]));
        let (param_name, matrix) = matrix.unwrap_or_else(|| ("covariance", Array::eye(d)));
        check_memory(method, self.num_samples, &loc, &matrix, self.dtype)?;

        let device = tchdist::device::device(&self.device)?;
        if let Some(n) = self.threads {
            tch::set_num_threads(n);
        }
        let kind = self.dtype.kind();
        let on = |a: &Array| -> Result<Tensor> { Ok(a.to_tensor(kind)?.f_to_device(device)?) };
        let loc_tensor = on(&loc)?;
        let matrix_tensor = on(&matrix)?;
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
            loc_array: loc,
            matrix_array: matrix,
            param_name,
        })
    }

    pub fn device_is_cpu(&self) -> bool {
        self.device == "cpu"
    }
}

/// Refuses, before allocating, a size whose tensors would not fit in available memory.
fn check_memory(
    method: JacobianMethod,
    n: i64,
    loc: &Array,
    matrix: &Array,
    dtype: Dtype,
) -> Result<()> {
    let d = *loc.shape.last().unwrap_or(&1) as u64;
    let batch: u64 = matrix.shape[..matrix.shape.len().saturating_sub(2)]
        .iter()
        .chain(&loc.shape[..loc.shape.len() - 1])
        .map(|&s| s.max(1) as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let loc_numel: u64 = loc.shape.iter().map(|&s| s as u64).product();
    let elem = if dtype == Dtype::F32 { 4 } else { 8 };
    let need = estimated_bytes(method, n as u64, batch, d, loc_numel, elem);
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

/// Refuses `need` bytes when MemAvailable is smaller, naming both sizes.
pub fn check_available(need: u128, what: &str) -> Result<()> {
    let available = available_memory();
    if need > available {
        bail!(
            "{what} would need about {} (more than the {} available); use fewer samples",
            human(need),
            human(available)
        );
    }
    Ok(())
}

/// MemAvailable from /proc/meminfo, or 16 GiB where it cannot be read.
fn available_memory() -> u128 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u128>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(16 << 30)
}

fn human(bytes: u128) -> String {
    let gib = bytes as f64 / f64::from(1u32 << 30);
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    }
}
