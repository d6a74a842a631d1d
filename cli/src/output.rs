//! Where a subcommand's result goes: stdout or `--output FILE`, as text, JSON or .npy.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;

use super::signals;

/// `--format`, `--output`, `--quiet`.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// text: as Python prints it; json: nested lists with round-trip precision; npy: NumPy's
    /// binary .npy format; npz: every tensor the command computed in one archive, keyed by name
    /// (samples, log_prob, jacobian), as numpy.load reads it
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the result to FILE instead of stdout: a regular file (or a new one) atomically,
    /// as a temporary file renamed into place, through symlinks to their target; a FIFO or
    /// device is written into
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
    Npz,
}

/// An .npz archive (`numpy.savez`'s layout: a zip of `NAME.npy` entries, stored) of the named
/// tensors, each in `tchdist::format::npy`'s .npy bytes.
pub fn npz(tensors: &[(&str, &tch::Tensor)]) -> Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, tensor) in tensors {
        zip.start_file(format!("{name}.npy"), options)?;
        zip.write_all(&tchdist::format::npy(tensor)?)?;
    }
    Ok(zip.finish()?.into_inner())
}

impl OutputArgs {
    /// Sends the finished output to its destination and returns what goes to stdout. The file
    /// is written in full under a temporary name and renamed, so an interrupted run never
    /// leaves a partial file.
    pub fn emit(&self, bytes: Vec<u8>) -> Result<Vec<u8>> {
        let bytes = if self.format == Format::Json {
            strict_json(bytes)
        } else {
            bytes
        };
        match &self.output {
            Some(path) if is_own_stdout(path) => Ok(bytes),
            Some(path) => {
                write_output(path, &bytes)?;
                Ok(Vec::new())
            }
            None if self.quiet => Ok(Vec::new()),
            None => Ok(bytes),
        }
    }
}

/// JSON has no NaN or infinities: `tchdist::format::json` writes them as Python's `json` does
/// (bare `NaN`, `Infinity`, `-Infinity`), which strict parsers reject; `--format json` makes them
/// the strings `"NaN"`, `"Infinity"` and `"-Infinity"`. Nothing else in the output (numbers,
/// brackets, the keys `samples`, `log_prob`, `jacobian`) contains those words.
fn strict_json(bytes: Vec<u8>) -> Vec<u8> {
    match String::from_utf8(bytes) {
        Ok(text) if text.contains("NaN") || text.contains("Infinity") => text
            .replace("-Infinity", "\u{0}")
            .replace("Infinity", "\"Infinity\"")
            .replace('\u{0}', "\"-Infinity\"")
            .replace("NaN", "\"NaN\"")
            .into_bytes(),
        Ok(text) => text.into_bytes(),
        Err(err) => err.into_bytes(),
    }
}

/// `/dev/stdout` and its aliases are tchdist's own stdout, written as stdout is.
fn is_own_stdout(path: &Path) -> bool {
    ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]
        .iter()
        .any(|p| path == Path::new(p))
}

/// A regular file (or a new path) is replaced atomically; whatever else is there (a FIFO, a
/// device such as /dev/null) is opened and written into, never replaced. Symlinks are
/// followed: their target is written, the link stays.
fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    let shown = || format!("--output {}", path.display());
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => bail!("{}: is a directory", shown()),
        Ok(meta) if !meta.is_file() => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(shown)?;
            file.write_all(bytes).with_context(shown)?;
            file.flush().with_context(shown)?;
            Ok(())
        }
        Ok(meta) => {
            let target = std::fs::canonicalize(path).with_context(shown)?;
            write_atomically(&target, bytes, Some(meta.permissions())).with_context(shown)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let target = link_target(path).with_context(shown)?;
            write_atomically(&target, bytes, None).with_context(shown)
        }
        Err(err) => Err(err).with_context(shown),
    }
}

/// Where a path that does not exist yet is created: the path itself, or the end of the chain
/// of symlinks it names (a dangling link is created at its target, as `>` does).
fn link_target(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let next = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            _ => return Ok(current),
        }
    }
    bail!("too many levels of symbolic links")
}

/// Writes `bytes` to a temporary file created exclusively, under an unpredictable name, next
/// to `target`, then renames it onto `target`. The temporary file is removed on error and (by
/// the signal handler) on SIGINT, SIGTERM and SIGHUP. A replaced file keeps its permissions;
/// a new one gets 0666 less the umask, as other tools create files.
fn write_atomically(target: &Path, bytes: &[u8], keep: Option<std::fs::Permissions>) -> Result<()> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if target.file_name().is_none() {
        bail!("not a file name");
    }
    let mut temp = tempfile::Builder::new()
        .prefix(".tchdist-")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)?;
    let _guard = signals::TempFileGuard::new(temp.path());
    if let Some(permissions) = keep {
        temp.as_file().set_permissions(permissions)?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(target).map_err(|e| e.error)?;
    Ok(())
}
