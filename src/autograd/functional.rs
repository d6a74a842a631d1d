//! `torch.autograd.functional` (`torch/autograd/functional.py`, PyTorch 2.13.0): `jacobian`,
//! `hessian`, `vjp`, `jvp`, `vhp`, `hvp`, with PyTorch's algorithms and error texts.
//!
//! Python's functions accept a tensor or a tuple of tensors and return the same structure. Here
//! the `*_multi` forms take slices and return nested `Vec`s (`[output][input]`), and the plain
//! forms take and return single tensors.

use std::borrow::Borrow;

use tch::Tensor;

use super::grad::{grad, GradOptions};
use super::jvp_decompositions::JVP_DECOMPOSITIONS;
use super::vmap::vmap;
use crate::error::{Error, Result};
use crate::shim::DualLevel;

/// `strategy=` of `jacobian` and `outer_jacobian_strategy=` of `hessian`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// `"reverse-mode"`: one backward pass per output element (or one vmapped pass).
    #[default]
    ReverseMode,
    /// `"forward-mode"`: forward-mode AD with dual tensors, vmapped over the input basis;
    /// needs `vectorize`.
    ForwardMode,
}

/// The keyword arguments of `torch.autograd.functional.jacobian`, with PyTorch's defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct JacobianOptions {
    /// Build the Jacobian differentiably (so it can be differentiated again).
    pub create_graph: bool,
    /// Fail when an output does not depend on an input instead of returning zeros.
    pub strict: bool,
    /// Compute all rows at once with the legacy vmap (`is_grads_batched`) instead of a loop.
    pub vectorize: bool,
    /// Reverse or forward mode.
    pub strategy: Strategy,
    /// tchdist's addition, for `vectorize=True` in reverse mode: at most this many rows of the
    /// standard basis per batched backward pass (each chunk retains the graph for the next), so
    /// memory grows with the chunk instead of with the number of outputs. `None` (the default)
    /// is PyTorch's single pass; PyTorch's `jacobian` has no such argument (`torch.func.jacrev`
    /// has `chunk_size`).
    pub chunk_size: Option<i64>,
}

/// The keyword arguments of `torch.autograd.functional.hessian`, with PyTorch's defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct HessianOptions {
    /// Build the Hessian differentiably.
    pub create_graph: bool,
    /// Fail on independence instead of returning zeros.
    pub strict: bool,
    /// Vectorize the outer Jacobian.
    pub vectorize: bool,
    /// The outer Jacobian's strategy (the inner one is always reverse mode).
    pub outer_jacobian_strategy: Strategy,
}

/// The keyword arguments shared by `vjp`, `jvp`, `vhp` and `hvp`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProductOptions {
    /// Build the result differentiably.
    pub create_graph: bool,
    /// Fail on independence instead of returning zeros.
    pub strict: bool,
}

/// The Jacobian of a one-tensor function of one tensor: `torch.autograd.functional.jacobian`.
///
/// With the default options this is PyTorch's `vectorize=False` reverse mode: `func` runs once
/// on a detached copy of `input` that requires grad, then one reverse pass per output element
/// (`out.reshape(-1)[j]`, graph retained). The result has shape `out.shape + input.shape`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::autograd::functional::{jacobian, JacobianOptions, Strategy};
/// let x = Tensor::from_slice(&[1.0f64, 2.0]);
/// // f(x) = (x0 * x1, x0 + x1): J = [[x1, x0], [1, 1]]
/// let f = |x: &Tensor| Ok(Tensor::stack(&[x.get(0) * x.get(1), x.get(0) + x.get(1)], 0));
/// let j = jacobian(f, &x, &JacobianOptions::default())?;
/// assert_eq!(Vec::<f64>::try_from(j.reshape([-1]))?, vec![2.0, 1.0, 1.0, 1.0]);
/// let fwd = JacobianOptions { vectorize: true, strategy: Strategy::ForwardMode, ..Default::default() };
/// assert!(jacobian(f, &x, &fwd)?.equal(&j));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Whatever `func` returns; PyTorch's messages for `strict` violations, for forward mode
/// without `vectorize`, with `create_graph` or with `strict`, and for `strict` with
/// `vectorize`; libtorch's errors (an output with no elements cannot be stacked).
pub fn jacobian<F>(func: F, input: &Tensor, opts: &JacobianOptions) -> Result<Tensor>
where
    F: FnOnce(&Tensor) -> Result<Tensor>,
{
    let jac = jacobian_multi(|inputs| Ok(vec![func(&inputs[0])?]), &[input], opts)?;
    single(single(jac)?)
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
    if opts.strategy == Strategy::ForwardMode {
        if opts.create_graph {
            return Err(Error::NotImplemented(
                "torch.autograd.functional.jacobian: `create_graph=True` and \
                 `strategy=\"forward-mode\"` are not supported together (yet). Please either set \
                 `create_graph=False` or `strategy=\"reverse-mode\"`."
                    .into(),
            ));
        }
        return jacfwd(func, inputs, opts.strict, opts.vectorize);
    }
    tch::with_grad(|| {
        let inputs = grad_preprocess(inputs, opts.create_graph, true)?;
        let outputs = func(&inputs)?;
        let output_refs: Vec<Option<&Tensor>> = outputs.iter().map(Some).collect();
        check_requires_grad(&output_refs, Check::Outputs, opts.strict)?;
        let input_refs: Vec<&Tensor> = inputs.iter().collect();
        let jacobian = if opts.vectorize {
            if opts.strict {
                return Err(Error::Runtime(
                    "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are \
                     not supported together. Please either set `strict=False` or \
                     `vectorize=False`."
                        .into(),
                ));
            }
            jacobian_vectorized(&outputs, &input_refs, opts.create_graph, opts.chunk_size)?
        } else {
            jacobian_loop(&outputs, &input_refs, opts)?
        };
        jacobian
            .into_iter()
            .map(|row| grad_postprocess(row, opts.create_graph))
            .collect()
    })
}

