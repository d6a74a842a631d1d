//! Command-line front end. Each subcommand parses its flags into library types, calls the
//! library, and prints through `tchdist::format`; no numerics happen here.

mod input;
mod jacobian;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for bad input and every other error: one line on stderr, nothing on stdout.
const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "tchdist",
    version,
    about = "torch.distributions and torch.autograd.functional on libtorch, bit for bit with PyTorch 2.13.0",
    long_about = None,
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Jacobian of MultivariateNormal log-probabilities with respect to the mean.
    Jacobian(jacobian::Args),
}

/// Parses the command line, runs the subcommand, and maps every failure to one stderr line.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_exit(&err),
    };
    let result = match cli.command {
        Command::Jacobian(args) => jacobian::run(&args),
    };
    match result.and_then(|out| write_stdout(&out)) {
        Ok(()) => ExitCode::SUCCESS,
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
            let _ = write_stdout(&err.render().to_string());
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
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
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
