//! `torch/distributions/utils.py` (PyTorch 2.13.0): the helpers the distributions share.

use std::cell::OnceCell;

use tch::{Device, Kind, Tensor};

use crate::error::Result;

/// `broadcast_all(*values)` for tensors: `torch.broadcast_tensors`.
pub(crate) fn broadcast_all(values: &[&Tensor]) -> Result<Vec<Tensor>> {
    Ok(Tensor::f_broadcast_tensors(values)?)
}

/// `_standard_normal`: `torch.empty(shape, dtype, device).normal_()`.
pub(crate) fn standard_normal(shape: &[i64], kind: Kind, device: Device) -> Result<Tensor> {
    Ok(Tensor::f_empty(shape, (kind, device))?.f_normal_(0.0, 1.0)?)
}

/// `_sum_rightmost(value, dim)`: `value.reshape(value.shape[:-dim] + (-1,)).sum(-1)`, or
/// `value` itself when `dim == 0`.
pub(crate) fn sum_rightmost(value: &Tensor, dim: usize) -> Result<Tensor> {
    if dim == 0 {
        return Ok(value.shallow_clone());
    }
    let size = value.size();
    // Python's `shape[:-dim]` is empty when dim exceeds the rank.
    let mut shape = size[..size.len().saturating_sub(dim)].to_vec();
    shape.push(-1);
    Ok(value
        .f_reshape(&shape)?
        .f_sum_dim_intlist(&[-1i64][..], false, None::<Kind>)?)
}

/// `lazy_property`: computed once, under `torch.enable_grad()`, so the result keeps its graph.
pub(crate) fn lazy(cell: &OnceCell<Tensor>, f: impl FnOnce() -> Result<Tensor>) -> Result<&Tensor> {
    if let Some(t) = cell.get() {
        return Ok(t);
    }
    let value = tch::with_grad(f)?;
    Ok(cell.get_or_init(|| value))
}

/// A copy of a lazy property's cell that shares the tensor (`Tensor::shallow_clone`), for the
/// distributions' `Clone`: a clone keeps what was already computed, as `copy.copy` would.
pub(crate) fn clone_cell(cell: &OnceCell<Tensor>) -> OnceCell<Tensor> {
    let out = OnceCell::new();
    if let Some(t) = cell.get() {
        let _ = out.set(t.shallow_clone());
    }
    out
}

/// A `OnceCell` holding `f(value)` when `cell` holds a value: how `expand` carries a lazy
/// property that was already computed (`if "name" in self.__dict__`).
pub(crate) fn expand_cell(
    cell: &OnceCell<Tensor>,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<OnceCell<Tensor>> {
    let out = OnceCell::new();
    if let Some(t) = cell.get() {
        let _ = out.set(f(t)?);
    }
    Ok(out)
}
