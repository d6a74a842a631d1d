//! Parsing of the JSON numbers, vectors and matrices given on the command line.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;
use tch::{Kind, Tensor};

/// A dense array read from JSON: row-major values and their shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub values: Vec<f64>,
    pub shape: Vec<i64>,
}

impl Array {
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
