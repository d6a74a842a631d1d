//! The `tchdist` command (see `tchdist --help`). Each subcommand parses its flags into library
//! types, calls the library, and prints through `tchdist::format`; no numerics happen here.

#![deny(unsafe_code)]

mod bench;
mod case;
mod check;
mod input;
mod jacobian;
mod output;
mod sample;

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
    ListMethods,
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_exit(&err),
    };
    let result = match &cli.command {
        Command::Jacobian(args) => jacobian::run(args).map(|out| (out, true)),
        Command::Check(args) => check::run(args),
        Command::Sample(args) => sample::run_sample(args).map(|out| (out, true)),
        Command::LogProb(args) => sample::run_log_prob(args).map(|out| (out, true)),
        Command::Bench(args) => bench::run(args).map(|out| (out, true)),
        Command::ListMethods => Ok((jacobian::list_methods(), true)),
    };
    match result.and_then(|(out, ok)| write_stdout(&out).map(|()| ok)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_DIFFER),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", one_line(&err));
            ExitCode::from(EXIT_ERROR)
        }
    }
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
/// first newline (PyTorch's constraint messages continue with the offending tensor).
fn one_line(err: &anyhow::Error) -> String {
    let parts: Vec<String> = err
        .chain()
        .map(|e| {
            e.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_string()
        })
        .collect();
    parts.join(": ")
}
