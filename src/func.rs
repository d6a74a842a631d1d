//! Composable function transforms: `torch.func` (`torch/_functorch/apis.py`, `vmap.py` and
//! `eager_transforms.py`, PyTorch 2.13.0).
//!
//! [`vmap`], [`grad`], [`jacrev`] and [`jacfwd`] drive libtorch's own functorch interpreter
//! stack (the C++ behind `torch.func`), following the Python algorithms op for op, so results
//! equal Python's bit for bit. They compose: a transform's closure may call another transform.
//!
//! A transformed function takes the inputs as a slice (Python's positional arguments) and
//! returns its outputs as a `Vec` (Python's tuple), or one scalar tensor for [`grad`]. Results
//! come back as the leaves of Python's result in `tree_flatten` order.
//!
//! What differs from PyTorch: arguments are flat lists of tensors, not pytrees; `out_dims` is
//! one int for all outputs; `has_aux` and `vjp`/`jvp` as public functions are not offered
//! (`jacrev`'s `chunk_size` is: [`jacrev_chunked`]). The Python-only vmap decompositions that `torch.func` registers on
//! first use (`nll_loss`, `mse_loss_backward`, `addr`, ...) are absent, so those few ops take
//! libtorch's own batching path. libtorch keeps forward-AD levels process-wide, so [`jacfwd`]
//! calls on different threads run one at a time.
//!
//! Per-sample gradients of a multivariate normal's log-density with respect to its mean:
//!
//! ```
//! # fn main() -> tchdist::Result<()> {
//! use tch::{Kind, Tensor};
//! use tchdist::distributions::{Distribution, MultivariateNormal, MvnParam};
//! use tchdist::func::{grad, vmap, VmapOptions};
//!
//! let mu = Tensor::zeros([2], (Kind::Double, tch::Device::Cpu));
//! let cov = Tensor::eye(2, (Kind::Double, tch::Device::Cpu));
//! let x = Tensor::from_slice(&[1.0f64, 2.0, -1.0, 0.5, 3.0, 0.0]).reshape([3, 2]);
//! let per_sample = vmap(
//!     |args| {
//!         grad(
//!             |a| {
//!                 let mvn = MultivariateNormal::new(
//!                     &a[0],
//!                     MvnParam::CovarianceMatrix(cov.shallow_clone()),
//!                     false,
//!                 )?;
//!                 mvn.log_prob(&a[1])
//!             },
//!             &[&args[0], &args[1]],
//!             &[0],
//!         )
//!     },
//!     &[&mu, &x],
//!     &[None, Some(0)],
//!     0,
//!     &VmapOptions::default(),
//! )?;
//! // d/dmu log N(x; mu, I) = x - mu: one row per sample.
//! assert_eq!(per_sample[0].size(), vec![3, 2]);
//! assert_eq!(Vec::<f64>::try_from(per_sample[0].reshape([-1]))?, vec![1.0, 2.0, -1.0, 0.5, 3.0, 0.0]);
//! # Ok(())
//! # }
//! ```

use tch::{Kind, Tensor};

use crate::autograd::functional::{chunk_ranges, standard_basis_rows};
use crate::autograd::{grad as autograd_grad, GradOptions};
use crate::error::{Error, Result};
use crate::format::{dtype_name, py_tuple};
use crate::shim;

/// How random operations behave inside [`vmap`]: the `randomness` argument of
/// `torch.func.vmap`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Randomness {
    /// `"error"` (the default): a random operation inside the transform fails.
    #[default]
    Error,
    /// `"different"`: each element of the batch draws its own random numbers.
    Different,
    /// `"same"`: every element of the batch sees the same random numbers.
    Same,
}

impl Randomness {
    /// The shim's number for the mode: 0 error, 1 different, 2 same.
    fn shim_code(self) -> std::os::raw::c_int {
        match self {
            Randomness::Error => 0,
            Randomness::Different => 1,
            Randomness::Same => 2,
        }
    }
}

/// The keyword arguments of `torch.func.vmap` besides `in_dims` and `out_dims`.
///
/// ```
/// use tchdist::func::{Randomness, VmapOptions};
/// let opts = VmapOptions { randomness: Randomness::Same, chunk_size: Some(4), ..Default::default() };
/// assert_eq!(opts.name, None);
/// ```
#[derive(Clone, Debug, Default)]
pub struct VmapOptions {
    /// `randomness`: see [`Randomness`].
    pub randomness: Randomness,
    /// `chunk_size`: map over at most this many elements at a time (`None`: all at once).
    pub chunk_size: Option<i64>,
    /// The function's name as PyTorch's messages print it (`func.__name__`); `None` prints
    /// `<lambda>`, the name of every Python lambda.
    pub name: Option<String>,
}

