//! # tchdist
//!
//! `torch.distributions` and `torch.autograd.functional` for Rust, on libtorch through
//! [`tch`], reproducing PyTorch 2.13.0 number for number: the same seed gives the same
//! samples, log-probabilities and Jacobians, bit for bit.
//!
//! ## Depending on tchdist
//!
//! ```toml
//! [dependencies]
//! tchdist = { path = "../tchdist" }
//! tch = "0.26"
//! ```
//!
//! Build with `LIBTORCH` naming a libtorch 2.13.0 (e.g. the `site-packages/torch` of a
//! `torch==2.13.0` install), or `LIBTORCH_USE_PYTORCH=1`; nothing is downloaded. tchdist reports
//! that directory to your build script as `DEP_TCHDIST_LIBTORCH_LIB`; this `build.rs` embeds it as
//! an rpath, so your binaries start with no `LD_LIBRARY_PATH`:
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     if let Ok(dir) = std::env::var("DEP_TCHDIST_LIBTORCH_LIB") {
//!         println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
//!     }
//! }
//! ```
//!
//! ## The motivating question
//!
//! Sample `MultivariateNormal(mu, sigma)`, take the log-probabilities, and their Jacobian with
//! respect to `mu` (`torch.autograd.functional.jacobian`):
//!
//! ```
//! # fn main() -> tchdist::Result<()> {
//! use tch::{Device, Kind, Tensor};
//! use tchdist::autograd::functional::{jacobian, JacobianOptions};
//! use tchdist::distributions::{Distribution, MultivariateNormal};
//!
//! tch::manual_seed(0);
//! let mu = Tensor::f_ones([2], (Kind::Float, Device::Cpu))?;
//! let sigma = Tensor::f_eye(2, (Kind::Float, Device::Cpu))?;
//! let jac = jacobian(
//!     |mu| {
//!         let dist = MultivariateNormal::from_covariance(mu, &sigma)?;
//!         let samples = dist.sample(&[10])?;
//!         dist.log_prob(&samples)
//!     },
//!     &mu,
//!     &JacobianOptions::default(),
//! )?;
//! assert_eq!(jac.size(), vec![10, 2]);
//! // With sigma = I the Jacobian is x - mu: the first draw after manual_seed(0), as Python prints.
//! assert!(tchdist::format::display(&jac)?.starts_with("tensor([[-1.1258, -1.1524],"));
//! # Ok(())
//! # }
//! ```
//!
//! Modules: [`distributions`] (torch.distributions), [`autograd`] (torch.autograd.grad and
//! torch.autograd.functional), [`func`] (torch.func), [`mvn_jacobian`] (every way PyTorch takes
//! the Jacobian above, and the closed form), [`format`](mod@format) (Python's tensor repr), [`testing`]
//! (bit and ULP comparison), [`device`] (CUDA on demand), [`memory`] (RSS).
#![deny(missing_docs)]
// Unsafe code lives in the C++ shim's FFI module alone.
#![deny(unsafe_code)]
// The crate docs show a user's build.rs, whose `fn main` is the point.
#![allow(clippy::needless_doctest_main)]

pub mod autograd;
pub mod device;
pub mod distributions;
mod error;
pub mod format;
pub mod func;
pub mod memory;
pub mod mvn_jacobian;

/// The old name of [`mvn_jacobian`], kept for one release.
#[deprecated(since = "0.1.0", note = "renamed to `tchdist::mvn_jacobian`")]
pub mod question {
    pub use crate::mvn_jacobian::*;
}
#[allow(unsafe_code)]
mod shim;
pub mod testing;

pub use error::{Error, PythonException, Result};

/// What a closure over one tensor returns ([`autograd::functional::jacobian`], the closed
/// forms): spelled once, so a closure that uses `?` can name its return type,
/// `|x: &Tensor| -> TensorResult { ... }`.
pub type TensorResult = Result<tch::Tensor>;

/// What a closure over several tensors returns ([`func::jacrev`], [`func::vmap`], ...).
pub type TensorsResult = Result<Vec<tch::Tensor>>;
pub use tch;
