//! Where a subcommand's result goes: stdout or `--output FILE`, as text, JSON or .npy.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::ValueEnum;

/// `--format`, `--output`, `--quiet`.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// text: as Python prints it; json: nested lists with round-trip precision; npy: NumPy's
    /// binary .npy format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the result to FILE (atomically: a temporary file renamed into place) instead of
    /// stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print nothing on stdout (errors still go to stderr; the exit code tells the outcome)
    #[arg(short, long)]
    pub quiet: bool,
}

/// `--format`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Npy,
}

impl OutputArgs {
    /// Sends the finished output to its destination and returns what goes to stdout. The file
    /// is written in full under a temporary name and renamed, so an interrupted run never
    /// leaves a partial file.
    pub fn emit(&self, bytes: Vec<u8>) -> Result<Vec<u8>> {
        match &self.output {
            Some(path) => {
                write_atomically(path, &bytes)?;
                Ok(Vec::new())
            }
            None if self.quiet => Ok(Vec::new()),
            None => Ok(bytes),
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("--output {}: not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tchdist-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut file =
            std::fs::File::create(&tmp).with_context(|| format!("--output {}", path.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("--output {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
