//! The tensors given on the command line: literal JSON, or `@PATH` to a `.npy`, `.npz`
//! (`@PATH:KEY`) or `.json` file, or `@-` for standard input (JSON or .npy, told apart by
//! NumPy's magic bytes). Values are read as float64 and then rounded to `--dtype`, as
//! `torch.tensor(np.load(path), dtype=...)` does.

use std::io::{BufReader, Read, Seek};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use npyz::{DType, Order, TypeChar};
use serde_json::Value;
use tch::{Kind, Tensor};
use tchdist::format::py_tuple;

/// NumPy's .npy magic, and a zip archive's (an .npz).
const NPY_MAGIC: &[u8] = b"\x93NUMPY";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// A dense array read from JSON: row-major values and their shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub values: Vec<f64>,
    pub shape: Vec<i64>,
}

impl Array {
    /// A tensor flag's value: `@-` (stdin), `@PATH` or `@PATH.npz:KEY`, or literal JSON.
    /// `room` is asked, before anything of that size is read, whether `bytes` more fit in
    /// memory.
    pub fn from_flag(
        flag: &str,
        text: &str,
        room: &dyn Fn(u128, &str) -> Result<()>,
    ) -> Result<Array> {
        let Some(source) = text.strip_prefix('@') else {
            return Array::parse(flag, text);
        };
        if source == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .with_context(|| format!("{flag}: cannot read standard input"))?;
            return if bytes.starts_with(NPY_MAGIC) {
                read_npy(flag, "standard input", &bytes[..], room)
            } else {
                let text = String::from_utf8(bytes)
                    .map_err(|_| anyhow!("{flag}: standard input is neither .npy nor JSON text"))?;
                Array::parse(flag, &text)
            };
        }
        let (path, key) = split_key(source);
        let what = path.display().to_string();
        let cannot_read =
            |e: std::io::Error| anyhow!("{flag}: cannot read {what}: {}", io_reason(&e));
        let meta = std::fs::metadata(path).map_err(cannot_read)?;
        if meta.is_dir() {
            bail!("{flag}: {what} is a directory, not a .npy, .npz or .json file");
        }
        let mut file = std::fs::File::open(path).map_err(cannot_read)?;
        // The magic bytes decide the reader; the .npy and JSON readers get them back in front
        // of the rest (a pipe works too), the .npz reader seeks in the file.
        let mut magic = Vec::with_capacity(NPY_MAGIC.len());
        (&file)
            .take(NPY_MAGIC.len() as u64)
            .read_to_end(&mut magic)
            .map_err(cannot_read)?;
        if magic.starts_with(ZIP_MAGIC) {
            file.rewind().map_err(cannot_read)?;
            read_npz(flag, &what, file, key, room)
        } else if key.is_some() {
            bail!("{flag}: {what} is not an .npz archive, so it has no key to select")
        } else if magic == NPY_MAGIC {
            read_npy(flag, &what, BufReader::new(magic.chain(file)), room)
        } else if path.extension().is_some_and(|e| e == "npy" || e == "npz") {
            bail!("{flag}: {what} is not a NumPy file (its magic bytes are wrong)")
        } else {
            room(u128::from(meta.len()).saturating_mul(4), flag)?;
            let text = std::io::read_to_string(magic.chain(file)).map_err(|e| {
                anyhow!("{flag}: cannot read {what} as JSON text: {}", io_reason(&e))
            })?;
            Array::parse(flag, &text).map_err(|e| anyhow!("{e} (in {what})"))
        }
    }

    /// Parses nested JSON lists of numbers of any rank >= 1 (`[1, 2]`, `[[1, 0], [0, 1]]`).
    pub fn parse(flag: &str, text: &str) -> Result<Array> {
        if text.trim().is_empty() {
            bail!("{flag}: empty; expected a JSON list of numbers such as '[1, 2]'");
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| anyhow!("{flag}: not valid JSON ({e}): {}", excerpt(text)))?;
        let mut shape = Vec::new();
        let mut probe = &value;
        while let Value::Array(items) = probe {
            shape.push(items.len() as i64);
            match items.first() {
                Some(first) => probe = first,
                None => break,
            }
        }
        if shape.is_empty() {
            bail!(
                "{flag}: expected a JSON list of numbers, got {}",
                excerpt(text)
            );
        }
        if shape.contains(&0) {
            bail!("{flag}: empty list: {}", excerpt(text));
        }
        let mut values = Vec::new();
        collect(flag, &value, &shape, 0, &mut values)?;
        Ok(Array { values, shape })
    }

    /// `torch.ones(d)` as an array.
    pub fn ones(shape: &[i64]) -> Array {
        let n = shape.iter().product::<i64>().max(0) as usize;
        Array {
            values: vec![1.0; n],
            shape: shape.to_vec(),
        }
    }

    /// `torch.eye(d)` as an array.
    pub fn eye(d: i64) -> Array {
        let n = d.max(0) as usize;
        let values = (0..n * n)
            .map(|i| if i / n == i % n { 1.0 } else { 0.0 })
            .collect();
        Array {
            values,
            shape: vec![d, d],
        }
    }

    /// Nested JSON lists, values printed to round-trip.
    pub fn to_json(&self) -> serde_json::Value {
        fn nest(values: &[f64], shape: &[i64]) -> serde_json::Value {
            match shape.split_first() {
                None => serde_json::json!(values.first().copied().unwrap_or(0.0)),
                Some((&len, rest)) => {
                    let stride = rest.iter().product::<i64>().max(0) as usize;
                    (0..len.max(0) as usize)
                        .map(|i| nest(&values[i * stride..(i + 1) * stride], rest))
                        .collect()
                }
            }
        }
        nest(&self.values, &self.shape)
    }

    /// The tensor `torch.tensor(values, dtype=kind)` would make (f64 parsed, then rounded to
    /// the dtype as Python does).
    pub fn to_tensor(&self, kind: Kind) -> Result<Tensor> {
        Ok(Tensor::f_from_slice(&self.values)?
            .f_reshape(&self.shape)?
            .f_to_kind(kind)?)
    }
}