/// `vectorize=False`: one `autograd.grad` per output element.
fn jacobian_loop(
    outputs: &[Tensor],
    inputs: &[&Tensor],
    opts: &JacobianOptions,
) -> Result<Vec<Vec<Tensor>>> {
    let mut jacobian = Vec::with_capacity(outputs.len());
    for (i, out) in outputs.iter().enumerate() {
        let mut jac_i: Vec<Vec<Tensor>> = inputs.iter().map(|_| Vec::new()).collect();
        for j in 0..out.numel() as i64 {
            let element = out.f_reshape([-1])?.f_select(0, j)?;
            let vj = autograd_grad(
                &[Some(&element)],
                inputs,
                None,
                opts.create_graph,
                Some(true),
                false,
            )?;
            for (el_idx, (vj_el, inp_el)) in vj.into_iter().zip(inputs).enumerate() {
                match vj_el {
                    Some(v) => {
                        if opts.strict && opts.create_graph && !v.requires_grad() {
                            return Err(Error::Runtime(format!(
                                "The jacobian of the user-provided function is independent of \
                                 input {i}. This is not allowed in strict mode when \
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
            .zip(inputs)
            .map(|(list, inp)| {
                Ok(Tensor::f_stack(list, 0)?.f_view_(concat(&out.size(), &inp.size()))?)
            })
            .collect::<Result<Vec<Tensor>>>()?;
        jacobian.push(row);
    }
    Ok(jacobian)
}

/// `vectorize=True`, reverse mode: one `autograd.grad(..., is_grads_batched=True)` with the
/// standard basis split across the flattened outputs; with `chunk_size`, one such call per
/// chunk of basis rows, concatenated.
fn jacobian_vectorized(
    outputs: &[Tensor],
    inputs: &[&Tensor],
    create_graph: bool,
    chunk_size: Option<i64>,
) -> Result<Vec<Vec<Tensor>>> {
    let output_numels: Vec<i64> = outputs.iter().map(|o| o.numel() as i64).collect();
    let flat_outputs = outputs
        .iter()
        .map(|o| Ok(o.f_reshape([-1])?))
        .collect::<Result<Vec<Tensor>>>()?;
    let flat_refs: Vec<Option<&Tensor>> = flat_outputs.iter().map(Some).collect();
    let total: i64 = output_numels.iter().sum();
    let ranges = chunk_ranges(total, chunk_size);
    let vj = if let [_] = ranges[..] {
        let grad_outputs = construct_standard_basis_for(outputs, &output_numels)?;
        let go_refs: Vec<&Tensor> = grad_outputs.iter().collect();
        autograd_grad(&flat_refs, inputs, Some(&go_refs), create_graph, None, true)?
    } else {
        let chunks = ranges
            .iter()
            .map(|&(start, len)| {
                let basis = standard_basis_rows(outputs, &output_numels, start, len)?;
                let go_refs: Vec<&Tensor> = basis.iter().collect();
                let retain = (start + len < total) || create_graph;
                autograd_grad(
                    &flat_refs,
                    inputs,
                    Some(&go_refs),
                    create_graph,
                    Some(retain),
                    true,
                )
            })
            .collect::<Result<Vec<Vec<Option<Tensor>>>>>()?;
        (0..inputs.len())
            .map(|i| {
                let parts: Option<Vec<&Tensor>> = chunks.iter().map(|c| c[i].as_ref()).collect();
                parts.map(|p| Tensor::f_cat(&p, 0)).transpose()
            })
            .collect::<std::result::Result<Vec<Option<Tensor>>, tch::TchError>>()?
    };
    let jacobians_of_flat_output = vj
        .into_iter()
        .zip(inputs)
        .map(|(vj_el, input)| match vj_el {
            Some(v) => Ok(v),
            None => Ok(input
                .f_zeros_like()?
                .f_expand(concat(&[total], &input.size()), false)?),
        })
        .collect::<Result<Vec<Tensor>>>()?;
    // [input][output] -> [output][input]
    let mut jacobian: Vec<Vec<Tensor>> = outputs.iter().map(|_| Vec::new()).collect();
    for (jac_input_i, input_i) in jacobians_of_flat_output.iter().zip(inputs) {
        for (j, (jac, output_j)) in jac_input_i
            .f_split_with_sizes(&output_numels, 0)?
            .iter()
            .zip(outputs)
            .enumerate()
        {
            jacobian[j].push(jac.f_view_(concat(&output_j.size(), &input_i.size()))?);
        }
    }
    Ok(jacobian)
}

/// `_jacfwd`: forward-mode AD over the standard basis of the inputs, under the legacy vmap.
fn jacfwd<F>(func: F, inputs: &[&Tensor], strict: bool, vectorize: bool) -> Result<Vec<Vec<Tensor>>>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
{
    if strict {
        return Err(Error::Runtime(
            "torch.autograd.functional.jacobian: `strict=True` and `strategy=\"forward-mode\"` are \
             not supported together (yet). Please either set `strict=False` or \
             `strategy=\"reverse-mode\"`."
                .into(),
        ));
    }
    if !vectorize {
        // PyTorch's message lacks the space between "is" and "only".
        return Err(Error::NotImplemented(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian isonly \
             implemented for `vectorize=True`."
                .into(),
        ));
    }
    register_jvp_decompositions()?;
    let input_numels: Vec<i64> = inputs.iter().map(|i| i.numel() as i64).collect();
    let owned: Vec<Tensor> = inputs.iter().map(|t| t.shallow_clone()).collect();
    let tangents = construct_standard_basis_for(&owned, &input_numels)?;
    let tangent_refs: Vec<Option<&Tensor>> = tangents.iter().map(Some).collect();
    let mut output_shapes: Vec<Vec<i64>> = Vec::new();
    let before_split = vmap(
        |tangents| {
            let level = DualLevel::enter()?;
            let dual_inputs = inputs
                .iter()
                .zip(tangents)
                .map(|(input, tangent)| {
                    Ok(Tensor::f_internal_make_dual(
                        input,
                        &tangent.f_view_as(input)?,
                        level.level(),
                    )?)
                })
                .collect::<Result<Vec<Tensor>>>()?;
            let dual_outputs = func(&dual_inputs)?;
            let mut jv = Vec::with_capacity(dual_outputs.len());
            for dual_out in &dual_outputs {
                let (primal, tangent) = Tensor::f_internal_unpack_dual(dual_out, level.level())?;
                output_shapes.push(primal.size());
                jv.push(Some(if tangent.defined() {
                    tangent
                } else {
                    primal.f_zeros_like()?
                }));
            }
            Ok(jv)
        },
        &tangent_refs,
        "jvp",
    )?;
    before_split
        .into_iter()
        .zip(&output_shapes)
        .map(|(jac_output_i, output_shape)| {
            let jac_output_i =
                jac_output_i.ok_or_else(|| Error::Runtime("jvp returned no tangent".into()))?;
            jac_output_i
                .f_split_with_sizes(&input_numels, 0)?
                .iter()
                .zip(inputs)
                .map(|(jac, input_j)| {
                    let ndim = jac.dim() as i64;
                    let mut perm: Vec<i64> = (1..ndim).collect();
                    perm.push(0);
                    Ok(jac
                        .f_permute(&perm)?
                        .f_reshape(concat(output_shape, &input_j.size()))?)
                })
                .collect()
        })
        .collect()
}

/// Registers PyTorch's forward-AD decompositions once per process, as Python's first
/// `forward_ad.make_dual` does by importing `torch._decomp.decompositions_for_jvp`: without
/// them libtorch has no forward AD for `_log_softmax_backward_data`, `_softmax_backward_data`,
/// `log_sigmoid_forward` and the normalisation and NLL backward ops, so forward-over-reverse
/// Hessians through them would fail where PyTorch's succeed.
fn register_jvp_decompositions() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<std::result::Result<(), String>> =
        std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            JVP_DECOMPOSITIONS
                .iter()
                .try_for_each(|(name, overload, ir)| {
                    crate::shim::register_decomposition(name, overload, ir)
                })
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Error::Shim)
}

/// The Hessian of a scalar function of one tensor: `torch.autograd.functional.hessian`.
///
/// The Jacobian (outer, with `outer_jacobian_strategy`) of the Jacobian (inner, reverse mode,
/// `create_graph=True`), exactly as PyTorch composes them; shape `input.shape + input.shape`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::autograd::functional::{hessian, HessianOptions};
/// let x = Tensor::from_slice(&[1.0f64, 2.0]);
/// // f(x) = x0² x1: H = [[2 x1, 2 x0], [2 x0, 0]]
/// let h = hessian(|x| Ok(x.get(0).pow_tensor_scalar(2) * x.get(1)), &x, &HessianOptions::default())?;
/// assert_eq!(Vec::<f64>::try_from(h.reshape([-1]))?, vec![4.0, 2.0, 2.0, 0.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// PyTorch's messages for a function that returns more than one element ("The Tensor returned
/// by the function given to hessian should contain a single element") and for `strict`
/// violations; as [`jacobian`] otherwise.
pub fn hessian<F>(func: F, input: &Tensor, opts: &HessianOptions) -> Result<Tensor>
where
    F: FnOnce(&Tensor) -> Result<Tensor>,
{
    single(single(hessian_multi(|x| func(&x[0]), &[input], opts)?)?)
}

/// The Hessian of a scalar function of several tensors; entry `[i][j]` is ∂²f/∂x_i∂x_j with
/// shape `x_i.shape + x_j.shape`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::autograd::functional::{hessian_multi, HessianOptions};
/// let (a, b) = (Tensor::from_slice(&[3.0f64]), Tensor::from_slice(&[4.0f64]));
/// let h = hessian_multi(|x| Ok((&x[0] * &x[1]).sum(None)), &[&a, &b], &HessianOptions::default())?;
/// assert_eq!(h[0][1].double_value(&[0, 0]), 1.0);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`hessian`].
pub fn hessian_multi<F>(
    func: F,
    inputs: &[&Tensor],
    opts: &HessianOptions,
) -> Result<Vec<Vec<Tensor>>>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    let strict = opts.strict;
    let forward = opts.outer_jacobian_strategy == Strategy::ForwardMode;
    let jac_func = |inp: &[Tensor]| -> Result<Vec<Tensor>> {
        let inp: Vec<Tensor> = if forward {
            // `_grad_preprocess` needs create_graph=True and inputs that require grad, or it
            // would detach the dual inputs.
            inp.iter()
                .map(|t| Ok(t.shallow_clone().f_requires_grad_(true)?))
                .collect::<Result<_>>()?
        } else {
            inp.iter().map(Tensor::shallow_clone).collect()
        };
        let inp_refs: Vec<&Tensor> = inp.iter().collect();
        let ensure_single_output_function = |x: &[Tensor]| -> Result<Vec<Tensor>> {
            let out = func(x)?;
            check_requires_grad(&[Some(&out)], Check::Outputs, strict)?;
            if out.numel() != 1 {
                return Err(Error::Runtime(
                    "The Tensor returned by the function given to hessian should contain a single \
                     element"
                        .into(),
                ));
            }
            Ok(vec![out.f_squeeze()?])
        };
        let inner = JacobianOptions {
            create_graph: true,
            ..Default::default()
        };
        let jac = single(jacobian_multi(
            ensure_single_output_function,
            &inp_refs,
            &inner,
        )?)?;
        let jac_refs: Vec<Option<&Tensor>> = jac.iter().map(Some).collect();
        check_requires_grad(&jac_refs, Check::Jacobian, strict)?;
        Ok(jac)
    };
    let outer = JacobianOptions {
        create_graph: opts.create_graph,
        strict,
        vectorize: opts.vectorize,
        strategy: opts.outer_jacobian_strategy,
        chunk_size: None,
    };
    jacobian_multi(jac_func, inputs, &outer)
}

/// The vector-Jacobian product vᵀ J of `func` at `inputs`: `torch.autograd.functional.vjp`.
/// Returns `(func(inputs), vjp)`; `v` may be `None` only for a single one-element output.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::autograd::functional::{vjp, ProductOptions};
/// let x = Tensor::from_slice(&[1.0f64, 2.0]);
/// let v = Tensor::from_slice(&[1.0f64, 1.0]);
/// let (out, g) = vjp(|x| Ok(vec![&x[0] * &x[0]]), &[&x], Some(&[&v]), &ProductOptions::default())?;
/// assert_eq!(Vec::<f64>::try_from(&g[0])?, vec![2.0, 4.0]);
/// assert_eq!(Vec::<f64>::try_from(&out[0])?, vec![1.0, 4.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// PyTorch's messages for a missing or mis-shaped `v` and for `strict` violations.
pub fn vjp<F>(
    func: F,
    inputs: &[&Tensor],
    v: Option<&[&Tensor]>,
    opts: &ProductOptions,
) -> Result<(Vec<Tensor>, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
{
    let (inputs, outputs, v) = tch::with_grad(|| -> Result<_> {
        let inputs = grad_preprocess(inputs, opts.create_graph, true)?;
        let outputs = func(&inputs)?;
        let output_refs: Vec<Option<&Tensor>> = outputs.iter().map(Some).collect();
        check_requires_grad(&output_refs, Check::Outputs, opts.strict)?;
        let v = match v {
            Some(v) => {
                let v = grad_preprocess(v, opts.create_graph, false)?;
                validate_v(&v, &outputs, outputs.len() > 1)?;
                Some(v)
            }
            None => {
                if outputs.len() != 1 || outputs[0].numel() != 1 {
                    return Err(Error::Runtime(
                        "The vector v can only be None if the user-provided function returns a \
                         single Tensor with a single element."
                            .into(),
                    ));
                }
                None
            }
        };
        Ok((inputs, outputs, v))
    })?;
    let input_refs: Vec<&Tensor> = inputs.iter().collect();
    let output_refs: Vec<Option<&Tensor>> = outputs.iter().map(Some).collect();
    let v_refs: Option<Vec<&Tensor>> = v.as_ref().map(|v| v.iter().collect());
    let vjp = with_grad_if(opts.create_graph, || {
        let grad_res = autograd_grad(
            &output_refs,
            &input_refs,
            v_refs.as_deref(),
            opts.create_graph,
            None,
            false,
        )?;
        fill_in_zeros(
            grad_res,
            &input_refs,
            opts.strict,
            opts.create_graph,
            Stage::Back,
        )
    })?;
    Ok((
        grad_postprocess(outputs, opts.create_graph)?,
        grad_postprocess(vjp, opts.create_graph)?,
    ))
}

/// The Jacobian-vector product J v of `func` at `inputs`, by PyTorch's double-backward trick:
/// `torch.autograd.functional.jvp`. Returns `(func(inputs), jvp)`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::autograd::functional::{jvp, ProductOptions};
/// let x = Tensor::from_slice(&[1.0f64, 2.0]);
/// let v = Tensor::from_slice(&[1.0f64, 0.0]);
/// let (_, jv) = jvp(|x| Ok(vec![&x[0] * &x[0]]), &[&x], Some(&[&v]), &ProductOptions::default())?;
/// assert_eq!(Vec::<f64>::try_from(&jv[0])?, vec![2.0, 0.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// PyTorch's messages for a missing or mis-shaped `v` and for `strict` violations.
pub fn jvp<F>(
    func: F,
    inputs: &[&Tensor],
    v: Option<&[&Tensor]>,
    opts: &ProductOptions,
) -> Result<(Vec<Tensor>, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
{
    let (outputs, grad_outputs, grad_inputs, v) = tch::with_grad(|| -> Result<_> {
        let inputs = grad_preprocess(inputs, opts.create_graph, true)?;
        let v = preprocess_input_v(v, &inputs, opts.create_graph)?;
        let outputs = func(&inputs)?;
        let output_refs: Vec<Option<&Tensor>> = outputs.iter().map(Some).collect();
        check_requires_grad(&output_refs, Check::Outputs, opts.strict)?;
        let grad_outputs = outputs
            .iter()
            .map(|o| Ok(o.f_zeros_like()?.f_set_requires_grad(true)?))
            .collect::<Result<Vec<Tensor>>>()?;
        let go_refs: Vec<&Tensor> = grad_outputs.iter().collect();
        let input_refs: Vec<&Tensor> = inputs.iter().collect();
        let grad_inputs =
            autograd_grad(&output_refs, &input_refs, Some(&go_refs), true, None, false)?;
        let gi_refs: Vec<Option<&Tensor>> = grad_inputs.iter().map(Option::as_ref).collect();
        check_requires_grad(&gi_refs, Check::GradInputs, opts.strict)?;
        Ok((outputs, grad_outputs, grad_inputs, v))
    })?;
    let gi_refs: Vec<Option<&Tensor>> = grad_inputs.iter().map(Option::as_ref).collect();
    let go_refs: Vec<&Tensor> = grad_outputs.iter().collect();
    let out_refs: Vec<&Tensor> = outputs.iter().collect();
    let v_refs: Option<Vec<&Tensor>> = v.as_ref().map(|v| v.iter().collect());
    let jvp = with_grad_if(opts.create_graph, || {
        let grad_res = autograd_grad(
            &gi_refs,
            &go_refs,
            v_refs.as_deref(),
            opts.create_graph,
            None,
            false,
        )?;
        fill_in_zeros(
            grad_res,
            &out_refs,
            opts.strict,
            opts.create_graph,
            Stage::BackTrick,
        )
    })?;
    Ok((
        grad_postprocess(outputs, opts.create_graph)?,
        grad_postprocess(jvp, opts.create_graph)?,
    ))
}

/// The vector-Hessian product vᵀ H of a scalar function: `torch.autograd.functional.vhp`.
/// Returns `(func(inputs), vhp)`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::autograd::functional::{vhp, ProductOptions};
/// let x = Tensor::from_slice(&[1.0f64, 2.0]);
/// let v = Tensor::from_slice(&[1.0f64, 1.0]);
/// // f = Σ x³: H = diag(6 x)
/// let (_, h) = vhp(|x| Ok(x[0].pow_tensor_scalar(3).sum(None)), &[&x], Some(&[&v]), &ProductOptions::default())?;
/// assert_eq!(Vec::<f64>::try_from(&h[0])?, vec![6.0, 12.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// PyTorch's messages for a non-scalar function, a missing or mis-shaped `v`, and `strict`.
pub fn vhp<F>(
    func: F,
    inputs: &[&Tensor],
    v: Option<&[&Tensor]>,
    opts: &ProductOptions,
) -> Result<(Tensor, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    second_order(func, inputs, v, opts, "vhp")
}

/// The Hessian-vector product H v of a scalar function, by the double-backward trick:
/// `torch.autograd.functional.hvp`. Returns `(func(inputs), hvp)`.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::autograd::functional::{hvp, ProductOptions};
/// let x = Tensor::from_slice(&[1.0f64, 2.0]);
/// let v = Tensor::from_slice(&[1.0f64, 0.0]);
/// let (_, h) = hvp(|x| Ok(x[0].pow_tensor_scalar(3).sum(None)), &[&x], Some(&[&v]), &ProductOptions::default())?;
/// assert_eq!(Vec::<f64>::try_from(&h[0])?, vec![6.0, 0.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`vhp`].
pub fn hvp<F>(
    func: F,
    inputs: &[&Tensor],
    v: Option<&[&Tensor]>,
    opts: &ProductOptions,
) -> Result<(Tensor, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    second_order(func, inputs, v, opts, "hvp")
}

/// The shared body of `vhp` and `hvp` (`which` names the Python function in messages).
fn second_order<F>(
    func: F,
    inputs: &[&Tensor],
    v: Option<&[&Tensor]>,
    opts: &ProductOptions,
    which: &str,
) -> Result<(Tensor, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    let hvp = which == "hvp";
    let (inputs, output, jac, v, trick) = tch::with_grad(|| -> Result<_> {
        let inputs = grad_preprocess(inputs, opts.create_graph, true)?;
        let v = preprocess_input_v(v, &inputs, opts.create_graph)?;
        let output = func(&inputs)?;
        check_requires_grad(&[Some(&output)], Check::Outputs, opts.strict)?;
        if output.numel() != 1 {
            return Err(Error::Runtime(format!(
                "The Tensor returned by the function given to {which} should contain a single element"
            )));
        }
        let input_refs: Vec<&Tensor> = inputs.iter().collect();
        let jac = autograd_grad(&[Some(&output)], &input_refs, None, true, None, false)?;
        let jac_refs: Vec<Option<&Tensor>> = jac.iter().map(Option::as_ref).collect();
        check_requires_grad(&jac_refs, Check::Jacobian, opts.strict)?;
        let trick = if hvp {
            let grad_jac = inputs
                .iter()
                .map(|i| Ok(i.f_zeros_like()?.f_set_requires_grad(true)?))
                .collect::<Result<Vec<Tensor>>>()?;
            let gj_refs: Vec<&Tensor> = grad_jac.iter().collect();
            let double_back =
                autograd_grad(&jac_refs, &input_refs, Some(&gj_refs), true, None, false)?;
            check_requires_grad(&jac_refs, Check::Hessian, opts.strict)?;
            Some((grad_jac, double_back))
        } else {
            None
        };
        Ok((inputs, output, jac, v, trick))
    })?;
    let input_refs: Vec<&Tensor> = inputs.iter().collect();
    let v_refs: Option<Vec<&Tensor>> = v.as_ref().map(|v| v.iter().collect());
    let result = with_grad_if(opts.create_graph, || match &trick {
        None => {
            let jac_refs: Vec<Option<&Tensor>> = jac.iter().map(Option::as_ref).collect();
            let grad_res = autograd_grad(
                &jac_refs,
                &input_refs,
                v_refs.as_deref(),
                opts.create_graph,
                None,
                false,
            )?;
            fill_in_zeros(
                grad_res,
                &input_refs,
                opts.strict,
                opts.create_graph,
                Stage::DoubleBack,
            )
        }
        Some((grad_jac, double_back)) => {
            let db_refs: Vec<Option<&Tensor>> = double_back.iter().map(Option::as_ref).collect();
            let gj_refs: Vec<&Tensor> = grad_jac.iter().collect();
            let grad_res = autograd_grad(
                &db_refs,
                &gj_refs,
                v_refs.as_deref(),
                opts.create_graph,
                None,
                false,
            )?;
            fill_in_zeros(
                grad_res,
                &input_refs,
                opts.strict,
                opts.create_graph,
                Stage::DoubleBackTrick,
            )
        }
    })?;
    let output = if opts.create_graph {
        output
    } else {
        output.f_detach()?
    };
    Ok((output, grad_postprocess(result, opts.create_graph)?))
}

/// `with torch.set_grad_enabled(True if create_graph else torch.is_grad_enabled())`.
fn with_grad_if<T>(create_graph: bool, f: impl FnOnce() -> T) -> T {
    if create_graph {
        tch::with_grad(f)
    } else {
        f()
    }
}

/// Unwraps PyTorch's one-element tuples.
fn single<T>(mut items: Vec<T>) -> Result<T> {
    match items.len() {
        1 => items
            .pop()
            .ok_or_else(|| Error::Runtime("empty result".into())),
        n => Err(Error::Runtime(format!("expected one result, got {n}"))),
    }
}

fn concat(a: &[i64], b: &[i64]) -> Vec<i64> {
    a.iter().chain(b).copied().collect()
}

/// `_construct_standard_basis_for`: for each tensor a `(total, numel)` chunk of zeros whose
/// diagonal at the tensor's offset is one, so that the chunks stacked side by side form I.
fn construct_standard_basis_for(tensors: &[Tensor], numels: &[i64]) -> Result<Vec<Tensor>> {
    if tensors.is_empty() {
        // Python's AssertionError, reached by forward mode with no inputs.
        return Err(Error::Runtime("Expected at least one tensor".into()));
    }
    standard_basis_rows(tensors, numels, 0, numels.iter().sum())
}

/// Rows `start..start + rows` of [`construct_standard_basis_for`]'s basis, built alone: each
/// tensor's block is `zeros(rows, numel)` with ones on the diagonal that row `start` would have
/// (`_chunked_standard_basis_for_`'s chunk; `torch.func` and the question's one-hot rows use it
/// too).
pub(crate) fn standard_basis_rows<T: Borrow<Tensor>>(
    tensors: &[T],
    numels: &[i64],
    start: i64,
    rows: i64,
) -> Result<Vec<Tensor>> {
    let mut diag_start_idx = start;
    tensors
        .iter()
        .map(Borrow::borrow)
        .zip(numels)
        .map(|(tensor, &numel)| {
            let chunk = tensor.f_new_zeros([rows, numel], (tensor.kind(), tensor.device()))?;
            let _ones = chunk.f_diagonal(diag_start_idx, 0, 1)?.f_fill_(1)?;
            diag_start_idx -= numel;
            Ok(chunk)
        })
        .collect()
}

/// `get_chunk_sizes(total, chunk)` as `(start, rows)` ranges: chunks of `chunk` rows and a
/// remainder, or the single range `(0, total)` when `chunk` is `None`, not positive, or at
/// least `total`.
pub(crate) fn chunk_ranges(total: i64, chunk: Option<i64>) -> Vec<(i64, i64)> {
    match chunk {
        Some(c) if c > 0 && c < total => (0..total)
            .step_by(c as usize)
            .map(|start| (start, c.min(total - start)))
            .collect(),
        _ => vec![(0, total)],
    }
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

/// The `v` of `jvp`, `vhp` and `hvp`: preprocessed and checked against the inputs; `None` is
/// allowed only for a single one-element input.
fn preprocess_input_v(
    v: Option<&[&Tensor]>,
    inputs: &[Tensor],
    create_graph: bool,
) -> Result<Option<Vec<Tensor>>> {
    match v {
        Some(v) => {
            let v = grad_preprocess(v, create_graph, false)?;
            validate_v(&v, inputs, inputs.len() > 1)?;
            Ok(Some(v))
        }
        None if inputs.len() != 1 || inputs[0].numel() != 1 => Err(Error::Runtime(
            "The vector v can only be None if the input to the user-provided function is a \
             single Tensor with a single element."
                .into(),
        )),
        None => Ok(None),
    }
}

/// `_validate_v`: one vector per tensor, each of the tensor's size.
fn validate_v(v: &[Tensor], other: &[Tensor], is_other_tuple: bool) -> Result<()> {
    if v.len() != other.len() {
        return Err(Error::Runtime(if is_other_tuple {
            format!(
                "v is a tuple of invalid length: should be {} but got {}.",
                other.len(),
                v.len()
            )
        } else {
            "The given v should contain a single Tensor.".into()
        }));
    }
    for (idx, (el_v, el_other)) in v.iter().zip(other).enumerate() {
        if el_v.size() != el_other.size() {
            let prepend = if is_other_tuple {
                format!("Entry {idx} in ")
            } else {
                String::new()
            };
            return Err(Error::Runtime(format!(
                "{prepend}v has invalid size: should be {} but got {}.",
                crate::format::torch_size(&el_other.size()),
                crate::format::torch_size(&el_v.size())
            )));
        }
    }
    Ok(())
}

/// The `input_type` of `_check_requires_grad`.
#[derive(Clone, Copy)]
enum Check {
    Outputs,
    GradInputs,
    Jacobian,
    Hessian,
}

/// `_check_requires_grad`: in strict mode, every tensor must be present and require grad.
fn check_requires_grad(tensors: &[Option<&Tensor>], input_type: Check, strict: bool) -> Result<()> {
    if !strict {
        return Ok(());
    }
    for (i, t) in tensors.iter().enumerate() {
        let Some(t) = t else {
            return Err(Error::Runtime(format!(
                "The output of the user-provided function is independent of input {i}. This is \
                 not allowed in strict mode."
            )));
        };
        if t.requires_grad() {
            continue;
        }
        return Err(Error::Runtime(match input_type {
            Check::Hessian => format!(
                "The hessian of the user-provided function with respect to input {i} is \
                 independent of the input. This is not allowed in strict mode. You should ensure \
                 that your function is thrice differentiable and that the hessian depends on the \
                 inputs."
            ),
            Check::Jacobian => format!(
                "While computing the hessian, found that the jacobian of the user-provided \
                 function with respect to input {i} is independent of the input. This is not \
                 allowed in strict mode. You should ensure that your function is twice \
                 differentiable and that the jacobian depends on the inputs (this would be \
                 violated by a linear function for example)."
            ),
            Check::GradInputs => format!(
                "The gradient with respect to input {i} is independent of the inputs of the \
                 user-provided function. This is not allowed in strict mode."
            ),
            Check::Outputs => format!(
                "Output {i} of the user-provided function does not require gradients. The outputs \
                 must be computed in a differentiable manner from the input when running in \
                 strict mode."
            ),
        }));
    }
    Ok(())
}

/// The `stage` of `_fill_in_zeros`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Back,
    BackTrick,
    DoubleBack,
    DoubleBackTrick,
}

/// `_fill_in_zeros`: `None` gradients become zeros shaped like `refs[i]` (or errors in strict
/// mode).
fn fill_in_zeros(
    grads: Vec<Option<Tensor>>,
    refs: &[&Tensor],
    strict: bool,
    create_graph: bool,
    stage: Stage,
) -> Result<Vec<Tensor>> {
    grads
        .into_iter()
        .enumerate()
        .map(|(i, g)| match g {
            None => {
                if strict {
                    return Err(Error::Runtime(match stage {
                        Stage::Back => format!(
                            "The output of the user-provided function is independent of input \
                             {i}. This is not allowed in strict mode."
                        ),
                        Stage::BackTrick => format!(
                            "The gradient with respect to the input is independent of entry {i} \
                             in the grad_outputs when using the double backward trick to compute \
                             forward mode gradients. This is not allowed in strict mode."
                        ),
                        Stage::DoubleBack => format!(
                            "The jacobian of the user-provided function is independent of input \
                             {i}. This is not allowed in strict mode."
                        ),
                        Stage::DoubleBackTrick => format!(
                            "The hessian of the user-provided function is independent of entry \
                             {i} in the grad_jacobian. This is not allowed in strict mode as it \
                             prevents from using the double backward trick to replace forward \
                             mode AD."
                        ),
                    }));
                }
                Ok(refs[i].f_zeros_like()?)
            }
            Some(g) => {
                if strict && create_graph && !g.requires_grad() {
                    let what = if matches!(stage, Stage::DoubleBack | Stage::DoubleBackTrick) {
                        "hessian"
                    } else {
                        "jacobian"
                    };
                    return Err(Error::Runtime(format!(
                        "The {what} of the user-provided function is independent of input {i}. \
                         This is not allowed in strict mode when create_graph=True."
                    )));
                }
                Ok(g)
            }
        })
        .collect()
}

/// `_autograd_grad`: `autograd.grad` over the outputs that exist and require grad (with their
/// vectors), `allow_unused=True`; all `None` when none does.
fn autograd_grad(
    outputs: &[Option<&Tensor>],
    inputs: &[&Tensor],
    grad_outputs: Option<&[&Tensor]>,
    create_graph: bool,
    retain_graph: Option<bool>,
    is_grads_batched: bool,
) -> Result<Vec<Option<Tensor>>> {
    let mut live = Vec::new();
    let mut live_grads = Vec::new();
    for (i, out) in outputs.iter().enumerate() {
        if let Some(out) = out.filter(|o| o.requires_grad()) {
            live.push(out);
            live_grads.push(grad_outputs.map(|g| g[i]));
        }
    }
    if live.is_empty() {
        return Ok(inputs.iter().map(|_| None).collect());
    }
    let opts = GradOptions {
        grad_outputs: Some(live_grads),
        retain_graph,
        create_graph,
        allow_unused: Some(true),
        is_grads_batched,
        materialize_grads: false,
    };
    grad(&live, inputs, &opts)
}
