//! `torch.autograd.functional` (`torch/autograd/functional.py`, PyTorch 2.13.0).

use tch::Tensor;

use super::grad::{grad, GradOptions};
use crate::error::{Error, Result};

/// The keyword arguments of `torch.autograd.functional.jacobian`, with PyTorch's defaults.
#[derive(Clone, Debug, Default)]
pub struct JacobianOptions {
    /// Build the Jacobian differentiably (so it can be differentiated again).
    pub create_graph: bool,
    /// Fail when an output does not depend on an input instead of returning zeros.
    pub strict: bool,
}

/// The Jacobian of a one-tensor function of one tensor: `torch.autograd.functional.jacobian`.
///
/// PyTorch's default algorithm (`vectorize=False`, reverse mode): `func` runs once with a
/// detached copy of `input` that requires grad, then one reverse pass per output element
/// (`out.reshape(-1)[j]`, graph retained). The result has shape `out.shape + input.shape`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::autograd::functional::{jacobian, JacobianOptions};
/// let x = Tensor::from_slice(&[1.0f64, 2.0]);
/// // f(x) = (x0 * x1, x0 + x1): J = [[x1, x0], [1, 1]]
/// let j = jacobian(
///     |x| Ok(Tensor::stack(&[x.get(0) * x.get(1), x.get(0) + x.get(1)], 0)),
///     &x,
///     &JacobianOptions::default(),
/// )?;
/// assert_eq!(j.size(), vec![2, 2]);
/// assert_eq!(Vec::<f64>::try_from(j.reshape([-1]))?, vec![2.0, 1.0, 1.0, 1.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Whatever `func` returns; in `strict` mode PyTorch's "Output 0 of the user-provided function
/// does not require gradients..." and "...is independent of input 0..."; libtorch's errors
/// (an output with no elements cannot be stacked: "stack expects a non-empty TensorList").
pub fn jacobian<F>(func: F, input: &Tensor, opts: &JacobianOptions) -> Result<Tensor>
where
    F: FnOnce(&Tensor) -> Result<Tensor>,
{
    let mut jac = jacobian_multi(
        |inputs: &[Tensor]| Ok(vec![func(&inputs[0])?]),
        &[input],
        opts,
    )?;
    jac.pop()
        .and_then(|mut row| row.pop())
        .ok_or_else(|| Error::Runtime("jacobian: the function returned no output".into()))
}

/// The Jacobian of a function of several tensors with several outputs: `jacobian(func,
/// (x, y, ...))` where `func` returns a tuple. Entry `[i][j]` is ∂output_i/∂input_j with shape
/// `output_i.shape + input_j.shape`, as PyTorch's tuple of tuples.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::autograd::functional::{jacobian_multi, JacobianOptions};
/// let (a, b) = (Tensor::from_slice(&[3.0f64]), Tensor::from_slice(&[4.0f64]));
/// let j = jacobian_multi(|x| Ok(vec![&x[0] * &x[1]]), &[&a, &b], &JacobianOptions::default())?;
/// assert_eq!((j[0][0].double_value(&[0, 0]), j[0][1].double_value(&[0, 0])), (4.0, 3.0));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`jacobian`].
pub fn jacobian_multi<F>(
    func: F,
    inputs: &[&Tensor],
    opts: &JacobianOptions,
) -> Result<Vec<Vec<Tensor>>>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
{
    tch::with_grad(|| {
        let inputs = grad_preprocess(inputs, opts.create_graph, true)?;
        let outputs = func(&inputs)?;
        check_requires_grad(&outputs, opts.strict)?;
        let input_refs: Vec<&Tensor> = inputs.iter().collect();
        let mut jacobian = Vec::with_capacity(outputs.len());
        for (i, out) in outputs.iter().enumerate() {
            let mut jac_i: Vec<Vec<Tensor>> = inputs.iter().map(|_| Vec::new()).collect();
            for j in 0..out.numel() as i64 {
                let element = out.f_reshape([-1])?.f_select(0, j)?;
                let vj = autograd_grad(&[&element], &input_refs, opts.create_graph, Some(true))?;
                for (el_idx, (vj_el, inp_el)) in vj.into_iter().zip(&inputs).enumerate() {
                    match vj_el {
                        Some(v) => {
                            if opts.strict && opts.create_graph && !v.requires_grad() {
                                return Err(Error::Runtime(format!(
                                    "The jacobian of the user-provided function is independent \
                                     of input {i}. This is not allowed in strict mode when \
                                     create_graph=True."
                                )));
                            }
                            jac_i[el_idx].push(v);
                        }
                        None => {
                            if opts.strict {
                                return Err(Error::Runtime(format!(
                                    "Output {i} of the user-provided function is independent of \
                                     input {el_idx}. This is not allowed in strict mode."
                                )));
                            }
                            jac_i[el_idx].push(inp_el.f_zeros_like()?);
                        }
                    }
                }
            }
            let row = jac_i
                .iter()
                .zip(&inputs)
                .map(|(list, inp)| {
                    let mut shape = out.size();
                    shape.extend(inp.size());
                    Ok(Tensor::f_stack(list, 0)?.f_view_(&shape)?)
                })
                .collect::<Result<Vec<Tensor>>>()?;
            jacobian.push(row);
        }
        jacobian
            .into_iter()
            .map(|row| grad_postprocess(row, opts.create_graph))
            .collect()
    })
}

/// `_grad_preprocess`: inputs become leaves that require grad (or views of themselves under
/// `create_graph`, so the graph reaches the caller's tensors).
fn grad_preprocess(
    inputs: &[&Tensor],
    create_graph: bool,
    need_graph: bool,
) -> Result<Vec<Tensor>> {
    inputs
        .iter()
        .map(|inp| {
            if create_graph && inp.requires_grad() {
                Ok(inp.f_view_as(inp)?)
            } else {
                Ok(inp.f_detach()?.f_set_requires_grad(need_graph)?)
            }
        })
        .collect()
}

/// `_grad_postprocess`: detach results unless the caller asked for a graph.
fn grad_postprocess(tensors: Vec<Tensor>, create_graph: bool) -> Result<Vec<Tensor>> {
    if create_graph {
        return Ok(tensors);
    }
    tensors.iter().map(|t| Ok(t.f_detach()?)).collect()
}

/// `_check_requires_grad(outputs, "outputs", strict)`.
fn check_requires_grad(outputs: &[Tensor], strict: bool) -> Result<()> {
    if !strict {
        return Ok(());
    }
    match outputs.iter().position(|o| !o.requires_grad()) {
        Some(i) => Err(Error::Runtime(format!(
            "Output {i} of the user-provided function does not require gradients. The outputs \
             must be computed in a differentiable manner from the input when running in strict \
             mode."
        ))),
        None => Ok(()),
    }
}

/// `_autograd_grad`: `autograd.grad` over the outputs that require grad, `allow_unused=True`;
/// all `None` when none does.
fn autograd_grad(
    outputs: &[&Tensor],
    inputs: &[&Tensor],
    create_graph: bool,
    retain_graph: Option<bool>,
) -> Result<Vec<Option<Tensor>>> {
    let live: Vec<&Tensor> = outputs
        .iter()
        .copied()
        .filter(|o| o.requires_grad())
        .collect();
    if live.is_empty() {
        return Ok(inputs.iter().map(|_| None).collect());
    }
    let opts = GradOptions {
        grad_outputs: None,
        retain_graph,
        create_graph,
        allow_unused: Some(true),
        materialize_grads: false,
    };
    grad(&live, inputs, &opts)
}