fn collect(
    flag: &str,
    value: &Value,
    shape: &[i64],
    depth: usize,
    out: &mut Vec<f64>,
) -> Result<()> {
    match (value, shape.get(depth)) {
        (Value::Array(items), Some(&len)) => {
            if items.len() as i64 != len {
                bail!(
                    "{flag}: ragged nesting: a list at depth {depth} has {} entries, expected {len}",
                    items.len()
                );
            }
            items
                .iter()
                .try_for_each(|item| collect(flag, item, shape, depth + 1, out))
        }
        (Value::Number(n), None) => {
            let x = n
                .as_f64()
                .ok_or_else(|| anyhow!("{flag}: number out of range: {n}"))?;
            out.push(x);
            Ok(())
        }
        (Value::Array(_), None) | (Value::Number(_), Some(_)) => {
            bail!("{flag}: ragged nesting: lists and numbers mixed at depth {depth}")
        }
        (other, _) => bail!(
            "{flag}: expected a number, got {}",
            excerpt(&other.to_string())
        ),
    }
}

/// `PATH.npz:KEY` splits at the last `:` after `.npz`; any other path is whole.
fn split_key(source: &str) -> (&Path, Option<&str>) {
    match source.rfind(".npz:") {
        Some(at) => (Path::new(&source[..at + 4]), Some(&source[at + 5..])),
        None => (Path::new(source), None),
    }
}

/// An I/O error's reason without Rust's `(os error N)` suffix.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// One array from an .npz archive: `key`, or the only array when there is one.
fn read_npz(
    flag: &str,
    what: &str,
    file: std::fs::File,
    key: Option<&str>,
    room: &dyn Fn(u128, &str) -> Result<()>,
) -> Result<Array> {
    let mut archive = npyz::npz::NpzArchive::new(BufReader::new(file))
        .map_err(|e| anyhow!("{flag}: {what} is not a readable .npz archive: {e}"))?;
    let mut names: Vec<String> = archive.array_names().map(str::to_string).collect();
    names.sort();
    let name = match key {
        Some(key) => key.to_string(),
        None if names.len() == 1 => names[0].clone(),
        None => bail!(
            "{flag}: {what} holds {} arrays; name one as @{what}:KEY (keys: {})",
            names.len(),
            names.join(", ")
        ),
    };
    let entry = archive
        .by_name(&name)
        .map_err(|e| anyhow!("{flag}: cannot read {name} in {what}: {e}"))?
        .ok_or_else(|| {
            anyhow!(
                "{flag}: {what} has no array '{name}' (keys: {})",
                names.join(", ")
            )
        })?;
    read_npy_file(flag, &format!("{what}:{name}"), entry, room)
}

/// An .npy stream: its header, checked against memory, then the data.
fn read_npy(
    flag: &str,
    what: &str,
    reader: impl Read,
    room: &dyn Fn(u128, &str) -> Result<()>,
) -> Result<Array> {
    let file = npyz::NpyFile::new(reader)
        .map_err(|e| anyhow!("{flag}: {what} is not a valid .npy file: {e}"))?;
    read_npy_file(flag, what, file, room)
}

