//! Tensor printing, ported from PyTorch 2.13.0's `torch/_tensor_str.py`.
//!
//! [`tensor_repr`] reproduces Python's `repr(t)` for a CPU floating tensor
//! (float32 or float64) that does not require grad, character for character:
//! the `_Formatter` choice of integer / fixed / scientific notation, column
//! padding, `nan`/`inf`/`-0.` handling, summarization with `...`, wrapping
//! of the last dimension at `linewidth`, nested brackets, empty and 0-d
//! tensors, and the `size=`/`dtype=` suffixes placed by `_add_suffixes`.
//!
//! ```
//! use tchdist::format::{tensor_repr, FloatKind, PrintOptions};
//! let s = tensor_repr(&[1.0, 2.0, 3.0, 4.0], &[2, 2], FloatKind::F64, &PrintOptions::default());
//! assert_eq!(s, "tensor([[1., 2.],\n        [3., 4.]], dtype=torch.float64)");
//! ```

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// Element type of the tensor being printed; PyTorch counterpart: `tensor.dtype`
/// (`torch.float32` or `torch.float64`).
///
/// It decides the `dtype=` suffix: PyTorch's default dtype is float32, so only
/// float64 tensors print `, dtype=torch.float64)`.
///
/// ```
/// use tchdist::format::{tensor_repr, FloatKind, PrintOptions};
/// let opts = PrintOptions::default();
/// assert_eq!(tensor_repr(&[0.5], &[1], FloatKind::F32, &opts), "tensor([0.5000])");
/// assert_eq!(
///     tensor_repr(&[0.5], &[1], FloatKind::F64, &opts),
///     "tensor([0.5000], dtype=torch.float64)"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatKind {
    /// `torch.float32`, PyTorch's default dtype (no suffix printed).
    F32,
    /// `torch.float64` (printed with a `dtype=torch.float64` suffix).
    F64,
}

impl FloatKind {
    /// Whether this is `torch.get_default_dtype()` (float32).
    fn is_default(self) -> bool {
        self == FloatKind::F32
    }

    /// `str(dtype)` in Python.
    fn torch_name(self) -> &'static str {
        match self {
            FloatKind::F32 => "torch.float32",
            FloatKind::F64 => "torch.float64",
        }
    }
}

/// Print options; PyTorch counterpart: `torch.set_printoptions` /
/// `torch._tensor_str.PRINT_OPTS`.
///
/// The defaults are PyTorch's: precision 4, threshold 1000, edgeitems 3,
/// linewidth 80, sci_mode `None` (chosen automatically).
///
/// ```
/// use tchdist::format::{tensor_repr, FloatKind, PrintOptions};
/// let opts = PrintOptions { precision: 2, ..PrintOptions::default() };
/// assert_eq!(tensor_repr(&[1.12345], &[1], FloatKind::F32, &opts), "tensor([1.12])");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PrintOptions {
    /// Digits after the decimal point (`precision`, default 4).
    pub precision: usize,
    /// Tensors with more elements than this are summarized (`threshold`, default 1000).
    pub threshold: usize,
    /// Items shown at each end of a summarized dimension (`edgeitems`, default 3).
    pub edgeitems: usize,
    /// Characters per line used to wrap the last dimension (`linewidth`, default 80).
    pub linewidth: usize,
    /// Force (`Some(true)`) or forbid (`Some(false)`) scientific notation;
    /// `None` lets the formatter choose (`sci_mode`, default `None`).
    pub sci_mode: Option<bool>,
}

impl Default for PrintOptions {
    fn default() -> Self {
        PrintOptions {
            precision: 4,
            threshold: 1000,
            edgeitems: 3,
            linewidth: 80,
            sci_mode: None,
        }
    }
}

