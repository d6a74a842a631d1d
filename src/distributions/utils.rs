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

/// `torch.finfo(kind).eps` for the floating dtypes the distributions take.
pub(crate) fn finfo_eps(kind: Kind) -> f64 {
    match kind {
        Kind::Double => f64::EPSILON,
        Kind::Half => 0.000_976_562_5,
        Kind::BFloat16 => 0.007_812_5,
        _ => f32::EPSILON as f64,
    }
}

/// `torch.finfo(kind).min` for the floating dtypes the distributions take.
pub(crate) fn finfo_min(kind: Kind) -> f64 {
    match kind {
        Kind::Double => f64::MIN,
        Kind::Half => -65504.0,
        Kind::BFloat16 => -3.389_531_389_251_535_5e38,
        _ => f32::MIN as f64,
    }
}

/// `clamp_probs(probs)`: `probs.clamp(min=eps, max=1 - eps)` with `eps = finfo(dtype).eps`.
pub(crate) fn clamp_probs(probs: &Tensor) -> Result<Tensor> {
    let eps = finfo_eps(probs.kind());
    Ok(probs.f_clamp(eps, 1.0 - eps)?)
}

/// `probs_to_logits(probs, is_binary)`: `log(p) - log1p(-p)` (binary) or `log(p)` on the
/// clamped probabilities.
pub(crate) fn probs_to_logits(probs: &Tensor, is_binary: bool) -> Result<Tensor> {
    let clamped = clamp_probs(probs)?;
    if is_binary {
        return Ok(clamped.f_log()?.f_sub(&clamped.f_neg()?.f_log1p()?)?);
    }
    Ok(clamped.f_log()?)
}

/// `logits_to_probs(logits, is_binary)`: `sigmoid(logits)` (binary) or
/// `softmax(logits, dim=-1)`.
pub(crate) fn logits_to_probs(logits: &Tensor, is_binary: bool) -> Result<Tensor> {
    if is_binary {
        return Ok(logits.f_sigmoid()?);
    }
    Ok(logits.f_softmax(-1, None::<Kind>)?)
}

/// `values.view((-1,) + (1,) * len(batch_shape))`, then, with `expand`,
/// `.expand((-1,) + batch_shape)`: the tail of `enumerate_support`.
pub(crate) fn enumerate_view(
    values: &Tensor,
    batch_shape: &[i64],
    event_shape: &[i64],
    expand: bool,
) -> Result<Tensor> {
    let mut view = vec![-1i64];
    view.extend(std::iter::repeat_n(1, batch_shape.len()));
    view.extend_from_slice(event_shape);
    let values = values.f_view(&view[..])?;
    if !expand {
        return Ok(values);
    }
    let mut shape = vec![-1i64];
    shape.extend_from_slice(batch_shape);
    shape.extend_from_slice(event_shape);
    Ok(values.f_expand(&shape[..], false)?)
}

/// `broadcast_all(a, b)` as a pair.
pub(crate) fn broadcast_pair(a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
    let mut both = broadcast_all(&[a, b])?.into_iter();
    match (both.next(), both.next()) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(crate::error::Error::Runtime(
            "broadcast_tensors returned fewer tensors than it was given".into(),
        )),
    }
}

/// `(x,) = broadcast_all(x)`.
pub(crate) fn broadcast_one(a: &Tensor) -> Result<Tensor> {
    broadcast_all(&[a])?
        .into_iter()
        .next()
        .ok_or_else(|| crate::error::Error::Runtime("broadcast_tensors returned no tensor".into()))
}

/// `torch.finfo(kind).tiny` for the floating dtypes the distributions take.
pub(crate) fn finfo_tiny(kind: Kind) -> f64 {
    match kind {
        Kind::Double => f64::MIN_POSITIVE,
        Kind::Half => 6.103_515_625e-5,
        Kind::BFloat16 => 1.175_494_350_822_287_5e-38,
        _ => f32::MIN_POSITIVE as f64,
    }
}

/// `torch.full(shape, fill, dtype=like.dtype, device=like.device)`.
pub(crate) fn full_like_kind(shape: &[i64], fill: f64, like: &Tensor) -> Result<Tensor> {
    Ok(Tensor::f_full(shape, fill, (like.kind(), like.device()))?)
}
