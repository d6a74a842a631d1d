//! Process memory: the allocator settings that keep long Jacobian loops from growing, and the
//! resident set sizes that `tchdist bench` reports.
//!
//! libtorch's CPU tensors come from glibc's `malloc`. glibc raises its mmap threshold every
//! time a large mmapped block is freed (up to 32 MiB), after which large tensors are carved
//! from the heap; a reverse-mode loop that allocates and frees n×d gradients thousands of
//! times then fragments the heap, and the process grows with n² (5.4 GB for `functional` at
//! n = 2000, d = 200, f64: docs/ARCHITECTURE.md, "Memory"; Python's torch uses the same allocator
//! and grows alike). Fixing the thresholds returns every block
//! of 1 MiB or more to the system when it is freed.

use crate::error::{Error, Result};
use crate::shim;

/// Blocks of this size or more are mmapped, and unmapped when freed.
pub const MMAP_THRESHOLD: i32 = 1 << 20;
/// Free memory above this at the top of the heap is returned to the system.
pub const TRIM_THRESHOLD: i32 = 4 << 20;

/// Fixes glibc's mmap and trim thresholds ([`MMAP_THRESHOLD`], [`TRIM_THRESHOLD`]) so that
/// large tensors go back to the system when freed: for programs on glibc's malloc, called once,
/// early. The `tchdist` binary does not need it (it allocates through jemalloc, which bounds the
/// loops and is faster: docs/BENCHMARKS.md). It changes speed and memory only, never results.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// tchdist::memory::tune_allocator()?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// When glibc's `mallopt` refuses a setting.
pub fn tune_allocator() -> Result<()> {
    shim::set_malloc_thresholds(TRIM_THRESHOLD, MMAP_THRESHOLD)
}

/// The process's peak resident set size so far, in bytes (`VmHWM` in `/proc/self/status`).
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// assert!(tchdist::memory::peak_rss_bytes()? > 0);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Where `/proc/self/status` cannot be read or has no `VmHWM` line (not Linux).
pub fn peak_rss_bytes() -> Result<u64> {
    status_bytes("VmHWM")
}

/// The process's resident set size now, in bytes (`VmRSS` in `/proc/self/status`).
///
/// # Errors
/// As [`peak_rss_bytes`].
pub fn rss_bytes() -> Result<u64> {
    status_bytes("VmRSS")
}

/// Resets the peak resident set size to the current one (writes `5` to
/// `/proc/self/clear_refs`), so that [`peak_rss_bytes`] measures from here on.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// tchdist::memory::reset_peak_rss()?;
/// assert!(tchdist::memory::peak_rss_bytes()? <= tchdist::memory::rss_bytes()? + (64 << 20));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Where `/proc/self/clear_refs` cannot be written (not Linux, or a kernel before 4.0).
pub fn reset_peak_rss() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
        .map_err(|e| Error::Runtime(format!("cannot reset the peak RSS: {e}")))
}

fn status_bytes(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| Error::Runtime(format!("cannot read /proc/self/status: {e}")))?;
    kib_line(&status, field)
        .ok_or_else(|| Error::Runtime(format!("no {field} line in /proc/self/status")))
}

/// A `Name:   123 kB` line of a /proc file, in bytes.
fn kib_line(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib.saturating_mul(1024))
}

/// Memory this process may still allocate, in bytes: the least of `MemAvailable` from
/// /proc/meminfo (16 GiB where it cannot be read), the room left under the address-space
/// limit (`RLIMIT_AS`'s soft limit less `VmSize`), and the room left under the cgroup's
/// memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`, less their usage). What a
/// program checks a size against before allocating it.
///
/// ```
/// assert!(tchdist::memory::available_bytes() > 0);
/// ```
pub fn available_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| kib_line(&text, "MemAvailable"))
        .unwrap_or(16 << 30);
    [Some(meminfo), address_space_left(), cgroup_memory_left()]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(meminfo)
}

/// `RLIMIT_AS` (the soft limit in /proc/self/limits) less the address space already mapped
/// (`VmSize`); `None` when unlimited.
fn address_space_left() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let soft = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max address space"))?
        .split_whitespace()
        .next()?;
    let limit: u64 = soft.parse().ok()?; // "unlimited" does not parse
    let used = status_bytes("VmSize").unwrap_or(0);
    Some(limit.saturating_sub(used))
}

/// The cgroup's memory limit less its usage; `None` when there is no limit.
fn cgroup_memory_left() -> Option<u64> {
    let read =
        |path: String| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (hierarchy, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if hierarchy == "0" && controllers.is_empty() {
            let dir = format!("/sys/fs/cgroup{}", path.trim_end_matches('/'));
            if let Some(max) = read(format!("{dir}/memory.max")) {
                let current = read(format!("{dir}/memory.current")).unwrap_or(0);
                return Some(max.saturating_sub(current));
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            let dir = format!("/sys/fs/cgroup/memory{}", path.trim_end_matches('/'));
            let max = read(format!("{dir}/memory.limit_in_bytes"))?;
            // cgroup v1 reports "no limit" as a huge page-rounded number.
            if max >= 1 << 62 {
                return None;
            }
            let current = read(format!("{dir}/memory.usage_in_bytes")).unwrap_or(0);
            return Some(max.saturating_sub(current));
        }
    }
    None
}
