//! `torch/_vmap_internals.py`: the legacy vmap (`_vmap`) that `autograd.grad(...,
//! is_grads_batched=True)` and `functional.jacobian(..., vectorize=True)` run on, with
//! `in_dims=0, out_dims=0` as those callers use it.

use tch::Tensor;

use crate::error::{Error, Result};
use crate::shim::LegacyVmapLevel;

/// Runs `func` once on the arguments with their dimension 0 turned into a vmap batch
/// dimension, and moves the batch dimension of every returned tensor back to dimension 0.
/// `None` outputs pass through (`allow_none_pass_through=True`). `name` is the Python
/// function's name, which PyTorch's messages quote.
///
/// Both callers hand `_vmap` one tuple, which it flattens: `args` are that tuple's entries,
/// checked one by one in order as `_create_batched_inputs` does (a `None` entry or a 0-dim
/// tensor is a `ValueError`), and an empty tuple leaves no batch size to read (Python's
/// `IndexError` from `batch_sizes[0]`).
pub(crate) fn vmap<F>(func: F, args: &[Option<&Tensor>], name: &str) -> Result<Vec<Option<Tensor>>>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Option<Tensor>>>,
{
    let level = LegacyVmapLevel::enter()?;
    let mut tensors = Vec::with_capacity(args.len());
    for arg in args {
        let Some(arg) = arg else {
            return Err(Error::Value(format!(
                "vmap({name}, in_dims=0, ...)(<inputs>): Got in_dim=0 for an input but the input \
                 is of type <class 'NoneType'>. We cannot vmap over non-Tensor arguments, please \
                 use None as the respective in_dim"
            )));
        };
        if arg.dim() == 0 {
            return Err(Error::Value(format!(
                "vmap({name}, in_dims=0, ...)(<inputs>): Got in_dim=0 for some input, but that \
                 input is a Tensor of dimensionality 0 so expected in_dim to satisfy 0 <= in_dim \
                 < 0."
            )));
        }
        tensors.push(*arg);
    }
    let sizes: Vec<i64> = tensors.iter().map(|a| a.size()[0]).collect();
    let Some(&batch_size) = sizes.first() else {
        return Err(Error::Runtime("list index out of range".into()));
    };
    if sizes.iter().any(|&s| s != batch_size) {
        return Err(Error::Value(format!(
            "vmap: Expected all tensors to have the same size in the mapped dimension, got sizes \
             {sizes:?} for the mapped dimension"
        )));
    }
    let batched = tensors
        .iter()
        .map(|a| Ok(a.f_internal_add_batch_dim(0, level.level())?))
        .collect::<Result<Vec<Tensor>>>()?;
    let outputs = func(&batched)?;
    outputs
        .into_iter()
        .map(|out| {
            out.map(|o| Ok(o.f_internal_remove_batch_dim(level.level(), batch_size, 0)?))
                .transpose()
        })
        .collect()
}
