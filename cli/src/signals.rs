//! SIGINT, SIGTERM and SIGHUP: before the process dies of the signal, remove the temporary
//! `--output` file being written and kill the Python that `check` runs (with its process
//! group). signal-hook delivers the signal to a thread of ours, which does that and then lets
//! the signal's default action end the process; no unsafe code, no work in a signal handler.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

static TEMP_PATH: Mutex<Option<PathBuf>> = Mutex::new(None);
static CHILD: AtomicI32 = AtomicI32::new(0);

/// Starts the thread that handles the signals the process does not ignore (a signal the parent
/// ignores, as `nohup` does SIGHUP, stays ignored).
pub fn install() {
    let wanted: Vec<i32> = [SIGINT, SIGTERM, SIGHUP]
        .into_iter()
        .filter(|&sig| !ignored(sig))
        .collect();
    let Ok(mut signals) = Signals::new(wanted) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let path = TEMP_PATH
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(path) = path {
                let _ = std::fs::remove_file(path);
            }
            kill_group_of(CHILD.swap(0, Ordering::SeqCst));
            let _ = signal_hook::low_level::emulate_default_handler(sig);
        }
    });
}

/// Whether `sig` is ignored by this process (the `SigIgn` mask of /proc/self/status).
fn ignored(sig: i32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| sig >= 1 && mask & (1u64 << (sig - 1)) != 0)
}

/// While alive, a signal removes `path` (the temporary output file).
pub struct TempFileGuard;

impl TempFileGuard {
    pub fn new(path: &Path) -> TempFileGuard {
        *TEMP_PATH.lock().unwrap_or_else(PoisonError::into_inner) = Some(path.to_path_buf());
        TempFileGuard
    }
}

impl Drop for TempFileGuard {
    fn drop(&mut self) {
        TEMP_PATH
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// Kills (SIGKILL) the process group that the child `pid` leads.
pub fn kill_group(pid: u32) {
    kill_group_of(i32::try_from(pid).unwrap_or(0));
}

fn kill_group_of(pid: i32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// While alive, a signal kills the child `pid` and its process group (SIGKILL) before the
/// process dies.
pub struct ChildGuard;

impl ChildGuard {
    pub fn new(pid: u32) -> ChildGuard {
        CHILD.store(i32::try_from(pid).unwrap_or(0), Ordering::SeqCst);
        ChildGuard
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        CHILD.store(0, Ordering::SeqCst);
    }
}