/// Vectorizing map: `torch.func.vmap(func, in_dims, out_dims, randomness, chunk_size=...)`
/// applied to `inputs`.
///
/// Runs `func` once on inputs that carry a hidden batch dimension: input `i` is mapped over
/// its dimension `in_dims[i]`, or passed whole when that is `None` (Python's `in_dims` tuple;
/// one entry per input). Every output gets the batch dimension at `out_dims`, which may count
/// from the end. (For an output that does not depend on the mapped inputs, PyTorch's binding
/// inserts the batch size at `out_dims` unchecked and reads out of bounds when it is negative
/// or too large; tchdist wraps and checks it as PyTorch does for batched outputs.)
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::func::{vmap, VmapOptions};
/// let x = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape([2, 3]);
/// let w = Tensor::from_slice(&[1.0f64, 10.0, 100.0]);
/// // Per-row dot products: x is mapped over its rows, w is shared.
/// let out = vmap(|a| Ok(vec![a[0].dot(&a[1])]), &[&x, &w], &[Some(0), None], 0, &VmapOptions::default())?;
/// assert_eq!(Vec::<f64>::try_from(&out[0])?, vec![321.0, 654.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// PyTorch's `ValueError` texts for no inputs, an `in_dims` whose length differs from the
/// inputs', an `in_dim` out of range, no mapped input ("vmap: Expected at least one Tensor to
/// vmap over"), mapped sizes that differ ("vmap: Expected all tensors to have the same size in
/// the mapped dimension, got sizes [3, 4] for the mapped dimension") and a `chunk_size` below
/// 1; an `out_dims` out of range; whatever `func` returns, including libtorch's vmap errors
/// (a random operation under [`Randomness::Error`], `.item()` on a batched tensor).
pub fn vmap<F>(
    mut func: F,
    inputs: &[&Tensor],
    in_dims: &[Option<i64>],
    out_dims: i64,
    opts: &VmapOptions,
) -> Result<Vec<Tensor>>
where
    F: FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
{
    if let Some(chunk_size) = opts.chunk_size {
        if chunk_size <= 0 {
            return Err(Error::Value(format!(
                "vmap: chunk_size should be None or greater than 0. (got {chunk_size})"
            )));
        }
    }
    let name = opts.name.as_deref().unwrap_or("<lambda>");
    let (batch_size, flat_in_dims) = process_batched_inputs(name, inputs, in_dims)?;
    match opts.chunk_size {
        Some(chunk_size) => chunked_vmap(
            &mut func,
            &flat_in_dims,
            inputs,
            batch_size,
            chunk_size,
            out_dims,
            opts.randomness,
        ),
        None => flat_vmap(
            &mut func,
            batch_size,
            &flat_in_dims,
            inputs,
            out_dims,
            opts.randomness,
        ),
    }
}

/// `_process_batched_inputs`: checks `in_dims` against the inputs, wraps negative dims and
/// returns the batch size with the normalised dims.
fn process_batched_inputs(
    name: &str,
    inputs: &[&Tensor],
    in_dims: &[Option<i64>],
) -> Result<(i64, Vec<Option<i64>>)> {
    if inputs.is_empty() {
        return Err(Error::Value(format!(
            "vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are \
             trying to vmap over a function with no inputs. The latter is unsupported."
        )));
    }
    let dims_repr = py_tuple(
        in_dims
            .iter()
            .map(|d| d.map_or_else(|| "None".to_string(), |d| d.to_string())),
    );
    if in_dims.len() != inputs.len() {
        return Err(Error::Value(format!(
            "vmap({name}, in_dims={dims_repr}, ...)(<inputs>): in_dims is not compatible with \
             the structure of `inputs`. in_dims has structure {} but inputs has structure {}.",
            tuple_tree_spec(in_dims.len()),
            tuple_tree_spec(inputs.len())
        )));
    }
    let mut flat_in_dims = in_dims.to_vec();
    for (slot, (arg, in_dim)) in flat_in_dims.iter_mut().zip(inputs.iter().zip(in_dims)) {
        let Some(d) = *in_dim else { continue };
        let n = arg.dim() as i64;
        if d < -n || d >= n {
            return Err(Error::Value(format!(
                "vmap({name}, in_dims={dims_repr}, ...)(<inputs>): Got in_dim={d} for some \
                 input, but that input is a Tensor of dimensionality {n} so expected in_dim to \
                 satisfy -{n} <= in_dim < {n}."
            )));
        }
        if d < 0 {
            *slot = Some(d.rem_euclid(n));
        }
    }
    let batch_size = validate_and_get_batch_size(&flat_in_dims, inputs)?;
    Ok((batch_size, flat_in_dims))
}

/// `_validate_and_get_batch_size`: every mapped input has the same size in its mapped dim.
fn validate_and_get_batch_size(flat_in_dims: &[Option<i64>], args: &[&Tensor]) -> Result<i64> {
    let batch_sizes = flat_in_dims
        .iter()
        .zip(args)
        .filter_map(|(d, arg)| d.map(|d| size_at(arg, d)))
        .collect::<Result<Vec<i64>>>()?;
    let Some(&first) = batch_sizes.first() else {
        return Err(Error::Value(
            "vmap: Expected at least one Tensor to vmap over".into(),
        ));
    };
    if batch_sizes.iter().any(|&s| s != first) {
        return Err(Error::Value(format!(
            "vmap: Expected all tensors to have the same size in the mapped dimension, got sizes \
             {batch_sizes:?} for the mapped dimension"
        )));
    }
    Ok(first)
}

