//! Devices and versions: CUDA is loaded on demand, so CPU runs never pay for it.
//!
//! The binary links only libtorch_cpu and libc10 (rustc links with `--as-needed`), which keeps
//! start-up near 0.3 s. Asking for a CUDA device loads `libtorch_cuda.so` from the libtorch this
//! crate was built against; its static initialisers register the CUDA backend.

use std::path::PathBuf;
use std::sync::OnceLock;

use tch::Device;

use crate::error::{Error, Result};
use crate::shim;

/// Parses `cpu`, `cuda` or `cuda:N` and makes the device usable: for CUDA, loads libtorch_cuda
/// (once per process) and checks that a GPU with that index exists.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// assert_eq!(tchdist::device::device("cpu")?, tch::Device::Cpu);
/// assert!(tchdist::device::device("tpu").is_err());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// An unknown device name; `cuda` where libtorch_cuda cannot be loaded or no CUDA GPU is present
/// (PyTorch's "Torch not compiled with CUDA enabled" / "No CUDA GPUs are available" situation).
pub fn device(name: &str) -> Result<Device> {
    let index = match name {
        // PyTorch takes any index for the CPU (`cpu:0`, `cpu:1`: the one CPU device).
        "cpu" => return Ok(Device::Cpu),
        "" => return Err(Error::Runtime("Device string must not be empty".into())),
        other
            if other
                .strip_prefix("cpu:")
                .is_some_and(|i| i.parse::<usize>().is_ok()) =>
        {
            return Ok(Device::Cpu)
        }
        "cuda" => 0,
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => i,
            _ => {
                return Err(Error::Value(format!(
                    "unknown device '{name}' (expected cpu, cuda or cuda:N)"
                )))
            }
        },
    };
    load_cuda()?;
    let count = tch::Cuda::device_count();
    if count <= 0 {
        return Err(Error::Runtime(
            "CUDA device requested but no CUDA GPU is available (torch.cuda.is_available() is False)"
                .into(),
        ));
    }
    if index as i64 >= count {
        return Err(Error::Runtime(format!(
            "CUDA error: invalid device ordinal: cuda:{index} requested, {count} device(s) present"
        )));
    }
    Ok(Device::Cuda(index))
}

/// Loads libtorch_cuda.so from the build's libtorch directory, once.
fn load_cuda() -> Result<()> {
    static LOADED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let dir = option_env!("TCHDIST_LIBTORCH_LIB")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    "this build does not know its libtorch directory; CUDA cannot be loaded"
                        .to_string()
                })?;
            let lib = dir.join("libtorch_cuda.so");
            if !lib.exists() {
                return Err(format!(
                    "CUDA device requested but this libtorch has no CUDA support ({} is missing)",
                    lib.display()
                ));
            }
            shim::load_library(&lib).map_err(|e| format!("cannot load {}: {e}", lib.display()))
        })
        .clone()
        .map_err(Error::Runtime)
}

/// Versions of tchdist, tch and the libtorch it was built against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versions {
    /// This crate's version.
    pub tchdist: &'static str,
    /// The tch version this crate requires (`0.26`: every 0.26.x binds libtorch 2.13.0), from
    /// its Cargo.toml; the exact resolved version is in the user's Cargo.lock.
    pub tch: &'static str,
    /// libtorch's `TORCH_VERSION`, e.g. `2.13.0`.
    pub libtorch: String,
}

/// The versions of this build: tchdist, the tch requirement, and libtorch's own version.
///
/// ```
/// let v = tchdist::device::versions();
/// assert!(v.libtorch.starts_with("2.13"));
/// ```
pub fn versions() -> Versions {
    Versions {
        tchdist: env!("CARGO_PKG_VERSION"),
        tch: env!("TCHDIST_TCH_REQUIREMENT"),
        libtorch: shim::torch_version(),
    }
}
