//! The `tchdist` command (see `tchdist --help`). Each subcommand parses its flags into library
//! types, calls the library, and prints through `tchdist::format`; no numerics happen here.

#![deny(unsafe_code)]

mod bench;
mod case;
mod check;
mod input;
mod jacobian;
mod output;
mod progress;
mod sample;
mod signals;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for bad input and every other error: one line on stderr, nothing on stdout.
const EXIT_ERROR: u8 = 2;
/// Exit code of `check` when tchdist and Python disagree.
const EXIT_DIFFER: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "tchdist",
    version = version(),
    about = "torch.distributions and torch.autograd.functional on libtorch, bit for bit with PyTorch 2.13.0",
    after_help = "Examples:\n  tchdist jacobian                 the accepted answer, printed as Python prints it\n  tchdist jacobian --method analytic -n 100000 --format npy -o jac.npy\n  tchdist check --method batched   compare with live PyTorch\n  tchdist sample -n 5 --dtype f64"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Jacobian of MultivariateNormal log-probabilities with respect to the mean
    Jacobian(jacobian::Args),
    /// Run a case in tchdist and in PyTorch (Python) and compare the bits
    Check(check::Args),
    /// Draw samples from MultivariateNormal
    Sample(sample::SampleArgs),
    /// MultivariateNormal log-probabilities of drawn samples or given points
    LogProb(sample::LogProbArgs),
    /// Time one Jacobian method in-process on a generated case (one JSON line)
    Bench(bench::Args),
    /// The Jacobian methods' names, one a line (for scripts and the Python twins)
    #[command(hide = true)]
    ListMethods {
        /// Only the methods whose time grows with n²
        #[arg(long)]
        quadratic: bool,
        /// Instead of the names: the basis rows per batched backward pass that the basis
        /// methods take for the benchmark case of N samples, dimension D and DTYPE (f32, f64),
        /// or `all` when one pass fits (mvn_jacobian::basis_chunk_rows)
        #[arg(long, num_args = 3, value_names = ["N", "D", "DTYPE"], conflicts_with = "quadratic")]
        chunk_rows: Option<Vec<String>>,
    },
}

/// `tchdist X.Y.Z (tch A.B.C, libtorch 2.13.0)`.
fn version() -> String {
    let v = tchdist::device::versions();
    format!(
        "{} (tch {}, libtorch {})",
        v.tchdist,
        env!("TCHDIST_CLI_TCH_VERSION"),
        v.libtorch
    )
}

/// jemalloc, exported as `malloc`/`free`, so libtorch's tensors come from it as well. glibc's
/// malloc fragments under the reverse-mode loops (one n×d gradient per output): at n = 2000,
/// d = 200 the process grows to 5.4 GB and takes 22 s; with jemalloc 148 MiB and 11.3 s
/// (docs/ARCHITECTURE.md, "Memory"). Its
/// options (background threads) are compiled in from `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Parses the command line, runs the subcommand, and maps every failure to one stderr line.
fn main() -> ExitCode {
    let stdout_closed = stdout_was_closed();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_exit(&err),
    };
    signals::install();
    let result = match &cli.command {
        Command::Jacobian(args) => jacobian::run(args).map(|out| (out, true)),
        Command::Check(args) => check::run(args),
        Command::Sample(args) => sample::run_sample(args).map(|out| (out, true)),
        Command::LogProb(args) => sample::run_log_prob(args).map(|out| (out, true)),
        Command::Bench(args) => bench::run(args).map(|out| (out, true)),
        Command::ListMethods {
            chunk_rows: Some(case),
            ..
        } => jacobian::chunk_rows(case).map(|out| (out, true)),
        Command::ListMethods { quadratic, .. } => Ok((jacobian::list_methods(*quadratic), true)),
    };
    let (out, ok) = match result {
        Ok(done) => done,
        Err(err) => return fail(&err),
    };
    if stdout_closed && !out.is_empty() {
        return fail(&anyhow::anyhow!(
            "stdout is closed, so the result cannot be printed (use --output FILE or --quiet)"
        ));
    }
    match write_stdout(&out) {
        Ok(()) if ok => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(EXIT_DIFFER),
        // Only tchdist's own stdout closing early (`tchdist ... | head`) ends quietly.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// The one stderr line and exit code 2.
fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", one_line(err));
    ExitCode::from(EXIT_ERROR)
}

/// Whether the process started with file descriptor 1 closed (`>&-`). Rust's runtime opens
/// /dev/null read-write in its place before `main` (so that no file opened later becomes
/// stdout); a shell redirect (`>/dev/null`) opens it write-only, so the two are told apart
/// (through /proc: the device behind fd 1 and the flags it was opened with).
fn stdout_was_closed() -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    /// /dev/null's device number, makedev(1, 3).
    const DEV_NULL: u64 = (1 << 8) | 3;
    let Ok(meta) = std::fs::metadata("/proc/self/fd/1") else {
        return true;
    };
    let read_write = std::fs::read_to_string("/proc/self/fdinfo/1")
        .ok()
        .and_then(|info| {
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
            u32::from_str_radix(flags.trim(), 8).ok()
        })
        // O_ACCMODE is 0o3, O_RDWR 0o2.
        .is_some_and(|flags| flags & 0o3 == 0o2);
    meta.file_type().is_char_device() && meta.rdev() == DEV_NULL && read_write
}

/// `--help` and `--version` go to stdout with status 0; a usage error is one stderr line.
fn clap_exit(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = write_stdout(err.render().to_string().as_bytes());
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!("error: a subcommand is required (see 'tchdist --help')");
            ExitCode::from(EXIT_ERROR)
        }
        _ => {
            let text = err.render().to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            eprintln!("error: {first}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The whole output is built before anything is written, so a failure leaves stdout empty.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// The error and its causes on one line: `outer: cause: root cause`, each cause cut at its
/// first newline (PyTorch's constraint messages continue with the offending tensor). A
/// tchdist error already carries libtorch's words, so its source (the same message) is not
/// repeated; tch's own `Internal torch error: ` prefix is dropped.
fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in err.chain() {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default().trim_end();
        let first = first
            .strip_prefix("Internal torch error: ")
            .unwrap_or(first);
        if !parts.iter().any(|p| p.contains(first)) {
            parts.push(first.to_string());
        }
        if e.downcast_ref::<tchdist::Error>().is_some() {
            break;
        }
    }
    parts.join(": ")
}