/// `arg.size(dim)` for a dim already checked to be in range.
fn size_at(arg: &Tensor, dim: i64) -> Result<i64> {
    usize::try_from(dim)
        .ok()
        .and_then(|d| arg.size().get(d).copied())
        .ok_or_else(|| Error::Runtime(format!("dimension {dim} out of range")))
}

/// `_flat_vmap`: one vmap level, batched inputs in, batch dims out.
fn flat_vmap<F>(
    func: &mut F,
    batch_size: i64,
    flat_in_dims: &[Option<i64>],
    args: &[&Tensor],
    out_dims: i64,
    randomness: Randomness,
) -> Result<Vec<Tensor>>
where
    F: FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
{
    let layer = shim::VmapLevel::push(batch_size, randomness.shim_code())?;
    let level = layer.level();
    let batched = args
        .iter()
        .zip(flat_in_dims)
        .map(|(arg, in_dim)| match in_dim {
            None => Ok(arg.shallow_clone()),
            Some(d) => shim::add_batch_dim(arg, *d, level),
        })
        .collect::<Result<Vec<Tensor>>>()?;
    let outputs = func(&batched)?;
    // _unwrap_batched: the level is still pushed while the batch dims come out.
    outputs
        .iter()
        .map(|out| shim::remove_batch_dim(out, level, batch_size, out_dims))
        .collect()
}

/// `_get_chunked_inputs` + `_chunked_vmap`: vmap chunk by chunk (restoring the RNG state before
/// each chunk under `randomness="same"`), then `torch.cat` along `out_dims`.
fn chunked_vmap<F>(
    func: &mut F,
    flat_in_dims: &[Option<i64>],
    args: &[&Tensor],
    batch_size: i64,
    chunk_size: i64,
    out_dims: i64,
    randomness: Randomness,
) -> Result<Vec<Tensor>>
where
    F: FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
{
    // `get_chunk_sizes`, summed up: where each chunk ends (none for an empty batch).
    let split_idxs: Vec<i64> = chunk_ranges(batch_size, Some(chunk_size))
        .into_iter()
        .filter(|&(_, len)| len > 0)
        .map(|(start, len)| start + len)
        .collect();
    let per_arg = args
        .iter()
        .zip(flat_in_dims)
        .map(|(t, in_dim)| match in_dim {
            Some(d) => Ok(t.f_tensor_split_indices(&split_idxs, *d)?),
            None => Ok(split_idxs.iter().map(|_| t.shallow_clone()).collect()),
        })
        .collect::<Result<Vec<Vec<Tensor>>>>()?;
    // zip(*flat_args_chunks) stops at the shortest list.
    let n_chunks = per_arg.iter().map(Vec::len).min().unwrap_or(0);
    let rng_state = match randomness {
        Randomness::Same => Some(shim::get_rng_state()?),
        _ => None,
    };
    let mut chunks_output: Vec<Vec<Tensor>> = Vec::new();
    for i in 0..n_chunks {
        let chunk_args: Vec<&Tensor> = per_arg.iter().map(|pieces| &pieces[i]).collect();
        let chunk_batch = validate_and_get_batch_size(flat_in_dims, &chunk_args)?;
        if chunk_batch == 0 {
            continue;
        }
        if let Some(state) = &rng_state {
            shim::set_rng_state(state)?;
        }
        chunks_output.push(flat_vmap(
            func,
            chunk_batch,
            flat_in_dims,
            &chunk_args,
            out_dims,
            randomness,
        )?);
    }
    let Some(first) = chunks_output.first() else {
        return Err(Error::Runtime("arg_spec must not be None".into()));
    };
    let n_outputs = first.len();
    let n_columns = chunks_output.iter().map(Vec::len).min().unwrap_or(0);
    if n_columns != n_outputs {
        return Err(Error::Runtime(format!(
            "len(flat_out_dims)={n_outputs} != len(flat_output_chunks)={n_columns}"
        )));
    }
    (0..n_outputs)
        .map(|j| {
            let pieces: Vec<&Tensor> = chunks_output.iter().map(|c| &c[j]).collect();
            Ok(Tensor::f_cat(&pieces, out_dims)?)
        })
        .collect()
}

/// The gradient of a scalar function: `torch.func.grad(func, argnums)(*inputs)`.
///
/// `func` runs once on the inputs wrapped for a new grad level, those at `argnums` marked
/// differentiable; it must return a 0-dimensional tensor. Returns one gradient per entry of
/// `argnums`, each shaped like its input.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::func::grad;
/// let x = Tensor::from_slice(&[1.0f64, 2.0]);
/// // d/dx sum(x^4) = 4 x^3
/// let g = grad(|a| Ok(a[0].pow_tensor_scalar(4).sum(None)), &[&x], &[0])?;
/// assert_eq!(Vec::<f64>::try_from(&g[0])?, vec![4.0, 32.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// PyTorch's texts for an `argnums` entry out of range ("Got argnum=3, but only 1 positional
/// inputs"), empty or repeated `argnums`, a differentiated input that is not floating point
/// ("only Tensors of floating point dtype can require gradients") and an output that is not a
/// scalar ("grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor
/// with 2 dims. Maybe you wanted to use the vjp or jacrev APIs instead?"); whatever `func` or
/// the backward pass returns.
pub fn grad<F>(func: F, inputs: &[&Tensor], argnums: &[i64]) -> Result<Vec<Tensor>>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    // grad_impl: grad_and_value_impl, keeping the gradients.
    Ok(grad_and_value(func, inputs, argnums)?.0)
}

