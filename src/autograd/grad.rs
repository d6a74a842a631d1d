//! `torch.autograd.grad` (`torch/autograd/__init__.py`, PyTorch 2.13.0).

use tch::Tensor;

use super::vmap::vmap;
use crate::error::{Error, Result};
use crate::format::torch_size;
use crate::shim;

/// The keyword arguments of `torch.autograd.grad`, with PyTorch's defaults.
#[derive(Debug, Default)]
pub struct GradOptions<'a> {
    /// The vectors of the vector-Jacobian product, one per output; `None` (the default) or a
    /// `None` entry means "ones", allowed only for one-element outputs, as in PyTorch. As in
    /// PyTorch, entries past the last output are ignored and too few entries is an error.
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
/// PyTorch's messages, in PyTorch's order, for: `materialize_grads` with `allow_unused=false`,
/// empty `inputs`, a `grad_outputs` entry whose shape differs from its output ("Mismatch in
/// shape: ...", naming the entries as Python's `tuple.index` finds them, or that lookup's own
/// error), an implicit gradient for a non-scalar output, a real/complex mismatch, with
/// `is_grads_batched` a 0-dim or empty vector, mismatched batch sizes or a `None` vector
/// (the legacy vmap's `ValueError`s), as many vectors as outputs ("got 2 tensors and 1
/// gradients"), an output or input that does not require grad, and an unused input without
/// `allow_unused` (those three as `torch.autograd.grad`'s Python binding words them, not as
/// the C++ `torch::autograd::grad`); anything libtorch's engine raises.
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
    // `_tensor_or_tensors_to_tuple`: no vectors means one `None` per output. A list of another
    // length is taken as it is: `_make_grads` zips it with the outputs, and the engine then
    // counts the two ("got 2 tensors and 1 gradients"); extra vectors are ignored.
    let given: Vec<Option<&Tensor>> = match &opts.grad_outputs {
        None => vec![None; outputs.len()],
        Some(g) => g.clone(),
    };
    let made = make_grads(outputs, &given, opts.is_grads_batched)?;
    let retain_graph = opts.retain_graph.unwrap_or(opts.create_graph);
    let run = |grad_outputs: &[Option<&Tensor>]| {
        run_backward(
            outputs,
            grad_outputs,
            inputs,
            retain_graph,
            opts.create_graph,
            allow_unused,
        )
    };
    let result = if opts.is_grads_batched {
        // _vmap(vjp, 0, 0, allow_none_pass_through=True)(grad_outputs_)
        let batched: Vec<Option<&Tensor>> = made.iter().map(Option::as_ref).collect();
        vmap(
            |gos| {
                let gos: Vec<Option<&Tensor>> = gos.iter().map(Some).collect();
                run(&gos)
            },
            &batched,
            "vjp",
        )?
    } else {
        let grad_outputs: Vec<Option<&Tensor>> = made.iter().map(Option::as_ref).collect();
        run(&grad_outputs)?
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

/// `Variable._execution_engine.run_backward` as `torch.autograd.grad` calls it
/// (`torch/csrc/autograd/python_engine.cpp`): the Python binding's checks and messages, which
/// differ from those of the C++ `torch::autograd::grad`, around libtorch's engine.
fn run_backward(
    outputs: &[&Tensor],
    grad_outputs: &[Option<&Tensor>],
    inputs: &[&Tensor],
    retain_graph: bool,
    create_graph: bool,
    allow_unused: bool,
) -> Result<Vec<Option<Tensor>>> {
    if outputs.len() != grad_outputs.len() {
        return Err(Error::Runtime(format!(
            "got {} tensors and {} gradients",
            outputs.len(),
            grad_outputs.len()
        )));
    }
    if let Some(i) = outputs.iter().position(|o| !o.requires_grad()) {
        return Err(Error::Runtime(format!(
            "element {i} of tensors does not require grad and does not have a grad_fn"
        )));
    }
    if inputs.iter().any(|i| !i.requires_grad()) {
        return Err(Error::Runtime(
            "One of the differentiated Tensors does not require grad".into(),
        ));
    }
    let result = shim::grad(
        outputs,
        grad_outputs,
        inputs,
        Some(retain_graph),
        create_graph,
        true,
    )?;
    if !allow_unused {
        if let Some(i) = result.iter().position(Option::is_none) {
            return Err(Error::Runtime(format!(
                "The differentiated Tensor at index {i} appears to not have been used in the \
                 graph. Set allow_unused=True if this is the desired behavior."
            )));
        }
    }
    Ok(result)
}

/// `tuple.index(value)` as Python evaluates it over tensors, which `_make_grads` uses to name
/// the offending entry in its messages: an entry that is the same object matches; `None`
/// never equals a tensor; another tensor is compared with `bool(entry == value)`, which
/// broadcasts and fails unless the comparison has exactly one element. So the index named can
/// be an earlier, equal-valued entry, and the message can be replaced by the comparison's
/// error, as in PyTorch.
fn py_index(items: &[Option<&Tensor>], value: &Tensor) -> Result<usize> {
    for (k, item) in items.iter().enumerate() {
        let Some(item) = item else { continue };
        if shim::same_tensor(item, value)? {
            return Ok(k);
        }
        let eq = item.f_eq_tensor(value)?;
        match eq.numel() {
            0 => {
                return Err(Error::Runtime(
                    "Boolean value of Tensor with no values is ambiguous".into(),
                ))
            }
            1 => {
                if eq.f_int64_value(&[])? != 0 {
                    return Ok(k);
                }
            }
            _ => {
                return Err(Error::Runtime(
                    "Boolean value of Tensor with more than one value is ambiguous".into(),
                ))
            }
        }
    }
    // Unreachable: `value` is one of `items`. Python raises ValueError.
    Err(Error::Value("tuple.index(x): x not in tuple".into()))
}

/// `torch.autograd._make_grads`: checks given vectors against their outputs and makes the
/// implicit `ones_like` for scalar outputs. Like Python's `zip`, it stops at the shorter of
/// `outputs` and `grads`.
fn make_grads(
    outputs: &[&Tensor],
    grads: &[Option<&Tensor>],
    is_grads_batched: bool,
) -> Result<Vec<Option<Tensor>>> {
    let all_grads = grads;
    let all_outputs: Vec<Option<&Tensor>> = outputs.iter().map(|&o| Some(o)).collect();
    outputs
        .iter()
        .zip(grads)
        .map(|(out, grad)| match grad {
            Some(g) => {
                let grad_shape = g.size();
                // `first_grad = grad if not is_grads_batched else grad[0]`
                let first_grad_shape =
                    if is_grads_batched {
                        match grad_shape.first() {
                            None => return Err(Error::Runtime(
                                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python \
                                 or `tensor.item<T>()` in C++ to convert a 0-dim tensor to a \
                                 number"
                                    .into(),
                            )),
                            Some(0) => {
                                return Err(Error::Runtime(
                                    "index 0 is out of bounds for dimension 0 with size 0".into(),
                                ))
                            }
                            Some(_) => &grad_shape[1..],
                        }
                    } else {
                        &grad_shape[..]
                    };
                if first_grad_shape != out.size() {
                    let grad_index = py_index(all_grads, g)?;
                    let out_index = py_index(&all_outputs, out)?;
                    return Err(Error::Runtime(if is_grads_batched {
                        format!(
                            "If `is_grads_batched=True`, we interpret the first dimension of each \
                             grad_output as the batch dimension. The sizes of the remaining \
                             dimensions are expected to match the shape of corresponding output, \
                             but a mismatch was detected: grad_output[{grad_index}] has a shape \
                             of {} and output[{out_index}] has a shape of {}. If you only want \
                             some tensors in `grad_output` to be considered batched, consider \
                             using vmap.",
                            // PyTorch passes grad[0] to _calculate_shape, which drops one more
                            // leading dimension: the message shows grad.shape[2:].
                            torch_size(grad_shape.get(2..).unwrap_or(&[])),
                            torch_size(&out.size())
                        )
                    } else {
                        format!(
                            "Mismatch in shape: grad_output[{grad_index}] has a shape of {} and \
                             output[{out_index}] has a shape of {}.",
                            torch_size(&grad_shape),
                            torch_size(&out.size())
                        )
                    }));
                }
                if out.f_is_complex()? != g.f_is_complex()? {
                    let grad_index = py_index(all_grads, g)?;
                    let out_index = py_index(&all_outputs, out)?;
                    return Err(Error::Runtime(format!(
                        "For complex Tensors, both grad_output and output are required to have \
                         the same dtype. Mismatch in dtype: grad_output[{grad_index}] has a dtype \
                         of {} and output[{out_index}] has a dtype of {}.",
                        crate::format::dtype_name(g.kind()),
                        crate::format::dtype_name(out.kind())
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
                if !out.f_is_floating_point()? {
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
