//! Safe wrappers over the C++ shim (`shim.cpp`): the only module with `unsafe` code.
//!
//! tch 0.26 seeds `run_backward` with ones only and exposes no forward-AD levels; the shim
//! reaches `torch::autograd::grad` and `torch::autograd::forward_ad` directly. Tensors cross
//! as the `at::Tensor*` handles that tch's `C_tensor` wraps.

use std::ffi::{c_char, c_int, CStr};

use tch::Tensor;
use torch_sys::C_tensor;

use crate::error::{Error, Result};

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

mod functorch;
pub(crate) use functorch::*;