/// Python's `repr(t)` of a CPU floating tensor without grad; PyTorch
/// counterpart: `torch._tensor_str._str`.
///
/// `values` are the elements in row-major order (float32 values widened
/// exactly to f64) and `shape` the sizes of any rank (`&[]` for a 0-d
/// tensor; zero-sized dimensions allowed). If `values.len()` does not match
/// the product of `shape` (a caller bug) the values are printed as a 1-d
/// tensor instead (debug builds assert).
///
/// ```
/// use tchdist::format::{tensor_repr, FloatKind, PrintOptions};
/// assert_eq!(tensor_repr(&[1.0, -0.5], &[2], FloatKind::F32, &PrintOptions::default()), "tensor([ 1.0000, -0.5000])");
/// assert_eq!(tensor_repr(&[1.5], &[], FloatKind::F32, &PrintOptions::default()), "tensor(1.5000)");
/// assert_eq!(tensor_repr(&[], &[0, 3], FloatKind::F32, &PrintOptions::default()), "tensor([], size=(0, 3))");
/// ```
pub fn tensor_repr(
    values: &[f64],
    shape: &[usize],
    kind: FloatKind,
    opts: &PrintOptions,
) -> String {
    tensor_repr_with_suffixes(values, shape, kind, opts, &[])
}

/// [`tensor_repr`] with further suffixes after `dtype=`, as `_str_intern` appends
/// `grad_fn=<...>` or `requires_grad=True` for tensors in a graph.
///
/// ```
/// use tchdist::format::{tensor_repr_with_suffixes, FloatKind, PrintOptions};
/// let s = tensor_repr_with_suffixes(&[1.0], &[1], FloatKind::F32, &PrintOptions::default(), &["requires_grad=True".into()]);
/// assert_eq!(s, "tensor([1.], requires_grad=True)");
/// ```
pub fn tensor_repr_with_suffixes(
    values: &[f64],
    shape: &[usize],
    kind: FloatKind,
    opts: &PrintOptions,
    extra_suffixes: &[String],
) -> String {
    let fallback_shape = [values.len()];
    let shape = if numel(shape) == Some(values.len()) {
        shape
    } else {
        debug_assert!(
            false,
            "tensor_repr: {} values do not fit shape {:?}",
            values.len(),
            shape
        );
        &fallback_shape[..]
    };

    let prefix = "tensor(";
    let indent = prefix.len();
    let mut suffixes: Vec<String> = Vec::new();
    let body = if values.is_empty() {
        // Explicitly print the shape if it is not (0,), to match NumPy.
        if shape.len() != 1 {
            suffixes.push(format!("size={}", py_tuple(shape)));
        }
        if !kind.is_default() {
            suffixes.push(format!("dtype={}", kind.torch_name()));
        }
        String::from("[]")
    } else {
        if opts.edgeitems == 0 {
            suffixes.push(format!("size={}", py_tuple(shape)));
        }
        if !kind.is_default() {
            suffixes.push(format!("dtype={}", kind.torch_name()));
        }
        tensor_str(values, shape, indent, opts)
    };
    suffixes.extend_from_slice(extra_suffixes);
    add_suffixes(format!("{prefix}{body}"), &suffixes, indent, opts.linewidth)
}

/// Number of elements of `shape`, or `None` on overflow.
fn numel(shape: &[usize]) -> Option<usize> {
    if shape.contains(&0) {
        return Some(0);
    }
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Python's `repr` of a tuple whose items print as `items`: `()`, `(5,)`, `(2, 3)`,
/// `(None, 0)`. The one tuple repr of the crate (shapes in messages, argnums, in_dims, .npy
/// headers).
///
/// ```
/// use tchdist::format::py_tuple;
/// assert_eq!(py_tuple([5]), "(5,)");
/// assert_eq!(py_tuple([2, 3]), "(2, 3)");
/// assert_eq!(py_tuple(Vec::<i64>::new()), "()");
/// ```
pub fn py_tuple<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|item| item.to_string()).collect();
    match items.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", items.join(", ")),
    }
}

/// Python's repr of a `torch.Size`: `torch.Size([2, 3])`.
///
/// ```
/// assert_eq!(tchdist::format::torch_size(&[2, 3]), "torch.Size([2, 3])");
/// ```
pub fn torch_size(shape: &[i64]) -> String {
    let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
    format!("torch.Size([{}])", dims.join(", "))
}

