// Merged into format.rs once the port lands.
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// `str(tensor)` as Python prints it with default print options, including the
/// `dtype=torch.float64` suffix and, for a tensor in a graph, `requires_grad=True` or
/// `grad_fn=<...>` (tchdist's own tensors only ever carry `ExpandBackward0`).
///
/// # Errors
/// Non-floating tensors are not supported.
pub fn display(tensor: &Tensor) -> Result<String> {
    let kind = match tensor.kind() {
        Kind::Float => FloatKind::F32,
        Kind::Double => FloatKind::F64,
        other => {
            return Err(Error::Value(format!(
                "printing is implemented for float32 and float64 tensors, not {}",
                dtype_name(other)
            )))
        }
    };
    let flat = tch::no_grad(|| tensor.f_detach()?.f_to_kind(Kind::Double)?.f_contiguous()?.f_reshape([-1]))?;
    let values = Vec::<f64>::try_from(&flat)?;
    let shape: Vec<usize> = tensor.size().iter().map(|&d| d as usize).collect();
    Ok(tensor_repr(&values, &shape, kind, &PrintOptions::default()))
}

/// PyTorch's name for a dtype: `torch.float32`.
pub fn dtype_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Uint8 => "torch.uint8",
        Kind::Int8 => "torch.int8",
        Kind::Int16 => "torch.int16",
        Kind::Int => "torch.int32",
        Kind::Int64 => "torch.int64",
        Kind::Half => "torch.float16",
        Kind::Float => "torch.float32",
        Kind::Double => "torch.float64",
        Kind::Bool => "torch.bool",
        Kind::BFloat16 => "torch.bfloat16",
        Kind::ComplexFloat => "torch.complex64",
        Kind::ComplexDouble => "torch.complex128",
        _ => "torch.<other>",
    }
}

/// The tensor as nested JSON lists, each number printed with the fewest digits that read back
/// to the same float of the tensor's dtype; NaN and infinities as Python's `json` writes them.
///
/// # Errors
/// Non-floating tensors are not supported.
pub fn json(tensor: &Tensor) -> Result<String> {
    let flat = tch::no_grad(|| tensor.f_detach()?.f_contiguous()?.f_reshape([-1]))?;
    let texts: Vec<String> = match tensor.kind() {
        Kind::Float => Vec::<f32>::try_from(&flat)?.into_iter().map(|v| json_number(v, v.is_nan(), v.is_infinite(), format!("{v:?}"))).collect(),
        Kind::Double => Vec::<f64>::try_from(&flat)?.into_iter().map(|v| json_number(v, v.is_nan(), v.is_infinite(), format!("{v:?}"))).collect(),
        other => {
            return Err(Error::Value(format!(
                "JSON output is implemented for float32 and float64 tensors, not {}",
                dtype_name(other)
            )))
        }
    };
    let shape = tensor.size();
    let mut out = String::new();
    nest(&mut out, &texts, &shape);
    Ok(out)
}

fn json_number<T: PartialOrd + Default>(v: T, nan: bool, inf: bool, shortest: String) -> String {
    if nan {
        "NaN".into()
    } else if inf {
        if v > T::default() { "Infinity".into() } else { "-Infinity".into() }
    } else {
        shortest
    }
}

fn nest(out: &mut String, items: &[String], shape: &[i64]) {
    match shape.split_first() {
        None => out.push_str(items.first().map_or("null", String::as_str)),
        Some((&len, rest)) => {
            let stride: usize = rest.iter().map(|&d| d as usize).product();
            out.push('[');
            for i in 0..len as usize {
                if i > 0 {
                    out.push_str(", ");
                }
                nest(out, &items[i * stride..(i + 1) * stride], rest);
            }
            out.push(']');
        }
    }
}
