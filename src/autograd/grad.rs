//! `torch.autograd.grad` (`torch/autograd/__init__.py`, PyTorch 2.13.0).

use tch::{Kind, Tensor};

use super::vmap::vmap;
use crate::distributions::torch_size;
use crate::error::{Error, Result};
use crate::shim;

/// The keyword arguments of `torch.autograd.grad`, with PyTorch's defaults.
#[derive(Debug, Default)]
pub struct GradOptions<'a> {
    /// The vectors of the vector-Jacobian product, one per output; `None` (the default) or a
    /// `None` entry means "ones", allowed only for one-element outputs, as in PyTorch.
    pub grad_outputs: Option<Vec<Option<&'a Tensor>>>,
    /// Keep the graph for another backward pass; `None` means `create_graph`.
    pub retain_graph: Option<bool>,
    /// Record the backward pass so higher-order derivatives can be taken.
    pub create_graph: bool,
    /// Return `None` for inputs the outputs do not depend on instead of failing;
    /// `None` means `materialize_grads`.
    pub allow_unused: Option<bool>,
    /// Treat dimension 0 of every `grad_outputs` entry as a batch of vectors and compute all
    /// the vector-Jacobian products in one vmapped backward pass, as PyTorch does.
    pub is_grads_batched: bool,
    /// Return zeros instead of `None` for unused inputs.
    pub materialize_grads: bool,
}

/// The gradients of `outputs` with respect to `inputs`: `torch.autograd.grad`.
///
/// Computes Σᵢ vᵢᵀ ∂outputsᵢ/∂inputs for the vectors vᵢ in `grad_outputs` without touching
/// `.grad`. Entry `j` of the result is `None` when `inputs[j]` is unused (with `allow_unused`).
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::autograd::{grad, GradOptions};
/// let x = Tensor::from_slice(&[1.0f64, 2.0, 3.0]).set_requires_grad(true);
/// let y = &x * &x; // dy/dx = 2x, a diagonal Jacobian
/// let v = Tensor::from_slice(&[1.0f64, 0.0, 1.0]);
/// let opts = GradOptions { grad_outputs: Some(vec![Some(&v)]), ..Default::default() };
/// let g = grad(&[&y], &[&x], &opts)?;
/// let g = g[0].as_ref().expect("x is used");
/// assert_eq!(Vec::<f64>::try_from(g)?, vec![2.0, 0.0, 6.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// PyTorch's messages for: empty `inputs`, `materialize_grads` with `allow_unused=false`, a
/// `grad_outputs` entry whose shape differs from its output ("Mismatch in shape: ..."), an
/// implicit gradient for a non-scalar output ("grad can be implicitly created only for scalar
/// outputs"), an output that does not require grad, and an unused input without
/// `allow_unused`; anything libtorch's engine raises.
pub fn grad(
    outputs: &[&Tensor],
    inputs: &[&Tensor],
    opts: &GradOptions<'_>,
) -> Result<Vec<Option<Tensor>>> {
    if opts.materialize_grads && opts.allow_unused == Some(false) {
        return Err(Error::Value(
            "Expected allow_unused to be True or not passed when materialize_grads=True, but got: \
             allow_unused=False."
                .into(),
        ));
    }
    let allow_unused = opts.allow_unused.unwrap_or(opts.materialize_grads);
    if inputs.is_empty() {
        return Err(Error::Runtime(
            "`inputs` argument to `grad()` cannot be empty.".into(),
        ));
    }
    let given: Vec<Option<&Tensor>> = match &opts.grad_outputs {
        None => vec![None; outputs.len()],
        Some(g) if g.len() == outputs.len() => g.clone(),
        Some(g) => {
            return Err(Error::Runtime(format!(
                "grad requires one grad_output per output: got {} outputs and {} grad_outputs",
                outputs.len(),
                g.len()
            )))
        }
    };
    let made = make_grads(outputs, &given, opts.is_grads_batched)?;
    let retain_graph = opts.retain_graph.unwrap_or(opts.create_graph);
    let result = if opts.is_grads_batched {
        // _vmap(vjp, 0, 0, allow_none_pass_through=True)(grad_outputs_)
        let batched: Vec<&Tensor> = made
            .iter()
            .map(|g| {
                g.as_ref().ok_or_else(|| {
                    Error::Value(
                        "vmap(vjp, in_dims=0, ...)(<inputs>): Got in_dim=0 for an input but the \
                         input is of type <class 'NoneType'>. We cannot vmap over non-Tensor \
                         arguments, please use None as the respective in_dim"
                            .into(),
                    )
                })
            })
            .collect::<Result<_>>()?;
        vmap(
            |gos| {
                let gos: Vec<Option<&Tensor>> = gos.iter().map(Some).collect();
                shim::grad(
                    outputs,
                    &gos,
                    inputs,
                    Some(retain_graph),
                    opts.create_graph,
                    allow_unused,
                )
            },
            &batched,
            "vjp",
        )?
    } else {
        let grad_outputs: Vec<Option<&Tensor>> = made.iter().map(Option::as_ref).collect();
        shim::grad(
            outputs,
            &grad_outputs,
            inputs,
            Some(retain_graph),
            opts.create_graph,
            allow_unused,
        )?
    };
    if !opts.materialize_grads {
        return Ok(result);
    }
    result
        .into_iter()
        .zip(inputs)
        .map(|(r, input)| match r {
            Some(r) => Ok(Some(r)),
            None => Ok(Some(
                input
                    .f_zeros_like()?
                    .f_set_requires_grad(opts.create_graph)?,
            )),
        })
        .collect()
}