/// `_add_suffixes`: appends `, suffix` (or `,\n<indent>suffix` when the line
/// would exceed `linewidth`) for each suffix, then `)`.
fn add_suffixes(
    tensor_str: String,
    suffixes: &[String],
    indent: usize,
    linewidth: usize,
) -> String {
    let mut out = tensor_str;
    // Python: len(s) - s.rfind("\n") + 1, where rfind gives -1 when absent.
    let mut last_line_len = match out.rfind('\n') {
        Some(pos) => out.len() - pos + 1,
        None => out.len() + 2,
    };
    for suffix in suffixes {
        if last_line_len + suffix.len() + 2 > linewidth {
            out.push_str(",\n");
            out.push_str(&" ".repeat(indent));
            out.push_str(suffix);
            last_line_len = indent + suffix.len();
        } else {
            out.push_str(", ");
            out.push_str(suffix);
            last_line_len += suffix.len() + 2;
        }
    }
    out.push(')');
    out
}

/// `_tensor_str` for a non-empty tensor whose `values` match `shape`.
fn tensor_str(values: &[f64], shape: &[usize], indent: usize, opts: &PrintOptions) -> String {
    let summarize = values.len() > opts.threshold;
    let formatter = if summarize {
        let mut data = Vec::new();
        summarized_data(values, shape, opts.edgeitems, &mut data);
        Formatter::new(&data, opts)
    } else {
        Formatter::new(values, opts)
    };
    let ctx = Ctx {
        opts,
        summarize,
        formatter: &formatter,
    };
    ctx.tensor_str(values, shape, indent)
}

/// Row `i` of a row-major tensor whose rows hold `stride` elements each.
fn row(values: &[f64], stride: usize, i: usize) -> &[f64] {
    let start = i.saturating_mul(stride);
    values
        .get(start..start.saturating_add(stride))
        .unwrap_or(&[])
}

/// `get_summarized_data`: the values the formatter sees when summarizing,
/// appended (row-major) to `out`.
fn summarized_data(values: &[f64], shape: &[usize], edgeitems: usize, out: &mut Vec<f64>) {
    let Some((&n, rest)) = shape.split_first() else {
        out.extend_from_slice(values);
        return;
    };
    let e = edgeitems;
    if rest.is_empty() {
        if n > e.saturating_mul(2) && e > 0 {
            out.extend_from_slice(values.get(..e).unwrap_or(&[]));
            out.extend_from_slice(values.get(n - e..).unwrap_or(&[]));
        } else {
            // With edgeitems == 0, Python's `self[-0:]` is the whole tensor.
            out.extend_from_slice(values);
        }
        return;
    }
    if e == 0 {
        return;
    }
    let stride = values.len() / n.max(1);
    let rows: Box<dyn Iterator<Item = usize>> = if n > e.saturating_mul(2) {
        Box::new((0..e).chain(n - e..n))
    } else {
        Box::new(0..n)
    };
    for i in rows {
        summarized_data(row(values, stride, i), rest, e, out);
    }
}

/// Python's `f"{v:.{prec}f}"` on a float.
fn fmt_fixed(v: f64, prec: usize) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    format!("{v:.prec$}")
}

/// Python's `f"{v:.{prec}e}"` on a float (exponent signed, at least 2 digits).
fn fmt_sci(v: f64, prec: usize) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    let s = format!("{v:.prec$e}");
    let Some(pos) = s.rfind('e') else {
        return s;
    };
    let (mantissa, exp) = (&s[..pos], &s[pos + 1..]);
    match exp.parse::<i32>() {
        Ok(x) => {
            let sign = if x < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", x.unsigned_abs())
        }
        Err(_) => s,
    }
}

/// Python's spelling of a non-finite float, or `None` if `v` is finite.
fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("nan")
    } else if v == f64::INFINITY {
        Some("inf")
    } else if v == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

/// `_Formatter` for a floating tensor.
struct Formatter {
    int_mode: bool,
    sci_mode: bool,
    max_width: usize,
    precision: usize,
}

