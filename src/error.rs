//! The crate's one error type.
//!
//! PyTorch raises `ValueError`, `RuntimeError` and `torch.linalg.LinAlgError`; each maps to a
//! variant whose `Display` text starts with the words PyTorch uses for the same input, so a
//! caller comparing against Python sees the same message.

use tch::TchError;

/// Everything that can go wrong in tchdist.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A distribution parameter failed its constraint check (PyTorch's `ValueError` from
    /// `Distribution.__init__` when `validate_args` is on).
    #[error(
        "Expected parameter {param} (Tensor of shape {shape}) of distribution {distribution} \
         to satisfy the constraint {constraint}, but found invalid values:\n{values}"
    )]
    Constraint {
        /// The parameter's name, e.g. `covariance_matrix`.
        param: String,
        /// The parameter's shape as Python prints a tuple, e.g. `(2, 2)`.
        shape: String,
        /// The distribution's repr, e.g. `MultivariateNormal(loc: torch.Size([2]), ...)`.
        distribution: String,
        /// The constraint's repr, e.g. `PositiveDefinite()`.
        constraint: String,
        /// The offending tensor, printed as PyTorch prints it.
        values: String,
    },
    /// A value passed to `log_prob` lies outside the support (PyTorch's `ValueError` from
    /// `Distribution._validate_sample`).
    #[error(
        "Expected value argument (Tensor of shape {shape}) to be within the support \
         ({support}) of the distribution {distribution}, but found invalid values:\n{values}"
    )]
    Support {
        /// The value's shape as Python prints a tuple.
        shape: String,
        /// The support's repr, e.g. `IndependentConstraint(Real(), 1)`.
        support: String,
        /// The distribution's repr.
        distribution: String,
        /// The offending tensor, printed as PyTorch prints it.
        values: String,
    },
    /// An argument PyTorch rejects with `ValueError`; the text is PyTorch's.
    #[error("{0}")]
    Value(String),
    /// A failure PyTorch reports as `RuntimeError` (or `LinAlgError`); the text is PyTorch's.
    #[error("{0}")]
    Runtime(String),
    /// A combination PyTorch raises `NotImplementedError` for; the text is PyTorch's.
    #[error("{0}")]
    NotImplemented(String),
    /// An error raised inside libtorch and reported by tch.
    #[error("{}", clean_torch_message(&.0.to_string()))]
    Torch(#[from] TchError),
    /// An error reported by tchdist's C++ shim.
    #[error("{0}")]
    Shim(String),
}

/// `Result` with tchdist's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps a message that came out of libtorch, dropping its C++ backtrace.
    pub(crate) fn from_torch_message(message: &str) -> Self {
        Error::Runtime(clean_torch_message(message))
    }

    /// The first line of the message: what a command-line tool prints as its one error line.
    pub fn summary(&self) -> String {
        let text = self.to_string();
        text.lines()
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_string()
    }
}

/// Strips tch's `Internal torch error: ` prefix and libtorch's C++ backtrace (`Exception raised
/// from ...`), leaving what Python's `str(e)` shows.
fn clean_torch_message(message: &str) -> String {
    let mut text = message;
    for prefix in ["Internal torch error: ", "internal error in C++: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            text = rest;
        }
    }
    let cut = text.find("\nException raised from").unwrap_or(text.len());
    python_type_names(text[..cut].trim_end())
}

/// libtorch names a tensor type `CPUDoubleType` in messages (`TensorBase::toString`); under
/// Python the same message says `torch.DoubleTensor` (`torch.cuda.DoubleTensor` on CUDA).
fn python_type_names(text: &str) -> String {
    const SCALARS: [&str; 12] = [
        "ComplexDouble",
        "ComplexFloat",
        "BFloat16",
        "Double",
        "Float",
        "Half",
        "Long",
        "Int",
        "Short",
        "Char",
        "Byte",
        "Bool",
    ];
    let mut out = text.to_string();
    for (device, prefix) in [("CPU", "torch."), ("CUDA", "torch.cuda.")] {
        for scalar in SCALARS {
            let from = format!("{device}{scalar}Type{{");
            if out.contains(&from) {
                out = out.replace(&from, &format!("{prefix}{scalar}Tensor{{"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_type_names_read_as_python_prints_them() {
        let msg = "expand(CPUDoubleType{[3, 5, 5]}, size=[5, 5]): the number of sizes provided \
                   (2) must be greater or equal to the number of dimensions in the tensor (3)\n\
                   Exception raised from expand at aten/src/ATen/native/TensorShape.cpp:1";
        assert_eq!(
            clean_torch_message(msg),
            "expand(torch.DoubleTensor{[3, 5, 5]}, size=[5, 5]): the number of sizes provided \
             (2) must be greater or equal to the number of dimensions in the tensor (3)"
        );
        assert_eq!(
            python_type_names("CUDAFloatType{[2]}"),
            "torch.cuda.FloatTensor{[2]}"
        );
    }
}
