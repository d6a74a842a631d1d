//! The crate's one error type.
//!
//! PyTorch raises `ValueError`, `RuntimeError` and `torch.linalg.LinAlgError`; each maps to a
//! variant whose `Display` text starts with the words PyTorch uses for the same input, so a
//! caller comparing against Python sees the same message.

use tch::TchError;

/// Everything that can go wrong in tchdist. New variants may come (match with a `_` arm);
/// [`Error::python_exception`] says which Python exception each stands for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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

/// The Python exception PyTorch raises where tchdist returns an [`Error`]: what a program
/// that cross-checks tchdist against Python compares (`type(e).__name__`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PythonException {
    /// `ValueError`: a parameter or value outside its constraint, a bad argument.
    ValueError,
    /// `RuntimeError`: libtorch's `c10::Error` and the checks PyTorch raises it for.
    RuntimeError,
    /// `NotImplementedError`: e.g. a KL pair PyTorch has not registered.
    NotImplementedError,
    /// `torch.linalg.LinAlgError` (a subclass of `RuntimeError`): a factorization or solve
    /// that failed on the values (not positive-definite, singular, no convergence).
    LinAlgError,
}

impl PythonException {
    /// The class's name as Python prints it (`type(e).__name__`), e.g. `"LinAlgError"`.
    pub fn name(self) -> &'static str {
        match self {
            PythonException::ValueError => "ValueError",
            PythonException::RuntimeError => "RuntimeError",
            PythonException::NotImplementedError => "NotImplementedError",
            PythonException::LinAlgError => "LinAlgError",
        }
    }
}

/// The endings of the messages libtorch raises as `LinAlgError` (`_linalg_check_errors` in
/// aten/src/ATen/native/BatchLinearAlgebra.cpp, `TORCH_CHECK_LINALG`): tch hands over only the
/// text, so the class is read from it.
const LINALG_ERROR_MARKS: [&str; 4] = [
    "could not be completed because the input",
    "The algorithm failed to converge because the input matrix",
    "The solver failed because the input matrix is singular",
    "is zero, singular U.",
];

impl Error {
    /// Wraps a message that came out of libtorch, dropping its C++ backtrace.
    pub(crate) fn from_torch_message(message: &str) -> Self {
        Error::Runtime(clean_torch_message(message))
    }

    /// Which Python exception PyTorch raises for the same failure.
    ///
    /// ```
    /// # fn main() -> tchdist::Result<()> {
    /// use tch::{Kind, Tensor};
    /// use tchdist::distributions::MultivariateNormal;
    /// use tchdist::PythonException;
    /// let loc = Tensor::zeros([2], (Kind::Double, tch::Device::Cpu));
    /// let cov = Tensor::from_slice(&[1.0f64, 2.0, 2.0, 1.0]).reshape([2, 2]);
    /// let err = MultivariateNormal::from_covariance(&loc, &cov).unwrap_err();
    /// assert_eq!(err.python_exception(), PythonException::ValueError);
    /// assert_eq!(err.python_exception().name(), "ValueError");
    /// # Ok(())
    /// # }
    /// ```
    pub fn python_exception(&self) -> PythonException {
        match self {
            Error::Constraint { .. } | Error::Support { .. } | Error::Value(_) => {
                PythonException::ValueError
            }
            Error::NotImplemented(_) => PythonException::NotImplementedError,
            Error::Runtime(text) | Error::Shim(text) if is_missing_derivative(text) => {
                PythonException::NotImplementedError
            }
            Error::Runtime(text) | Error::Shim(text) => runtime_or_linalg(text),
            // libtorch's `c10::NotImplementedError` for a missing derivative reaches tch as a
            // plain error; Python raises it as `NotImplementedError`.
            Error::Torch(err) if is_missing_derivative(&err.to_string()) => {
                PythonException::NotImplementedError
            }
            Error::Torch(err) => runtime_or_linalg(&err.to_string()),
        }
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

/// libtorch's "the derivative for '...' is not implemented." (`c10::NotImplementedError`).
fn is_missing_derivative(text: &str) -> bool {
    text.contains("the derivative for '") && text.contains("' is not implemented")
}

fn runtime_or_linalg(text: &str) -> PythonException {
    if LINALG_ERROR_MARKS.iter().any(|mark| text.contains(mark)) {
        PythonException::LinAlgError
    } else {
        PythonException::RuntimeError
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
    fn linalg_failures_are_linalg_errors_and_other_torch_failures_runtime_errors() {
        let not_pd = "linalg.cholesky: The factorization could not be completed because the \
                      input is not positive-definite (the leading minor of order 2 is not \
                      positive-definite).";
        assert_eq!(
            Error::Runtime(not_pd.into()).python_exception(),
            PythonException::LinAlgError
        );
        assert_eq!(
            Error::Torch(TchError::Torch(not_pd.into())).python_exception(),
            PythonException::LinAlgError
        );
        assert_eq!(
            Error::Runtime(
                "torch.linalg.solve: The solver failed because the input matrix is singular."
                    .into()
            )
            .python_exception(),
            PythonException::LinAlgError
        );
        assert_eq!(
            Error::Torch(TchError::Torch(
                "shape '[3]' is invalid for input of size 4".into()
            ))
            .python_exception(),
            PythonException::RuntimeError
        );
        assert_eq!(
            Error::NotImplemented("x".into()).python_exception().name(),
            "NotImplementedError"
        );
    }

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