fn read_npy_file<R: Read>(
    flag: &str,
    what: &str,
    file: npyz::NpyFile<R>,
    room: &dyn Fn(u128, &str) -> Result<()>,
) -> Result<Array> {
    let shape: Vec<i64> = file
        .shape()
        .iter()
        .map(|&s| {
            i64::try_from(s).map_err(|_| anyhow!("{flag}: {what}: a dimension of {s} is too large"))
        })
        .collect::<Result<_>>()?;
    if shape.is_empty() {
        bail!("{flag}: {what} holds a 0-dimensional array; expected a vector or a matrix");
    }
    if shape.contains(&0) {
        bail!(
            "{flag}: {what} holds an empty array of shape {}",
            py_tuple(&shape)
        );
    }
    let numel = shape
        .iter()
        .fold(1u128, |acc, &s| acc.saturating_mul(s as u128));
    // The float64 values and the tensor made from them.
    room(numel.saturating_mul(16), flag)?;
    let fortran = file.order() == Order::Fortran;
    let DType::Plain(ty) = file.dtype() else {
        bail!("{flag}: {what} is a structured array; expected plain numbers");
    };
    let bad_data = |e: std::io::Error| anyhow!("{flag}: {what}: cannot read its data ({e})");
    let values: Vec<f64> = match (ty.type_char(), ty.size_field()) {
        (TypeChar::Float, 8) => file.into_vec::<f64>().map_err(bad_data)?,
        (TypeChar::Float, 4) => widen(file.into_vec::<f32>().map_err(bad_data)?),
        (TypeChar::Int, 8) => file
            .into_vec::<i64>()
            .map_err(bad_data)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        (TypeChar::Int, 4) => widen(file.into_vec::<i32>().map_err(bad_data)?),
        (TypeChar::Int, 2) => widen(file.into_vec::<i16>().map_err(bad_data)?),
        (TypeChar::Int, 1) => widen(file.into_vec::<i8>().map_err(bad_data)?),
        (TypeChar::Uint, 8) => file
            .into_vec::<u64>()
            .map_err(bad_data)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        (TypeChar::Uint, 4) => widen(file.into_vec::<u32>().map_err(bad_data)?),
        (TypeChar::Uint, 2) => widen(file.into_vec::<u16>().map_err(bad_data)?),
        (TypeChar::Uint, 1) => widen(file.into_vec::<u8>().map_err(bad_data)?),
        (TypeChar::Bool, 1) => file
            .into_vec::<bool>()
            .map_err(bad_data)?
            .into_iter()
            .map(|b| if b { 1.0 } else { 0.0 })
            .collect(),
        _ => bail!(
            "{flag}: {what} has dtype {}; expected floats, integers or booleans",
            ty
        ),
    };
    if values.len() as u128 != numel {
        bail!(
            "{flag}: {what} is truncated: {} values for shape {}",
            values.len(),
            py_tuple(&shape)
        );
    }
    if !fortran {
        return Ok(Array { values, shape });
    }
    // Fortran order: the reversed shape in C order, transposed back.
    let reversed: Vec<i64> = shape.iter().rev().copied().collect();
    let dims: Vec<i64> = (0..shape.len() as i64).rev().collect();
    let c_order = Tensor::f_from_slice(&values)?
        .f_reshape(&reversed)?
        .f_permute(&dims)?
        .f_contiguous()?
        .f_reshape([-1])?;
    Ok(Array {
        values: Vec::<f64>::try_from(&c_order)?,
        shape,
    })
}

fn widen<T: Into<f64>>(values: Vec<T>) -> Vec<f64> {
    values.into_iter().map(Into::into).collect()
}

fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 60 {
        format!("{}...", flat.chars().take(60).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vectors_and_matrices_row_major() {
        let a = Array::parse("--x", "[[1, 2.5], [3, -4e-3]]").unwrap();
        assert_eq!(a.shape, vec![2, 2]);
        assert_eq!(a.values, vec![1.0, 2.5, 3.0, -0.004]);
    }

    #[test]
    fn rejects_ragged_empty_and_non_numeric_input() {
        for bad in [
            "[[1, 2], [3]]",
            "[]",
            "[[]]",
            "[1, \"a\"]",
            "[1, [2]]",
            "3",
            "{\"a\": 1}",
            "[1,",
            "[null]",
        ] {
            assert!(
                Array::parse("--x", bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