impl Formatter {
    /// `_Formatter.__init__` over the (possibly summarized) values.
    fn new(values: &[f64], opts: &PrintOptions) -> Self {
        let mut f = Formatter {
            int_mode: true,
            sci_mode: false,
            max_width: 1,
            precision: opts.precision,
        };
        let nonzero_finite: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v != 0.0)
            .collect();
        if nonzero_finite.is_empty() {
            return f;
        }
        let min = nonzero_finite
            .iter()
            .fold(f64::INFINITY, |m, v| m.min(v.abs()));
        let max = nonzero_finite.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        f.int_mode = nonzero_finite.iter().all(|v| *v == v.ceil());
        f.sci_mode = match opts.sci_mode {
            Some(forced) => forced,
            None => max / min > 1000.0 || max > 1.0e8 || min < 1.0e-4,
        };
        for &v in &nonzero_finite {
            let width = if f.sci_mode {
                fmt_sci(v, f.precision).len()
            } else if f.int_mode {
                fmt_fixed(v, 0).len() + 1
            } else {
                fmt_fixed(v, f.precision).len()
            };
            f.max_width = f.max_width.max(width);
        }
        f
    }

    /// `_Formatter.format`: one element, right-aligned to `max_width`.
    fn format(&self, v: f64) -> String {
        let s = if self.sci_mode {
            fmt_sci(v, self.precision)
        } else if self.int_mode {
            let mut s = fmt_fixed(v, 0);
            if v.is_finite() {
                s.push('.');
            }
            s
        } else {
            fmt_fixed(v, self.precision)
        };
        let pad = self.max_width.saturating_sub(s.len());
        format!("{}{s}", " ".repeat(pad))
    }
}

/// State shared by the recursive `_tensor_str_with_formatter` calls.
struct Ctx<'a> {
    opts: &'a PrintOptions,
    summarize: bool,
    formatter: &'a Formatter,
}

impl Ctx<'_> {
    /// Whether a dimension of size `n` is cut to its edges.
    fn cuts(&self, n: usize) -> bool {
        self.summarize && n > self.opts.edgeitems.saturating_mul(2)
    }

    /// `_tensor_str_with_formatter`.
    fn tensor_str(&self, values: &[f64], shape: &[usize], indent: usize) -> String {
        let Some((&n, rest)) = shape.split_first() else {
            return self
                .formatter
                .format(values.first().copied().unwrap_or(f64::NAN));
        };
        if rest.is_empty() {
            return self.vector_str(values, indent);
        }
        let e = self.opts.edgeitems;
        let stride = values.len() / n.max(1);
        let sub = |i: usize| self.tensor_str(row(values, stride, i), rest, indent + 1);
        let slices: Vec<String> = if self.cuts(n) {
            (0..e)
                .map(sub)
                .chain(std::iter::once(String::from("...")))
                .chain((n - e..n).map(sub))
                .collect()
        } else {
            (0..n).map(sub).collect()
        };
        let sep = format!(
            ",{}{}",
            "\n".repeat(shape.len() - 1),
            " ".repeat(indent + 1)
        );
        format!("[{}]", slices.join(&sep))
    }

    /// `_vector_str`: a 1-d tensor, wrapped at `linewidth`.
    fn vector_str(&self, values: &[f64], indent: usize) -> String {
        let element_length = self.formatter.max_width.saturating_add(2);
        let room = self.opts.linewidth as i128 - indent as i128;
        let per_line = room.div_euclid(element_length as i128).max(1);
        let per_line = usize::try_from(per_line).unwrap_or(usize::MAX);

        let n = values.len();
        let e = self.opts.edgeitems;
        let f = self.formatter;
        let data: Vec<String> = if self.summarize && e == 0 {
            vec![String::from("...")]
        } else if self.cuts(n) {
            values[..e]
                .iter()
                .map(|&v| f.format(v))
                .chain(std::iter::once(String::from(" ...")))
                .chain(values[n - e..].iter().map(|&v| f.format(v)))
                .collect()
        } else {
            values.iter().map(|&v| f.format(v)).collect()
        };
        let lines: Vec<String> = data.chunks(per_line).map(|c| c.join(", ")).collect();
        let sep = format!(",\n{}", " ".repeat(indent + 1));
        format!("[{}]", lines.join(&sep))
    }
}