/// The gradient and the value of a scalar function: `torch.func.grad_and_value(func,
/// argnums)(*inputs)`.
///
/// As [`grad`], also returning `func`'s output.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::func::grad_and_value;
/// let x = Tensor::from_slice(&[3.0f64]).reshape([]);
/// let (g, value) = grad_and_value(|a| Ok(&a[0] * &a[0]), &[&x], &[0])?;
/// assert_eq!((g[0].double_value(&[]), value.double_value(&[])), (6.0, 9.0));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`grad`].
pub fn grad_and_value<F>(
    func: F,
    inputs: &[&Tensor],
    argnums: &[i64],
) -> Result<(Vec<Tensor>, Tensor)>
where
    F: FnOnce(&[Tensor]) -> Result<Tensor>,
{
    let layer = shim::GradLevel::push()?;
    let level = layer.level();
    // NOTE [grad and vjp interaction with no_grad]: grad is on inside, whatever it was outside.
    let _grad_mode = shim::ModeGuard::grad(true)?;
    let args = wrap_all_tensors(inputs, level)?;
    let argnums = slice_argnums(argnums, args.len())?;
    let diff_args: Vec<&Tensor> = argnums.iter().map(|&i| &args[i]).collect();
    for arg in &diff_args {
        create_differentiable(arg)?;
    }
    let output = func(&args)?;
    if output.dim() != 0 {
        return Err(Error::Runtime(format!(
            "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor \
             with {} dims. Maybe you wanted to use the vjp or jacrev APIs instead?",
            output.dim()
        )));
    }
    // Needs create_graph so that the backward pass is not run in no_grad mode.
    let flat_grad_input = autograd_grad_or_zeros(&[&output], &diff_args, None, false, true)?;
    let grads = flat_grad_input
        .iter()
        .map(|g| shim::unwrap_for_grad(g, level))
        .collect::<Result<Vec<Tensor>>>()?;
    let output = shim::unwrap_for_grad(&output, level)?;
    Ok((grads, output))
}

/// The Jacobian by reverse mode: `torch.func.jacrev(func, argnums)(*inputs)`.
///
/// `func` runs once under a grad level (`vjp`); then one vmapped backward pass over the
/// standard basis of all outputs gives every row at once. Returns the Jacobian of output `i`
/// with respect to input `argnums[j]`, shaped `output_i.shape + input.shape`, at index
/// `i * argnums.len() + j` (Python's nested tuple, flattened). [`jacrev_chunked`] bounds the
/// memory of that pass.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::func::jacrev;
/// let x = Tensor::from_slice(&[1.0f64, 2.0]);
/// // f(x) = (x0 * x1, x0 + x1): J = [[x1, x0], [1, 1]]
/// let j = jacrev(|a| Ok(vec![Tensor::stack(&[a[0].get(0) * a[0].get(1), a[0].get(0) + a[0].get(1)], 0)]), &[&x], &[0])?;
/// assert_eq!(j[0].size(), vec![2, 2]);
/// assert_eq!(Vec::<f64>::try_from(j[0].reshape([-1]))?, vec![2.0, 1.0, 1.0, 1.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// PyTorch's texts for complex inputs or outputs, bad `argnums` (as [`grad`]), no outputs
/// ("vjp(f, *primals): Expected f to be a function that has non-empty output (got output =
/// [])") and outputs that are not floating point; whatever `func` or the backward pass returns.
pub fn jacrev<F>(func: F, inputs: &[&Tensor], argnums: &[i64]) -> Result<Vec<Tensor>>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
{
    jacrev_chunked(func, inputs, argnums, None)
}

