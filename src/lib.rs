//! # tchdist
//!
//! `torch.distributions` and `torch.autograd.functional` for Rust, on libtorch through
//! [`tch`], reproducing PyTorch 2.13.0 number for number: the same seed gives the same
//! samples, log-probabilities and Jacobians, bit for bit.
//!
//! ```
//! # fn main() -> tchdist::Result<()> {
//! use tch::{Device, Kind, Tensor};
//! use tchdist::autograd::functional::{jacobian, JacobianOptions};
//! use tchdist::distributions::{Distribution, MultivariateNormal};
//!
//! tch::manual_seed(0);
//! let mu = Tensor::ones([2], (Kind::Float, Device::Cpu));
//! let sigma = Tensor::eye(2, (Kind::Float, Device::Cpu));
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
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
// Unsafe code lives in the C++ shim's FFI module alone.
#![deny(unsafe_code)]

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
