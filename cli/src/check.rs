//! `tchdist check`: runs a case in tchdist and in the set-up Python (the PyTorch twin of the
//! chosen method) and reports, per tensor, whether the bits agree.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tch::Tensor;
use tchdist::mvn_jacobian::PYTORCH_TWIN;
use tchdist::testing::compare;

use super::case::CaseArgs;
use super::jacobian::{self, Method};
use super::progress::Progress;
use super::signals;

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
    /// Check at these points (..., d) instead of drawn samples (JSON or @FILE)
    #[arg(long, value_name = "JSON|@FILE", conflicts_with_all = ["num_samples", "seed", "sampler"])]
    pub value: Option<String>,
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
    /// Stop Python (and fail) when it has not answered after this many seconds
    #[arg(long, default_value_t = 600.0, value_name = "S", value_parser = parse_timeout)]
    pub timeout_s: f64,
}

/// `--timeout-s`: a positive, finite number of seconds.
fn parse_timeout(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(s),
        _ => Err(format!("'{text}' is not a number of seconds (more than 0)")),
    }
}

/// Returns the table and whether everything agreed.
pub fn run(args: &Args) -> Result<(Vec<u8>, bool)> {
    let python = find_python(args.python.as_ref())?;
    let method = args.method.library();
    let case = args.case.case_with(method, true, args.value.as_deref())?;

    let start = Instant::now();
    let ours = jacobian::compute(&case, method)?;
    if !args.case.device_is_cpu() {
        tch::Cuda::synchronize(0);
    }
    let rust_ms = start.elapsed().as_secs_f64() * 1e3;

    let mut request = json!({
        "seed": args.python_seed.unwrap_or(case.seed),
        "dtype": args.case.dtype.name(),
        "device": args.case.device,
        "param": case.param_name,
        "method": method.name(),
        "sampler": case.sampler.name(),
        "num_samples": case.num_samples,
        "loc": case.loc_array.to_json(),
        "matrix": case.matrix_array.to_json(),
    });
    if let Some((_, points)) = &case.value {
        request["value"] = points.to_json();
    }
    let request = Value::Array(vec![request]);
    // The reply carries every element of the three tensors as a decimal u64 (at most 20
    // digits and a comma), plus their shapes and a little JSON around them.
    let elements = ours.samples.numel() + ours.log_prob.numel() + ours.jacobian.numel();
    let limits = Limits {
        timeout: Duration::from_secs_f64(args.timeout_s),
        stdout_bytes: (elements as u64).saturating_mul(24).saturating_add(1 << 20),
    };
    let reply = {
        let _progress = Progress::start(format!("python: the PyTorch twin of --method {method}"));
        run_python(&python, &request, &limits)?
    };
    let theirs = &reply["results"][0];

    let mut table = format!(
        "tchdist check: --method {}{} ({} {}, n={}) against torch {} at {}\n{:<9} {:>9} {:>8} {:>13}\n",
        method,
        match case.sampler {
            tchdist::distributions::Sampler::Exact => String::new(),
            other => format!(" --sampler {}", other.name()),
        },
        args.case.dtype.name(),
        args.case.device,
        case.outputs(),
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

/// `--python`, else `$TCHDIST_PYTHON`, else the venv that scripts/setup creates under
/// `$XDG_CACHE_HOME` (used only when absolute, as the XDG spec says) or `$HOME/.cache`.
fn find_python(explicit: Option<&PathBuf>) -> Result<PathBuf> {
    let path = explicit
        .cloned()
        .or_else(tchdist::testing::setup_python)
        .ok_or_else(|| {
            anyhow!(
                "no Python with torch 2.13.0: HOME is not set (nor XDG_CACHE_HOME); \
                 pass --python PATH or set TCHDIST_PYTHON"
            )
        })?;
    if !path.is_file() {
        bail!(
            "no Python with torch 2.13.0 at {}: run scripts/setup, or pass --python PATH",
            path.display()
        );
    }
    Ok(path)
}

fn run_python(python: &PathBuf, request: &Value, limits: &Limits) -> Result<Value> {
    // Its own process group, so that stopping it stops whatever it started too.
    let mut child = Command::new(python)
        .args(["-c", PYTORCH_TWIN])
        .process_group(0)
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
    let pid = child.id();
    let _guard = signals::ChildGuard::new(pid);
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("python's standard streams are not piped");
    };
    // The request is written, and both outputs read, on their own threads: a Python that
    // exits early (EPIPE on the request) or floods its output is the child's failure, reported
    // below, never mistaken for a closed stdout of tchdist.
    let text = request.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(text.as_bytes());
    });
    let stdout_limit = limits.stdout_bytes;
    let overflowed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&overflowed);
    let out_reader = std::thread::spawn(move || {
        let (out, over) = read_at_most(stdout, stdout_limit);
        flag.store(over, Ordering::SeqCst);
        (out, over)
    });
    let err_reader = std::thread::spawn(move || read_tail(stderr, STDERR_TAIL));
    let deadline = Instant::now() + limits.timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline || overflowed.load(Ordering::SeqCst) {
            signals::kill_group(pid);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Something the child started may still hold its output open: given two seconds to
    // finish, it is then stopped with the child's process group.
    let grace = Instant::now() + Duration::from_secs(2);
    while !(out_reader.is_finished() && err_reader.is_finished()) {
        if Instant::now() >= grace {
            signals::kill_group(pid);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = writer.join();
    let (out, overflow) = out_reader
        .join()
        .map_err(|_| anyhow!("reading python's output failed"))?;
    let err = err_reader
        .join()
        .map_err(|_| anyhow!("reading python's errors failed"))?;
    if overflow {
        bail!("python printed more than the {stdout_limit} bytes its reply can take; stopped it");
    }
    let Some(status) = status else {
        bail!(
            "python did not finish within {} s (--timeout-s); stopped it",
            limits.timeout.as_secs_f64()
        );
    };
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let last = err.lines().rev().find(|l| !l.trim().is_empty());
        if last.is_some_and(|l| l.contains("No module named")) {
            bail!(
                "{} lacks a module torch needs ({}): run scripts/setup, or pass --python PATH",
                python.display(),
                last.unwrap_or_default().trim()
            );
        }
        if let Some(sig) = status.signal() {
            bail!(
                "python was killed by signal {sig} ({}){}",
                signal_name(sig),
                last.map(|l| format!(": {}", l.trim())).unwrap_or_default()
            );
        }
        let code = status.code().unwrap_or(-1);
        match last {
            Some(last) => bail!("python failed (exit status {code}): {}", last.trim()),
            None => bail!("python failed (exit status {code}) without a message"),
        }
    }
    let reply: Value = serde_json::from_slice(&out).context("python printed no JSON")?;
    let version = reply["torch"].as_str().unwrap_or_default();
    if !version.starts_with("2.13.0") {
        bail!(
            "{} has torch {version}, not 2.13.0: run scripts/setup, or pass --python PATH",
            python.display()
        );
    }
    Ok(reply)
}

/// Bytes of Python's stderr kept (its end, where the exception is).
const STDERR_TAIL: usize = 64 << 10;

/// How long the child may run and how much it may print.
struct Limits {
    timeout: Duration,
    stdout_bytes: u64,
}

/// Up to `limit` bytes, and whether there was more (reading stops there).
fn read_at_most(pipe: impl Read, limit: u64) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let _ = pipe.take(limit.saturating_add(1)).read_to_end(&mut out);
    let over = out.len() as u64 > limit;
    (out, over)
}

/// Everything read until EOF, of which only the last `keep` bytes are kept.
fn read_tail(mut pipe: impl Read, keep: usize) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                tail.extend_from_slice(&buf[..k]);
                if tail.len() > 2 * keep {
                    tail.drain(..tail.len() - keep);
                }
            }
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    tail
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        signal_hook::consts::SIGHUP => "SIGHUP",
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGQUIT => "SIGQUIT",
        signal_hook::consts::SIGILL => "SIGILL",
        signal_hook::consts::SIGABRT => "SIGABRT",
        signal_hook::consts::SIGBUS => "SIGBUS",
        signal_hook::consts::SIGFPE => "SIGFPE",
        signal_hook::consts::SIGKILL => "SIGKILL",
        signal_hook::consts::SIGSEGV => "SIGSEGV",
        signal_hook::consts::SIGPIPE => "SIGPIPE",
        signal_hook::consts::SIGTERM => "SIGTERM",
        signal_hook::consts::SIGXCPU => "SIGXCPU",
        _ => "signal",
    }
}
