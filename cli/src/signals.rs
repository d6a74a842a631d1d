//! SIGINT, SIGTERM and SIGHUP: before the process dies of the signal, remove the temporary
//! `--output` file being written and kill the Python that `check` runs. The handler only calls
//! async-signal-safe functions (`unlink`, `kill`, `signal`, `raise`) on what was registered.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

static TEMP_PATH: AtomicPtr<libc::c_char> = AtomicPtr::new(ptr::null_mut());
static CHILD: AtomicI32 = AtomicI32::new(0);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    let path = TEMP_PATH.swap(ptr::null_mut(), Ordering::SeqCst);
    let pid = CHILD.swap(0, Ordering::SeqCst);
    // SAFETY: unlink, kill, signal and raise are async-signal-safe; `path` is a NUL-terminated
    // string leaked by `TempFileGuard::new` and never freed while registered.
    unsafe {
        if !path.is_null() {
            libc::unlink(path);
        }
        if pid > 0 {
            libc::kill(-pid, libc::SIGKILL);
        }
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Installs the handler for the signals that are not ignored (a signal the parent ignores,
/// as `nohup` does, stays ignored).
pub fn install() {
    for sig in SIGNALS {
        // SAFETY: plain sigaction calls with a zeroed, then filled, struct.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, ptr::null(), &mut old) != 0 || old.sa_sigaction == libc::SIG_IGN
            {
                continue;
            }
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut new.sa_mask);
            new.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &new, ptr::null_mut());
        }
    }
}

/// While alive, a signal removes `path` (the temporary output file).
pub struct TempFileGuard;

impl TempFileGuard {
    pub fn new(path: &Path) -> TempFileGuard {
        if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
            let old = TEMP_PATH.swap(c.into_raw(), Ordering::SeqCst);
            free(old);
        }
        TempFileGuard
    }
}

impl Drop for TempFileGuard {
    fn drop(&mut self) {
        free(TEMP_PATH.swap(ptr::null_mut(), Ordering::SeqCst));
    }
}

fn free(p: *mut libc::c_char) {
    if !p.is_null() {
        // SAFETY: every non-null pointer stored in TEMP_PATH came from CString::into_raw.
        drop(unsafe { CString::from_raw(p) });
    }
}

/// Kills (SIGKILL) the process group that the child `pid` leads.
pub fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill has no memory effects.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
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