/// [`jacrev`] with `chunk_size`: `torch.func.jacrev(func, argnums,
/// chunk_size=chunk_size)(*inputs)`.
///
/// The standard basis of the outputs is split into chunks of at most `chunk_size` rows, each
/// chunk gets its own vmapped backward pass (`chunk_size = 1`: a plain backward pass per row,
/// no vmap), and the rows are concatenated (`compute_jacobian_stacked`). Memory then grows
/// with `chunk_size` instead of with the number of outputs. `None` is one chunk.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::func::{jacrev, jacrev_chunked};
/// let x = Tensor::from_slice(&[1.0f64, 2.0, 3.0]);
/// let f = |a: &[Tensor]| Ok(vec![a[0].sin() * &a[0]]);
/// let whole = jacrev(f, &[&x], &[0])?;
/// let chunked = jacrev_chunked(f, &[&x], &[0], Some(2))?;
/// assert!(whole[0].equal(&chunked[0]));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`jacrev`]; a `chunk_size` of 0 or less is PyTorch's "jacrev: `chunk_size` should be
/// greater than 0."
pub fn jacrev_chunked<F>(
    func: F,
    inputs: &[&Tensor],
    argnums: &[i64],
    chunk_size: Option<i64>,
) -> Result<Vec<Tensor>>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
{
    if chunk_size.is_some_and(|c| c <= 0) {
        return Err(Error::Value(
            "jacrev: `chunk_size` should be greater than 0.".into(),
        ));
    }
    error_if_complex("jacrev", inputs.iter().copied(), true)?;
    let (output, vjp_fn) = vjp_with_argnums(func, inputs, argnums)?;
    error_if_complex("jacrev", output.iter(), false)?;
    let flat_output_numels: Vec<i64> = output.iter().map(|o| o.numel() as i64).collect();
    let argnums = slice_argnums(argnums, inputs.len())?;
    let flat_primals: Vec<&Tensor> = argnums.iter().map(|&i| inputs[i]).collect();

    // Step 1 (compute_jacobian_stacked): one vmapped vjp per chunk of the basis.
    let output_refs: Vec<&Tensor> = output.iter().collect();
    let mut chunked_results: Vec<Vec<Tensor>> = Vec::new();
    for flat_basis_chunk in chunked_standard_basis(&output_refs, &flat_output_numels, chunk_size) {
        let flat_basis_chunk = flat_basis_chunk?;
        let flat_results = if chunk_size == Some(1) {
            // "Behaviour with `chunk_size=1` is same as `for-loop`": no vmap.
            let squeezed = flat_basis_chunk
                .iter()
                .map(|t| Ok(t.f_squeeze_dim(0)?))
                .collect::<Result<Vec<Tensor>>>()?;
            vjp_fn
                .call(&squeezed)?
                .iter()
                .map(|t| Ok(t.f_unsqueeze(0)?))
                .collect::<Result<Vec<Tensor>>>()?
        } else {
            let basis_refs: Vec<&Tensor> = flat_basis_chunk.iter().collect();
            vmap(
                |cotangents| vjp_fn.call(cotangents),
                &basis_refs,
                &vec![Some(0); basis_refs.len()],
                0,
                &VmapOptions {
                    name: Some("wrapper".into()),
                    ..VmapOptions::default()
                },
            )?
        };
        chunked_results.push(flat_results);
    }
    let flat_jacobians_per_input = if chunked_results.len() == 1 {
        chunked_results.pop().unwrap_or_default()
    } else {
        (0..flat_primals.len())
            .map(|idx| {
                let r: Vec<&Tensor> = chunked_results.iter().map(|r_| &r_[idx]).collect();
                Ok(Tensor::f_cat(&r, 0)?)
            })
            .collect::<Result<Vec<Tensor>>>()?
    };

    // Step 2: split each input's Jacobian by output.
    let flat_input_flat_output = flat_jacobians_per_input
        .iter()
        .zip(&flat_primals)
        .map(|(result, primal)| {
            result
                .f_split_with_sizes(&flat_output_numels, 0)?
                .iter()
                .zip(&output)
                .map(|(split, out)| {
                    let mut shape = out.size();
                    shape.extend(primal.size());
                    Ok(split.f_view(&shape[..])?)
                })
                .collect::<Result<Vec<Tensor>>>()
        })
        .collect::<Result<Vec<Vec<Tensor>>>>()?;

    // Step 3: output-major, as Python's tuple of tuples.
    Ok((0..output.len())
        .flat_map(|i| {
            flat_input_flat_output
                .iter()
                .map(move |per_out| per_out[i].shallow_clone())
        })
        .collect())
}

