//! Safe wrappers over the C++ shim (`shim.cpp`): the only module with `unsafe` code.
//!
//! tch 0.26 seeds `run_backward` with ones only and exposes no forward-AD levels; the shim
//! reaches `torch::autograd::grad` and `torch::autograd::forward_ad` directly. Tensors cross
//! as the `at::Tensor*` handles that tch's `C_tensor` wraps.

use std::ffi::{c_char, c_int, CStr};

use tch::Tensor;
use torch_sys::C_tensor;

use crate::error::{Error, Result};

mod functorch;
pub(crate) use functorch::*;

extern "C" {
    fn tchdist_free_error(err: *mut c_char);
    fn tchdist_grad(
        outputs: *const *mut C_tensor,
        n_outputs: c_int,
        grad_outputs: *const *mut C_tensor,
        inputs: *const *mut C_tensor,
        n_inputs: c_int,
        retain_graph: c_int,
        create_graph: c_int,
        allow_unused: c_int,
        results: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn tchdist_register_decomposition(
        name: *const c_char,
        overload: *const c_char,
        ir: *const c_char,
    ) -> *mut c_char;
    fn tchdist_same_tensor(a: *mut C_tensor, b: *mut C_tensor, same: *mut c_int) -> *mut c_char;
    fn tchdist_grad_fn_name(t: *mut C_tensor, name: *mut *mut c_char) -> *mut c_char;
    fn tchdist_torch_version() -> *const c_char;
    fn tchdist_load_library(path: *const c_char) -> *mut c_char;
    fn tchdist_set_malloc_thresholds(trim_threshold: c_int, mmap_threshold: c_int) -> *mut c_char;
    fn tchdist_vmapmode_increment_nesting(level: *mut i64) -> *mut c_char;
    fn tchdist_vmapmode_decrement_nesting(level: *mut i64) -> *mut c_char;
    fn tchdist_batch_mv_rows(
        a: *mut C_tensor,
        x: *mut C_tensor,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn tchdist_batch_mv_stats(calls: *mut i64, off: *mut c_int);
}

/// Turns the shim's error slot into a `Result`, freeing the message.
fn check(err: *mut c_char) -> Result<()> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null return is a NUL-terminated string malloc'd by `dup_message` in
    // shim.cpp; we copy it out before handing it back to `tchdist_free_error` exactly once.
    let message = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: `err` came from the shim's allocator and is not used after this call.
    unsafe { tchdist_free_error(err) };
    Err(Error::from_torch_message(&message))
}

fn ptr(t: &Tensor) -> *mut C_tensor {
    t.as_ptr() as *mut C_tensor
}

fn count(n: usize, what: &str) -> Result<c_int> {
    c_int::try_from(n).map_err(|_| Error::Shim(format!("too many {what}: {n}")))
}

/// `torch::autograd::grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
/// allow_unused)`. `grad_outputs[i] = None` passes an undefined tensor, as Python's `None`.
/// Returns `None` for an input the outputs do not depend on (only with `allow_unused`).
pub(crate) fn grad(
    outputs: &[&Tensor],
    grad_outputs: &[Option<&Tensor>],
    inputs: &[&Tensor],
    retain_graph: Option<bool>,
    create_graph: bool,
    allow_unused: bool,
) -> Result<Vec<Option<Tensor>>> {
    if outputs.len() != grad_outputs.len() {
        return Err(Error::Shim(format!(
            "grad: {} outputs but {} grad_outputs",
            outputs.len(),
            grad_outputs.len()
        )));
    }
    let outs: Vec<*mut C_tensor> = outputs.iter().map(|t| ptr(t)).collect();
    let grads: Vec<*mut C_tensor> = grad_outputs
        .iter()
        .map(|g| g.map_or(std::ptr::null_mut(), ptr))
        .collect();
    let ins: Vec<*mut C_tensor> = inputs.iter().map(|t| ptr(t)).collect();
    let mut results: Vec<*mut C_tensor> = vec![std::ptr::null_mut(); inputs.len()];
    let retain = match retain_graph {
        None => -1,
        Some(r) => c_int::from(r),
    };
    // SAFETY: every pointer in `outs`, `grads` and `ins` is either null (grads only) or a live
    // `at::Tensor*` borrowed from a `Tensor` that outlives this call; the shim only reads them.
    // `results` has room for exactly `inputs.len()` handles, which the shim fills on success.
    let err = unsafe {
        tchdist_grad(
            outs.as_ptr(),
            count(outs.len(), "outputs")?,
            grads.as_ptr(),
            ins.as_ptr(),
            count(ins.len(), "inputs")?,
            retain,
            c_int::from(create_graph),
            c_int::from(allow_unused),
            results.as_mut_ptr(),
        )
    };
    check(err)?;
    Ok(results
        .into_iter()
        .map(|p| {
            // SAFETY: a non-null result is a fresh `new at::Tensor` owned by nobody else;
            // `Tensor::from_ptr` takes ownership and frees it on drop.
            (!p.is_null()).then(|| unsafe { Tensor::from_ptr(p) })
        })
        .collect())
}

/// Registers the TorchScript graph `ir` as the JIT decomposition of operator `name` with
/// overload `overload` (`torch._C._jit_register_decomposition_for_schema`).
pub(crate) fn register_decomposition(name: &str, overload: &str, ir: &str) -> Result<()> {
    let c =
        |s: &str| std::ffi::CString::new(s).map_err(|_| Error::Shim(format!("NUL byte in {s:?}")));
    let (name, overload, ir) = (c(name)?, c(overload)?, c(ir)?);
    // SAFETY: three NUL-terminated strings that outlive the call; the shim only reads them.
    check(unsafe { tchdist_register_decomposition(name.as_ptr(), overload.as_ptr(), ir.as_ptr()) })
}

/// Whether `a` and `b` are one tensor (share one `TensorImpl`): Python's `a is b`, since
/// PyTorch keeps one Python object per `TensorImpl`.
pub(crate) fn same_tensor(a: &Tensor, b: &Tensor) -> Result<bool> {
    let mut same: c_int = 0;
    // SAFETY: `a` and `b` are live tensors borrowed for the call; `same` is a valid out-pointer.
    check(unsafe { tchdist_same_tensor(ptr(a), ptr(b), &mut same) })?;
    Ok(same != 0)
}

/// The name of `t.grad_fn` as Python's `type(t.grad_fn).__name__` shows it, or `None` for a
/// tensor without one.
pub(crate) fn grad_fn_name(t: &Tensor) -> Result<Option<String>> {
    let mut name: *mut c_char = std::ptr::null_mut();
    // SAFETY: `t` is a live tensor borrowed for the call; `name` is a valid out-pointer.
    check(unsafe { tchdist_grad_fn_name(ptr(t), &mut name) })?;
    if name.is_null() {
        return Ok(None);
    }
    // SAFETY: a non-null `name` is a NUL-terminated string from `dup_message`, copied here and
    // then freed exactly once with the shim's allocator.
    let text = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: as above; `name` is not used after this call.
    unsafe { tchdist_free_error(name) };
    Ok(Some(text))
}

/// The libtorch version the shim was compiled against (`TORCH_VERSION`), e.g. `2.13.0`.
pub(crate) fn torch_version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string literal.
    unsafe { CStr::from_ptr(tchdist_torch_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Loads a shared library into the process with `RTLD_GLOBAL` (libtorch_cuda, whose static
/// initialisers register the CUDA backend).
pub(crate) fn load_library(path: &std::path::Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::Value(format!(
            "library path contains a NUL byte: {}",
            path.display()
        ))
    })?;
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    check(unsafe { tchdist_load_library(c_path.as_ptr()) })
}

/// glibc's `mallopt(M_TRIM_THRESHOLD, trim)` and `mallopt(M_MMAP_THRESHOLD, mmap)`, in bytes.
pub(crate) fn set_malloc_thresholds(trim: i32, mmap: i32) -> Result<()> {
    // SAFETY: plain integers; mallopt is thread-safe and touches no Rust-owned memory.
    check(unsafe { tchdist_set_malloc_thresholds(trim, mmap) })
}

/// `torch.matmul(a, x.unsqueeze(-1)).squeeze(-1)` with ATen's CPU bits through one MKL gemv
/// per row (`batch_mv.cpp` says when that is exact); `None` where that route does not apply.
pub(crate) fn batch_mv_rows(a: &Tensor, x: &Tensor) -> Result<Option<Tensor>> {
    let mut out: *mut C_tensor = std::ptr::null_mut();
    // SAFETY: `a` and `x` are live tensors for the call; `out` is a valid out-pointer.
    check(unsafe { tchdist_batch_mv_rows(ptr(a), ptr(x), &mut out) })?;
    if out.is_null() {
        return Ok(None);
    }
    // SAFETY: a non-null `out` is a new `at::Tensor*` the shim allocated for us to own.
    Ok(Some(unsafe { Tensor::from_ptr(out) }))
}

/// How many products took the gemv route in this process, and whether its guard turned the
/// route off (see `batch_mv.cpp`).
pub(crate) fn batch_mv_stats() -> (i64, bool) {
    let (mut calls, mut off) = (0i64, 0 as c_int);
    // SAFETY: two valid out-pointers; the shim only reads two atomics.
    unsafe { tchdist_batch_mv_stats(&mut calls, &mut off) };
    (calls, off != 0)
}

/// One nesting of the legacy vmap mode (`torch._C._vmapmode_increment_nesting`), left when
/// dropped, on every exit path.
#[derive(Debug)]
pub(crate) struct LegacyVmapLevel {
    level: i64,
}

impl LegacyVmapLevel {
    /// Enters a new vmap level.
    pub(crate) fn enter() -> Result<Self> {
        let mut level = 0i64;
        // SAFETY: `level` is a valid out-pointer for the duration of the call.
        check(unsafe { tchdist_vmapmode_increment_nesting(&mut level) })?;
        Ok(LegacyVmapLevel { level })
    }

    /// The level that `_add_batch_dim`/`_remove_batch_dim` take.
    pub(crate) fn level(&self) -> i64 {
        self.level
    }
}

impl Drop for LegacyVmapLevel {
    fn drop(&mut self) {
        let mut level = 0i64;
        // SAFETY: balanced with the increment in `enter`; `level` is a valid out-pointer.
        let err = unsafe { tchdist_vmapmode_decrement_nesting(&mut level) };
        let _ = check(err);
    }
}