/// `torch.autograd._make_grads`: checks given vectors against their outputs and makes the
/// implicit `ones_like` for scalar outputs.
fn make_grads(
    outputs: &[&Tensor],
    grads: &[Option<&Tensor>],
    is_grads_batched: bool,
) -> Result<Vec<Option<Tensor>>> {
    outputs
        .iter()
        .zip(grads)
        .enumerate()
        .map(|(i, (out, grad))| match grad {
            Some(g) => {
                let grad_shape = g.size();
                if is_grads_batched {
                    // `grad[0]` of a 0-dim tensor is Python's IndexError.
                    if grad_shape.is_empty() {
                        return Err(Error::Runtime(
                            "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or \
                             `tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"
                                .into(),
                        ));
                    }
                    if grad_shape[1..] != out.size()[..] {
                        return Err(Error::Runtime(format!(
                            "If `is_grads_batched=True`, we interpret the first dimension of each \
                             grad_output as the batch dimension. The sizes of the remaining \
                             dimensions are expected to match the shape of corresponding output, \
                             but a mismatch was detected: grad_output[{i}] has a shape of {} and \
                             output[{i}] has a shape of {}. If you only want some tensors in \
                             `grad_output` to be considered batched, consider using vmap.",
                            // PyTorch passes grad[0] to _calculate_shape, which drops one more
                            // leading dimension: the message shows grad.shape[2:].
                            torch_size(grad_shape.get(2..).unwrap_or(&[])),
                            torch_size(&out.size())
                        )));
                    }
                } else if grad_shape != out.size() {
                    return Err(Error::Runtime(format!(
                        "Mismatch in shape: grad_output[{i}] has a shape of {} and output[{i}] \
                         has a shape of {}.",
                        torch_size(&grad_shape),
                        torch_size(&out.size())
                    )));
                }
                Ok(Some(g.shallow_clone()))
            }
            None if out.requires_grad() => {
                if out.numel() != 1 {
                    return Err(Error::Runtime(
                        "grad can be implicitly created only for scalar outputs".into(),
                    ));
                }
                if !matches!(
                    out.kind(),
                    Kind::Half | Kind::BFloat16 | Kind::Float | Kind::Double
                ) {
                    return Err(Error::Runtime(format!(
                        "grad can be implicitly created only for real scalar outputs but got {}",
                        crate::format::dtype_name(out.kind())
                    )));
                }
                Ok(Some(out.f_ones_like()?))
            }
            None => Ok(None),
        })
        .collect()
}