/// The Jacobian by forward mode: `torch.func.jacfwd(func, argnums,
/// randomness=randomness)(*inputs)`.
///
/// vmaps a `jvp` of `func` over the standard basis of the inputs at `argnums`: `func` runs
/// once on dual tensors whose tangents carry the batch. Results are laid out as [`jacrev`]'s.
/// libtorch allows one forward-AD level per process, so concurrent calls from several threads
/// wait for each other (a nested `jacfwd` on the same thread shares its caller's level).
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// use tch::Tensor;
/// use tchdist::func::{jacfwd, Randomness};
/// let x = Tensor::from_slice(&[1.0f64, 2.0]);
/// let y = Tensor::from_slice(&[3.0f64]);
/// // f(x, y) = x * y: d/dx = y I, d/dy = x as a column.
/// let j = jacfwd(|a| Ok(vec![&a[0] * &a[1]]), &[&x, &y], &[0, 1], Randomness::Error)?;
/// assert_eq!((j[0].size(), j[1].size()), (vec![2, 2], vec![2, 1]));
/// assert_eq!(Vec::<f64>::try_from(j[0].reshape([-1]))?, vec![3.0, 0.0, 0.0, 3.0]);
/// assert_eq!(Vec::<f64>::try_from(j[1].reshape([-1]))?, vec![1.0, 2.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// PyTorch's texts for complex inputs or outputs, bad `argnums` (as [`grad`]), inputs that
/// are not floating point ("Expected primal to be floating point or complex, but got:
/// torch.int64") and no outputs ("jvp(f, primals, tangents): Expected f to be a function that
/// has non-empty output (got output = [])"); whatever `func` returns, including vmap's errors
/// (a random operation under [`Randomness::Error`]).
pub fn jacfwd<F>(
    func: F,
    inputs: &[&Tensor],
    argnums: &[i64],
    randomness: Randomness,
) -> Result<Vec<Tensor>>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
{
    error_if_complex("jacfwd", inputs.iter().copied(), true)?;
    let wrapped = slice_argnums(argnums, inputs.len())?;
    let flat_primals: Vec<&Tensor> = wrapped.iter().map(|&i| inputs[i]).collect();
    let flat_primals_numels: Vec<i64> = flat_primals.iter().map(|p| p.numel() as i64).collect();
    let basis = chunked_standard_basis(&flat_primals, &flat_primals_numels, None)
        .next()
        .ok_or_else(|| Error::Runtime("no standard basis".into()))??;
    let basis_refs: Vec<&Tensor> = basis.iter().collect();
    let mut func = Some(func);
    let results = vmap(
        |tangents| {
            // Without chunking, vmap calls push_jvp exactly once.
            let func = func
                .take()
                .ok_or_else(|| Error::Runtime("jacfwd: the function was already called".into()))?;
            let (primals_out, tangents_out) = jvp_with_argnums(func, inputs, tangents, argnums)?;
            error_if_complex("jacfwd", primals_out.iter(), false)?;
            Ok(tangents_out)
        },
        &basis_refs,
        &vec![Some(0); basis_refs.len()],
        0,
        &VmapOptions {
            randomness,
            chunk_size: None,
            name: Some("push_jvp".into()),
        },
    )?;
    let mut jac = Vec::with_capacity(results.len() * flat_primals.len());
    for jac_out in &results {
        let pieces = jac_out
            .f_movedim_int(0, -1)?
            .f_split_with_sizes(&flat_primals_numels, -1)?;
        for (primal, piece) in flat_primals.iter().zip(&pieces) {
            jac.push(safe_unflatten(piece, &primal.size())?);
        }
    }
    Ok(jac)
}

/// The backward half of `_vjp_with_argnums`: `vjp_fn(cotangents)`.
struct VjpFn {
    /// `flat_primals_out`: `func`'s outputs, still wrapped at the (now exited) grad level.
    primals_out: Vec<Tensor>,
    /// `flat_diff_primals`: the wrapped inputs at `argnums`.
    diff_primals: Vec<Tensor>,
}

impl VjpFn {
    /// `wrapper(cotangents, retain_graph=True, create_graph=None)`.
    fn call(&self, cotangents: &[Tensor]) -> Result<Vec<Tensor>> {
        let create_graph = shim::is_grad_enabled()?;
        if cotangents.len() != self.primals_out.len() {
            return Err(Error::Runtime(format!(
                "Expected pytree structure of cotangents to be the same as pytree structure of \
                 outputs to the function. cotangents: {}, primal output: {}",
                tuple_tree_spec(cotangents.len()),
                tuple_tree_spec(self.primals_out.len())
            )));
        }
        let outputs: Vec<&Tensor> = self.primals_out.iter().collect();
        let inputs: Vec<&Tensor> = self.diff_primals.iter().collect();
        let cotangents: Vec<&Tensor> = cotangents.iter().collect();
        autograd_grad_or_zeros(&outputs, &inputs, Some(&cotangents), true, create_graph)
    }
}

/// `_vjp_with_argnums(func, *primals, argnums=argnums)`: runs `func` under a grad level and
/// returns its (unwrapped) outputs with the pullback.
fn vjp_with_argnums<F>(
    func: F,
    primals: &[&Tensor],
    argnums: &[i64],
) -> Result<(Vec<Tensor>, VjpFn)>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
{
    let layer = shim::GradLevel::push()?;
    let level = layer.level();
    let _grad_mode = shim::ModeGuard::grad(true)?;
    let primals = wrap_all_tensors(primals, level)?;
    let argnums = slice_argnums(argnums, primals.len())?;
    let diff_primals: Vec<Tensor> = argnums
        .iter()
        .map(|&i| primals[i].shallow_clone())
        .collect();
    for p in &diff_primals {
        create_differentiable(p)?;
    }
    let primals_out = func(&primals)?;
    assert_non_empty_tensor_output(&primals_out, "vjp(f, *primals)")?;
    let results = primals_out
        .iter()
        .map(|out| shim::unwrap_for_grad(out, level))
        .collect::<Result<Vec<Tensor>>>()?;
    for out in &primals_out {
        if !(out.f_is_floating_point()? || out.f_is_complex()?) {
            return Err(Error::Runtime(format!(
                "vjp(f, ...): All outputs of f must be floating-point or complex Tensors, got \
                 Tensor with dtype {}",
                dtype_name(out.kind())
            )));
        }
    }
    Ok((
        results,
        VjpFn {
            primals_out,
            diff_primals,
        },
    ))
}

