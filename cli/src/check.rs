//! `tchdist check`: runs a case in tchdist and in the set-up Python (the PyTorch twin of the
//! chosen method) and reports, per tensor, whether the bits agree.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tch::Tensor;
use tchdist::mvn_jacobian::{mvn_log_prob_jacobian, PYTORCH_TWIN};
use tchdist::testing::compare;

use super::case::CaseArgs;
use super::jacobian::Method;

/// Flags of `tchdist check`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 when every tensor is within --max-ulp of Python's, 1 when not, 2 for bad input
or when no Python with torch 2.13.0 is found.

Examples:
  tchdist check
  tchdist check --method batched -n 100 --dtype f64
  tchdist check --python ~/.cache/tchdist/torch-2.13.0/bin/python --loc '[0, 0, 0]'")]
pub struct Args {
    #[command(flatten)]
    pub case: CaseArgs,
    /// The Jacobian method, checked against its PyTorch twin
    #[arg(long, value_enum, default_value_t = Method::FUNCTIONAL)]
    pub method: Method,
    /// Python with torch 2.13.0 (default: $TCHDIST_PYTHON, else the venv scripts/setup makes)
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Largest distance in ULPs still accepted
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_ulp: u64,
    /// Seed given to Python instead of --seed (to see a mismatch reported)
    #[arg(long, value_name = "S", hide = true)]
    pub python_seed: Option<u64>,
    /// Print nothing; the exit status tells the outcome
    #[arg(short, long)]
    pub quiet: bool,
}

/// Returns the table and whether everything agreed.
pub fn run(args: &Args) -> Result<(Vec<u8>, bool)> {
    let python = find_python(args.python.as_ref())?;
    let method = args.method.library();
    let case = args.case.case(method)?;

    let start = Instant::now();
    tch::manual_seed(case.seed as i64);
    let ours = mvn_log_prob_jacobian(&case.loc, &case.param, case.num_samples, method)?;
    if !args.case.device_is_cpu() {
        tch::Cuda::synchronize(0);
    }
    let rust_ms = start.elapsed().as_secs_f64() * 1e3;

    let request = json!([{
        "seed": args.python_seed.unwrap_or(case.seed),
        "dtype": args.case.dtype.name(),
        "device": args.case.device,
        "param": case.param_name,
        "method": method.name(),
        "num_samples": case.num_samples,
        "loc": case.loc_array.to_json(),
        "matrix": case.matrix_array.to_json(),
    }]);
    let reply = run_python(&python, &request)?;
    let theirs = &reply["results"][0];

    let mut table = format!(
        "tchdist check: --method {} ({} {}, n={}) against torch {} at {}\n{:<9} {:>9} {:>8} {:>13}\n",
        method,
        args.case.dtype.name(),
        args.case.device,
        case.num_samples,
        reply["torch"].as_str().unwrap_or("?"),
        python.display(),
        "tensor",
        "identical",
        "max_ulp",
        "max_abs_diff"
    );
    let mut ok = true;
    for (name, tensor) in [
        ("samples", &ours.samples),
        ("log_prob", &ours.log_prob),
        ("jacobian", &ours.jacobian),
    ] {
        let c = compare_with(tensor, &theirs[name], name)?;
        ok &= c.max_ulp <= args.max_ulp;
        table.push_str(&format!(
            "{:<9} {:>9} {:>8} {:>13.3e}\n",
            name,
            if c.identical { "yes" } else { "no" },
            c.max_ulp,
            c.max_abs_diff
        ));
    }
    let python_ms = theirs["ms"].as_f64().unwrap_or(f64::NAN);
    table.push_str(&format!(
        "time      tchdist {rust_ms:.3} ms, python {python_ms:.3} ms\n"
    ));
    table.push_str(if ok {
        "result    agree\n"
    } else {
        "result    DIFFER\n"
    });
    Ok((
        if args.quiet {
            Vec::new()
        } else {
            table.into_bytes()
        },
        ok,
    ))
}

fn compare_with(
    tensor: &Tensor,
    expected: &Value,
    name: &str,
) -> Result<tchdist::testing::Comparison> {
    let shape: Vec<i64> = expected["shape"]
        .as_array()
        .ok_or_else(|| anyhow!("python sent no shape for {name}"))?
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    if shape != tensor.size() {
        bail!(
            "{name}: tchdist has shape {:?}, python {:?}",
            tensor.size(),
            shape
        );
    }
    let values: Vec<f64> = expected["bits"]
        .as_array()
        .ok_or_else(|| anyhow!("python sent no values for {name}"))?
        .iter()
        .map(|b| {
            b.as_u64()
                .map(f64::from_bits)
                .ok_or_else(|| anyhow!("python sent a bad value for {name}"))
        })
        .collect::<Result<_>>()?;
    Ok(compare(tensor, &values)?)
}

/// `--python`, else `$TCHDIST_PYTHON`, else the venv that scripts/setup creates.
fn find_python(explicit: Option<&PathBuf>) -> Result<PathBuf> {
    let path = explicit
        .cloned()
        .or_else(|| std::env::var_os("TCHDIST_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("tchdist/torch-2.13.0/bin/python")
        });
    if !path.is_file() {
        bail!(
            "no Python with torch 2.13.0 at {}: run scripts/setup, or pass --python PATH",
            path.display()
        );
    }
    Ok(path)
}

fn run_python(python: &PathBuf, request: &Value) -> Result<Value> {
    let mut child = Command::new(python)
        .args(["-c", PYTORCH_TWIN])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "cannot run {}: run scripts/setup, or pass --python PATH",
                python.display()
            )
        })?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("python's stdin is not piped"))?
        .write_all(request.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        if last.contains("No module named 'torch'") {
            bail!(
                "{} has no torch: run scripts/setup, or pass --python PATH",
                python.display()
            );
        }
        bail!("python failed: {last}");
    }
    let reply: Value = serde_json::from_slice(&out.stdout).context("python printed no JSON")?;
    let version = reply["torch"].as_str().unwrap_or_default();
    if !version.starts_with("2.13.0") {
        bail!(
            "{} has torch {version}, not 2.13.0: run scripts/setup, or pass --python PATH",
            python.display()
        );
    }
    Ok(reply)
}