// ---- tch tensors ----

/// `str(tensor)` as Python prints it with default print options, including the
/// `dtype=torch.float64` suffix and, for a tensor in a graph, `grad_fn=<...>` or
/// `requires_grad=True`.
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
    let flat = tch::no_grad(|| {
        tensor
            .f_detach()?
            .f_to_kind(Kind::Double)?
            .f_contiguous()?
            .f_reshape([-1])
    })?;
    let values = Vec::<f64>::try_from(&flat)?;
    let shape: Vec<usize> = tensor.size().iter().map(|&d| d as usize).collect();
    let grad_suffix = match crate::shim::grad_fn_name(tensor)? {
        Some(name) => Some(format!("grad_fn=<{name}>")),
        None if tensor.requires_grad() => Some("requires_grad=True".to_string()),
        None => None,
    };
    Ok(tensor_repr_with_suffixes(
        &values,
        &shape,
        kind,
        &PrintOptions::default(),
        grad_suffix.as_slice(),
    ))
}

/// Python's `repr(float)`: the shortest digits that read back to `v`, in fixed notation for
/// decimal exponents -4..16 and as `1.5e-05` / `1e+16` outside them.
pub(crate) fn python_float_repr(v: f64) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip length ("-1.25e-7", "0e0"), but on an exact
    // tie it may round the last digit up where Python (David Gay's dtoa) picks the closest
    // digits, ties to even. Re-round to that length exactly (Rust's `{:.*e}` rounds half to
    // even) and keep it when it still reads back to `v`.
    let shortest = format!("{v:e}");
    let len = shortest
        .split('e')
        .next()
        .map_or(1, |m| m.chars().filter(char::is_ascii_digit).count());
    let exact = format!("{v:.*e}", len.saturating_sub(1));
    let sci = if exact.parse::<f64>().ok() == Some(v) {
        exact
    } else {
        shortest
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..16).contains(&exp) {
        let rest = &digits[1..];
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!(
            "{sign}{}{frac}e{esign}{:02}",
            &digits[..1],
            exp.unsigned_abs()
        );
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        let zeros = "0".repeat(int_len - digits.len());
        format!("{sign}{digits}{zeros}.0")
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

/// Python's `f"{tensor}"` (`Tensor.__format__`): a 0-dimensional tensor formats as its
/// `item()` (a Python float), any other as `str(tensor)`.
///
/// # Errors
/// As [`display`].
pub(crate) fn format_value(tensor: &Tensor) -> Result<String> {
    if tensor.dim() == 0 {
        let v = tch::no_grad(|| tensor.f_detach()?.f_double_value(&[]))?;
        return Ok(python_float_repr(v));
    }
    display(tensor)
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
        Kind::Float => Vec::<f32>::try_from(&flat)?
            .into_iter()
            .map(|v| json_number(v, v.is_nan(), v.is_infinite(), format!("{v:?}")))
            .collect(),
        Kind::Double => Vec::<f64>::try_from(&flat)?
            .into_iter()
            .map(|v| json_number(v, v.is_nan(), v.is_infinite(), format!("{v:?}")))
            .collect(),
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

/// The tensor in NumPy's `.npy` format (version 1.0, little-endian, C order), as
/// `numpy.save` writes it.
///
/// ```
/// # fn main() -> tchdist::Result<()> {
/// let bytes = tchdist::format::npy(&tch::Tensor::from_slice(&[1.0f32, 2.0]))?;
/// assert_eq!(&bytes[..6], b"\x93NUMPY");
/// assert_eq!(bytes.len() % 64, 8); // 64-byte aligned header, then 2 x 4 bytes of data
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Non-floating tensors are not supported.
pub fn npy(tensor: &Tensor) -> Result<Vec<u8>> {
    let flat = tch::no_grad(|| {
        tensor
            .f_detach()?
            .f_to_device(tch::Device::Cpu)?
            .f_contiguous()?
            .f_reshape([-1])
    })?;
    let (descr, data): (&str, Vec<u8>) = match tensor.kind() {
        Kind::Float => (
            "<f4",
            Vec::<f32>::try_from(&flat)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        Kind::Double => (
            "<f8",
            Vec::<f64>::try_from(&flat)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        other => {
            return Err(Error::Value(format!(
                "npy output is implemented for float32 and float64 tensors, not {}",
                dtype_name(other)
            )))
        }
    };
    let shape_text = py_tuple(tensor.size());
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    let len =
        u16::try_from(header.len()).map_err(|_| Error::Value("npy header too long".into()))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    Ok(out)
}

fn json_number<T: PartialOrd + Default>(v: T, nan: bool, inf: bool, shortest: String) -> String {
    if nan {
        "NaN".into()
    } else if inf {
        if v > T::default() {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(values: &[f64], shape: &[usize]) -> String {
        tensor_repr(values, shape, FloatKind::F32, &PrintOptions::default())
    }

    fn repr64(values: &[f64], shape: &[usize]) -> String {
        tensor_repr(values, shape, FloatKind::F64, &PrintOptions::default())
    }

    #[test]
    fn python_float_repr_matches_python() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.0277f32 as f64, "0.027699999511241913"),
            (-1e-5f32 as f64, "-9.999999747378752e-06"),
            (1e16, "1e+16"),
            (1e16f32 as f64, "1.0000000272564224e+16"),
            (2.4459f32 as f64, "2.4458999633789062"),
            (123456.5, "123456.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e15, "1000000000000000.0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, want) in cases {
            assert_eq!(python_float_repr(v), want, "{v:e}");
        }
    }

    #[test]
    fn default_options_match_pytorch() {
        let o = PrintOptions::default();
        assert_eq!(
            (
                o.precision,
                o.threshold,
                o.edgeitems,
                o.linewidth,
                o.sci_mode
            ),
            (4, 1000, 3, 80, None)
        );
    }

    #[test]
    fn fixed_mode_pads_to_common_width() {
        // torch.tensor([1.0, -0.5])
        assert_eq!(repr(&[1.0, -0.5], &[2]), "tensor([ 1.0000, -0.5000])");
    }

    #[test]
    fn float64_gets_dtype_suffix() {
        // torch.tensor([1.0, -0.5], dtype=torch.float64)
        assert_eq!(
            repr64(&[1.0, -0.5], &[2]),
            "tensor([ 1.0000, -0.5000], dtype=torch.float64)"
        );
    }

    #[test]
    fn zero_dim_tensor_prints_bare_scalar() {
        // torch.tensor(1.5)
        assert_eq!(repr(&[1.5], &[]), "tensor(1.5000)");
    }

    #[test]
    fn empty_tensors_print_size_and_dtype() {
        // torch.tensor([]), torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.float64),
        // torch.zeros(0, dtype=torch.float64)
        assert_eq!(repr(&[], &[0]), "tensor([])");
        assert_eq!(repr(&[], &[0, 3]), "tensor([], size=(0, 3))");
        assert_eq!(
            repr64(&[], &[0, 3]),
            "tensor([], size=(0, 3), dtype=torch.float64)"
        );
        assert_eq!(repr64(&[], &[0]), "tensor([], dtype=torch.float64)");
    }

    #[test]
    fn integer_valued_floats_print_with_trailing_dot() {
        // torch.tensor([float('nan'), -0.0, 2.0, float('-inf')])
        assert_eq!(
            repr(&[f64::NAN, -0.0, 2.0, f64::NEG_INFINITY], &[4]),
            "tensor([nan, -0., 2., -inf])"
        );
    }

    #[test]
    fn only_zeros_and_non_finite_use_int_mode_width_one() {
        // torch.tensor([float('nan'), -0.0, 0.0, float('inf')])
        assert_eq!(
            repr(&[f64::NAN, -0.0, 0.0, f64::INFINITY], &[4]),
            "tensor([nan, -0., 0., inf])"
        );
    }

    #[test]
    fn small_values_switch_to_scientific_notation() {
        // torch.tensor([1e-5, 1.0, 3.5])
        assert_eq!(
            repr(&[1e-5_f32 as f64, 1.0, 3.5], &[3]),
            "tensor([1.0000e-05, 1.0000e+00, 3.5000e+00])"
        );
    }

    #[test]
    fn large_values_switch_to_scientific_notation() {
        // torch.tensor([1e10, 1.0, 3.0])
        assert_eq!(
            repr(&[1e10, 1.0, 3.0], &[3]),
            "tensor([1.0000e+10, 1.0000e+00, 3.0000e+00])"
        );
    }

    #[test]
    fn three_digit_exponents_widen_the_column() {
        // torch.tensor([1e100, 1.0, 3.0], dtype=torch.float64)
        assert_eq!(
            repr64(&[1e100, 1.0, 3.0], &[3]),
            "tensor([1.0000e+100,  1.0000e+00,  3.0000e+00], dtype=torch.float64)"
        );
    }

    #[test]
    fn long_vectors_wrap_and_dtype_follows_last_line() {
        // torch.arange(30., dtype=torch.float64)
        let v: Vec<f64> = (0..30).map(f64::from).collect();
        assert_eq!(
            repr64(&v, &[30]),
            "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n        \
             14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n        \
             28., 29.], dtype=torch.float64)"
        );
    }

    #[test]
    fn rank_three_blocks_are_separated_by_blank_lines() {
        // torch.arange(24.).reshape(2, 3, 4) / 7
        let v: Vec<f64> = (0..24).map(|i| f64::from((i as f32) / 7.0)).collect();
        assert_eq!(
            repr(&v, &[2, 3, 4]),
            "tensor([[[0.0000, 0.1429, 0.2857, 0.4286],\n         \
             [0.5714, 0.7143, 0.8571, 1.0000],\n         \
             [1.1429, 1.2857, 1.4286, 1.5714]],\n\n        \
             [[1.7143, 1.8571, 2.0000, 2.1429],\n         \
             [2.2857, 2.4286, 2.5714, 2.7143],\n         \
             [2.8571, 3.0000, 3.1429, 3.2857]]])"
        );
    }

    #[test]
    fn summarized_tensors_show_edge_items_and_ellipsis() {
        // torch.arange(2000.): the edge items alone span a ratio > 1000
        let v: Vec<f64> = (0..2000).map(f64::from).collect();
        assert_eq!(
            repr(&v, &[2000]),
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        \
             1.9990e+03])"
        );
    }

    #[test]
    fn summarized_formatter_only_sees_edge_items() {
        // x = torch.ones(2000); x[1000] = 1e-9; x[1] = 0.5
        let mut v = vec![1.0; 2000];
        v[1000] = 1e-9_f32 as f64;
        v[1] = 0.5;
        assert_eq!(
            repr(&v, &[2000]),
            "tensor([1.0000, 0.5000, 1.0000,  ..., 1.0000, 1.0000, 1.0000])"
        );
    }

    #[test]
    fn summarized_matrix_elides_rows_and_columns() {
        // torch.arange(2000.).reshape(2, 10, 100) (first block, see Python)
        let v: Vec<f64> = (0..2000).map(f64::from).collect();
        let s = repr(&v, &[2, 10, 100]);
        assert!(s.starts_with(
            "tensor([[[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 9.7000e+01,\n          \
             9.8000e+01, 9.9000e+01],\n         \
             [1.0000e+02, 1.0100e+02, 1.0200e+02,  ..., 1.9700e+02,\n          \
             1.9800e+02, 1.9900e+02],\n"
        ));
        assert!(s.contains("],\n         ...,\n         [7.0000e+02,"));
        assert!(s.ends_with("1.9980e+03, 1.9990e+03]]])"));
    }

    #[test]
    fn exact_ties_round_half_to_even_like_python() {
        // torch.tensor([0.03125, 0.09375, 1.03125], dtype=torch.float64)
        assert_eq!(
            repr64(&[0.03125, 0.09375, 1.03125], &[3]),
            "tensor([0.0312, 0.0938, 1.0312], dtype=torch.float64)"
        );
    }

    #[test]
    fn negative_zero_keeps_its_sign_but_not_its_width() {
        // torch.tensor([-0.0, 0.5]); torch.tensor([-0.0, 1e-5])
        assert_eq!(repr(&[-0.0, 0.5], &[2]), "tensor([-0.0000, 0.5000])");
        assert_eq!(
            repr(&[-0.0, 1e-5_f32 as f64], &[2]),
            "tensor([-0.0000e+00, 1.0000e-05])"
        );
    }

    #[test]
    fn dtype_suffix_wraps_two_columns_early_like_python() {
        // torch.ones(13, dtype=torch.float64): the line is 61 wide, yet
        // `_add_suffixes` counts len - rfind("\n") + 1 = len + 2.
        assert_eq!(
            repr64(&[1.0; 13], &[13]),
            "tensor([1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.],\n       dtype=torch.float64)"
        );
        // torch.ones(12, dtype=torch.float64)
        assert_eq!(
            repr64(&[1.0; 12], &[12]),
            "tensor([1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.], dtype=torch.float64)"
        );
    }

    #[test]
    fn second_suffix_counts_from_the_wrapped_line() {
        // set_printoptions(edgeitems=0, linewidth=38); torch.ones(7, dtype=torch.float64)
        let opts = PrintOptions {
            edgeitems: 0,
            linewidth: 38,
            ..PrintOptions::default()
        };
        assert_eq!(
            tensor_repr(&[1.0; 7], &[7], FloatKind::F64, &opts),
            "tensor([1., 1., 1., 1., 1., 1., 1.],\n       size=(7,), dtype=torch.float64)"
        );
    }

    #[test]
    fn zero_edgeitems_summarize_to_a_bare_ellipsis() {
        // set_printoptions(edgeitems=0, threshold=5); torch.ones(2, 3, dtype=torch.float64)
        let opts = PrintOptions {
            edgeitems: 0,
            threshold: 5,
            ..PrintOptions::default()
        };
        assert_eq!(
            tensor_repr(&[1.0; 6], &[2, 3], FloatKind::F64, &opts),
            "tensor([...], size=(2, 3), dtype=torch.float64)"
        );
    }

    #[test]
    fn forced_sci_mode_is_ignored_without_nonzero_finite_values() {
        // set_printoptions(sci_mode=True); torch.zeros(3); torch.tensor([0.0, 2.0])
        let opts = PrintOptions {
            sci_mode: Some(true),
            ..PrintOptions::default()
        };
        assert_eq!(
            tensor_repr(&[0.0; 3], &[3], FloatKind::F32, &opts),
            "tensor([0., 0., 0.])"
        );
        assert_eq!(
            tensor_repr(&[0.0, 2.0], &[2], FloatKind::F32, &opts),
            "tensor([0.0000e+00, 2.0000e+00])"
        );
    }

    #[test]
    fn forced_fixed_mode_prints_extreme_values_in_full() {
        // set_printoptions(sci_mode=False); torch.tensor([1e-9, 2.0e9])
        let opts = PrintOptions {
            sci_mode: Some(false),
            ..PrintOptions::default()
        };
        assert_eq!(
            tensor_repr(&[1e-9_f32 as f64, 2.0e9], &[2], FloatKind::F32, &opts),
            "tensor([         0.0000, 2000000000.0000])"
        );
    }

    #[test]
    fn narrow_linewidth_keeps_at_least_one_element_per_line() {
        // set_printoptions(linewidth=10); torch.tensor([[1.5, 2.5], [3.5, 4.5]])
        let opts = PrintOptions {
            linewidth: 10,
            ..PrintOptions::default()
        };
        assert_eq!(
            tensor_repr(&[1.5, 2.5, 3.5, 4.5], &[2, 2], FloatKind::F32, &opts),
            "tensor([[1.5000,\n         2.5000],\n        [3.5000,\n         4.5000]])"
        );
    }

    #[test]
    fn mismatched_length_does_not_panic_in_release() {
        if cfg!(debug_assertions) {
            return;
        }
        assert_eq!(repr(&[1.0, 2.0], &[3]), "tensor([1., 2.])");
    }
}