/// `_jvp_with_argnums(func, primals, tangents, argnums)`: pushes `tangents` (one per entry of
/// `argnums`) forward through `func`; returns the outputs and their tangents.
fn jvp_with_argnums<F>(
    func: F,
    primals: &[&Tensor],
    tangents: &[Tensor],
    argnums: &[i64],
) -> Result<(Vec<Tensor>, Vec<Tensor>)>
where
    F: FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
{
    const JVP_STR: &str = "jvp(f, primals, tangents)";
    let argnums = slice_argnums(argnums, primals.len())?;
    let flat_primals: Vec<&Tensor> = argnums.iter().map(|&i| primals[i]).collect();
    if flat_primals.len() != tangents.len() {
        return Err(Error::Runtime(format!(
            "{JVP_STR}: Expected primals and tangents to have the same python structure. For \
             example, if primals is a tuple of 3 tensors, tangents also must be. Got primals \
             with structure {} and tangents with structure {}",
            tuple_tree_spec(flat_primals.len()),
            tuple_tree_spec(tangents.len())
        )));
    }
    let jvp = shim::JvpLevel::push()?;
    let level = jvp.level();
    let _fwd_grad = shim::ModeGuard::fwd_grad(true)?;
    // Only the outermost jvp enters a dual level; nested ones share it.
    let _dual = if jvp.nesting() == 1 {
        Some(shim::DualLevel::enter()?)
    } else {
        None
    };
    let dual_level = shim::current_dual_level();
    let flat_duals = flat_primals
        .iter()
        .zip(tangents)
        .map(|(p, t)| make_dual(p, t, dual_level))
        .collect::<Result<Vec<Tensor>>>()?;
    let mut args = wrap_all_tensors(primals, level)?;
    // _replace_args: the duals take the places of the inputs at argnums.
    for (&i, dual) in argnums.iter().zip(flat_duals) {
        args[i] = dual;
    }
    let result_duals = func(&args)?;
    assert_non_empty_tensor_output(&result_duals, JVP_STR)?;
    let (primals_out, tangents_out): (Vec<Tensor>, Vec<Tensor>) = result_duals
        .iter()
        .map(|dual| safe_unpack_dual(dual, dual_level))
        .collect::<Result<Vec<(Tensor, Tensor)>>>()?
        .into_iter()
        .unzip();
    let primals_out = primals_out
        .iter()
        .map(|p| shim::unwrap_for_grad(p, level))
        .collect::<Result<Vec<Tensor>>>()?;
    let tangents_out = tangents_out
        .iter()
        .map(|t| shim::unwrap_for_grad(t, level))
        .collect::<Result<Vec<Tensor>>>()?;
    Ok((primals_out, tangents_out))
}

/// `forward_ad.make_dual(tensor, tangent, level=level)`.
fn make_dual(tensor: &Tensor, tangent: &Tensor, level: i64) -> Result<Tensor> {
    if level < 0 {
        return Err(Error::Runtime(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to \
             enter_dual_level() first."
                .into(),
        ));
    }
    for (what, t) in [("primal", tensor), ("tangent", tangent)] {
        if !(t.f_is_floating_point()? || t.f_is_complex()?) {
            return Err(Error::Value(format!(
                "Expected {what} to be floating point or complex, but got: {}",
                dtype_name(t.kind())
            )));
        }
    }
    Ok(Tensor::f_internal_make_dual(tensor, tangent, level)?)
}

/// `safe_unpack_dual(dual, strict=False)`: the primal and the tangent, zeros where the output
/// does not depend on the inputs.
fn safe_unpack_dual(dual: &Tensor, level: i64) -> Result<(Tensor, Tensor)> {
    if level < 0 {
        return Ok((dual.shallow_clone(), dual.f_zeros_like()?));
    }
    let (primal, tangent) = Tensor::f_internal_unpack_dual(dual, level)?;
    if tangent.defined() {
        Ok((primal, tangent))
    } else {
        let zeros = primal.f_zeros_like()?;
        Ok((primal, zeros))
    }
}

/// `safe_unflatten(tensor, -1, shape)`.
fn safe_unflatten(tensor: &Tensor, shape: &[i64]) -> Result<Tensor> {
    if shape.is_empty() {
        let last = tensor.size().last().copied().unwrap_or(0);
        if last != 1 {
            return Err(Error::Runtime(format!(
                "expected tensor.shape[-1] to be 1, got {last}"
            )));
        }
        return Ok(tensor.f_squeeze_dim(-1)?);
    }
    Ok(tensor.f_unflatten(-1, shape)?)
}

/// `_chunked_standard_basis_for_(tensors, numels, chunk_size)`: the N x N identity (N = Σ
/// numels) split by columns into one block per tensor, each viewed as `(rows, *tensor.shape)`
/// with the tensor's dtype and device, in chunks of `chunk_size` rows. Like PyTorch's
/// generator, each chunk is built only when the caller asks for it, so one chunk at a time is
/// alive (materialising every chunk up front held the whole N x N basis: 381 MiB at N = 10000
/// in f32).
fn chunked_standard_basis<'a>(
    tensors: &'a [&'a Tensor],
    numels: &'a [i64],
    chunk_size: Option<i64>,
) -> impl Iterator<Item = Result<Vec<Tensor>>> + 'a {
    chunk_ranges(numels.iter().sum(), chunk_size)
        .into_iter()
        .map(move |(start, rows)| {
            standard_basis_rows(tensors, numels, start, rows)?
                .iter()
                .zip(tensors)
                .map(|(chunk, t)| {
                    let mut shape = vec![rows];
                    shape.extend(t.size());
                    Ok(chunk.f_view(&shape[..])?)
                })
                .collect()
        })
}

/// `_wrap_all_tensors(args, level)`: every input as a TensorWrapper at `level`.
fn wrap_all_tensors(inputs: &[&Tensor], level: i64) -> Result<Vec<Tensor>> {
    inputs
        .iter()
        .map(|t| shim::wrap_for_grad(t, level))
        .collect()
}

/// `_create_differentiable`: `x.requires_grad_()` with in-place `requires_grad_` allowed.
fn create_differentiable(x: &Tensor) -> Result<()> {
    let _allowed = shim::ModeGuard::inplace_requires_grad(true)?;
    if !(x.f_is_floating_point()? || x.f_is_complex()?) {
        return Err(Error::Runtime(
            "only Tensors of floating point dtype can require gradients".into(),
        ));
    }
    // tch returns a second handle to the same tensor; `x` itself now requires grad.
    let _same = x.f_set_requires_grad(true)?;
    Ok(())
}

/// `_autograd_grad`: `torch.autograd.grad` over the outputs that require grad
/// (`allow_unused=True`), with zeros for inputs that get no gradient.
fn autograd_grad_or_zeros(
    outputs: &[&Tensor],
    inputs: &[&Tensor],
    grad_outputs: Option<&[&Tensor]>,
    retain_graph: bool,
    create_graph: bool,
) -> Result<Vec<Tensor>> {
    let (diff_outputs, diff_grads): (Vec<&Tensor>, Option<Vec<Option<&Tensor>>>) =
        match grad_outputs {
            None => (
                outputs
                    .iter()
                    .copied()
                    .filter(|o| o.requires_grad())
                    .collect(),
                None,
            ),
            Some(grads) => {
                let (outs, gos): (Vec<&Tensor>, Vec<Option<&Tensor>>) = outputs
                    .iter()
                    .zip(grads)
                    .filter(|(o, _)| o.requires_grad())
                    .map(|(o, g)| (*o, Some(*g)))
                    .unzip();
                (outs, Some(gos))
            }
        };
    if diff_outputs.is_empty() {
        return inputs.iter().map(|inp| Ok(inp.f_zeros_like()?)).collect();
    }
    let opts = GradOptions {
        grad_outputs: diff_grads,
        retain_graph: Some(retain_graph),
        create_graph,
        allow_unused: Some(true),
        is_grads_batched: false,
        materialize_grads: false,
    };
    autograd_grad(&diff_outputs, inputs, &opts)?
        .into_iter()
        .zip(inputs)
        .map(|(g, inp)| match g {
            Some(g) => Ok(g),
            None => Ok(inp.f_zeros_like()?),
        })
        .collect()
}

/// `_slice_argnums(args, argnums)`'s checks: every entry in range, then non-empty and unique.
fn slice_argnums(argnums: &[i64], num_args: usize) -> Result<Vec<usize>> {
    // `_validate_and_wrap_argnum`: Python's negative indexes count from the end.
    let wrapped = argnums
        .iter()
        .map(|&argnum| {
            let n = num_args as i64;
            match argnum {
                a if (0..n).contains(&a) => Ok(a as usize),
                a if (-n..0).contains(&a) => Ok((a + n) as usize),
                a => Err(Error::Runtime(format!(
                    "Got argnum={a}, but only {num_args} positional inputs"
                ))),
            }
        })
        .collect::<Result<Vec<usize>>>()?;
    // `_check_unique_non_empty`, on the wrapped indexes.
    if wrapped.is_empty() {
        return Err(Error::Runtime("argnums must be non-empty".into()));
    }
    let mut seen = wrapped.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != wrapped.len() {
        return Err(Error::Runtime(format!(
            "argnums elements must be unique, got {}",
            py_tuple(wrapped.iter().map(usize::to_string))
        )));
    }
    Ok(wrapped)
}

/// `error_if_complex(func_name, args, is_input)`.
fn error_if_complex<'a>(
    func_name: &str,
    tensors: impl Iterator<Item = &'a Tensor>,
    is_input: bool,
) -> Result<()> {
    for (idx, t) in tensors.enumerate() {
        if matches!(
            t.kind(),
            Kind::ComplexHalf | Kind::ComplexFloat | Kind::ComplexDouble
        ) {
            let what = if is_input { "inputs" } else { "outputs" };
            return Err(Error::Runtime(format!(
                "{func_name}: Expected all {what} to be real but received complex tensor at \
                 flattened input idx: {idx}"
            )));
        }
    }
    Ok(())
}

/// `assert_non_empty_tensor_output(output, api)`.
fn assert_non_empty_tensor_output(output: &[Tensor], api: &str) -> Result<()> {
    if output.is_empty() {
        return Err(Error::Runtime(format!(
            "{api}: Expected f to be a function that has non-empty output (got output = [])"
        )));
    }
    Ok(())
}

/// `str(TreeSpec)` of a flat tuple of `n` leaves, as `torch.utils._pytree` prints it.
fn tuple_tree_spec(n: usize) -> String {
    format!("TreeSpec(tuple, None, [{}])", vec!["*"; n].join(",\n  "))
}
